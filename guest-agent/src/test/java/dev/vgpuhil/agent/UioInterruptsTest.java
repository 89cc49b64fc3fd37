package dev.vgpuhil.agent;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.FileOutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The JNA side of UIO (poll with a deadline and read of the 32-bit count on a FIFO that stands in for /dev/uioN;
 * unmasking by a one-byte pwrite into a file standing in for sysfs config): what the kernel does with those calls is
 * checked in the guest.
 */
@DisplayName("UIO device node calls (on a FIFO)")
class UioInterruptsTest {
    @TempDir
    Path tmp;

    static byte[] nativeInt(int v) {
        return ByteBuffer.allocate(4).order(ByteOrder.nativeOrder()).putInt(v).array();
    }

    Path config() throws Exception {
        return Files.write(tmp.resolve("config"), FakeSysfs.config(0x0406));
    }

    @Test
    @DisplayName("unmask clears INTx-disable in PCI COMMAND (one byte at offset 5) and nothing else")
    void unmaskClearsIntxDisable() throws Exception {
        Path fifo = FakeSysfs.mkfifo(tmp.resolve("uio0"));
        Path config = config();
        try (UioInterrupts irq = UioInterrupts.open(fifo, config)) {
            irq.unmask();
            assertThat(FakeSysfs.command(tmp)).isEqualTo(0x0006);
            byte[] c = Files.readAllBytes(config);
            c[5] = 0x05; // the driver's handler masks again (and another high bit is set meanwhile: SERR)
            Files.write(config, c);
            irq.unmask();
            assertThat(FakeSysfs.command(tmp))
                    .as("the byte read at open, bit 2 cleared")
                    .isEqualTo(0x0006);
            byte[] after = Files.readAllBytes(config);
            assertThat(after).hasSize(64);
            assertThat(java.util.Arrays.copyOfRange(after, 6, 64)).isEqualTo(java.util.Arrays.copyOfRange(c, 6, 64));
        }
    }

    @Test
    @DisplayName("await: -1 at the deadline when nothing comes; the count (unsigned) when it does")
    void awaitCount() throws Exception {
        Path fifo = FakeSysfs.mkfifo(tmp.resolve("uio0"));
        try (UioInterrupts irq = UioInterrupts.open(fifo, config());
                FileOutputStream kernel = new FileOutputStream(fifo.toFile())) {
            long t0 = System.nanoTime();
            assertThat(irq.await(t0 + 150_000_000L)).isEqualTo(-1);
            assertThat((System.nanoTime() - t0) / 1_000_000).isGreaterThanOrEqualTo(140L);
            kernel.write(nativeInt(7));
            kernel.flush();
            assertThat(irq.await(System.nanoTime() + 5_000_000_000L)).isEqualTo(7);
            kernel.write(nativeInt(-2));
            kernel.flush();
            assertThat(irq.await(System.nanoTime() + 5_000_000_000L)).isEqualTo(0xFFFFFFFEL);
            Thread writer = new Thread(() -> {
                try {
                    Thread.sleep(100);
                    kernel.write(nativeInt(9));
                    kernel.flush();
                } catch (Exception e) {
                    throw new RuntimeException(e);
                }
            });
            writer.start();
            t0 = System.nanoTime();
            assertThat(irq.await(t0 + 5_000_000_000L))
                    .as("wakes up when it comes")
                    .isEqualTo(9);
            // 9, not -1: woken by the write, not by the 5 s deadline
            assertThat((System.nanoTime() - t0) / 1_000_000).isGreaterThanOrEqualTo(50L);
            writer.join();
        }
    }

    @Test
    @DisplayName("a missing node, and a closed one, are errors")
    void errors() throws Exception {
        assertThatThrownBy(() -> UioInterrupts.open(tmp.resolve("uio9"), config()))
                .isInstanceOf(AgentException.class)
                .hasMessageContaining("cannot open " + tmp.resolve("uio9"))
                .hasMessageContaining("errno 2");
        Path fifo = FakeSysfs.mkfifo(tmp.resolve("uio0"));
        assertThatThrownBy(() -> UioInterrupts.open(fifo, tmp.resolve("noconfig")))
                .isInstanceOf(AgentException.class)
                .hasMessageContaining("cannot open " + tmp.resolve("noconfig"));
        UioInterrupts irq = UioInterrupts.open(fifo, config());
        irq.close();
        irq.close();
        assertThatThrownBy(irq::unmask).isInstanceOf(IllegalStateException.class);
    }
}

package dev.vgpuhil.qemu.qtest;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.vgpuhil.qemu.QemuBinary;
import dev.vgpuhil.qemu.QemuBinary.QemuBinaryException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

@Tag("qtest")
@DisplayName("QemuBinary: locating and probing QEMU")
class QemuBinaryTest {

    @Test
    @DisplayName("a missing binary is refused, naming the path")
    void missingBinary() {
        assertThatThrownBy(() -> QemuBinary.locate(Path.of("/nonexistent/qemu-system-x86_64")))
                .isInstanceOf(QemuBinaryException.class)
                .hasMessageContaining("/nonexistent/qemu-system-x86_64 does not exist")
                .hasMessageContaining("explicit path");
    }

    @Test
    @DisplayName("a non-executable file is refused")
    void notExecutable(@TempDir Path dir) throws Exception {
        Path f = Files.writeString(dir.resolve("qemu"), "not a program");
        assertThatThrownBy(() -> QemuBinary.probe(f))
                .isInstanceOf(QemuBinaryException.class)
                .hasMessageContaining("is not an executable file");
    }

    @Test
    @DisplayName("/bin/true is refused as not being QEMU")
    void nonQemuExecutable() {
        assertThatThrownBy(() -> QemuBinary.probe(Path.of("/bin/true")))
                .isInstanceOf(QemuBinaryException.class)
                .hasMessageContaining("is not a QEMU binary")
                .hasMessageContaining("QEMU emulator version");
    }

    @Test
    @DisplayName("a hanging binary is refused at the probe deadline, not waited for forever")
    void hangingBinary(@TempDir Path dir) throws Exception {
        Path f = dir.resolve("qemu");
        Files.writeString(f, "#!/bin/sh\nexec sleep 600\n");
        f.toFile().setExecutable(true);
        long t0 = System.nanoTime();
        assertThatThrownBy(() -> QemuBinary.probe(f, java.time.Duration.ofSeconds(2)))
                .isInstanceOf(QemuBinaryException.class)
                .hasMessageContaining("hung");
        assertThat((System.nanoTime() - t0) / 1e9).isLessThan(20);
    }

    @Test
    @DisplayName("Debian's stock QEMU is recognised as QEMU but refused for lacking vgpu-stub")
    void stockQemuLacksDevice() {
        QemuBinary stock = TestQemu.stock();
        assertThat(stock.version()).startsWith("7.2");
        assertThat(stock.hasVgpuStub()).isFalse();
        assertThat(stock.accelerators()).contains("tcg");
        assertThat(stock.hasQtestAccelerator())
                .as("Debian deletes accel-qtest-*.so from its package")
                .isFalse();
        assertThat(stock.firmwareArgs()).containsSubsequence("-L", "/usr/share/seabios");
        assertThat(stock.hasVfioUserPci()).as("7.2 has no vfio-user client").isFalse();
        assertThat(stock.hostings()).isEmpty();
        assertThatThrownBy(() -> QemuBinary.probe(TestQemu.STOCK_PATH))
                .isInstanceOf(QemuBinaryException.class)
                .hasMessageContaining("lacks the vgpu-stub device")
                .hasMessageContaining("vfio-user-pci");
    }

    @Test
    @DisplayName("firmware dirs can be extended by the caller")
    void extraFirmwareDir() {
        QemuBinary q = TestQemu.stock().withFirmwareDir(Path.of("/opt/fw"));
        assertThat(q.firmwareArgs()).endsWith("-L", "/opt/fw");
        assertThat(TestQemu.stock().firmwareArgs()).doesNotContain("/opt/fw");
    }

    @Test
    @DisplayName("the located vgpu QEMU has vgpu-stub and its documented properties")
    void locatedBinaryHasDevice() {
        QemuBinary q = TestQemu.vgpu();
        assertThat(q.hasVgpuStub()).isTrue();
        assertThat(q.vgpuStubProperties())
                .contains(
                        "pool_id=",
                        "priority=",
                        "vm_id=",
                        "socket=",
                        "chardev=",
                        "timeout_ms=",
                        dev.vgpuhil.protocol.VgpuProtocol.SOCKET_PATH_DEFAULT,
                        "(default: 5000)");
        // `-accel help` never lists qtest (QEMU hides it); the probe asks for it by name
        assertThat(q.hasQtestAccelerator()).as("accelerators of %s", q).isTrue();
        assertThat(q.accelerators()).contains("tcg", "qtest");
    }
}

package dev.vgpuhil.agent;

import static dev.vgpuhil.protocol.VgpuProtocol.*;
import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The whole command path (args, discovery, enable, real mmap, output) with a fake sysfs whose resource0 is a file. */
@DisplayName("Main end to end on a fake sysfs (resource0 = a plain file)")
class MainOnFileTest {
    @TempDir
    Path tmp;

    FakeSysfs sysfs;
    Path dev;

    @BeforeEach
    void tree() {
        sysfs = new FakeSysfs(tmp.resolve("devices"));
        sysfs.addDevice("0000:00:02.0", 0x1234, 0x1111, 0x02);
        dev = sysfs.addVgpu("0000:00:03.0");
        FakeSysfs.writeIdentity(dev);
    }

    @Test
    @DisplayName("probe prints the contract's line and enables the device")
    void probe() {
        AgentRun run = AgentRun.of("probe", "--sysfs", sysfs.root.toString());
        assertThat(run.exitCode).isZero();
        assertThat(run.single())
                .isEqualTo("{\"type\":\"probe\",\"bdf\":\"0000:00:03.0\",\"vendor\":4660,"
                        + "\"device\":22087,\"revision\":2,\"poolId\":\"B\",\"priority\":2,\"vmId\":200,"
                        + "\"protocolVersion\":65536,\"capabilities\":15}");
        assertThat(FakeSysfs.enableText(dev)).isEqualTo("1");
    }

    @Test
    @DisplayName("dump reads the 16 registers from the mapping")
    void dump() {
        FakeSysfs.writeReg(dev, REG_SCRATCH, 0xCAFEBABE);
        AgentRun run = AgentRun.of("dump", "--sysfs", sysfs.root.toString(), "--bdf", "0000:00:03.0");
        assertThat(run.exitCode).isZero();
        assertThat(run.single())
                .startsWith("{\"type\":\"registers\",\"DOORBELL\":0,\"STATUS\":0,\"POOL_ID\":66,")
                .endsWith(",\"SCRATCH\":3405691582}");
    }

    @Test
    @DisplayName("selftest on a file (not a device) runs all checks, fails some, exits 1")
    void selftestOnFile() {
        AgentRun run = AgentRun.of("selftest", "--sysfs", sysfs.root.toString(), "--timeout-ms", "100");
        assertThat(run.exitCode).isEqualTo(1);
        assertThat(run.lines).hasSize(23);
        assertThat(run.lines.get(22)).startsWith("{\"type\":\"summary\",\"passed\":");
        assertThat(run.lines)
                .filteredOn(l -> l.contains("\"name\":\"readonly_ignore_writes\""))
                .singleElement()
                .asString()
                .contains("\"pass\":false");
    }

    @Test
    @DisplayName(
            "vector-add --irq: binds to uio_pci_generic, unmasks, sleeps in poll() on the uio node, reads the count")
    void vectorAddInterruptPath() throws Exception {
        // resource0 is a file: STATUS reads done, and IRQ_STATUS reads what was last written (all 1s after the W1C
        // clear), so the cause check passes. "The kernel" writes the interrupt count 1 into the FIFO /dev/uio0.
        FakeSysfs.writeReg(dev, REG_STATUS, STATUS_DONE);
        Path drv = sysfs.addUioDriver();
        sysfs.addUioDevice(dev, "uio0", 21, false);
        Path devfs = java.nio.file.Files.createDirectories(tmp.resolve("dev"));
        Path fifo = FakeSysfs.mkfifo(devfs.resolve("uio0"));
        Thread kernel = new Thread(() -> {
            try (java.io.FileOutputStream f = new java.io.FileOutputStream(fifo.toFile())) { // opens once the agent has
                f.write(UioInterruptsTest.nativeInt(1));
                f.flush();
                Thread.sleep(3000);
            } catch (Exception e) {
                throw new RuntimeException(e);
            }
        });
        kernel.setDaemon(true);
        kernel.start();
        AgentRun run = AgentRun.of(
                "vector-add",
                "--elements",
                "2",
                "--irq",
                "--sysfs",
                sysfs.root.toString(),
                "--devfs",
                devfs.toString(),
                "--timeout-ms",
                "2000");
        assertThat(FakeSysfs.command(dev)).as("INTx unmasked in PCI COMMAND").isEqualTo(0x0006);
        assertThat(FakeSysfs.read(dev.resolve("driver_override"))).isEqualTo("uio_pci_generic");
        assertThat(FakeSysfs.read(drv.resolve("bind"))).isEqualTo("0000:00:03.0");
        assertThat(run.single())
                .startsWith("{\"type\":\"vector-add\",\"elements\":2,")
                .contains("\"timedOut\":false,\"completion\":\"interrupt\",\"irqStatus\":4294967295,")
                .contains("\"irqCount\":1,\"irqWakeups\":1,\"uio\":\"uio0\",\"linuxIrq\":21");
        assertThat(run.exitCode)
                .as("a file computes nothing: the result is wrong")
                .isEqualTo(1);
    }

    @Test
    @DisplayName("vector-add --irq without uio_pci_generic: error line, exit 2, no request (no fallback to polling)")
    void vectorAddInterruptWithoutDriver() {
        FakeSysfs.writeReg(dev, REG_STATUS, STATUS_DONE);
        AgentRun run = AgentRun.of("vector-add", "--irq", "--sysfs", sysfs.root.toString());
        assertThat(run.exitCode).isEqualTo(2);
        assertThat(run.single())
                .startsWith("{\"type\":\"error\",\"message\":\"--irq needs Linux's uio_pci_generic "
                        + "driver, which is not loaded");
        run = AgentRun.of("vector-add", "--irq=poll", "--sysfs", sysfs.root.toString(), "--timeout-ms", "100");
        assertThat(run.single()).contains("\"completion\":\"irq-status-poll\"");
    }

    @Test
    @DisplayName("no device / wrong --bdf: error line, exit 2")
    void noDevice() {
        AgentRun run = AgentRun.of("probe", "--sysfs", tmp.resolve("none").toString());
        assertThat(run.exitCode).isEqualTo(2);
        assertThat(run.single()).startsWith("{\"type\":\"error\",\"message\":\"cannot list PCI devices in ");
        run = AgentRun.of("selftest", "--sysfs", sysfs.root.toString(), "--bdf", "0000:00:02.0");
        assertThat(run.exitCode).isEqualTo(2);
        assertThat(run.single()).contains("0000:00:02.0 is not a vgpu-stub");
    }
}

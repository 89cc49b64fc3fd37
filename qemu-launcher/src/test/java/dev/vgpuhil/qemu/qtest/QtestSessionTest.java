package dev.vgpuhil.qemu.qtest;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.qameta.allure.Allure;
import java.nio.file.Files;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * The qtest client against Debian's stock QEMU (no vgpu-stub needed) and QEMU's own "edu" PCI device, which has
 * a BAR, MSI and INTx: memory and port I/O, PCI config access, BAR sizing, MSI delivery into RAM and interrupt
 * interception.
 */
@Tag("qtest")
@DisplayName("QtestSession + PciBus against stock QEMU and the edu device")
class QtestSessionTest {
    static final int EDU_VENDOR = 0x1234;
    static final int EDU_DEVICE = 0x11e8;
    static final long RAM_SCRATCH = 0x100000;
    static QtestSession qtest;
    static PciBus pci;
    static PciBus.PciAddress edu;
    static final long EDU_BAR = PciBus.MMIO_WINDOW_START;

    @BeforeAll
    static void start() {
        qtest = QtestSession.builder(TestQemu.stock()).device("edu").start();
        pci = new PciBus(qtest);
        edu = pci.find(EDU_VENDOR, EDU_DEVICE).orElseThrow();
        pci.mapMemoryBar(edu, 0, EDU_BAR);
        pci.enable(edu, PciBus.COMMAND_MEMORY);
    }

    @AfterAll
    static void stop() {
        qtest.close();
    }

    @Test
    @DisplayName("guest RAM: every access width and the bulk hex/base64 commands round-trip")
    void memoryRoundTrip() {
        qtest.writeb(RAM_SCRATCH, 0xAB);
        assertThat(qtest.readb(RAM_SCRATCH)).isEqualTo(0xAB);
        qtest.writew(RAM_SCRATCH, 0xBEEF);
        assertThat(qtest.readw(RAM_SCRATCH)).isEqualTo(0xBEEF);
        qtest.writel(RAM_SCRATCH, 0xDEADBEEF);
        assertThat(qtest.readl(RAM_SCRATCH)).isEqualTo(0xDEADBEEF);
        assertThat(qtest.readb(RAM_SCRATCH)).as("little-endian").isEqualTo(0xEF);
        qtest.writeq(RAM_SCRATCH, 0x0123456789ABCDEFL);
        assertThat(qtest.readq(RAM_SCRATCH)).isEqualTo(0x0123456789ABCDEFL);
        byte[] data = new byte[300];
        for (int i = 0; i < data.length; i++) {
            data[i] = (byte) (i * 7);
        }
        qtest.memwrite(RAM_SCRATCH, data);
        assertThat(qtest.memread(RAM_SCRATCH, data.length)).isEqualTo(data);
        assertThat(qtest.b64read(RAM_SCRATCH, data.length)).isEqualTo(data);
        qtest.memset(RAM_SCRATCH, 16, 0x5A);
        assertThat(qtest.memread(RAM_SCRATCH, 16)).containsOnly((byte) 0x5A);
        qtest.b64write(RAM_SCRATCH, new byte[] {1, 2, 3});
        assertThat(qtest.memread(RAM_SCRATCH, 4)).containsExactly(1, 2, 3, 0x5A);
        assertThat(qtest.memread(RAM_SCRATCH, 0)).isEmpty();
    }

    @Test
    @DisplayName("PCI config space: q35 host bridge at 00:00.0, edu found with its class and MSI capability")
    void configSpace() {
        PciBus.PciAddress host = new PciBus.PciAddress(0, 0, 0);
        assertThat(pci.readConfig16(host, PciBus.VENDOR_ID)).isEqualTo(0x8086);
        assertThat(pci.readConfig16(host, PciBus.DEVICE_ID)).isEqualTo(0x29C0);
        assertThat(pci.readConfig32(edu, 0)).isEqualTo(EDU_DEVICE << 16 | EDU_VENDOR);
        assertThat(pci.readConfig8(edu, PciBus.INTERRUPT_PIN)).isEqualTo(1);
        assertThat(pci.findCapability(edu, PciBus.CAP_ID_MSI)).isPresent();
        assertThat(pci.find(0x1234, 0x0bad)).isEmpty();
        pci.writeConfig8(edu, PciBus.INTERRUPT_LINE, 0x0B);
        assertThat(pci.readConfig8(edu, PciBus.INTERRUPT_LINE)).isEqualTo(0x0B);
    }

    @Test
    @DisplayName("BAR sizing (all-ones probe) and a mapped BAR answers MMIO")
    void barSizingAndMmio() {
        assertThat(pci.sizeBar(edu, 0)).isEqualTo(1 << 20);
        assertThat(Integer.toUnsignedLong(pci.readBar(edu, 0)) & ~0xFL)
                .as("BAR restored")
                .isEqualTo(EDU_BAR);
        assertThat(qtest.readl(EDU_BAR)).as("edu identification").isEqualTo(0x010000ed);
        qtest.writel(EDU_BAR + 4, 0x12345678);
        assertThat(qtest.readl(EDU_BAR + 4)).as("edu liveness = ~value").isEqualTo(~0x12345678);
    }

    @Test
    @DisplayName("INTx through the ioapic and MSI into guest RAM are observed")
    void interrupts() {
        Allure.step("INTx: edu raise-irq register, intercepted at the ioapic", () -> {
            qtest.irqInterceptIn("ioapic");
            qtest.writel(EDU_BAR + 0x60, 1);
            List<Integer> raised = qtest.raisedIrqLines();
            assertThat(raised)
                    .as("edu at %s, pin A", edu)
                    .containsExactly(PciBus.q35DefaultIntxGsi(edu, pci.readConfig8(edu, PciBus.INTERRUPT_PIN)));
            int gsi = raised.get(0);
            qtest.writel(EDU_BAR + 0x64, 1); // ack
            assertThat(qtest.irqLevel(gsi)).isFalse();
            assertThat(qtest.drainIrqEvents()).containsExactly(new IrqEvent(gsi, true), new IrqEvent(gsi, false));
        });
        Allure.step("MSI: the message data lands at the programmed RAM address", () -> {
            long msiAddr = RAM_SCRATCH + 0x1000;
            qtest.writel(msiAddr, 0);
            pci.enableMsi(edu, msiAddr, 0x4321);
            qtest.writel(EDU_BAR + 0x60, 1);
            assertThat(qtest.readl(msiAddr)).isEqualTo(0x4321);
            qtest.writel(EDU_BAR + 0x64, 1);
            pci.disableMsi(edu);
            assertThat(qtest.drainIrqEvents()).as("no INTx while MSI is on").isEmpty();
        });
    }

    @Test
    @DisplayName("an unknown command is refused with QEMU's FAIL text and the session stays usable")
    void unknownCommand() {
        assertThatThrownBy(() -> qtest.command("frobnicate 1"))
                .isInstanceOf(QtestException.class)
                .hasMessageContaining("FAIL Unknown command 'frobnicate'");
        assertThat(qtest.readl(EDU_BAR)).isEqualTo(0x010000ed);
    }

    @Test
    @DisplayName("clock commands on a QEMU without the qtest accelerator fail clearly")
    void clockWithoutQtestAccel() {
        assertThatThrownBy(() -> qtest.clockStep(1000))
                .isInstanceOf(QtestException.class)
                .hasMessageContaining("needs -accel qtest");
    }

    @Test
    @DisplayName("a bad -device fails start() with QEMU's exit code and message")
    void badDeviceAtStart() {
        assertThatThrownBy(() -> QtestSession.builder(TestQemu.stock())
                        .device("no-such-device")
                        .start())
                .isInstanceOfSatisfying(QtestException.class, e -> {
                    assertThat(e.exitCode()).isEqualTo(1);
                    assertThat(e.stderrTail()).contains("no-such-device");
                });
    }

    @Test
    @DisplayName("QEMU dying mid-command gives an exception with its exit code and stderr")
    void deathMidCommand() {
        try (QtestSession s = QtestSession.builder(TestQemu.stock()).start()) {
            // "read" with length 0 trips a g_assert in softmmu/qtest.c: QEMU aborts while serving the command
            assertThatThrownBy(() -> s.command("read 0x0 0")).isInstanceOfSatisfying(QtestException.class, e -> {
                assertThat(e.exitCode()).isEqualTo(128 + 6); // SIGABRT
                assertThat(e.stderrTail()).contains("assertion");
            });
            assertThatThrownBy(() -> s.readl(0))
                    .isInstanceOf(QtestException.class)
                    .hasMessageContaining("unusable");
        }
    }

    @Test
    @DisplayName("a command without reply times out at its deadline; close() still kills and reaps QEMU")
    void commandDeadline() throws Exception {
        QtestSession s = QtestSession.builder(TestQemu.stock())
                .commandTimeout(Duration.ofMillis(500))
                .start();
        ProcessHandle qemu = ProcessHandle.of(s.pid()).orElseThrow();
        try {
            new ProcessBuilder("kill", "-STOP", Long.toString(s.pid())).start().waitFor();
            long t0 = System.nanoTime();
            assertThatThrownBy(() -> s.readl(0))
                    .isInstanceOf(QtestException.class)
                    .hasMessageContaining("no reply to \"readl 0x0\" within PT0.5S");
            assertThat((System.nanoTime() - t0) / 1e6).isBetween(400.0, 5000.0);
        } finally {
            s.close();
        }
        assertThat(qemu.isAlive()).isFalse();
    }

    @Test
    @DisplayName("close() is idempotent, reaps QEMU and removes the run directory")
    void closeTwice() {
        QtestSession s = QtestSession.builder(TestQemu.stock()).start();
        assertThat(Files.exists(s.runDir().resolve("qemu.pid"))).isTrue();
        assertThat(s.isAlive()).isTrue();
        s.close();
        s.close();
        assertThat(s.isAlive()).isFalse();
        assertThat(s.exitCode()).isPresent();
        assertThat(s.runDir()).doesNotExist();
        assertThatThrownBy(() -> s.readl(0)).isInstanceOf(QtestException.class).hasMessageContaining("closed");
    }
}

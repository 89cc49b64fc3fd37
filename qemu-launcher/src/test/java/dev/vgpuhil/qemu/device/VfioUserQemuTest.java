package dev.vgpuhil.qemu.device;

import static dev.vgpuhil.protocol.VgpuProtocol.*;
import static org.assertj.core.api.Assertions.assertThat;

import dev.vgpuhil.protocol.ComputeRequest;
import dev.vgpuhil.protocol.Frame;
import dev.vgpuhil.qemu.VfioUserServer;
import dev.vgpuhil.qemu.qtest.IrqEvent;
import dev.vgpuhil.qemu.qtest.PciBus;
import dev.vgpuhil.qemu.qtest.QmpTestClient;
import dev.vgpuhil.qemu.qtest.QtestSession;
import dev.vgpuhil.qemu.qtest.VfioUserCompanion;
import dev.vgpuhil.qemu.qtest.VgpuDevice;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The vgpu-stub as {@code vgpu-stub-vfio-user} under Debian's stock QEMU 11.1 ({@code vfio-user-pci}), driven by
 * qtest: the round trip through QEMU, and what differs from the in-QEMU device by nature, each shown here —
 * interrupts arrive through eventfds (a moment after the access that caused them) and INTx is VFIO's automasked
 * level (every BAR access while it is pending is an end-of-interrupt that lowers the line, and the server raises
 * it again), the reply deadline runs on the host clock (qtest's clock_step does not fire it), and there is no
 * vmstate (QEMU refuses to migrate the VM).
 */
@Tag("qtest")
@Tag("device")
@DisplayName("vgpu-stub over vfio-user on stock QEMU 11.1")
class VfioUserQemuTest {
    /** This test's one budget: every wait (the peer, the device, QMP, the server) derives from it. */
    private final DeviceBudget budget = DeviceBudget.now();

    private final Duration waitFor = budget.waitFor();
    static final long MSI_ADDRESS = 0x200000;
    static final int MSI_DATA = 0x4A5B;

    /** One QEMU + server, BAR0 mapped. */
    private record Vm(QtestSession qtest, VgpuDevice dev, VfioUserCompanion companion) implements AutoCloseable {
        static Vm start(Path mediator, boolean qmp, String... props) {
            return start(mediator, qmp, List.of(), props);
        }

        static Vm start(Path mediator, boolean qmp, List<String> qemuArgs, String... props) {
            List<String> all = new ArrayList<>(List.of(props));
            all.add("socket=" + mediator);
            VfioUserCompanion c = new VfioUserCompanion(VfioUserServer.locateBinary(), all, null);
            QtestSession.Builder b = QtestSession.builder(VfioUserHosting.stockQemu())
                    .companion(c)
                    .args(qemuArgs.toArray(String[]::new));
            QtestSession s = (qmp ? b.withQmp() : b).start();
            return new Vm(s, VgpuDevice.attach(s), c);
        }

        @Override
        public void close() {
            qtest.close();
        }
    }

    private static void completeWithError(Vm m) {
        m.dev.writeReg(REG_REQUEST_LEN, 0);
        m.dev.ringDoorbell();
        assertThat(m.dev.status()).isEqualTo(STATUS_ERROR);
    }

    @Test
    @DisplayName("identity through QEMU's config space, registers, and a doorbell round trip to the mediator")
    void roundTrip(@TempDir Path tmp) throws Exception {
        try (MediatorPeer peer = new MediatorPeer(tmp.resolve("m.sock"), budget);
                Vm m = Vm.start(peer.socket(), false, "pool_id=B", "priority=high", "vm_id=200")) {
            PciBus pci = m.dev.pci();
            PciBus.PciAddress a = m.dev.address();
            assertThat(pci.readConfig8(a, PciBus.REVISION_ID)).isEqualTo(PCI_REVISION);
            assertThat(pci.readConfig16(a, PciBus.CLASS_DEVICE)).isEqualTo(PCI_CLASS);
            assertThat(pci.findCapability(a, PciBus.CAP_ID_MSI))
                    .as("MSI capability")
                    .isPresent();
            assertThat(m.dev.readReg(REG_POOL_ID)).isEqualTo(POOL_B);
            assertThat(m.dev.readReg(REG_PRIORITY)).isEqualTo(PRIORITY_HIGH);
            assertThat(m.dev.readReg(REG_VM_ID)).isEqualTo(200);
            assertThat(m.dev.readReg(REG_CAPABILITIES)).isEqualTo(CAP_BASIC | CAP_IRQ | CAP_MSI | CAP_TIMESTAMP);
            m.dev.writeReg(REG_SCRATCH, 0xDEADBEEF);
            assertThat(m.dev.readReg(REG_SCRATCH)).isEqualTo(0xDEADBEEF);

            MediatorPeer.Connection c = peer.acceptAndGreet(waitFor);
            assertThat(c.hello.vmId()).isEqualTo(200);
            assertThat(c.hello.poolId()).isEqualTo(POOL_B);
            byte[] req = ComputeRequest.echo("through QEMU 11.1".getBytes(StandardCharsets.UTF_8))
                    .encode();
            m.dev.submit(req, 0x1234);
            Frame f = c.expectFrame(waitFor);
            assertThat(f.requestId()).isEqualTo(0x1234);
            assertThat(f.payload()).isEqualTo(req);
            c.send(f.reply(MSG_RESPONSE, ERR_NONE, "reply".getBytes(StandardCharsets.UTF_8)));
            assertThat(m.dev.awaitNotBusy(waitFor)).isEqualTo(STATUS_DONE);
            assertThat(m.dev.readReg(REG_RESPONSE_LEN)).isEqualTo(5);
            assertThat(new String(m.dev.readResponse(5), StandardCharsets.UTF_8))
                    .isEqualTo("reply");
            assertThat(m.dev.timestamp()).isNotZero();
        }
    }

    @Test
    @DisplayName("INTx: raised through the eventfd a moment after completion; each BAR access while pending is an EOI "
            + "(line lowered, raised again by the server); lowered for good once IRQ_STATUS is clear")
    void intxIsAnAutomaskedLevel(@TempDir Path tmp) {
        try (Vm m = Vm.start(tmp.resolve("absent.sock"), false)) {
            int gsi = PciBus.q35DefaultIntxGsi(m.dev.address(), 1);
            m.qtest.irqInterceptIn("ioapic");
            m.dev.writeReg(REG_IRQ_CTRL, IRQ_CTRL_ENABLE);
            completeWithError(m);
            VfioUserHosting.settle(m.qtest);
            assertThat(m.qtest.irqLevel(gsi)).as("raised after completion").isTrue();
            m.dev.writeReg(REG_IRQ_STATUS, IRQ_STATUS_ERROR); // COMPLETE still set: the level stays
            VfioUserHosting.settle(m.qtest);
            assertThat(m.qtest.irqLevel(gsi))
                    .as("re-raised: still pending while COMPLETE is set")
                    .isTrue();
            m.dev.writeReg(REG_IRQ_STATUS, IRQ_STATUS_COMPLETE);
            VfioUserHosting.settle(m.qtest);
            assertThat(m.qtest.irqLevel(gsi))
                    .as("lowered once IRQ_STATUS is clear")
                    .isFalse();
            // In-QEMU the same steps give exactly raise, lower (InterruptTest.intx). Here every BAR access while
            // the line is up is an EOI: lowered, then raised again by the server while the level stays - at least
            // one extra pulse (two when QEMU took the eventfd before the STATUS read of completeWithError).
            List<IrqEvent> events = m.qtest.drainIrqEvents();
            assertThat(events).as("alternating, first raise, last lower").hasSizeGreaterThanOrEqualTo(4);
            assertThat(events.size() % 2).isZero();
            for (int i = 0; i < events.size(); i++) {
                assertThat(events.get(i)).isEqualTo(new IrqEvent(gsi, i % 2 == 0));
            }
        }
    }

    @Test
    @DisplayName("INTx-disable masks the line; STATUS.INTERRUPT shows the pending level; unmasking raises it")
    void pci23IntxMasking(@TempDir Path tmp) {
        try (Vm m = Vm.start(tmp.resolve("absent.sock"), false)) {
            PciBus pci = m.dev.pci();
            PciBus.PciAddress a = m.dev.address();
            int gsi = PciBus.q35DefaultIntxGsi(a, 1);
            m.qtest.irqInterceptIn("ioapic");
            pci.enable(a, PciBus.COMMAND_INTX_DISABLE);
            assertThat(pci.readConfig16(a, PciBus.COMMAND) & PciBus.COMMAND_INTX_DISABLE)
                    .isNotZero();
            m.dev.writeReg(REG_IRQ_CTRL, IRQ_CTRL_ENABLE);
            completeWithError(m);
            VfioUserHosting.settle(m.qtest);
            assertThat(m.qtest.irqLevel(gsi)).as("masked").isFalse();
            assertThat(pci.readConfig16(a, PciBus.STATUS) & InterruptTest.STATUS_INTERRUPT)
                    .as("pending")
                    .isNotZero();
            pci.writeConfig16(a, PciBus.COMMAND, pci.readConfig16(a, PciBus.COMMAND) & ~PciBus.COMMAND_INTX_DISABLE);
            VfioUserHosting.settle(m.qtest);
            assertThat(m.qtest.irqLevel(gsi))
                    .as("unmasked with a completion pending")
                    .isTrue();
            m.dev.writeReg(REG_IRQ_STATUS, 0xFFFFFFFF);
            VfioUserHosting.settle(m.qtest);
            assertThat(m.qtest.irqLevel(gsi)).isFalse();
            assertThat(pci.readConfig16(a, PciBus.STATUS) & InterruptTest.STATUS_INTERRUPT)
                    .isZero();
        }
    }

    @Test
    @DisplayName("MSI through the eventfd: the data word lands at the programmed address, no INTx; MSI off with a "
            + "completion pending moves it to INTx")
    void msi(@TempDir Path tmp) {
        try (Vm m = Vm.start(tmp.resolve("absent.sock"), false)) {
            int gsi = PciBus.q35DefaultIntxGsi(m.dev.address(), 1);
            m.qtest.irqInterceptIn("ioapic");
            m.qtest.writel(MSI_ADDRESS, 0);
            m.dev.pci().enableMsi(m.dev.address(), MSI_ADDRESS, MSI_DATA);
            m.dev.writeReg(REG_IRQ_CTRL, IRQ_CTRL_ENABLE);
            completeWithError(m);
            VfioUserHosting.settle(m.qtest);
            assertThat(m.qtest.readl(MSI_ADDRESS)).isEqualTo(MSI_DATA);
            assertThat(m.qtest.drainIrqEvents()).as("no INTx while MSI is on").isEmpty();
            m.dev.pci().disableMsi(m.dev.address());
            VfioUserHosting.settle(m.qtest);
            assertThat(m.qtest.irqLevel(gsi))
                    .as("MSI off with IRQ_STATUS pending: INTx")
                    .isTrue();
            m.dev.writeReg(REG_IRQ_STATUS, 0xFFFFFFFF);
            VfioUserHosting.settle(m.qtest);
            assertThat(m.qtest.irqLevel(gsi)).isFalse();
        }
    }

    @Test
    @DisplayName(
            "the reply deadline runs on the host clock: clock_step does not fire it (in-QEMU it does), real time does")
    void deadlineOnHostClock(@TempDir Path tmp) throws Exception {
        try (MediatorPeer peer = new MediatorPeer(tmp.resolve("m.sock"), budget);
                Vm m = Vm.start(peer.socket(), false, "timeout_ms=1500")) {
            MediatorPeer.Connection c = peer.acceptAndGreet(waitFor);
            m.dev.readReg(REG_SCRATCH);
            long t0 = System.nanoTime();
            m.dev.submit(ComputeRequest.echo(new byte[] {1}).encode(), 5);
            c.expectFrame(waitFor); // sent; the peer never answers
            m.qtest.clockStep(60_000_000_000L); // a minute of virtual time
            long elapsedMs = (System.nanoTime() - t0) / 1_000_000;
            if (elapsedMs < 1000) { // (a slow machine may already be near the real deadline)
                assertThat(m.dev.status())
                        .as("virtual time does not reach the server's deadline")
                        .isEqualTo(STATUS_BUSY);
            }
            assertThat(m.dev.awaitNotBusy(waitFor)).isEqualTo(STATUS_ERROR);
            assertThat(m.dev.errorCode()).isEqualTo(ERR_TIMEOUT);
            assertThat((System.nanoTime() - t0) / 1_000_000)
                    .as("not before 1500 ms of real time")
                    .isGreaterThanOrEqualTo(1500);
        }
    }

    @Test
    @DisplayName("no vmstate over vfio-user: QEMU 11.1 migrates the VM without the device's state; the target's server "
            + "starts from reset (in-QEMU the registers arrive intact, MigrationTest)")
    void migrationDoesNotCarryDeviceState(@TempDir Path tmp) throws Exception {
        Path file = tmp.resolve("vm.migration");
        try (Vm src = Vm.start(tmp.resolve("absent.sock"), true, "vm_id=31");
                QmpTestClient qmp = QmpTestClient.connect(src.qtest.qmpSocket(), waitFor)) {
            src.dev.writeReg(REG_SCRATCH, 0x5A5A5A5A);
            src.dev.writeReg(REG_REQUEST_ID, 0x77);
            String r = qmp.execute(
                    "{\"execute\":\"migrate\",\"arguments\":{\"uri\":\"exec:cat > " + file + "\"}}", waitFor);
            assertThat(r).as("QEMU does not block the migration").contains("\"return\"");
            long end = System.nanoTime() + waitFor.toNanos();
            String q;
            while (!(q = qmp.execute("{\"execute\":\"query-migrate\"}", waitFor)).contains("\"completed\"")) {
                assertThat(q).doesNotContain("\"failed\"");
                assertThat(System.nanoTime())
                        .as("migration completes within %s: %s", budget, q)
                        .isLessThan(end);
                Thread.sleep(20);
            }
            assertThat(q)
                    .as("nothing of the vfio device's own state is sent")
                    .containsPattern("\"vfio\": *\\{\"transferred\": *0\\}");
        }
        List<String> props = List.of("vm_id=31", "socket=" + tmp.resolve("absent.sock"));
        try (QtestSession target = QtestSession.builder(VfioUserHosting.stockQemu())
                        .companion(new VfioUserCompanion(VfioUserServer.locateBinary(), props, null))
                        .withQmp()
                        .args("-incoming", "exec:cat " + file)
                        .start();
                QmpTestClient qmp = QmpTestClient.connect(target.qmpSocket(), waitFor)) {
            long end = System.nanoTime() + waitFor.toNanos();
            while (qmp.execute("{\"execute\":\"query-status\"}", waitFor).contains("inmigrate")) {
                assertThat(System.nanoTime())
                        .as("incoming migration finishes within %s", budget)
                        .isLessThan(end);
                Thread.sleep(20);
            }
            VgpuDevice dev = VgpuDevice.attach(target);
            assertThat(dev.readReg(REG_VM_ID))
                    .as("identity comes from the server's options")
                    .isEqualTo(31);
            assertThat(dev.readReg(REG_SCRATCH)).as("SCRATCH not carried").isZero();
            assertThat(dev.readReg(REG_REQUEST_ID)).as("REQUEST_ID not carried").isZero();
        }
    }

    @org.junit.jupiter.params.ParameterizedTest(name = "{0} is refused by the server naming {1}")
    @org.junit.jupiter.params.provider.CsvSource({
        "pool_id=C, --pool",
        "priority=urgent, --priority",
        "vm_id=-1, --vm-id",
        "vm_id=4294967296, --vm-id",
        "timeout_ms=0, --timeout-ms",
        "timeout_ms=soon, --timeout-ms",
        "socket=, --mediator"
    })
    @DisplayName("bad vgpu-stub property values: the server refuses to start (status 2) naming its option; QEMU never "
            + "starts (in-QEMU, QEMU refuses the property: DevicePropertiesTest)")
    void badPropertiesRefusedByServer(String property, String option, @TempDir Path tmp) {
        List<String> props = new ArrayList<>(List.of(property));
        if (!property.startsWith("socket=")) {
            props.add("socket=" + tmp.resolve("absent.sock"));
        }
        var b = QtestSession.builder(VfioUserHosting.stockQemu())
                .companion(new VfioUserCompanion(VfioUserServer.locateBinary(), props, null));
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> b.start().close())
                .isInstanceOf(dev.vgpuhil.qemu.qtest.QtestException.class)
                .hasStackTraceContaining("exited with status 2")
                .hasStackTraceContaining(option);
    }

    @Test
    @DisplayName("guest errors are logged by the server (QEMU's -d guest_errors does not see them): RO registers, bad "
            + "DOORBELL values, response buffer, reserved area, sub-word register access; valid accesses log nothing")
    void guestErrorsInServerLog(@TempDir Path tmp) throws Exception {
        try (Vm m = Vm.start(tmp.resolve("absent.sock"), false)) {
            Path log = m.companion().server().log();
            m.dev.writeReg(REG_SCRATCH, 1);
            m.dev.writeReg(REG_IRQ_STATUS, 3);
            m.dev.writeRequest(new byte[] {1, 2, 3});
            m.dev.readReg(REG_STATUS);
            assertThat(Files.readString(log)).as("valid accesses are quiet").doesNotContain("guest error");
            long bar = m.dev.bar0();
            m.dev.writeReg(REG_STATUS, 7);
            m.dev.writeReg(REG_VM_ID, 7);
            m.dev.writeReg(REG_DOORBELL, 2);
            m.qtest.writel(bar + RESP_BUFFER_OFFSET, 0x01020304);
            m.qtest.writel(bar + RESERVED_OFFSET, 0x01020304);
            m.qtest.writeb(bar + REG_SCRATCH, 1);
            m.dev.writeReg(REG_REQUEST_LEN, 0);
            m.dev.ringDoorbell();
            m.dev.readReg(REG_STATUS);
            String text = Files.readString(log);
            assertThat(text)
                    .contains(
                            "guest error: vgpu-stub: write of 0x7 to read-only register STATUS ignored",
                            "write of 0x7 to read-only register VM_ID ignored",
                            "DOORBELL write of 0x2 ignored",
                            "read-only response buffer at 0x440",
                            "reserved area at 0x840",
                            "doorbell with REQUEST_LEN 0");
            assertThat(text)
                    .as("the sub-word register write is refused and logged")
                    .containsPattern("guest error: .*(size 1|1-byte|SCRATCH)");
            assertThat(m.dev.readReg(REG_SCRATCH))
                    .as("the refused byte write changed nothing")
                    .isEqualTo(1);
            assertThat(text)
                    .as("the default reply deadline, 5000 ms of host time")
                    .contains("timeout 5000 ms");
        }
    }

    @Test
    @DisplayName("system_reset reaches the server (VFIO_USER_DEVICE_RESET): registers back to reset values")
    void systemReset(@TempDir Path tmp) throws Exception {
        try (Vm m = Vm.start(tmp.resolve("absent.sock"), true, "vm_id=7");
                QmpTestClient qmp = QmpTestClient.connect(m.qtest.qmpSocket(), waitFor)) {
            m.dev.writeReg(REG_SCRATCH, 0x1234);
            completeWithError(m);
            assertThat(qmp.execute("{\"execute\":\"system_reset\"}", waitFor)).contains("\"return\"");
            VgpuDevice again = VgpuDevice.attach(m.qtest); // the reset cleared BAR0's address and COMMAND
            assertThat(again.readReg(REG_SCRATCH)).isZero();
            assertThat(again.status()).isEqualTo(STATUS_IDLE);
            assertThat(again.readReg(REG_VM_ID)).as("identity survives").isEqualTo(7);
            assertThat(Files.readString(m.companion().server().log())).contains("client connected", "device reset");
        }
    }

    @Test
    @DisplayName("the server exits by itself when its QEMU goes away")
    void serverExitsWithQemu(@TempDir Path tmp) throws Exception {
        try (Vm m = Vm.start(tmp.resolve("absent.sock"), true);
                QmpTestClient qmp = QmpTestClient.connect(m.qtest.qmpSocket(), waitFor)) {
            assertThat(m.companion().server().isAlive()).isTrue();
            qmp.execute("{\"execute\":\"quit\"}", waitFor);
            assertThat(m.companion().server().awaitExit(waitFor))
                    .as("exit status of the server")
                    .isEqualTo(0);
            assertThat(m.companion().server().socket()).doesNotExist();
        }
    }
}

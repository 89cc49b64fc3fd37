package dev.vgpuhil.qemu.device;

import static dev.vgpuhil.protocol.VgpuProtocol.*;
import static org.assertj.core.api.Assertions.assertThat;

import dev.vgpuhil.qemu.qtest.QmpTestClient;
import dev.vgpuhil.qemu.qtest.QtestSession;
import dev.vgpuhil.qemu.qtest.VgpuDevice;
import io.qameta.allure.Allure;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * vmstate: the device state is moved between two qtest QEMUs by migration through a file ({@code migrate
 * "exec:cat > file"} on the source (QMP), {@code -incoming "exec:cat file"} on the target), and saved/restored in
 * one QEMU by HMP {@code savevm}/{@code loadvm} on a small qcow2 drive (savevm needs a writable qcow2 image).
 */
@Tag("qtest")
@Tag("device")
@OnEveryHosting
@InQemuOnly("vmstate exists only inside QEMU; QEMU 11.1 migrates a vfio-user VM without the device's state "
        + "(VfioUserQemuTest.migrationDoesNotCarryDeviceState)")
@DisplayName("vgpu-stub vmstate survives migration")
class MigrationTest {
    /** This test's one budget: every wait (the peer, QMP, the device, qemu-img) derives from it. */
    private final DeviceBudget budget = DeviceBudget.now();
    /** A migration, savevm or loadvm writes or reads the whole guest RAM under TCG: three waits of the budget. */
    private final Duration waitFor = budget.waitFor().multipliedBy(3);

    static final long MSI_ADDRESS = 0x200000; // guest RAM: migrated with the VM, so the MSI write is visible
    static final int MSI_DATA = 0x3C3C;

    private void migrateToFile(QtestSession source, Path file) throws Exception {
        try (QmpTestClient qmp = QmpTestClient.connect(source.qmpSocket(), waitFor)) {
            qmp.execute("{\"execute\":\"migrate\",\"arguments\":{\"uri\":\"exec:cat > " + file + "\"}}", waitFor);
            long end = System.nanoTime() + waitFor.toNanos();
            while (true) {
                String r = qmp.execute("{\"execute\":\"query-migrate\"}", waitFor);
                if (r.contains("\"completed\"")) {
                    break;
                }
                if (r.contains("\"failed\"") || System.nanoTime() > end) {
                    throw new AssertionError("migration did not complete within " + waitFor + " (" + budget + "): " + r
                            + "\n" + source.stderrTail());
                }
                Thread.sleep(20);
            }
        }
        assertThat(Files.size(file)).isPositive();
    }

    private QtestSession startTarget(List<String> props, Path file) throws Exception {
        QtestSession target = VgpuMachine.builder(props)
                .withQmp()
                .args("-incoming", "exec:cat " + file)
                .start();
        try (QmpTestClient qmp = QmpTestClient.connect(target.qmpSocket(), waitFor)) {
            long end = System.nanoTime() + waitFor.toNanos();
            while (true) {
                String r = qmp.execute("{\"execute\":\"query-status\"}", waitFor);
                if (!r.contains("inmigrate")) {
                    break;
                }
                if (System.nanoTime() > end) {
                    throw new AssertionError("incoming migration did not finish within " + waitFor + " (" + budget
                            + "): " + r + "\n" + target.stderrTail());
                }
                Thread.sleep(20);
            }
        }
        return target;
    }

    /** A 16 MiB qcow2 image for savevm (qemu-img from qemu-utils). */
    private Path qcow2(Path dir) throws Exception {
        Path img = dir.resolve("snap.qcow2");
        Process p = new ProcessBuilder("qemu-img", "create", "-q", "-f", "qcow2", img.toString(), "16M")
                .redirectErrorStream(true)
                .start();
        assertThat(p.waitFor(waitFor.toMillis(), TimeUnit.MILLISECONDS))
                .as("qemu-img finished within %s (%s)", waitFor, budget)
                .isTrue();
        String out = new String(p.getInputStream().readAllBytes());
        assertThat(p.exitValue()).as("qemu-img create: %s", out).isZero();
        return img;
    }

    private static QtestSession startWithDisk(List<String> props, Path img) {
        return VgpuMachine.builder(props)
                .withQmp()
                .args("-drive", "if=none,id=d0,file=" + img + ",format=qcow2")
                .start();
    }

    /** Runs an HMP command through QMP human-monitor-command; HMP reports failures as text, so expect none. */
    private void hmp(QmpTestClient qmp, QtestSession vm, String commandLine) throws Exception {
        String r = qmp.execute(
                "{\"execute\":\"human-monitor-command\",\"arguments\":{\"command-line\":\"" + commandLine + "\"}}",
                waitFor);
        assertThat(r).as("HMP %s\n%s", commandLine, vm.stderrTail()).contains("\"return\"");
        assertThat(r.replaceAll("\\s", ""))
                .as("HMP %s printed an error\n%s", commandLine, vm.stderrTail())
                .contains("\"return\":\"\"");
    }

    private static byte[] pattern(int len, int mul, int add) {
        byte[] b = new byte[len];
        for (int i = 0; i < len; i++) {
            b[i] = (byte) (i * mul + add);
        }
        return b;
    }

    @Test
    @DisplayName("savevm/loadvm: registers, request and response buffers come back as saved")
    void savevmLoadvmRestoresState(@TempDir Path tmp) throws Exception {
        Path img = qcow2(tmp);
        try (MediatorPeer peer = new MediatorPeer(tmp.resolve("m.sock"), budget)) {
            List<String> props = List.of("pool_id=B", "vm_id=42", "socket=" + peer.socket(), "timeout_ms=60000");
            try (VgpuMachine vm = VgpuMachine.attach(startWithDisk(props, img));
                    QmpTestClient qmp = QmpTestClient.connect(vm.qtest.qmpSocket(), waitFor)) {
                VgpuDevice d = vm.dev;
                MediatorPeer.Connection c = peer.acceptAndGreet(waitFor);
                d.readReg(REG_SCRATCH);
                d.readReg(REG_SCRATCH);
                byte[] savedReq = pattern(REQ_BUFFER_SIZE, 5, 3);
                d.submit(savedReq, 0x5AFE);
                var req = c.expectFrame(waitFor);
                c.send(req.reply(MSG_RESPONSE, ERR_NONE, "saved reply".getBytes()));
                assertThat(d.awaitNotBusy(waitFor)).isEqualTo(STATUS_DONE);
                d.writeReg(REG_SCRATCH, 0xFEEDC0DE);
                d.writeReg(REG_IRQ_CTRL, IRQ_CTRL_ENABLE);
                d.writeReg(REG_REQUEST_LEN, 777);
                long timestamp = d.timestamp();
                int irqStatus = d.readReg(REG_IRQ_STATUS);
                assertThat(irqStatus).isEqualTo(IRQ_STATUS_COMPLETE);

                Allure.step("savevm s1", () -> hmp(qmp, vm.qtest, "savevm s1"));

                Allure.step("change every piece of state", () -> {
                    d.writeReg(REG_SCRATCH, 0x0BADF00D);
                    d.writeReg(REG_IRQ_STATUS, 0xFFFFFFFF);
                    d.submit(pattern(64, 7, 1), 0x0C0C);
                    var other = c.expectFrame(waitFor);
                    c.send(other.reply(MSG_RESPONSE, ERR_NONE, "the other reply, longer".getBytes()));
                    assertThat(d.awaitNotBusy(waitFor)).isEqualTo(STATUS_DONE);
                    d.writeRequest(pattern(REQ_BUFFER_SIZE, 11, 9));
                    d.writeReg(REG_REQUEST_LEN, 0);
                    d.ringDoorbell(); // error completion: STATUS 3, ERROR_CODE INVALID_LENGTH
                    d.writeReg(REG_IRQ_CTRL, 0);
                    assertThat(d.status()).isEqualTo(STATUS_ERROR);
                });

                Allure.step("loadvm s1", () -> hmp(qmp, vm.qtest, "loadvm s1"));

                VgpuDevice r = VgpuDevice.attach(vm.qtest); // the loaded config space maps BAR0 where it was
                assertThat(r.bar0()).isEqualTo(d.bar0());
                assertThat(r.status()).isEqualTo(STATUS_DONE);
                assertThat(r.errorCode()).isEqualTo(ERR_NONE);
                assertThat(r.readReg(REG_SCRATCH)).isEqualTo(0xFEEDC0DE);
                assertThat(r.readReg(REG_REQUEST_ID)).isEqualTo(0x5AFE);
                assertThat(r.readReg(REG_REQUEST_LEN)).isEqualTo(777);
                assertThat(r.readReg(REG_IRQ_CTRL)).isEqualTo(IRQ_CTRL_ENABLE);
                assertThat(r.readReg(REG_IRQ_STATUS)).isEqualTo(irqStatus);
                assertThat(r.timestamp()).isEqualTo(timestamp);
                assertThat(r.readReg(REG_RESPONSE_LEN)).isEqualTo("saved reply".length());
                assertThat(r.readResponse(RESP_BUFFER_SIZE))
                        .isEqualTo(java.util.Arrays.copyOf("saved reply".getBytes(), RESP_BUFFER_SIZE));
                assertThat(r.readBytes(REQ_BUFFER_OFFSET, REQ_BUFFER_SIZE)).isEqualTo(savedReq);
                assertThat(r.readReg(REG_POOL_ID)).isEqualTo(POOL_B);
                assertThat(r.readReg(REG_VM_ID)).isEqualTo(42);
                Allure.step("the link survives loadvm and serves the next request", () -> {
                    r.submit(pattern(8, 1, 0), 0x5AFF);
                    var next = c.expectFrame(waitFor);
                    assertThat(next.requestId()).isEqualTo(0x5AFF);
                    c.send(next.reply(MSG_RESPONSE, ERR_NONE, "after".getBytes()));
                    assertThat(r.awaitNotBusy(waitFor)).isEqualTo(STATUS_DONE);
                    assertThat(r.readResponse(5)).isEqualTo("after".getBytes());
                });
            }
        }
    }

    @Test
    @DisplayName("loadvm while busy, link up: the request fails with MEDIATOR_UNAVAILABLE; its late reply is discarded"
            + " even when a new request reuses its request_id")
    void loadvmWhileBusy(@TempDir Path tmp) throws Exception {
        Path img = qcow2(tmp);
        try (MediatorPeer peer = new MediatorPeer(tmp.resolve("m.sock"), budget)) {
            List<String> props = List.of("socket=" + peer.socket(), "timeout_ms=60000");
            try (VgpuMachine vm = VgpuMachine.attach(startWithDisk(props, img));
                    QmpTestClient qmp = QmpTestClient.connect(vm.qtest.qmpSocket(), waitFor)) {
                VgpuDevice d = vm.dev;
                MediatorPeer.Connection c = peer.acceptAndGreet(waitFor);
                d.readReg(REG_SCRATCH);
                d.readReg(REG_SCRATCH);
                vm.qtest.writel(MSI_ADDRESS, 0);
                d.pci().enableMsi(d.address(), MSI_ADDRESS, MSI_DATA);
                d.writeReg(REG_IRQ_CTRL, IRQ_CTRL_ENABLE);
                d.submit(pattern(16, 1, 1), 0xB0B0);
                var old = c.expectFrame(waitFor);
                assertThat(d.status()).isEqualTo(STATUS_BUSY);

                Allure.step("savevm s1 while busy", () -> hmp(qmp, vm.qtest, "savevm s1"));
                assertThat(d.status()).as("savevm leaves the request in flight").isEqualTo(STATUS_BUSY);
                Allure.step("loadvm s1 with the same request still in flight", () -> hmp(qmp, vm.qtest, "loadvm s1"));

                long bar = d.bar0(); // loaded config space: BAR0 and MSI as saved; attach() would rewrite them
                assertThat(vm.qtest.readl(bar + REG_STATUS))
                        .as("no hang: completed at load")
                        .isEqualTo(STATUS_ERROR);
                assertThat(vm.qtest.readl(bar + REG_ERROR_CODE)).isEqualTo(ERR_MEDIATOR_UNAVAILABLE);
                assertThat(vm.qtest.readl(bar + REG_IRQ_STATUS)).isEqualTo(IRQ_STATUS_COMPLETE | IRQ_STATUS_ERROR);
                assertThat(vm.qtest.readl(bar + REG_RESPONSE_LEN)).isZero();
                vm.qtest.clockStep(1);
                assertThat(vm.qtest.readl(MSI_ADDRESS))
                        .as("completion MSI after load")
                        .isEqualTo(MSI_DATA);

                Allure.step("a new request reuses request_id 0xB0B0; the old request's late reply is discarded", () -> {
                    vm.qtest.writel(bar + REG_IRQ_STATUS, 0xFFFFFFFF);
                    vm.qtest.memwrite(bar + REQ_BUFFER_OFFSET, pattern(16, 2, 2));
                    vm.qtest.writel(bar + REG_REQUEST_LEN, 16);
                    vm.qtest.writel(bar + REG_REQUEST_ID, 0xB0B0);
                    vm.qtest.writel(bar + REG_DOORBELL, 1);
                    var fresh = c.expectFrame(waitFor);
                    assertThat(fresh.requestId()).isEqualTo(0xB0B0);
                    assertThat(fresh.payload()).isEqualTo(pattern(16, 2, 2));
                    c.send(old.reply(MSG_RESPONSE, ERR_NONE, "stale".getBytes()));
                    vm.qtest.readl(bar + REG_SCRATCH);
                    vm.qtest.readl(bar + REG_SCRATCH);
                    assertThat(vm.qtest.readl(bar + REG_STATUS))
                            .as("the stale reply did not complete the new request")
                            .isEqualTo(STATUS_BUSY);
                    c.send(fresh.reply(MSG_RESPONSE, ERR_NONE, "fresh".getBytes()));
                    long end = System.nanoTime() + waitFor.toNanos();
                    while (vm.qtest.readl(bar + REG_STATUS) == STATUS_BUSY && System.nanoTime() < end) {
                        Thread.sleep(5);
                    }
                    assertThat(vm.qtest.readl(bar + REG_STATUS)).isEqualTo(STATUS_DONE);
                    assertThat(vm.qtest.readl(bar + REG_RESPONSE_LEN)).isEqualTo(5);
                    assertThat(vm.qtest.memread(bar + RESP_BUFFER_OFFSET, 5)).isEqualTo("fresh".getBytes());
                });
            }
        }
    }

    @Test
    @DisplayName("registers, request buffer, response state and BAR mapping arrive intact on the target")
    void stateMigrates(@TempDir Path tmp) throws Exception {
        List<String> props =
                List.of("pool_id=B", "priority=medium", "vm_id=321", "socket=" + VgpuMachine.absentSocket());
        Path file = tmp.resolve("vgpu.migration");
        byte[] pattern = new byte[REQ_BUFFER_SIZE];
        for (int i = 0; i < pattern.length; i++) {
            pattern[i] = (byte) (i * 3 + 1);
        }
        int irqStatus;
        long timestamp;
        try (VgpuMachine src =
                VgpuMachine.attach(VgpuMachine.builder(props).withQmp().start())) {
            VgpuDevice d = src.dev;
            d.writeReg(REG_SCRATCH, 0xFEEDC0DE);
            d.writeReg(REG_REQUEST_ID, 0x600D);
            d.writeReg(REG_IRQ_CTRL, IRQ_CTRL_ENABLE);
            d.writeReg(REG_REQUEST_LEN, 0);
            d.ringDoorbell(); // error completion: STATUS 3, ERROR_CODE 1, IRQ_STATUS 3, TIMESTAMP set
            d.writeRequest(pattern);
            d.writeReg(REG_REQUEST_LEN, 1025);
            irqStatus = d.readReg(REG_IRQ_STATUS);
            timestamp = d.timestamp();
            Allure.step("migrate the source to a file", () -> migrateToFile(src.qtest, file));
        }
        try (QtestSession target = startTarget(props, file)) {
            VgpuDevice d = VgpuDevice.attach(target); // re-sizes BAR0 and maps it where the source had it
            assertThat(d.readReg(REG_SCRATCH)).isEqualTo(0xFEEDC0DE);
            assertThat(d.readReg(REG_REQUEST_ID)).isEqualTo(0x600D);
            assertThat(d.readReg(REG_REQUEST_LEN)).isEqualTo(1025);
            assertThat(d.readReg(REG_IRQ_CTRL)).isEqualTo(IRQ_CTRL_ENABLE);
            assertThat(d.status()).isEqualTo(STATUS_ERROR);
            assertThat(d.errorCode()).isEqualTo(ERR_INVALID_LENGTH);
            assertThat(d.readReg(REG_IRQ_STATUS)).isEqualTo(irqStatus);
            assertThat(d.timestamp()).isEqualTo(timestamp);
            assertThat(d.readBytes(REQ_BUFFER_OFFSET, REQ_BUFFER_SIZE)).isEqualTo(pattern);
            assertThat(d.readReg(REG_POOL_ID)).isEqualTo(POOL_B);
            assertThat(d.readReg(REG_VM_ID)).isEqualTo(321);
        }
    }

    @Test
    @DisplayName("vmstate loaded with STATUS busy: STATUS error + MEDIATOR_UNAVAILABLE right after load")
    void busyStateAfterLoad(@TempDir Path tmp) throws Exception {
        Path file = tmp.resolve("vgpu-busy.migration");
        try (MediatorPeer peer = new MediatorPeer(tmp.resolve("m.sock"), budget)) {
            List<String> props = List.of("socket=" + peer.socket(), "timeout_ms=60000");
            long timestampBefore;
            try (VgpuMachine src =
                    VgpuMachine.attach(VgpuMachine.builder(props).withQmp().start())) {
                MediatorPeer.Connection c = peer.acceptAndGreet(waitFor);
                src.dev.readReg(REG_SCRATCH);
                src.dev.readReg(REG_SCRATCH);
                src.qtest.writel(MSI_ADDRESS, 0);
                src.dev.pci().enableMsi(src.dev.address(), MSI_ADDRESS, MSI_DATA);
                src.dev.writeReg(REG_IRQ_CTRL, IRQ_CTRL_ENABLE);
                src.dev.submit(new byte[] {0, 0, 0, 0, 1, 0, 0, 0, 7}, 77);
                c.expectFrame(waitFor);
                assertThat(src.dev.status()).isEqualTo(STATUS_BUSY);
                assertThat(src.qtest.readl(MSI_ADDRESS))
                        .as("no interrupt before migration")
                        .isZero();
                timestampBefore = src.dev.timestamp();
                migrateToFile(src.qtest, file);
            }
            List<String> targetProps = List.of("socket=" + VgpuMachine.absentSocket(), "timeout_ms=60000");
            try (QtestSession target = startTarget(targetProps, file)) {
                // attach() would rewrite BAR0/COMMAND; the migrated config space already maps BAR0 where it was
                long bar = VgpuDevice.DEFAULT_BAR0_ADDRESS;
                assertThat(target.readl(bar + REG_STATUS)).isEqualTo(STATUS_ERROR);
                assertThat(target.readl(bar + REG_ERROR_CODE)).isEqualTo(ERR_MEDIATOR_UNAVAILABLE);
                assertThat(target.readl(bar + REG_IRQ_STATUS)).isEqualTo(IRQ_STATUS_COMPLETE | IRQ_STATUS_ERROR);
                assertThat(target.readl(bar + REG_RESPONSE_LEN)).isZero();
                assertThat(timestampBefore).isZero();
                assertThat(target.readl(bar + REG_TIMESTAMP_LO) | target.readl(bar + REG_TIMESTAMP_HI))
                        .as("the error completion at load has a timestamp")
                        .isNotZero();
                target.clockStep(1); // the completion interrupt is sent once the migrated VM runs
                assertThat(target.readl(MSI_ADDRESS))
                        .as("completion MSI of the failed request after load")
                        .isEqualTo(MSI_DATA);
                VgpuDevice d = VgpuDevice.attach(target);
                Allure.step("the device is usable afterwards", () -> {
                    d.writeReg(REG_REQUEST_LEN, 0);
                    d.ringDoorbell();
                    assertThat(d.errorCode()).isEqualTo(ERR_INVALID_LENGTH);
                });
            }
        }
    }
}

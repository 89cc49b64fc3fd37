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
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * vmstate: savevm/loadvm needs a disk, so the device state is moved between two qtest QEMUs by migration through
 * a file: {@code migrate "exec:cat > file"} on the source (QMP), {@code -incoming "exec:cat file"} on the target.
 */
@Tag("qtest")
@Tag("device")
@DisplayName("vgpu-stub vmstate survives migration")
class MigrationTest {
    static final Duration WAIT = Duration.ofSeconds(30);
    static final long MSI_ADDRESS = 0x200000; // guest RAM: migrated with the VM, so the MSI write is visible
    static final int MSI_DATA = 0x3C3C;

    private static void migrateToFile(QtestSession source, Path file) throws Exception {
        try (QmpTestClient qmp = QmpTestClient.connect(source.qmpSocket(), WAIT)) {
            qmp.execute("{\"execute\":\"migrate\",\"arguments\":{\"uri\":\"exec:cat > " + file + "\"}}", WAIT);
            long end = System.nanoTime() + WAIT.toNanos();
            while (true) {
                String r = qmp.execute("{\"execute\":\"query-migrate\"}", WAIT);
                if (r.contains("\"completed\"")) {
                    break;
                }
                if (r.contains("\"failed\"") || System.nanoTime() > end) {
                    throw new AssertionError("migration did not complete: " + r + "\n" + source.stderrTail());
                }
                Thread.sleep(20);
            }
        }
        assertThat(Files.size(file)).isPositive();
    }

    private static QtestSession startTarget(List<String> props, Path file) throws Exception {
        QtestSession target = VgpuMachine.builder(props).withQmp().args("-incoming", "exec:cat " + file).start();
        try (QmpTestClient qmp = QmpTestClient.connect(target.qmpSocket(), WAIT)) {
            long end = System.nanoTime() + WAIT.toNanos();
            while (true) {
                String r = qmp.execute("{\"execute\":\"query-status\"}", WAIT);
                if (!r.contains("inmigrate")) {
                    break;
                }
                if (System.nanoTime() > end) {
                    throw new AssertionError("incoming migration did not finish: " + r + "\n" + target.stderrTail());
                }
                Thread.sleep(20);
            }
        }
        return target;
    }

    @Test
    @DisplayName("registers, request buffer, response state and BAR mapping arrive intact on the target")
    void stateMigrates(@TempDir Path tmp) throws Exception {
        List<String> props = List.of("pool_id=B", "priority=medium", "vm_id=321", "socket=" + VgpuMachine.absentSocket());
        Path file = tmp.resolve("vgpu.migration");
        byte[] pattern = new byte[REQ_BUFFER_SIZE];
        for (int i = 0; i < pattern.length; i++) {
            pattern[i] = (byte) (i * 3 + 1);
        }
        int irqStatus;
        long timestamp;
        try (VgpuMachine src = VgpuMachine.attach(VgpuMachine.builder(props).withQmp().start())) {
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
        try (MediatorPeer peer = new MediatorPeer(tmp.resolve("m.sock"))) {
            List<String> props = List.of("socket=" + peer.socket(), "timeout_ms=60000");
            long timestampBefore;
            try (VgpuMachine src = VgpuMachine.attach(VgpuMachine.builder(props).withQmp().start())) {
                MediatorPeer.Connection c = peer.acceptAndGreet(WAIT);
                src.dev.readReg(REG_SCRATCH);
                src.dev.readReg(REG_SCRATCH);
                src.qtest.writel(MSI_ADDRESS, 0);
                src.dev.pci().enableMsi(src.dev.address(), MSI_ADDRESS, MSI_DATA);
                src.dev.writeReg(REG_IRQ_CTRL, IRQ_CTRL_ENABLE);
                src.dev.submit(new byte[] {0, 0, 0, 0, 1, 0, 0, 0, 7}, 77);
                c.expectFrame(WAIT);
                assertThat(src.dev.status()).isEqualTo(STATUS_BUSY);
                assertThat(src.qtest.readl(MSI_ADDRESS)).as("no interrupt before migration").isZero();
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
                        .as("the error completion at load has a timestamp").isNotZero();
                target.clockStep(1); // the completion interrupt is sent once the migrated VM runs
                assertThat(target.readl(MSI_ADDRESS)).as("completion MSI of the failed request after load")
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

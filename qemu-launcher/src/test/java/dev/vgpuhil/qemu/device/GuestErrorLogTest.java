package dev.vgpuhil.qemu.device;

import static dev.vgpuhil.protocol.VgpuProtocol.*;
import static org.assertj.core.api.Assertions.assertThat;

import dev.vgpuhil.common.BoundProcesses;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * DEVICE.md: ignored guest writes are logged as guest errors. QEMU prints LOG_GUEST_ERROR messages only with
 * {@code -d guest_errors}; {@code -D file} sends them to a file the test reads.
 */
@Tag("qtest")
@Tag("device")
@OnEveryHosting
@InQemuOnly("QEMU's -d guest_errors log; over vfio-user the server logs guest errors itself "
        + "(VfioUserQemuTest.guestErrorsInServerLog)")
@DisplayName("vgpu-stub logs ignored guest accesses as LOG_GUEST_ERROR")
class GuestErrorLogTest {

    /**
     * guest_errors, plus invalid_mem where QEMU has it: newer QEMUs log the memory core's refusal of a
     * wrong-size access under that item instead of guest_errors.
     */
    static String logItems() throws Exception {
        var r = BoundProcesses.run(
                List.of(DeviceHostings.current().qemu().path().toString(), "-d", "help"),
                DeviceBudget.now().waitFor());
        return r.stdout().lines().anyMatch(l -> l.startsWith("invalid_mem"))
                ? "guest_errors,invalid_mem"
                : "guest_errors";
    }

    @Test
    @DisplayName(
            "writes to RO registers, bad DOORBELL values, the response buffer, the reserved area and sub-word register accesses are each logged")
    void ignoredAccessesAreLogged(@TempDir Path tmp) throws Exception {
        Path log = tmp.resolve("guest-errors.log");
        try (VgpuMachine m = VgpuMachine.start(
                List.of("socket=" + VgpuMachine.absentSocket()), List.of("-d", logItems(), "-D", log.toString()))) {
            var q = m.qtest;
            long bar = m.dev.bar0();
            m.dev.readReg(REG_STATUS);
            assertThat(Files.exists(log) ? Files.readString(log) : "")
                    .as("nothing logged before")
                    .isEmpty();

            m.dev.writeReg(REG_STATUS, 7);
            m.dev.writeReg(REG_POOL_ID, 7);
            m.dev.writeReg(REG_PRIORITY, 7);
            m.dev.writeReg(REG_VM_ID, 7);
            m.dev.writeReg(REG_ERROR_CODE, 7);
            m.dev.writeReg(REG_RESPONSE_LEN, 7);
            m.dev.writeReg(REG_PROTOCOL_VER, 7);
            m.dev.writeReg(REG_CAPABILITIES, 7);
            m.dev.writeReg(REG_TIMESTAMP_LO, 7);
            m.dev.writeReg(REG_TIMESTAMP_HI, 7);
            m.dev.writeReg(REG_DOORBELL, 2);
            q.writel(bar + RESP_BUFFER_OFFSET, 0x01020304);
            q.writel(bar + RESERVED_OFFSET, 0x01020304);
            q.writeb(bar + REG_SCRATCH, 1);
            m.dev.writeReg(REG_REQUEST_LEN, 0);
            m.dev.ringDoorbell();
            m.dev.readReg(REG_STATUS); // one more round trip: everything above has been handled

            String text = Files.readString(log);
            for (String reg : List.of(
                    "STATUS",
                    "POOL_ID",
                    "PRIORITY",
                    "VM_ID",
                    "ERROR_CODE",
                    "RESPONSE_LEN",
                    "PROTOCOL_VER",
                    "CAPABILITIES",
                    "TIMESTAMP_LO",
                    "TIMESTAMP_HI")) {
                assertThat(text)
                        .as("log of the write to %s", reg)
                        .contains("write of 0x7 to read-only register " + reg + " ignored");
            }
            assertThat(text).contains("DOORBELL write of 0x2 ignored");
            assertThat(text).contains("read-only response buffer at 0x440");
            assertThat(text).contains("reserved area at 0x840");
            assertThat(text)
                    .as("the memory core refuses the byte access to a register")
                    .containsPattern("(?i)invalid (write|access).*size 1.*vgpu-stub-regs");
            assertThat(text).contains("doorbell with REQUEST_LEN 0");
            assertThat(m.dev.readReg(REG_SCRATCH))
                    .as("the refused byte write changed nothing")
                    .isZero();
        }
    }

    @Test
    @DisplayName("RW registers, the request buffer and a valid doorbell log nothing")
    void validAccessesAreQuiet(@TempDir Path tmp) throws Exception {
        Path log = tmp.resolve("quiet.log");
        try (VgpuMachine m = VgpuMachine.start(
                List.of("socket=" + VgpuMachine.absentSocket()), List.of("-d", logItems(), "-D", log.toString()))) {
            m.dev.writeReg(REG_SCRATCH, 1);
            m.dev.writeReg(REG_REQUEST_ID, 2);
            m.dev.writeReg(REG_IRQ_CTRL, 1);
            m.dev.writeReg(REG_IRQ_STATUS, 3);
            m.dev.writeRequest(new byte[] {1, 2, 3});
            m.dev.writeReg(REG_REQUEST_LEN, 3);
            m.dev.ringDoorbell(); // no mediator: MEDIATOR_UNAVAILABLE is a host condition, not a guest error
            assertThat(m.dev.errorCode()).isEqualTo(ERR_MEDIATOR_UNAVAILABLE);
            assertThat(Files.exists(log) ? Files.readString(log) : "").isEmpty();
        }
    }
}

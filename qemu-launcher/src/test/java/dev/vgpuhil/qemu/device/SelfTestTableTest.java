package dev.vgpuhil.qemu.device;

import static dev.vgpuhil.protocol.VgpuProtocol.*;
import static org.assertj.core.api.Assertions.assertThat;

import dev.vgpuhil.qemu.qtest.VgpuDevice;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * DEVICE.md "The self-test": each check as its own test, on a fresh device configured pool B / high / vm 200 and
 * no mediator. Names match the agent's selftest JSON ("test":N,"check":name).
 */
@Tag("qtest")
@Tag("device")
@OnEveryHosting
@DisplayName("self-test table (DEVICE.md), without a mediator")
class SelfTestTableTest {
    VgpuMachine m;
    VgpuDevice dev;

    @BeforeEach
    void start() {
        m = VgpuMachine.withoutMediator("pool_id=B", "priority=high", "vm_id=200");
        dev = m.dev;
    }

    @AfterEach
    void stop() {
        m.close();
    }

    @Test
    @DisplayName("test 1 pci_ids: vendor 0x1234, device 0x5647")
    void test1PciIds() {
        assertThat(dev.pci().readConfig16(dev.address(), 0)).isEqualTo(0x1234);
        assertThat(dev.pci().readConfig16(dev.address(), 2)).isEqualTo(0x5647);
    }

    @Test
    @DisplayName("test 1 pci_revision: revision 0x02")
    void test1PciRevision() {
        assertThat(dev.pci().readConfig8(dev.address(), 8)).isEqualTo(0x02);
    }

    @Test
    @DisplayName("test 2 pool_id: POOL_ID = configured pool 'B'")
    void test2PoolId() {
        assertThat(dev.readReg(REG_POOL_ID)).isEqualTo('B');
    }

    @Test
    @DisplayName("test 2 priority: PRIORITY = configured priority (high = 2)")
    void test2Priority() {
        assertThat(dev.readReg(REG_PRIORITY)).isEqualTo(2);
    }

    @Test
    @DisplayName("test 2 vm_id: VM_ID = configured vm_id 200")
    void test2VmId() {
        assertThat(dev.readReg(REG_VM_ID)).isEqualTo(200);
    }

    @Test
    @DisplayName("test 3 protocol_ver: PROTOCOL_VER = 0x00010000")
    void test3ProtocolVer() {
        assertThat(dev.readReg(REG_PROTOCOL_VER)).isEqualTo(0x00010000);
    }

    @Test
    @DisplayName("test 3 capabilities: BASIC, IRQ, MSI, TIMESTAMP")
    void test3Capabilities() {
        int caps = dev.readReg(REG_CAPABILITIES);
        assertThat(caps & CAP_BASIC).isNotZero();
        assertThat(caps).isEqualTo(CAP_BASIC | CAP_IRQ | CAP_MSI | CAP_TIMESTAMP);
    }

    @Test
    @DisplayName("test 4 status_idle: STATUS = 0 at start")
    void test4StatusIdle() {
        assertThat(dev.readReg(REG_STATUS)).isEqualTo(STATUS_IDLE);
    }

    @Test
    @DisplayName("test 4 error_code_clear: ERROR_CODE = 0 at start")
    void test4ErrorCodeClear() {
        assertThat(dev.readReg(REG_ERROR_CODE)).isEqualTo(ERR_NONE);
    }

    @Test
    @DisplayName("test 4 doorbell_reads_zero: DOORBELL reads 0")
    void test4DoorbellReadsZero() {
        assertThat(dev.readReg(REG_DOORBELL)).isZero();
    }

    @Test
    @DisplayName("test 5 scratch_rw: SCRATCH keeps 0xDEADBEEF, 0x12345678, 0, 0xFFFFFFFF")
    void test5ScratchRw() {
        for (int v : new int[] {0xDEADBEEF, 0x12345678, 0, 0xFFFFFFFF}) {
            dev.writeReg(REG_SCRATCH, v);
            assertThat(dev.readReg(REG_SCRATCH)).isEqualTo(v);
        }
    }

    @Test
    @DisplayName("test 6 request_len_rw: REQUEST_LEN keeps a written value")
    void test6RequestLenRw() {
        dev.writeReg(REG_REQUEST_LEN, 0x123);
        assertThat(dev.readReg(REG_REQUEST_LEN)).isEqualTo(0x123);
    }

    @Test
    @DisplayName("test 6 request_id_rw: REQUEST_ID keeps a written value")
    void test6RequestIdRw() {
        dev.writeReg(REG_REQUEST_ID, 0xA5A5F00D);
        assertThat(dev.readReg(REG_REQUEST_ID)).isEqualTo(0xA5A5F00D);
    }

    @Test
    @DisplayName("test 6 irq_ctrl_rw: IRQ_CTRL keeps bit 0 only (ENABLE, 0xFFFFFFFF -> ENABLE, 0)")
    void test6IrqCtrlRw() {
        dev.writeReg(REG_IRQ_STATUS, 0xFFFFFFFF);
        dev.writeReg(REG_IRQ_CTRL, IRQ_CTRL_ENABLE);
        assertThat(dev.readReg(REG_IRQ_CTRL)).isEqualTo(IRQ_CTRL_ENABLE);
        dev.writeReg(REG_IRQ_CTRL, 0xFFFFFFFF);
        assertThat(dev.readReg(REG_IRQ_CTRL)).as("bits other than 0 read 0").isEqualTo(IRQ_CTRL_ENABLE);
        dev.writeReg(REG_IRQ_CTRL, 0);
        assertThat(dev.readReg(REG_IRQ_CTRL)).isZero();
    }

    @Test
    @DisplayName("test 7 readonly_ignore_writes: STATUS..CAPABILITIES and TIMESTAMP_* unchanged by writes")
    void test7ReadonlyIgnoreWrites() {
        List<Integer> ro = List.of(
                REG_STATUS,
                REG_POOL_ID,
                REG_PRIORITY,
                REG_VM_ID,
                REG_ERROR_CODE,
                REG_RESPONSE_LEN,
                REG_PROTOCOL_VER,
                REG_CAPABILITIES,
                REG_TIMESTAMP_LO,
                REG_TIMESTAMP_HI);
        int[] before = ro.stream().mapToInt(dev::readReg).toArray();
        ro.forEach(off -> dev.writeReg(off, 0x5A5A5A5A));
        assertThat(ro.stream().mapToInt(dev::readReg).toArray()).isEqualTo(before);
    }

    @Test
    @DisplayName("test 8 request_buffer_rw: a pattern over the 1 KiB request buffer reads back")
    void test8RequestBufferRw() {
        byte[] p = new byte[REQ_BUFFER_SIZE];
        for (int i = 0; i < p.length; i++) {
            p[i] = (byte) (i ^ 0x5A);
        }
        dev.writeRequest(p);
        assertThat(dev.readBytes(REQ_BUFFER_OFFSET, REQ_BUFFER_SIZE)).isEqualTo(p);
    }

    @Test
    @DisplayName("test 8 response_buffer_ro: a write to the response buffer leaves it unchanged")
    void test8ResponseBufferRo() {
        byte[] before = dev.readResponse(64);
        dev.writeBytes(RESP_BUFFER_OFFSET, new byte[] {1, 2, 3, 4, 5, 6, 7, 8});
        assertThat(dev.readResponse(64)).isEqualTo(before);
    }

    @Test
    @DisplayName("test 8 reserved_area: 0x840 and 0xFFC read 0 after writing 0xFFFFFFFF")
    void test8ReservedArea() {
        // 32-bit accesses, as the C program's wr()/rd()
        dev.session().writel(dev.bar0() + RESERVED_OFFSET, 0xFFFFFFFF);
        dev.session().writel(dev.bar0() + BAR0_SIZE - 4, 0xFFFFFFFF);
        assertThat(dev.session().readl(dev.bar0() + RESERVED_OFFSET)).isZero();
        assertThat(dev.session().readl(dev.bar0() + BAR0_SIZE - 4)).isZero();
    }

    @Test
    @DisplayName("test 9 zero_length_doorbell: REQUEST_LEN 0 + doorbell -> STATUS 3, ERROR_CODE 1 (INVALID_LENGTH)")
    void test9ZeroLengthDoorbell() {
        dev.writeReg(REG_REQUEST_LEN, 0);
        dev.ringDoorbell();
        assertThat(dev.status()).isEqualTo(STATUS_ERROR);
        assertThat(dev.errorCode()).isEqualTo(ERR_INVALID_LENGTH);
    }

    @Test
    @DisplayName("test 9 (extra) oversize REQUEST_LEN 1025 + doorbell -> STATUS 3, ERROR_CODE 1 (INVALID_LENGTH)")
    void test9OversizeRequestLen() {
        dev.writeReg(REG_REQUEST_LEN, REQ_BUFFER_SIZE + 1);
        dev.ringDoorbell();
        assertThat(dev.status()).isEqualTo(STATUS_ERROR);
        assertThat(dev.errorCode()).isEqualTo(ERR_INVALID_LENGTH);
        assertThat(dev.readReg(REG_RESPONSE_LEN)).isZero();
    }

    @Test
    @DisplayName(
            "test 10 valid_doorbell_no_mediator: REQUEST_LEN 16 + doorbell -> STATUS 3, ERROR_CODE 2 (MEDIATOR_UNAVAILABLE)")
    void test10ValidDoorbellNoMediator() {
        dev.writeRequest(new byte[16]);
        dev.writeReg(REG_REQUEST_LEN, 16);
        dev.ringDoorbell();
        assertThat(dev.status()).as("at once, no waiting").isEqualTo(STATUS_ERROR);
        assertThat(dev.errorCode()).isEqualTo(ERR_MEDIATOR_UNAVAILABLE);
    }

    private void runTest10() {
        dev.writeRequest(new byte[16]);
        dev.writeReg(REG_REQUEST_LEN, 16);
        dev.ringDoorbell();
        assertThat(dev.status()).isEqualTo(STATUS_ERROR);
    }

    @Test
    @DisplayName("test 11 irq_status_latched: after test 10 IRQ_STATUS has COMPLETE; writing 1s clears it to 0")
    void test11IrqStatusLatched() {
        runTest10();
        assertThat(dev.readReg(REG_IRQ_STATUS) & IRQ_STATUS_COMPLETE).isNotZero();
        dev.writeReg(REG_IRQ_STATUS, 0xFFFFFFFF);
        assertThat(dev.readReg(REG_IRQ_STATUS)).isZero();
    }

    @Test
    @DisplayName("test 11 timestamp_set: after test 10 TIMESTAMP_HI:LO != 0")
    void test11TimestampSet() {
        assertThat(dev.timestamp()).as("before any completion").isZero();
        runTest10();
        assertThat(dev.timestamp()).isNotZero();
    }
}

package dev.vgpuhil.qemu.device;

import static dev.vgpuhil.protocol.VgpuProtocol.*;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.vgpuhil.qemu.qtest.QtestException;
import dev.vgpuhil.qemu.qtest.VgpuDevice;
import io.qameta.allure.Allure;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** DEVICE.md "Registers" and "Buffers": every row, on a fresh device without a mediator. */
@Tag("qtest")
@Tag("device")
@OnEveryHosting
@DisplayName("vgpu-stub register map (DEVICE.md)")
class RegisterMapTest {
    VgpuMachine m;
    VgpuDevice dev;

    @BeforeEach
    void start() {
        m = VgpuMachine.withoutMediator();
        dev = m.dev;
    }

    @AfterEach
    void stop() {
        m.close();
    }

    static Map<Integer, Integer> resetValues() {
        Map<Integer, Integer> r = new LinkedHashMap<>();
        r.put(REG_DOORBELL, 0);
        r.put(REG_STATUS, STATUS_IDLE);
        r.put(REG_POOL_ID, POOL_A);
        r.put(REG_PRIORITY, PRIORITY_LOW);
        r.put(REG_VM_ID, 0);
        r.put(REG_ERROR_CODE, ERR_NONE);
        r.put(REG_REQUEST_LEN, 0);
        r.put(REG_RESPONSE_LEN, 0);
        r.put(REG_PROTOCOL_VER, PROTOCOL_VERSION);
        r.put(REG_CAPABILITIES, CAP_BASIC | CAP_IRQ | CAP_MSI | CAP_TIMESTAMP);
        r.put(REG_IRQ_CTRL, 0);
        r.put(REG_IRQ_STATUS, 0);
        r.put(REG_REQUEST_ID, 0);
        r.put(REG_TIMESTAMP_LO, 0);
        r.put(REG_TIMESTAMP_HI, 0);
        r.put(REG_SCRATCH, 0);
        return r;
    }

    @Test
    @DisplayName("PCI identity: IDs, revision, class, interrupt pin A, MSI capability, 4 KiB 32-bit memory BAR0")
    void pciIdentity() {
        var pci = dev.pci();
        var a = dev.address();
        assertThat(pci.readConfig16(a, 0x00)).isEqualTo(PCI_VENDOR_ID);
        assertThat(pci.readConfig16(a, 0x02)).isEqualTo(PCI_DEVICE_ID);
        assertThat(pci.readConfig8(a, 0x08)).isEqualTo(PCI_REVISION);
        assertThat(pci.readConfig16(a, 0x0A)).isEqualTo(PCI_CLASS);
        assertThat(pci.readConfig8(a, 0x3D)).as("interrupt pin").isEqualTo(1);
        assertThat(pci.findCapability(a, 0x05)).as("MSI capability").isPresent();
        assertThat(pci.sizeBar(a, 0)).isEqualTo(BAR0_SIZE);
        assertThat(pci.readBar(a, 0) & 0xF)
                .as("32-bit, non-prefetchable memory BAR")
                .isZero();
        assertThat(pci.sizeBar(a, 1)).as("no BAR1").isZero();
    }

    @Test
    @DisplayName("reset values: every register 0 except the identity ones")
    void resetValuesOfAllSixteenRegisters() {
        Map<Integer, Integer> expected = resetValues();
        assertThat(expected).hasSize(REG_COUNT);
        expected.forEach((off, value) ->
                assertThat(dev.readReg(off)).as("register 0x%03x", off).isEqualTo(value));
    }

    @Test
    @DisplayName(
            "RO registers ignore writes (STATUS, POOL_ID, PRIORITY, VM_ID, ERROR_CODE, RESPONSE_LEN, PROTOCOL_VER, CAPABILITIES, TIMESTAMP_*)")
    void readOnlyRegistersIgnoreWrites() {
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
        Map<Integer, Integer> reset = resetValues();
        for (int off : ro) {
            for (int v : new int[] {0xFFFFFFFF, 0x12345678, 0}) {
                dev.writeReg(off, v);
                assertThat(dev.readReg(off))
                        .as("register 0x%03x after writing 0x%08x", off, v)
                        .isEqualTo(reset.get(off));
            }
        }
    }

    @ParameterizedTest(name = "RW register 0x{0} keeps every written value")
    @ValueSource(ints = {REG_REQUEST_LEN, REG_REQUEST_ID, REG_SCRATCH})
    @DisplayName("RW registers keep values")
    void readWriteRegistersKeepValues(int off) {
        for (int v : new int[] {0xDEADBEEF, 0x12345678, 0, 0xFFFFFFFF, 0x00000401}) {
            dev.writeReg(off, v);
            assertThat(dev.readReg(off)).isEqualTo(v);
        }
        assertThat(dev.status()).as("RW writes submit nothing").isEqualTo(STATUS_IDLE);
    }

    @Test
    @DisplayName("IRQ_CTRL keeps bit 0, other bits read 0")
    void irqCtrl() {
        dev.writeReg(REG_IRQ_CTRL, 0xFFFFFFFF);
        assertThat(dev.readReg(REG_IRQ_CTRL)).isEqualTo(IRQ_CTRL_ENABLE);
        dev.writeReg(REG_IRQ_CTRL, 0);
        assertThat(dev.readReg(REG_IRQ_CTRL)).isZero();
    }

    @Test
    @DisplayName("DOORBELL reads 0; values other than 1 are ignored")
    void doorbell() {
        dev.writeReg(REG_REQUEST_LEN, 0); // a ring would complete with INVALID_LENGTH at once: visible
        for (int v : new int[] {0, 2, 0xFFFFFFFF, 0x101}) {
            dev.writeReg(REG_DOORBELL, v);
            assertThat(dev.status()).as("after DOORBELL=0x%x", v).isEqualTo(STATUS_IDLE);
            assertThat(dev.readReg(REG_IRQ_STATUS)).isZero();
        }
        assertThat(dev.readReg(REG_DOORBELL)).isZero();
        dev.ringDoorbell();
        assertThat(dev.readReg(REG_DOORBELL)).as("reads 0 after a ring too").isZero();
        assertThat(dev.status()).as("1 does ring").isEqualTo(STATUS_ERROR);
    }

    @Test
    @DisplayName("IRQ_STATUS is latched at completion and write-1-to-clear, bit by bit")
    void irqStatusW1c() {
        dev.writeReg(REG_IRQ_STATUS, 0xFFFFFFFF);
        assertThat(dev.readReg(REG_IRQ_STATUS))
                .as("writing 1s to a clear register sets nothing")
                .isZero();
        dev.writeReg(REG_REQUEST_LEN, 0);
        dev.ringDoorbell(); // error completion: COMPLETE | ERROR, latched although IRQ_CTRL is 0
        assertThat(dev.readReg(REG_IRQ_STATUS)).isEqualTo(IRQ_STATUS_COMPLETE | IRQ_STATUS_ERROR);
        dev.writeReg(REG_IRQ_STATUS, 0);
        assertThat(dev.readReg(REG_IRQ_STATUS))
                .as("writing 0 clears nothing")
                .isEqualTo(IRQ_STATUS_COMPLETE | IRQ_STATUS_ERROR);
        dev.writeReg(REG_IRQ_STATUS, IRQ_STATUS_COMPLETE);
        assertThat(dev.readReg(REG_IRQ_STATUS)).isEqualTo(IRQ_STATUS_ERROR);
        dev.writeReg(REG_IRQ_STATUS, IRQ_STATUS_ERROR);
        assertThat(dev.readReg(REG_IRQ_STATUS)).isZero();
    }

    @Test
    @DisplayName("TIMESTAMP_HI:LO is the host clock at the last completion")
    void timestamp() {
        long before = System.currentTimeMillis() * 1_000_000L;
        dev.writeReg(REG_REQUEST_LEN, 0);
        dev.ringDoorbell();
        long after = System.currentTimeMillis() * 1_000_000L;
        long ts = dev.timestamp();
        assertThat(ts)
                .as("QEMU_CLOCK_HOST ns, close to the wall clock")
                .isBetween(before - 2_000_000_000L, after + 2_000_000_000L);
    }

    @Test
    @DisplayName("request buffer: 1 KiB pattern reads back, with 1, 2 and 4 byte accesses")
    void requestBuffer() {
        byte[] pattern = new byte[REQ_BUFFER_SIZE];
        for (int i = 0; i < pattern.length; i++) {
            pattern[i] = (byte) (i * 31 + 7);
        }
        dev.writeBytes(REQ_BUFFER_OFFSET, pattern);
        assertThat(dev.readBytes(REQ_BUFFER_OFFSET, REQ_BUFFER_SIZE)).isEqualTo(pattern);
        var q = m.qtest;
        long base = dev.bar0() + REQ_BUFFER_OFFSET;
        q.writeb(base + 1, 0xA5);
        q.writew(base + 2, 0xBEEF);
        q.writel(base + 4, 0xCAFEBABE);
        assertThat(q.readb(base + 1)).isEqualTo(0xA5);
        assertThat(q.readw(base + 2)).isEqualTo(0xBEEF);
        assertThat(q.readl(base + 4)).isEqualTo(0xCAFEBABE);
        assertThat(q.readl(base)).isEqualTo(0xBEEFA500 | (pattern[0] & 0xFF));
        assertThat(q.readb(base + REQ_BUFFER_SIZE - 1)).isEqualTo(pattern[REQ_BUFFER_SIZE - 1] & 0xFF);
    }

    @Test
    @DisplayName("response buffer is read-only: writes of any size leave it unchanged (zero at reset)")
    void responseBufferReadOnly() {
        assertThat(dev.readBytes(RESP_BUFFER_OFFSET, RESP_BUFFER_SIZE)).containsOnly(0);
        byte[] ones = new byte[RESP_BUFFER_SIZE];
        java.util.Arrays.fill(ones, (byte) 0xFF);
        dev.writeBytes(RESP_BUFFER_OFFSET, ones);
        long base = dev.bar0() + RESP_BUFFER_OFFSET;
        m.qtest.writeb(base, 1);
        m.qtest.writew(base + 2, 0x1234);
        m.qtest.writel(base + 4, 0x12345678);
        assertThat(dev.readBytes(RESP_BUFFER_OFFSET, RESP_BUFFER_SIZE)).containsOnly(0);
    }

    @Test
    @DisplayName("reserved area 0x840-0xFFF reads 0 and ignores writes")
    void reservedArea() {
        byte[] junk = new byte[RESERVED_SIZE];
        java.util.Arrays.fill(junk, (byte) 0x5A);
        dev.writeBytes(RESERVED_OFFSET, junk);
        m.qtest.writel(dev.bar0() + RESERVED_OFFSET, 0xFFFFFFFF);
        m.qtest.writeb(dev.bar0() + BAR0_SIZE - 1, 0xFF);
        assertThat(dev.readBytes(RESERVED_OFFSET, RESERVED_SIZE)).containsOnly(0);
        assertThat(dev.readReg(RESERVED_OFFSET)).isZero();
        assertThat(dev.readReg(BAR0_SIZE - 4)).isZero();
        assertThat(m.qtest.readb(dev.bar0() + BAR0_SIZE - 1)).isZero();
        Allure.step("registers and buffers are untouched by reserved-area writes", () -> {
            resetValues()
                    .forEach((off, v) ->
                            assertThat(dev.readReg(off)).as("0x%03x", off).isEqualTo(v));
            assertThat(dev.readBytes(RESP_BUFFER_OFFSET, 16)).containsOnly(0);
        });
    }

    @Test
    @DisplayName("8/16-bit register accesses do not crash QEMU and do not change the register")
    void subWordRegisterAccess() {
        var q = m.qtest;
        long bar = dev.bar0();
        dev.writeReg(REG_SCRATCH, 0x11223344);
        dev.writeReg(REG_REQUEST_LEN, 0);
        for (int off = 0; off < REG_AREA_SIZE; off += 4) {
            for (int b = 0; b < 4; b++) {
                q.readb(bar + off + b); // value unspecified (refused access); must not crash
            }
            q.readw(bar + off);
            q.readw(bar + off + 2);
        }
        q.writeb(bar + REG_SCRATCH, 0xFF);
        q.writeb(bar + REG_SCRATCH + 3, 0xFF);
        q.writew(bar + REG_SCRATCH + 2, 0xFFFF);
        assertThat(dev.readReg(REG_SCRATCH)).isEqualTo(0x11223344);
        q.writeb(bar + REG_DOORBELL, 1);
        q.writew(bar + REG_DOORBELL, 1);
        assertThat(dev.status()).as("a byte/word doorbell write does not ring").isEqualTo(STATUS_IDLE);
        q.writew(bar + REG_IRQ_CTRL, 1);
        assertThat(dev.readReg(REG_IRQ_CTRL)).isZero();
        q.writeb(bar + REG_REQUEST_ID, 0x7F);
        assertThat(dev.readReg(REG_REQUEST_ID)).isZero();
        assertThat(m.qtest.isAlive()).isTrue();
        assertThat(dev.readReg(REG_PROTOCOL_VER)).isEqualTo(PROTOCOL_VERSION);
    }

    @Test
    @DisplayName("random writes of every size all over BAR0 (doorbells included) never take QEMU down")
    void randomWritesAreHarmless() {
        var q = m.qtest;
        long bar = dev.bar0();
        java.util.Random rnd = new java.util.Random(0x5EED);
        for (int i = 0; i < 3000; i++) {
            int off = rnd.nextInt(BAR0_SIZE);
            long v = rnd.nextLong();
            switch (rnd.nextInt(4)) {
                case 0 -> q.writeb(bar + off, (int) v);
                case 1 -> q.writew(bar + (off & ~1), (int) v);
                case 2 -> q.writel(bar + (off & ~3), (int) v);
                default -> q.writeq(bar + (off & ~7), v);
            }
            if (i % 500 == 0) {
                dev.writeReg(REG_REQUEST_LEN, rnd.nextInt(2 * REQ_BUFFER_SIZE));
                dev.ringDoorbell();
            }
        }
        assertThat(q.isAlive()).isTrue();
        assertThat(dev.readReg(REG_PROTOCOL_VER)).isEqualTo(PROTOCOL_VERSION);
        assertThat(dev.readReg(REG_POOL_ID)).isEqualTo(POOL_A);
        assertThat(dev.readReg(REG_CAPABILITIES)).isEqualTo(resetValues().get(REG_CAPABILITIES));
        assertThat(dev.readBytes(RESERVED_OFFSET, RESERVED_SIZE)).containsOnly(0);
        assertThat(dev.status()).isIn(STATUS_IDLE, STATUS_ERROR);
    }

    @Test
    @DisplayName("the Java client itself refuses unaligned register offsets instead of sending them")
    void clientRefusesUnalignedRegisters() {
        assertThatThrownBy(() -> dev.readReg(0x2)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> dev.writeReg(BAR0_SIZE, 0)).isInstanceOf(IllegalArgumentException.class);
        assertThat(dev.readReg(REG_PROTOCOL_VER)).isEqualTo(PROTOCOL_VERSION);
    }

    @Test
    @DisplayName("QtestException is not thrown for any register read: QEMU survives a sweep of all of BAR0")
    void sweepBar0() {
        for (int off = 0; off < BAR0_SIZE; off += 4) {
            try {
                dev.readReg(off);
            } catch (QtestException e) {
                throw new AssertionError("read of 0x" + Integer.toHexString(off) + " failed", e);
            }
        }
        assertThat(m.qtest.isAlive()).isTrue();
    }
}

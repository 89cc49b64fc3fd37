package dev.vgpuhil.qemu.device;

import static dev.vgpuhil.protocol.VgpuProtocol.*;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.vgpuhil.qemu.qtest.QtestException;
import java.util.List;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

@Tag("qtest")
@Tag("device")
@OnEveryHosting
@DisplayName("vgpu-stub device properties")
class DevicePropertiesTest {

    @Test
    @DisplayName("pool_id=B, priority=high, vm_id=200 are reflected in POOL_ID, PRIORITY, VM_ID")
    void propertiesReflected() {
        try (VgpuMachine m = VgpuMachine.withoutMediator("pool_id=B", "priority=high", "vm_id=200")) {
            assertThat(m.dev.readReg(REG_POOL_ID)).isEqualTo(POOL_B);
            assertThat(m.dev.readReg(REG_PRIORITY)).isEqualTo(PRIORITY_HIGH);
            assertThat(m.dev.readReg(REG_VM_ID)).isEqualTo(200);
        }
    }

    @ParameterizedTest(name = "priority={0} -> {1}")
    @CsvSource({"low,0", "medium,1", "high,2", "0,0", "1,1", "2,2"})
    @DisplayName("priority accepts names and numbers")
    void priorityValues(String value, int expected) {
        try (VgpuMachine m = VgpuMachine.withoutMediator("priority=" + value)) {
            assertThat(m.dev.readReg(REG_PRIORITY)).isEqualTo(expected);
        }
    }

    @Test
    @DisplayName("vm_id takes the full uint32 range")
    void vmIdMax() {
        try (VgpuMachine m = VgpuMachine.withoutMediator("vm_id=4294967295", "pool_id=A")) {
            assertThat(m.dev.readReg(REG_VM_ID)).isEqualTo(0xFFFFFFFF);
            assertThat(m.dev.readReg(REG_POOL_ID)).isEqualTo(POOL_A);
        }
    }

    @Test
    @InQemuOnly("chardev= is a QEMU chardev; the vfio-user server takes only the mediator's path "
            + "(VfioUserQemuTest.badPropertiesRefusedByServer)")
    @DisplayName("socket= and chardev= together are refused, naming both")
    void socketAndChardevExclusive() {
        assertThatThrownBy(() -> VgpuMachine.start(
                                List.of("chardev=med", "socket=" + VgpuMachine.absentSocket()),
                                List.of("-chardev", "null,id=med"))
                        .close())
                .isInstanceOfSatisfying(QtestException.class, e -> {
                    assertThat(e.exitCode()).isEqualTo(1);
                    assertThat(e.stderrTail()).contains("'socket'", "'chardev'", "mutually exclusive");
                });
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource(
            delimiter = '|',
            value = {"timeout_ms=0|timeout_ms", "socket=|socket"})
    @InQemuOnly("QEMU refuses device properties; over vfio-user the server refuses its options "
            + "(VfioUserQemuTest.badPropertiesRefusedByServer)")
    @DisplayName("a zero deadline or an empty socket path is refused, naming the property")
    void degenerateValues(String setting, String property) {
        assertThatThrownBy(() -> VgpuMachine.start(List.of(setting), List.of()).close())
                .isInstanceOfSatisfying(QtestException.class, e -> {
                    assertThat(e.exitCode()).isEqualTo(1);
                    assertThat(e.stderrTail()).contains("'" + property + "'");
                });
    }

    @Test
    @DisplayName("pool_id and priority names are case-insensitive (pool_id=b, priority=HIGH)")
    void caseInsensitiveNames() {
        try (VgpuMachine m = VgpuMachine.withoutMediator("pool_id=b", "priority=HIGH")) {
            assertThat(m.dev.readReg(REG_POOL_ID)).isEqualTo(POOL_B);
            assertThat(m.dev.readReg(REG_PRIORITY)).isEqualTo(PRIORITY_HIGH);
        }
    }

    @Test
    @DisplayName("two vgpu-stub devices in one VM are independent")
    void twoDevices() {
        DeviceHosting h = DeviceHostings.current();
        var qtest = h.addDevice(
                        h.qtest(List.of("addr=04.0", "pool_id=A", "vm_id=1", "socket=" + VgpuMachine.absentSocket())),
                        List.of("addr=05.0", "pool_id=B", "vm_id=2", "socket=" + VgpuMachine.absentSocket()))
                .start();
        try (qtest) {
            var pci = new dev.vgpuhil.qemu.qtest.PciBus(qtest);
            long[] bars = {0xE0000000L, 0xE0001000L};
            for (int i = 0; i < 2; i++) {
                var a = new dev.vgpuhil.qemu.qtest.PciBus.PciAddress(0, 4 + i, 0);
                assertThat(pci.readConfig16(a, 0x02)).isEqualTo(PCI_DEVICE_ID);
                pci.mapMemoryBar(a, 0, bars[i]);
                pci.enable(a, dev.vgpuhil.qemu.qtest.PciBus.COMMAND_MEMORY);
            }
            assertThat(qtest.readl(bars[0] + REG_VM_ID)).isEqualTo(1);
            assertThat(qtest.readl(bars[1] + REG_VM_ID)).isEqualTo(2);
            assertThat(qtest.readl(bars[1] + REG_POOL_ID)).isEqualTo(POOL_B);
            qtest.writel(bars[0] + REG_SCRATCH, 0xAAAA);
            qtest.writel(bars[0] + REG_REQUEST_LEN, 0);
            qtest.writel(bars[0] + REG_DOORBELL, 1);
            assertThat(qtest.readl(bars[0] + REG_STATUS)).isEqualTo(STATUS_ERROR);
            assertThat(qtest.readl(bars[1] + REG_STATUS)).isEqualTo(STATUS_IDLE);
            assertThat(qtest.readl(bars[1] + REG_SCRATCH)).isZero();
        }
    }

    @ParameterizedTest(name = "{0}={1} is refused naming {0}")
    @CsvSource({
        "pool_id,C",
        "pool_id,AB",
        "pool_id,a1",
        "priority,urgent",
        "priority,3",
        "vm_id,abc",
        "vm_id,4294967296",
        "vm_id,-1",
        "timeout_ms,soon"
    })
    @InQemuOnly("QEMU refuses device properties; over vfio-user the server refuses its options "
            + "(VfioUserQemuTest.badPropertiesRefusedByServer)")
    @DisplayName("bad property values: QEMU refuses to create the device, naming the property")
    void badPropertyValues(String property, String value) {
        assertThatThrownBy(() -> VgpuMachine.start(
                                List.of(property + "=" + value, "socket=" + VgpuMachine.absentSocket()), List.of())
                        .close())
                .isInstanceOfSatisfying(QtestException.class, e -> {
                    assertThat(e.exitCode())
                            .as("QEMU exits with an error, not a crash")
                            .isEqualTo(1);
                    assertThat(e.stderrTail()).contains(property);
                });
    }
}

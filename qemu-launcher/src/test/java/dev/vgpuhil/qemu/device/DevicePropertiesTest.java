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

    @ParameterizedTest(name = "{0}={1} is refused naming {0}")
    @CsvSource({"pool_id,C", "pool_id,AB", "pool_id,a1", "priority,urgent", "priority,3", "vm_id,abc",
            "vm_id,4294967296", "vm_id,-1", "timeout_ms,soon"})
    @DisplayName("bad property values: QEMU refuses to create the device, naming the property")
    void badPropertyValues(String property, String value) {
        assertThatThrownBy(() -> VgpuMachine.start(List.of(property + "=" + value, "socket=" + VgpuMachine.absentSocket()),
                List.of()).close())
                .isInstanceOfSatisfying(QtestException.class, e -> {
                    assertThat(e.exitCode()).as("QEMU exits with an error, not a crash").isEqualTo(1);
                    assertThat(e.stderrTail()).contains(property);
                });
    }
}

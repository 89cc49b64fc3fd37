package dev.vgpuhil.protocol;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The enums carry exactly the header's values (VgpuProtocolHeaderTest ties the constants to the header). */
class PoolPriorityTest {
    static List<Integer> constants(String prefix) throws IllegalAccessException {
        List<Integer> out = new java.util.ArrayList<>();
        for (Field f : VgpuProtocol.class.getFields()) {
            if (Modifier.isStatic(f.getModifiers())
                    && f.getType() == int.class
                    && f.getName().startsWith(prefix)) {
                out.add(f.getInt(null));
            }
        }
        return out;
    }

    @Test
    void everyPoolOfTheHeaderIsAnEnumValueAndBack() throws Exception {
        assertThat(Arrays.stream(Pool.values()).map(Pool::wire).toList())
                .containsExactlyInAnyOrderElementsOf(constants("POOL_"));
        assertThat(Pool.fromWire(0x42)).contains(Pool.B);
        assertThat(Pool.fromWire(0x43)).isEmpty();
        assertThat(Pool.nameOf(0x41)).isEqualTo("A");
        assertThat(Pool.nameOf(0x7f)).isEqualTo("0x7f");
    }

    @Test
    void everyPriorityOfTheHeaderIsAnEnumValueInWireOrder() throws Exception {
        assertThat(Arrays.stream(Priority.values()).map(Priority::wire).toList())
                .containsExactlyInAnyOrderElementsOf(constants("PRIORITY_"))
                .isSorted();
        assertThat(Priority.fromWire(2)).contains(Priority.HIGH);
        assertThat(Priority.fromWire(3)).isEmpty();
        assertThat(Priority.nameOf(1)).isEqualTo("medium");
        assertThat(Priority.nameOf(9)).isEqualTo("9");
        assertThat(Priority.parse(" High")).isEqualTo(Priority.HIGH);
        assertThatThrownBy(() -> Priority.parse("urgent")).hasMessageContaining("low, medium, high");
    }
}

package dev.vgpuhil.qemu.qtest;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Path;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

@DisplayName("-Dvgpu.qemu.matrix: NAME=PATH,... in order")
class TestQemuMatrixTest {
    @Test
    @DisplayName("entries keep their order; blank means none")
    void parses() {
        assertThat(TestQemu.parseMatrix(" 7.2=/a/qemu , 10.0=/b/qemu"))
                .containsExactly(
                        new TestQemu.MatrixEntry("7.2", Path.of("/a/qemu")),
                        new TestQemu.MatrixEntry("10.0", Path.of("/b/qemu")));
        assertThat(TestQemu.parseMatrix("  ")).isEmpty();
    }

    @ParameterizedTest
    @ValueSource(strings = {"7.2", "=/a", "7.2=", "7.2=relative/qemu", "7.2=/a,7.2=/b", "7.2=/a,,10.0=/b"})
    @DisplayName("malformed entries are refused with the property's name")
    void refuses(String value) {
        assertThatThrownBy(() -> TestQemu.parseMatrix(value))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("-Dvgpu.qemu.matrix");
    }
}

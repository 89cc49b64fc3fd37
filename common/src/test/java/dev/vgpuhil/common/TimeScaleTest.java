package dev.vgpuhil.common;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class TimeScaleTest {
    @Test
    void loadPerCoreBoundedBelowAndAbove() {
        assertThat(TimeScale.fromLoad(0.3, 2)).isEqualTo(1);
        assertThat(TimeScale.fromLoad(10, 2)).isEqualTo(5);
        assertThat(TimeScale.fromLoad(500, 2)).isEqualTo(TimeScale.MAX);
        assertThat(TimeScale.fromLoad(-1, 2)).as("load not known").isEqualTo(1);
    }

    @Test
    void theSettingWins() {
        String before = System.getProperty("vgpu.timeScale");
        try {
            System.setProperty("vgpu.timeScale", "3.5");
            assertThat(TimeScale.now()).isEqualTo(3.5);
            System.setProperty("vgpu.timeScale", "0.5");
            org.assertj.core.api.Assertions.assertThatThrownBy(TimeScale::now)
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("vgpu.timeScale");
        } finally {
            if (before == null) {
                System.clearProperty("vgpu.timeScale");
            } else {
                System.setProperty("vgpu.timeScale", before);
            }
        }
    }
}

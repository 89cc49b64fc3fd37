package dev.vgpuhil.common;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.Test;

class SettingTest {
    @Test
    void thePropertyWinsOverTheEnvironmentAndBlankIsUnset() {
        Map<String, String> props = Map.of("vgpu.qemu", " /p/qemu ");
        Map<String, String> env = Map.of("VGPU_QEMU", "/e/qemu", "VGPU_GUEST", "  ");
        assertThat(Setting.QEMU.value(props::get, env::get)).contains("/p/qemu");
        assertThat(Setting.QEMU.value(k -> null, env::get)).contains("/e/qemu");
        assertThat(Setting.GUEST.value(k -> null, env::get)).isEmpty();
        assertThat(Setting.CACHE_HOME.value(k -> "ignored", Map.of("XDG_CACHE_HOME", "/c")::get))
                .contains("/c");
    }

    @Test
    void durationsParseInTheSpellingsTheTableNames() {
        assertThat(Setting.parseDuration("300", "x")).isEqualTo(Duration.ofMinutes(5));
        assertThat(Setting.parseDuration("90s", "x")).isEqualTo(Duration.ofSeconds(90));
        assertThat(Setting.parseDuration("500ms", "x")).isEqualTo(Duration.ofMillis(500));
        assertThat(Setting.parseDuration("5m", "x")).isEqualTo(Duration.ofMinutes(5));
        assertThat(Setting.parseDuration("PT1H", "x")).isEqualTo(Duration.ofHours(1));
        assertThatThrownBy(() -> Setting.parseDuration("soon", "-Dvgpu.x"))
                .hasMessageContaining("-Dvgpu.x='soon' is not a duration");
        assertThatThrownBy(() -> Setting.parseDuration("0", "-Dvgpu.x")).hasMessageContaining("must be positive");
        // every default that is a duration parses
        for (Setting s : new Setting[] {Setting.QEMU_BUILD_TIMEOUT, Setting.KVM_PROBE_TIMEOUT}) {
            assertThat(Setting.parseDuration(s.defaultText(), s.spelled())).isPositive();
        }
    }

    @Test
    void everySettingHasANameAMeaningAndAUniqueRow() {
        for (Setting s : Setting.values()) {
            assertThat(s.property() != null || s.env() != null).as(s.name()).isTrue();
            assertThat(s.meaning()).as(s.name()).isNotBlank().doesNotContain("|");
        }
        assertThat(Setting.markdownTable().lines())
                .hasSize(Setting.values().length + 2)
                .doesNotHaveDuplicates();
    }
}

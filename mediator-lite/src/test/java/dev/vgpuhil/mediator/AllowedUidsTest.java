package dev.vgpuhil.mediator;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.FileSystems;
import java.util.List;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

@DisplayName("--allowed-uids: single uids and ranges")
class AllowedUidsTest {
    @Test
    @DisplayName("single uids and inclusive ranges, with their edges")
    void rangesAndSingles() {
        AllowedUids a = AllowedUids.parse("0, 1000,65536-131071");
        assertThat(a.contains(0)).isTrue();
        assertThat(a.contains(1000)).isTrue();
        assertThat(a.contains(999)).isFalse();
        assertThat(a.contains(65535)).isFalse();
        assertThat(a.contains(65536)).isTrue();
        assertThat(a.contains(65536 + 17)).as("qemu_base + domid 17").isTrue();
        assertThat(a.contains(131071)).isTrue();
        assertThat(a.contains(131072)).isFalse();
        assertThat(a).hasToString("0,1000,65536-131071");
    }

    @ParameterizedTest
    @ValueSource(strings = {"", " , ", "abc", "-5", "5-", "10-3", "1-2-3", "4294967295", "99999999999", "1,x"})
    @DisplayName("bad specs are refused with a message naming the rule")
    void badSpecs(String spec) {
        assertThatThrownBy(() -> AllowedUids.parse(spec))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("--allowed-uids");
    }

    @Test
    @DisplayName("a peer principal is admitted by its uid, also when the JDK names it (root -> 0)")
    void principals() throws Exception {
        var lookup = FileSystems.getDefault().getUserPrincipalLookupService();
        var root = lookup.lookupPrincipalByName("root");
        assertThat(AllowedUids.uidOf(root)).hasValue(0);
        assertThat(AllowedUids.parse("0").admits(root)).isTrue();
        assertThat(AllowedUids.parse("1-10").admits(root)).isFalse();
        var numeric = lookup.lookupPrincipalByName("70000");
        assertThat(AllowedUids.parse("65536-131071").admits(numeric)).isTrue();
        assertThat(AllowedUids.of(List.of(1000)).admits(numeric)).isFalse();
    }
}

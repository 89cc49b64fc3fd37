package dev.vgpuhil.qemu.machine;

import dev.vgpuhil.common.Setting;
import java.util.Locale;

/**
 * What happens to a run directory when its machine is closed (as JUnit's {@code @TempDir} {@code CleanupMode}).
 * One setting for every run directory the harness makes: {@code vgpu.cleanup} ({@link dev.vgpuhil.common.Setting#CLEANUP}: {@code always}, {@code on_success},
 * {@code never}), default {@link #ON_SUCCESS}.
 */
public enum CleanupMode {
    /** Delete it, also after a failed boot or a failed test. */
    ALWAYS,
    /** Delete it unless the boot failed or a test using the machine failed (they keep their logs). */
    ON_SUCCESS,
    /** Keep every run directory. */
    NEVER;

    /** The {@link Setting#CLEANUP} setting; a bad value is an error naming the good ones. */
    public static CleanupMode configured() {
        return parse(Setting.CLEANUP.get());
    }

    /** {@code always}, {@code on_success} / {@code on-success}, {@code never} (any case); null or blank: ON_SUCCESS. */
    public static CleanupMode parse(String value) {
        if (value == null || value.isBlank()) {
            return ON_SUCCESS;
        }
        try {
            return valueOf(value.strip().replace('-', '_').toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(
                    Setting.CLEANUP.spelled() + "=" + value + ": expected always, on_success or never");
        }
    }

    /** Whether a run directory goes when its machine closes, given whether its boot or a test failed. */
    public boolean deletes(boolean failed) {
        return this == ALWAYS || this == ON_SUCCESS && !failed;
    }
}

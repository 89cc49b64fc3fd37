package dev.vgpuhil.common;

import java.lang.management.ManagementFactory;

/**
 * The factor by which a test's whole wait budget grows on a slow or loaded machine, so that such a machine makes a
 * test slower, never red: {@link Setting#TIME_SCALE} when set, else the load average per core (a host at load 40 on
 * 2 cores runs every process about 20 times slower), at least 1 and at most {@link #MAX}. Read once per budget (at a
 * test's or a VM's start) so every deadline derived from one budget agrees.
 */
public final class TimeScale {
    /** Beyond this a test would rather fail than wait: its deadlines would be hours. */
    public static final double MAX = 20;

    private TimeScale() {}

    /** The factor now (see the class comment). */
    public static double now() {
        String v = Setting.TIME_SCALE.get();
        if (v != null) {
            try {
                double f = Double.parseDouble(v.strip());
                if (f >= 1 && f <= 1000) {
                    return f;
                }
            } catch (NumberFormatException e) {
                // reported below
            }
            throw new IllegalArgumentException(Setting.TIME_SCALE.spelled() + "='" + v + "' is not a number >= 1");
        }
        return fromLoad(
                ManagementFactory.getOperatingSystemMXBean().getSystemLoadAverage(),
                Runtime.getRuntime().availableProcessors());
    }

    /** The factor for a load average over {@code cores} (a negative load: not known, 1). */
    static double fromLoad(double loadAverage, int cores) {
        if (loadAverage < 0 || cores < 1) {
            return 1;
        }
        return Math.min(MAX, Math.max(1, loadAverage / cores));
    }
}

package dev.vgpuhil.common;

import java.util.Arrays;

/**
 * Nearest-rank percentiles of exact samples: the one definition every report of this project uses (the
 * mediator's stats, its benchmark, the harness benches), so their numbers compare. Exact rather than a
 * bucketed histogram (HdrHistogram): the samples are few (thousands) and the reports quote single values.
 */
public final class Percentile {
    private Percentile() {}

    /** The smallest value with at least {@code pct}% of the sample at or below it; 0 for an empty sample. */
    public static long nearestRank(long[] ascending, double pct) {
        if (ascending.length == 0) {
            return 0;
        }
        if (!(pct > 0 && pct <= 100)) {
            throw new IllegalArgumentException("percentile must be in (0, 100]: " + pct);
        }
        int idx = (int) Math.ceil(pct / 100.0 * ascending.length) - 1;
        return ascending[Math.max(0, Math.min(ascending.length - 1, idx))];
    }

    /** {@link #nearestRank} of an unsorted sample (sorts a copy). */
    public static long ofUnsorted(long[] values, double pct) {
        long[] s = values.clone();
        Arrays.sort(s);
        return nearestRank(s, pct);
    }
}

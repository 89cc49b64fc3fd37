package dev.vgpuhil.harness.bench;

import java.util.Arrays;

/** Nearest-rank percentiles over a sample of durations in nanoseconds. */
public record Percentiles(int count, long p50Nanos, long p99Nanos, long minNanos, long maxNanos) {
    public static Percentiles of(long[] nanos) {
        if (nanos.length == 0) {
            return new Percentiles(0, 0, 0, 0, 0);
        }
        long[] s = nanos.clone();
        Arrays.sort(s);
        return new Percentiles(s.length, rank(s, 50), rank(s, 99), s[0], s[s.length - 1]);
    }

    static long rank(long[] sorted, int pct) {
        int idx = (int) Math.ceil(pct / 100.0 * sorted.length) - 1;
        return sorted[Math.max(0, Math.min(sorted.length - 1, idx))];
    }

    public double p50Micros() {
        return p50Nanos / 1000.0;
    }

    public double p99Micros() {
        return p99Nanos / 1000.0;
    }
}

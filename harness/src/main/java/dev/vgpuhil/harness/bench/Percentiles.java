package dev.vgpuhil.harness.bench;

import dev.vgpuhil.common.Percentile;
import java.util.Arrays;

/**
 * Nearest-rank percentiles ({@link Percentile}) over a sample of durations in nanoseconds; {@code sorted} keeps
 * the sample itself (ascending) for the latency pictures.
 */
public record Percentiles(int count, long p50Nanos, long p99Nanos, long minNanos, long maxNanos, long[] sorted) {
    public static Percentiles of(long[] nanos) {
        if (nanos.length == 0) {
            return new Percentiles(0, 0, 0, 0, 0, new long[0]);
        }
        long[] s = nanos.clone();
        Arrays.sort(s);
        return new Percentiles(
                s.length, Percentile.nearestRank(s, 50), Percentile.nearestRank(s, 99), s[0], s[s.length - 1], s);
    }

    public double p50Micros() {
        return p50Nanos / 1000.0;
    }

    public double p99Micros() {
        return p99Nanos / 1000.0;
    }
}

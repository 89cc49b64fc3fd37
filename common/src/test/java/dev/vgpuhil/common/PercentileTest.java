package dev.vgpuhil.common;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.stream.LongStream;
import org.junit.jupiter.api.Test;

class PercentileTest {
    @Test
    void nearestRankOfOneToHundred() {
        long[] v = LongStream.rangeClosed(1, 100).toArray();
        assertThat(Percentile.nearestRank(v, 50)).isEqualTo(50);
        assertThat(Percentile.nearestRank(v, 95)).isEqualTo(95);
        assertThat(Percentile.nearestRank(v, 99)).isEqualTo(99);
        assertThat(Percentile.nearestRank(v, 100)).isEqualTo(100);
    }

    @Test
    void smallAndUnsortedSamples() {
        assertThat(Percentile.nearestRank(new long[0], 50)).isZero();
        assertThat(Percentile.nearestRank(new long[] {7}, 99)).isEqualTo(7);
        assertThat(Percentile.nearestRank(new long[] {1, 2, 3}, 50)).isEqualTo(2);
        // 4 values: p50 is the 2nd (ceil(0.5 * 4) = 2), p99 the 4th
        assertThat(Percentile.ofUnsorted(new long[] {40, 10, 30, 20}, 50)).isEqualTo(20);
        assertThat(Percentile.ofUnsorted(new long[] {40, 10, 30, 20}, 99)).isEqualTo(40);
        assertThatThrownBy(() -> Percentile.nearestRank(new long[] {1}, 0)).hasMessageContaining("(0, 100]");
    }
}

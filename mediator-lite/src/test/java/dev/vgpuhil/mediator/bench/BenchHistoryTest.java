package dev.vgpuhil.mediator.bench;

import static org.assertj.core.api.Assertions.assertThat;

import dev.vgpuhil.mediator.bench.BenchHistory.Comparison;
import dev.vgpuhil.mediator.bench.BenchHistory.Machine;
import dev.vgpuhil.mediator.bench.BenchHistory.Ratio;
import dev.vgpuhil.mediator.bench.BenchHistory.Run;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The benchmark's memory on fixed inputs: spreads, the worse-than-spread flag, files, the trend. */
class BenchHistoryTest {
    static Machine machine(String date) {
        return new Machine(2, "Test CPU", "1.00 2.00 3.00", "Linux 6.1", "17", date);
    }

    static Run run(String date, Ratio... ratios) {
        return new Run("t", machine(date), "| table |", List.of(ratios));
    }

    @Test
    void spreadIsMaxMinusMinOfTheRoundsAndNaNWithoutRounds() {
        assertThat(Ratio.of("x", 0.8, new double[] {0.7, 0.9, 0.8}, true).spread())
                .isCloseTo(0.2, org.assertj.core.data.Offset.offset(1e-12));
        assertThat(Ratio.of("x", 0.8, new double[] {0.8}, true).spread()).isNaN();
    }

    @Test
    void aRatioWorseByMoreThanTheSpreadIsFlaggedInTheRightDirection() {
        Run prev = run(
                "2026-01-01T00:00:00Z",
                new Ratio("req/s", 0.90, 0.02, true),
                new Ratio("p99", 1.5, 0.1, false),
                new Ratio("noise", 0.90, 0.02, true),
                new Ratio("better", 0.50, 0.02, true),
                new Ratio("unspread", 0.90, Double.NaN, true));
        Run now = run(
                "2026-01-02T00:00:00Z",
                new Ratio("req/s", 0.80, 0.05, true), // dropped 0.10 > spread 0.05
                new Ratio("p99", 1.7, 0.1, false), // latency up 0.2 > 0.1
                new Ratio("noise", 0.87, 0.05, true), // within the spread
                new Ratio("better", 0.70, 0.05, true), // improved
                new Ratio("unspread", 0.10, Double.NaN, true), // no spread: never flagged
                new Ratio("new", 1.0, 0.1, true)); // no previous value
        List<Comparison> c = BenchHistory.compare(now, Optional.of(prev));
        assertThat(c).extracting(Comparison::worse).containsExactly(true, true, false, false, false, false);
        assertThat(c.get(0).previous()).isEqualTo(0.90);
        assertThat(c.get(5).previous()).isNaN();
        assertThat(c.get(0).line()).contains("0.80", "previous 0.90", "spread 0.05", "WORSE");
        assertThat(c.get(2).line()).doesNotContain("WORSE");
        assertThat(c.get(5).line()).contains("no previous value");
        assertThat(BenchHistory.compare(now, Optional.empty()))
                .extracting(Comparison::worse)
                .containsOnly(false);
    }

    @Test
    void runsAreWrittenOnePerFileAndReadBackOldestFirst(@TempDir Path dir) throws Exception {
        Run a = run("2026-01-01T10:00:00Z", new Ratio("r", 0.5, 0.1, true), new Ratio("s", 2.0, Double.NaN, false));
        Run b = run("2026-01-02T10:00:00Z", new Ratio("r", 0.6, 0.1, true));
        Path fb = BenchHistory.write(dir, b);
        Path fa = BenchHistory.write(dir, a);
        Path fa2 = BenchHistory.write(dir, a); // the same second again: its own file
        assertThat(fa.getFileName()).hasToString("t-20260101-100000.json");
        assertThat(fb.getFileName()).hasToString("t-20260102-100000.json");
        assertThat(fa2).isNotEqualTo(fa).exists();
        Files.writeString(dir.resolve("other-20260103-000000.json"), "{}"); // another bench: not ours
        List<Run> runs = BenchHistory.runs(dir, "t");
        assertThat(runs).hasSize(3);
        assertThat(runs.get(0)).isEqualTo(runs.get(1)).isEqualTo(a); // records: NaN equals NaN
        assertThat(runs.get(0).ratio("s").orElseThrow().spread()).isNaN();
        assertThat(BenchHistory.latest(dir, "t").orElseThrow().machine().date()).isEqualTo("2026-01-02T10:00:00Z");
        assertThat(BenchHistory.latest(dir.resolve("none"), "t")).isEmpty();
    }

    /**
     * Runs written in the same second are read back in the order they were written (the file without a suffix,
     * then -2, -3, ..., -10: not by name, where "-2.json" sorts before ".json" and "-10" before "-2"); a bench
     * whose name starts with this one's is another bench.
     */
    @Test
    void runsOfTheSameSecondKeepTheirOrderAndLatestIsTheLastWritten(@TempDir Path dir) throws Exception {
        String second = "2026-01-01T10:00:00Z";
        for (int k = 1; k <= 11; k++) {
            BenchHistory.write(dir, run(second, new Ratio("r", k, Double.NaN, true)));
        }
        Files.writeString(dir.resolve("t-x-20260101-100001.json"), "{}"); // bench "t-x", later: not ours
        assertThat(dir.resolve("t-20260101-100000-2.json")).exists();
        assertThat(BenchHistory.runs(dir, "t"))
                .extracting(r -> r.ratio("r").orElseThrow().ratio())
                .containsExactly(1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0);
        assertThat(BenchHistory.latest(dir, "t")
                        .orElseThrow()
                        .ratio("r")
                        .orElseThrow()
                        .ratio())
                .isEqualTo(11.0);
    }

    @Test
    void rememberPrintsTheComparisonAndWritesTheRunAndTheTrend(@TempDir Path dir) throws Exception {
        BenchHistory.write(dir, run("2026-01-01T10:00:00Z", new Ratio("r", 0.9, 0.01, true)));
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        List<Comparison> c = BenchHistory.remember(
                dir,
                run("2026-01-02T10:00:00Z", new Ratio("r", 0.5, 0.01, true)),
                new PrintStream(bytes, true, StandardCharsets.UTF_8));
        String out = bytes.toString(StandardCharsets.UTF_8);
        assertThat(c).singleElement().extracting(Comparison::worse).isEqualTo(true);
        assertThat(out).contains("previous 0.90", "WORSE", "2026-01-01T10:00:00Z");
        assertThat(BenchHistory.runs(dir, "t")).hasSize(2);
        String trend = Files.readString(dir.resolve("t-trend.svg"));
        assertThat(SvgTest.parse(trend).getElementsByTagName("circle").getLength())
                .isEqualTo(2);
    }

    @Test
    void theMachineIsDescribed() {
        Machine m = Machine.describe();
        assertThat(m.cores()).isPositive();
        assertThat(m.date()).endsWith("Z");
        assertThat(m.oneLine()).contains("cores", "load");
    }
}

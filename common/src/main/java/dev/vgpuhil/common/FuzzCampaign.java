package dev.vgpuhil.common;

import java.time.Duration;
import java.util.Optional;
import java.util.SplittableRandom;

/**
 * The seed loop shared by the project's fuzz tests: run one generated case per seed until the time budget
 * ({@link Setting#FUZZ_DURATION}, else the test's short CI default) is spent, or only {@link Setting#FUZZ_SEED} when
 * it is set (a replay). Each case is a pure function of its seed (the test draws every choice from a
 * {@code SplittableRandom(seed)}), so a failure names the seed and how to run it again; the test keeps failed seeds
 * as a regression list. No JUnit here: the failure is an {@link AssertionError} any framework reports.
 *
 * @param testClass the test class, for the replay command line
 * @param module    its Maven module, for the replay command line
 * @param duration  how long new seeds are drawn
 * @param replay    the one seed to run instead, if any
 */
public record FuzzCampaign(String testClass, String module, Duration duration, Optional<Long> replay) {
    /** One generated case. */
    @FunctionalInterface
    public interface Case {
        void run(long seed) throws Exception;
    }

    /** What a campaign did, and its slowest case (a case that takes far longer than the others is a finding too). */
    public record Outcome(int cases, long firstSeed, Duration took, long slowestSeed, Duration slowest) {
        @Override
        public String toString() {
            return cases + " case(s) from seed " + firstSeed + " in " + took.toMillis() + " ms (slowest: seed "
                    + slowestSeed + ", " + slowest.toMillis() + " ms)";
        }
    }

    /** The campaign of {@code testClass} as the settings ask: replay one seed, or run for the duration. */
    public static FuzzCampaign fromSettings(Class<?> testClass, String module, Duration ciDefault) {
        Duration d = Setting.FUZZ_DURATION.value().isPresent() ? Setting.FUZZ_DURATION.duration() : ciDefault;
        Optional<Long> seed = Setting.FUZZ_SEED.value().map(v -> {
            try {
                return Long.decode(v);
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException(Setting.FUZZ_SEED.spelled() + "='" + v + "' is not a number", e);
            }
        });
        return new FuzzCampaign(testClass.getSimpleName(), module, d, seed);
    }

    /**
     * Runs the cases: the replay seed once, else seeds drawn from the clock until {@link #duration} has passed (at
     * least one). The first failing case ends the campaign with its seed and the replay command line.
     */
    public Outcome run(Case c) {
        long t0 = System.nanoTime();
        if (replay.isPresent()) {
            runOne(c, replay.get());
            Duration took = Duration.ofNanos(System.nanoTime() - t0);
            return new Outcome(1, replay.get(), took, replay.get(), took);
        }
        SplittableRandom seeds =
                new SplittableRandom(System.nanoTime() ^ ProcessHandle.current().pid() << 32);
        long first = seeds.nextLong();
        long seed = first;
        int n = 0;
        long end = t0 + duration.toNanos();
        long slowestSeed = first;
        long slowestNanos = -1;
        do {
            long c0 = System.nanoTime();
            runOne(c, seed);
            long took = System.nanoTime() - c0;
            if (took > slowestNanos) {
                slowestNanos = took;
                slowestSeed = seed;
            }
            n++;
            seed = seeds.nextLong();
        } while (System.nanoTime() < end);
        return new Outcome(
                n, first, Duration.ofNanos(System.nanoTime() - t0), slowestSeed, Duration.ofNanos(slowestNanos));
    }

    private void runOne(Case c, long seed) {
        try {
            c.run(seed);
        } catch (Throwable t) {
            if (t instanceof InterruptedException) {
                Thread.currentThread().interrupt();
            }
            throw new AssertionError(failure(seed) + "\n" + t, t);
        }
    }

    /** The failure message: the seed, the command that replays it and where to keep it. */
    public String failure(long seed) {
        return "fuzz case seed " + seed + " failed; replay it with: mvn -pl " + module + " -am verify -Dtest="
                + testClass + " -Dsurefire.failIfNoSpecifiedTests=false " + "-D" + Setting.FUZZ_SEED.property() + "="
                + seed + " (then add " + seed + "L to " + testClass + "'s regression seeds)";
    }
}

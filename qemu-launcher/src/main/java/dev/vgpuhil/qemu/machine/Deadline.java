package dev.vgpuhil.qemu.machine;

import java.time.Duration;

/**
 * A point in time a wait must not pass, on the monotonic clock. One {@link MachineSpec#bootTimeout()} becomes one
 * deadline at start, and every {@link WaitStrategy} of that boot works against what is left of it.
 */
public final class Deadline {
    private final long endNanos;
    private final Duration budget;

    private Deadline(long endNanos, Duration budget) {
        this.endNanos = endNanos;
        this.budget = budget;
    }

    /** {@code budget} from now. */
    public static Deadline after(Duration budget) {
        if (budget.isNegative()) {
            throw new IllegalArgumentException("negative budget: " + budget);
        }
        return new Deadline(System.nanoTime() + budget.toNanos(), budget);
    }

    /** The whole budget this deadline was made from (for messages). */
    public Duration budget() {
        return budget;
    }

    /** What is left (zero once passed). */
    public Duration remaining() {
        long left = endNanos - System.nanoTime();
        return left <= 0 ? Duration.ZERO : Duration.ofNanos(left);
    }

    /** True once the deadline has passed. */
    public boolean expired() {
        return endNanos - System.nanoTime() <= 0;
    }

    @Override
    public String toString() {
        return "Deadline[" + remaining().toMillis() + " ms of " + budget + " left]";
    }
}

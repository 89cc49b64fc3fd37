package dev.vgpuhil.qemu.machine;

import dev.vgpuhil.qemu.machine.QemuMachine.ShutdownStep;
import java.time.Duration;
import java.util.Objects;
import java.util.concurrent.TimeUnit;

/**
 * How QEMU is ended: [ACPI {@code system_powerdown}, wait ≤ powerdown] → QMP {@code quit}, wait ≤ quit → SIGTERM,
 * wait ≤ term → SIGKILL, wait ≤ kill. Each step runs only if the one before did not end QEMU within its deadline;
 * the result says which step did.
 */
public final class ShutdownEscalation {
    /** Whether the guest is asked first (ACPI power button), and the deadline of each step. */
    public record Deadlines(boolean graceful, Duration powerdown, Duration quit, Duration term, Duration kill) {
        /** Not graceful; powerdown 20 s, quit 5 s, SIGTERM 5 s, SIGKILL 10 s. */
        public static final Deadlines DEFAULT = new Deadlines(
                false, Duration.ofSeconds(20), Duration.ofSeconds(5), Duration.ofSeconds(5), Duration.ofSeconds(10));

        public Deadlines {
            Objects.requireNonNull(powerdown);
            Objects.requireNonNull(quit);
            Objects.requireNonNull(term);
            Objects.requireNonNull(kill);
        }

        public Deadlines withGraceful(boolean on) {
            return new Deadlines(on, powerdown, quit, term, kill);
        }
    }

    private final Deadlines deadlines;

    ShutdownEscalation(Deadlines deadlines) {
        this.deadlines = Objects.requireNonNull(deadlines);
    }

    /** Ends {@code p} (QMP through {@code qmp}, which may be null or disconnected) and reaps it. */
    ShutdownStep run(Process p, QmpClient qmp, boolean graceful) {
        if (!p.isAlive()) {
            return ShutdownStep.ALREADY_EXITED;
        }
        if (graceful && qmp != null && qmp.isConnected()) {
            try {
                qmp.execute("system_powerdown", null, deadlines.powerdown());
            } catch (QmpException ignored) {
                // escalate
            }
            if (waitFor(p, deadlines.powerdown())) {
                return ShutdownStep.POWERDOWN;
            }
        }
        if (qmp != null && qmp.isConnected()) {
            long t0 = System.nanoTime();
            try {
                qmp.quit(deadlines.quit());
            } catch (QmpException ignored) {
                // no reply in time (a stopped or hung QEMU): escalate
            }
            Duration left = deadlines.quit().minusNanos(System.nanoTime() - t0);
            if (waitFor(p, left.isNegative() ? Duration.ZERO : left)) {
                return ShutdownStep.QUIT;
            }
        }
        p.destroy(); // SIGTERM
        if (waitFor(p, deadlines.term())) {
            return ShutdownStep.SIGTERM;
        }
        p.destroyForcibly(); // SIGKILL: also ends a stopped process
        waitFor(p, deadlines.kill());
        return ShutdownStep.SIGKILL;
    }

    private static boolean waitFor(Process p, Duration d) {
        try {
            return p.waitFor(Math.max(0, d.toMillis()), TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return !p.isAlive();
        }
    }
}

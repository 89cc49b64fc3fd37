package dev.vgpuhil.qemu;

import dev.vgpuhil.common.BoundProcesses;
import java.io.IOException;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeoutException;

/**
 * Starts child processes so that neither they nor their descendants can outlive the JVM. Delegates to
 * {@link BoundProcesses} (module images, which every process-starting module depends on): each child is bound to
 * the JVM by {@code setpriv --pdeathsig KILL}, leads its own process group ({@code setsid}), and a reaper kills that
 * group when the child ends — also when the JVM is SIGKILLed; {@link #kill} and {@link #run}'s deadline kill the
 * child's whole tree; a shutdown hook kills every live tree at an orderly JVM exit.
 */
public final class ChildProcesses {
    private ChildProcesses() {}

    /** True when children get the parent-death signal (setpriv is present). */
    public static boolean parentDeathSignalAvailable() {
        return BoundProcesses.parentDeathSignalAvailable();
    }

    /** True when a child's descendants die with it even if the JVM is SIGKILLed (setpriv, setsid, bash). */
    public static boolean groupReaperAvailable() {
        return BoundProcesses.groupReaperAvailable();
    }

    /**
     * Starts {@code builder}'s command as a child bound to this JVM's life. The builder's redirects and
     * directory are honoured; the command keeps the returned process's pid.
     */
    public static Process start(ProcessBuilder builder) throws IOException {
        return BoundProcesses.start(builder);
    }

    /**
     * Kills a child and all its descendants (SIGKILL) and waits up to {@code deadline} for them to be gone; true if
     * they are.
     */
    public static boolean kill(Process p, Duration deadline) {
        return BoundProcesses.kill(p, deadline);
    }

    /** Result of {@link #run}: exit code and the captured output. */
    public record Result(int exitCode, String stdout, String stderr) {
        /** Last {@code n} lines of stderr, for error messages. */
        public String stderrTail(int n) {
            return tail(stderr, n);
        }
    }

    /**
     * Runs a command to completion with a deadline; stdin is empty, output is captured through files (so a
     * chatty child can never block on a full pipe). TimeoutException after killing the child and all its
     * descendants at the deadline.
     */
    public static Result run(List<String> command, Duration deadline) throws IOException, TimeoutException {
        BoundProcesses.Result r = BoundProcesses.run(command, deadline);
        return new Result(r.exitCode(), r.stdout(), r.stderr());
    }

    /** Last {@code n} lines of a text. */
    public static String tail(String text, int n) {
        return BoundProcesses.tail(text, n);
    }
}

package dev.vgpuhil.qemu;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * Starts child processes so that they cannot outlive the JVM.
 *
 * <p>Two mechanisms: (1) on Linux each child is started through {@code setpriv --pdeathsig KILL}, so the kernel
 * SIGKILLs it when its parent dies — also when the JVM is SIGKILLed. The parent-death signal fires when the
 * <em>thread</em> that forked the child exits, so every child is forked from one dedicated launcher thread that
 * lives as long as the JVM. (2) a shutdown hook destroys every child still running at an orderly JVM exit.
 */
public final class ChildProcesses {
    private static final Path SETPRIV = Path.of("/usr/bin/setpriv");
    private static final Set<Process> LIVE = ConcurrentHashMap.newKeySet();
    private static final ExecutorService LAUNCHER = Executors.newSingleThreadExecutor(r -> {
        Thread t = new Thread(r, "vgpu-child-launcher");
        t.setDaemon(true);
        return t;
    });

    static {
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            for (Process p : LIVE) {
                p.descendants().forEach(ProcessHandle::destroyForcibly);
                p.destroyForcibly();
            }
        }, "vgpu-child-reaper"));
    }

    private ChildProcesses() {}

    /** True when children get the parent-death signal (setpriv is present). */
    public static boolean parentDeathSignalAvailable() {
        return Files.isExecutable(SETPRIV);
    }

    /**
     * Starts {@code builder}'s command as a child bound to this JVM's life. The builder's redirects and
     * directory are honoured; its command is prefixed with setpriv when available.
     */
    public static Process start(ProcessBuilder builder) throws IOException {
        List<String> cmd = new ArrayList<>(builder.command());
        if (parentDeathSignalAvailable()) {
            cmd.addAll(0, List.of(SETPRIV.toString(), "--pdeathsig", "KILL", "--"));
        }
        ProcessBuilder pb = new ProcessBuilder(cmd).directory(builder.directory())
                .redirectInput(builder.redirectInput()).redirectOutput(builder.redirectOutput())
                .redirectError(builder.redirectError()).redirectErrorStream(builder.redirectErrorStream());
        pb.environment().clear();
        pb.environment().putAll(builder.environment());
        Future<Process> f = LAUNCHER.submit(pb::start);
        Process p;
        try {
            p = f.get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while starting " + builder.command(), e);
        } catch (ExecutionException e) {
            if (e.getCause() instanceof IOException io) {
                throw io;
            }
            throw new IOException("cannot start " + builder.command() + ": " + e.getCause(), e.getCause());
        }
        LIVE.add(p);
        p.onExit().thenRun(() -> LIVE.remove(p));
        return p;
    }

    /** Kills a child (SIGKILL) and waits up to {@code deadline} for it to be reaped; true if it is gone. */
    public static boolean kill(Process p, Duration deadline) {
        p.destroyForcibly();
        try {
            return p.waitFor(deadline.toMillis(), TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return !p.isAlive();
        }
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
     * chatty child can never block on a full pipe). TimeoutException after killing the child at the deadline.
     */
    public static Result run(List<String> command, Duration deadline) throws IOException, TimeoutException {
        Path out = Files.createTempFile("vgpu-cmd-", ".out");
        Path err = Files.createTempFile("vgpu-cmd-", ".err");
        try {
            Process p = start(new ProcessBuilder(command).redirectInput(ProcessBuilder.Redirect.from(
                    Path.of("/dev/null").toFile())).redirectOutput(out.toFile()).redirectError(err.toFile()));
            boolean done;
            try {
                done = p.waitFor(deadline.toMillis(), TimeUnit.MILLISECONDS);
            } catch (InterruptedException e) {
                kill(p, Duration.ofSeconds(5));
                Thread.currentThread().interrupt();
                throw new IOException("interrupted while running " + command, e);
            }
            if (!done) {
                kill(p, Duration.ofSeconds(5));
                throw new TimeoutException("command did not finish within " + deadline + ": " + command
                        + "; stderr tail:\n" + tail(Files.readString(err, StandardCharsets.UTF_8), 20));
            }
            return new Result(p.exitValue(), read(out), read(err));
        } finally {
            Files.deleteIfExists(out);
            Files.deleteIfExists(err);
        }
    }

    private static String read(Path p) throws IOException {
        return new String(Files.readAllBytes(p), StandardCharsets.UTF_8);
    }

    /** Last {@code n} lines of a text. */
    public static String tail(String text, int n) {
        String[] lines = text.split("\n", -1);
        int from = Math.max(0, lines.length - n - (text.endsWith("\n") ? 1 : 0));
        return String.join("\n", java.util.Arrays.asList(lines).subList(from, lines.length)).strip();
    }
}

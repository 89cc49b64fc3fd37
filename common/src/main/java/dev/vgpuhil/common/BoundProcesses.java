package dev.vgpuhil.common;

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
import java.util.stream.Collectors;

/**
 * Starts child processes so that neither they nor anything they start can outlive the JVM. The one place the
 * harness starts processes (qemu-launcher and mediator-lite use it directly).
 *
 * <p>On Linux with util-linux, a command {@code CMD} runs as
 * {@code setpriv --pdeathsig KILL -- setsid bash -c WRAPPER CMD}: the wrapper forks a small reaper and then
 * {@code exec}s CMD, so CMD keeps the {@link Process}'s pid, stdio and exit code, is its own session and process
 * group leader, and the kernel SIGKILLs it when the JVM dies (also on SIGKILL of the JVM). The reaper is CMD's
 * child with {@code pdeathsig WINCH}: whenever CMD ends — normal exit, {@link #kill}, or the JVM's death — it
 * SIGKILLs CMD's whole process group, so grandchildren (a script's ninja, cc, sleep, apt-get) die with it. The
 * parent-death signal fires when the <em>thread</em> that forked the child exits, so every child is forked from one
 * dedicated launcher thread that lives as long as the JVM. A shutdown hook kills every live child's tree at an
 * orderly JVM exit; {@link #kill} and a {@link #run} deadline kill the snapshot of descendants and the child.
 */
public final class BoundProcesses {
    private static final Path SETPRIV = Path.of("/usr/bin/setpriv");
    private static final Path SETSID = Path.of("/usr/bin/setsid");
    private static final Path BASH = Path.of("/bin/bash");
    /**
     * $1 of the reaper is CMD's pid = its process group. The reaper checks its parent after arming the trap (a
     * WINCH before the trap is ignored by default, so no death of CMD can be missed).
     */
    private static final String WRAPPER = SETPRIV + " --pdeathsig WINCH -- " + BASH + " -c '"
            + "trap \"kill -KILL -- -$1\" WINCH; read -r _ _ _ pp _ < /proc/self/stat; "
            + "[ \"$pp\" = \"$1\" ] || kill -KILL -- -$1; while :; do sleep 3600 & wait $!; done"
            + "' vgpu-reaper $$ </dev/null >/dev/null 2>&1 &\n"
            + "exec \"$@\"";

    private static final Set<Process> LIVE = ConcurrentHashMap.newKeySet();
    private static final ExecutorService LAUNCHER = Executors.newSingleThreadExecutor(r -> {
        Thread t = new Thread(r, "vgpu-child-launcher");
        t.setDaemon(true);
        return t;
    });

    static {
        Runtime.getRuntime()
                .addShutdownHook(new Thread(
                        () -> {
                            for (Process p : LIVE) {
                                destroyTree(p);
                            }
                        },
                        "vgpu-child-reaper"));
    }

    private BoundProcesses() {}

    /** True when children get the parent-death signal (setpriv is present). */
    public static boolean parentDeathSignalAvailable() {
        return Files.isExecutable(SETPRIV);
    }

    /** True when a child's whole process group dies with it (setpriv, setsid and bash are present). */
    public static boolean groupReaperAvailable() {
        return parentDeathSignalAvailable() && Files.isExecutable(SETSID) && Files.isExecutable(BASH);
    }

    /** The command line {@link #start} actually runs for {@code command} (for logs and reports). */
    public static List<String> wrap(List<String> command) {
        List<String> cmd = new ArrayList<>();
        if (groupReaperAvailable()) {
            cmd.addAll(List.of(
                    SETPRIV.toString(),
                    "--pdeathsig",
                    "KILL",
                    "--",
                    SETSID.toString(),
                    BASH.toString(),
                    "-c",
                    WRAPPER,
                    "vgpu-child"));
        } else if (parentDeathSignalAvailable()) {
            cmd.addAll(List.of(SETPRIV.toString(), "--pdeathsig", "KILL", "--"));
        }
        cmd.addAll(command);
        return cmd;
    }

    /**
     * Starts {@code builder}'s command as a child bound to this JVM's life. The builder's redirects, directory and
     * environment are honoured; the command keeps the returned process's pid.
     */
    public static Process start(ProcessBuilder builder) throws IOException {
        ProcessBuilder pb = new ProcessBuilder(wrap(builder.command()))
                .directory(builder.directory())
                .redirectInput(builder.redirectInput())
                .redirectOutput(builder.redirectOutput())
                .redirectError(builder.redirectError())
                .redirectErrorStream(builder.redirectErrorStream());
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

    /** SIGKILLs the process and every descendant (snapshot taken first, so none is reparented away unseen). */
    public static void destroyTree(Process p) {
        List<ProcessHandle> tree = p.descendants().collect(Collectors.toList());
        p.destroyForcibly();
        tree.forEach(ProcessHandle::destroyForcibly);
    }

    /**
     * Stops a child politely: SIGTERM to the child alone (its own handler may clean up), up to {@code grace} for
     * it to exit, then {@link #kill} with {@code killDeadline}. True when the child exited within the grace; its
     * process group is reaped either way (the wrapper's reaper kills it once the child ends).
     */
    public static boolean stop(Process p, Duration grace, Duration killDeadline) {
        p.destroy();
        try {
            if (p.waitFor(grace.toMillis(), TimeUnit.MILLISECONDS)) {
                return true;
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        kill(p, killDeadline);
        return false;
    }

    /**
     * Kills a child and its descendants (SIGKILL) and waits up to {@code deadline} for the child to be reaped and
     * the descendants to be gone; true if all are.
     */
    public static boolean kill(Process p, Duration deadline) {
        List<ProcessHandle> tree = p.descendants().collect(Collectors.toList());
        p.destroyForcibly();
        tree.forEach(ProcessHandle::destroyForcibly);
        long end = System.nanoTime() + deadline.toNanos();
        try {
            if (!p.waitFor(deadline.toMillis(), TimeUnit.MILLISECONDS)) {
                return false;
            }
            // descendants are not our children: once dead they may stay zombies (PID 1 need not reap), which counts
            while (tree.stream().anyMatch(BoundProcesses::running)) {
                if (System.nanoTime() > end) {
                    return false;
                }
                Thread.sleep(10);
            }
            return true;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return !p.isAlive();
        }
    }

    /** True while {@code h} runs: alive and not a zombie. */
    public static boolean running(ProcessHandle h) {
        try {
            String stat = Files.readString(Path.of("/proc/" + h.pid() + "/stat"));
            int paren = stat.lastIndexOf(')');
            char state = stat.charAt(paren + 2);
            return state != 'Z' && state != 'X' && h.isAlive();
        } catch (IOException | RuntimeException e) {
            return h.isAlive() && !Files.isDirectory(Path.of("/proc"));
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
     * chatty child can never block on a full pipe). TimeoutException after killing the child's tree at the deadline.
     */
    public static Result run(List<String> command, Duration deadline) throws IOException, TimeoutException {
        return run(command, null, deadline);
    }

    /** {@link #run(List, Duration)} in directory {@code dir} (null: the JVM's working directory). */
    public static Result run(List<String> command, Path dir, Duration deadline) throws IOException, TimeoutException {
        // in a directory of this JVM's own: a SIGKILLed JVM cannot delete it, the next one's sweep does
        Path scratch = OwnedDirs.temp("cmd");
        Path out = scratch.resolve("stdout");
        Path err = scratch.resolve("stderr");
        try {
            Process p = start(new ProcessBuilder(command)
                    .directory(dir == null ? null : dir.toFile())
                    .redirectInput(
                            ProcessBuilder.Redirect.from(Path.of("/dev/null").toFile()))
                    .redirectOutput(out.toFile())
                    .redirectError(err.toFile()));
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
            OwnedDirs.delete(scratch);
        }
    }

    private static String read(Path p) throws IOException {
        return new String(Files.readAllBytes(p), StandardCharsets.UTF_8);
    }

    /** Last {@code n} lines of a text. */
    public static String tail(String text, int n) {
        String[] lines = text.split("\n", -1);
        int from = Math.max(0, lines.length - n - (text.endsWith("\n") ? 1 : 0));
        return String.join("\n", java.util.Arrays.asList(lines).subList(from, lines.length))
                .strip();
    }
}

package dev.vgpuhil.mediator;

import dev.vgpuhil.common.BoundProcesses;
import dev.vgpuhil.protocol.SourceTree;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.Optional;

/**
 * The mediator daemon as a child process ({@code java -jar mediator-lite.jar}, java from java.home).
 * {@link #start()} waits until the socket answers a STATS_REQUEST from this very child (its pid is in the
 * reply) or fails with the log's tail; {@link #close()} sends SIGTERM, then SIGKILL, each with a deadline.
 *
 * <p>The child is bound to this JVM's life by {@link BoundProcesses} (parent-death signal, its own process group
 * reaped with it, a shutdown hook at an orderly JVM exit), and, as a second line that also covers machines
 * without setpriv, it gets {@code --parent-pid} of this JVM and exits by itself (gracefully) when that pid is
 * gone. stdout and stderr go to the log file.
 */
public final class MediatorProcess implements AutoCloseable {
    /** System property naming the jar; default {@code <repo>/mediator-lite/target/mediator-lite.jar}. */
    public static final String JAR_PROPERTY = dev.vgpuhil.common.Setting.MEDIATOR_JAR.property();

    /**
     * The daemon JVM's options: a bounded heap. What the daemon holds live is bounded by its limits (queue cap,
     * outstanding cap, reply queue per connection: about 15 MB with 64 clients flooding, bench.FloodRss), but a JVM
     * left to its defaults lets its heap grow towards a quarter of the machine's memory before it collects (over
     * 600 MiB of RSS in FloodRss's flood); 128 MiB holds the live data of the default limits' likely worst (256
     * connections with full queues), the serial collector needs no threads and remembered sets of its own, and a
     * daemon that still runs out of heap exits (its parent sees a dead mediator) instead of serving half-dead.
     */
    public static final List<String> JVM_OPTIONS =
            List.of("-Xmx128m", "-XX:+UseSerialGC", "-XX:+ExitOnOutOfMemoryError");

    private static final com.fasterxml.jackson.databind.ObjectMapper JSON =
            new com.fasterxml.jackson.databind.ObjectMapper();

    private final Path jar;
    private final Path socketPath;
    private final BackendChoice backend;
    private final List<String> extraArgs;
    private final Path logFile;
    private final Duration readyTimeout;
    private final Duration stopTimeout;
    private Process process;
    private boolean closed;

    private MediatorProcess(Builder b) throws IOException {
        this.jar = b.jar != null ? b.jar : defaultJar();
        this.socketPath = b.socketPath.toAbsolutePath();
        this.backend = b.backend;
        this.extraArgs = List.copyOf(b.extraArgs);
        // without a log file of the caller's: one in a directory of this JVM's own, gone with it (also when it is
        // killed: the next JVM's sweep), never a stray /tmp file per run
        this.logFile = b.logFile != null
                ? b.logFile
                : dev.vgpuhil.common.OwnedDirs.temp("medlog").resolve("mediator.log");
        this.readyTimeout = b.readyTimeout;
        this.stopTimeout = b.stopTimeout;
    }

    public static Builder builder() {
        return new Builder();
    }

    /** The shaded jar: -Dvgpu.mediator.jar, else mediator-lite/target/mediator-lite.jar in the checkout. */
    public static Path defaultJar() {
        return dev.vgpuhil.common.Setting.MEDIATOR_JAR
                .value()
                .map(Path::of)
                .orElseGet(() -> SourceTree.path("mediator-lite", "target", "mediator-lite.jar"));
    }

    /** True when children get the parent-death signal (setpriv is present). */
    public static boolean parentDeathSignalAvailable() {
        return BoundProcesses.parentDeathSignalAvailable();
    }

    /** The command line the child runs (for logs and reports), with BoundProcesses' wrapper when available. */
    public List<String> command() {
        return BoundProcesses.wrap(daemonCommand());
    }

    /** The daemon's own command line, without the wrapper. */
    private List<String> daemonCommand() {
        List<String> cmd = new ArrayList<>();
        cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        cmd.addAll(JVM_OPTIONS);
        cmd.add("-jar");
        cmd.add(jar.toString());
        cmd.add("--socket");
        cmd.add(socketPath.toString());
        cmd.add("--backend");
        cmd.add(backend.name().toLowerCase());
        cmd.add("--parent-pid");
        cmd.add(Long.toString(ProcessHandle.current().pid()));
        cmd.addAll(extraArgs);
        return cmd;
    }

    /** Starts the child and waits until it serves; a second call does nothing. */
    public synchronized void start() throws IOException {
        if (process != null) {
            return;
        }
        if (closed) {
            throw new IllegalStateException("closed; build a new MediatorProcess");
        }
        if (!Files.isRegularFile(jar)) {
            throw new IOException("mediator jar " + jar + " does not exist; build it with "
                    + "`mvn -pl mediator-lite -am package -DskipTests` (or set -D" + JAR_PROPERTY + ")");
        }
        process = BoundProcesses.start(new ProcessBuilder(daemonCommand())
                .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")))
                .redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.appendTo(logFile.toFile())));
        try {
            awaitReady();
        } catch (IOException | RuntimeException e) {
            close();
            throw e;
        }
    }

    private void awaitReady() throws IOException {
        long deadline = System.nanoTime() + readyTimeout.toNanos();

        String lastProblem = "socket never accepted";
        while (System.nanoTime() - deadline < 0) {
            if (!process.isAlive()) {
                throw new IOException("mediator exited with status " + process.exitValue() + " before it was ready; "
                        + "log " + logFile + ":\n" + logTail(20));
            }
            if (Files.exists(socketPath)) {
                try (MediatorClient c = MediatorClient.connect(socketPath, Duration.ofMillis(200))) {
                    String stats = c.stats(Duration.ofSeconds(2));
                    if (JSON.readTree(stats).path("pid").asLong() == process.pid()) {
                        return;
                    }
                    lastProblem = "another process answers on " + socketPath + ": " + stats;
                } catch (IOException e) {
                    lastProblem = e.getMessage();
                }
            }
            try {
                Thread.sleep(50);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IOException("interrupted while waiting for the mediator");
            }
        }
        throw new IOException("mediator not ready within " + readyTimeout.toMillis() + " ms (" + lastProblem + "); log "
                + logFile + ":\n" + logTail(20));
    }

    /** SIGTERM, wait, SIGKILL, wait; safe to call twice. */
    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        if (process == null) {
            return;
        }
        BoundProcesses.stop(process, stopTimeout, stopTimeout);
    }

    public long pid() {
        return requireProcess().pid();
    }

    public boolean isAlive() {
        return process != null && process.isAlive();
    }

    /** Exit status once the child has ended. */
    public Optional<Integer> exitCode() {
        return process == null || process.isAlive() ? Optional.empty() : Optional.of(process.exitValue());
    }

    public Path socketPath() {
        return socketPath;
    }

    public Path logFile() {
        return logFile;
    }

    /** The last lines of the child's log. */
    public String logTail(int lines) {
        try {
            List<String> all = Files.readAllLines(logFile, StandardCharsets.UTF_8);
            return String.join("\n", all.subList(Math.max(0, all.size() - lines), all.size()));
        } catch (IOException e) {
            return "(cannot read " + logFile + ": " + e.getMessage() + ")";
        }
    }

    private Process requireProcess() {
        if (process == null) {
            throw new IllegalStateException("not started");
        }
        return process;
    }

    public static final class Builder {
        private Path jar;
        private Path socketPath = Path.of(dev.vgpuhil.protocol.VgpuProtocol.SOCKET_PATH_DEFAULT);
        private BackendChoice backend = BackendChoice.AUTO;
        private final List<String> extraArgs = new ArrayList<>();
        private Path logFile;
        private Duration readyTimeout = Duration.ofSeconds(20);
        private Duration stopTimeout = Duration.ofSeconds(15); // > the daemon's shutdown grace (5 s) + connection drain

        private Builder() {}

        public Builder jar(Path jar) {
            this.jar = Objects.requireNonNull(jar);
            return this;
        }

        public Builder socketPath(Path socketPath) {
            this.socketPath = Objects.requireNonNull(socketPath);
            return this;
        }

        public Builder backend(BackendChoice backend) {
            this.backend = Objects.requireNonNull(backend);
            return this;
        }

        /** More daemon options, e.g. {@code "--tenant", "7:high", "--aging-ms", "200"}. */
        public Builder args(String... args) {
            this.extraArgs.addAll(List.of(args));
            return this;
        }

        /** Where the child's stdout/stderr go (appended); default a new temp file. */
        public Builder logFile(Path logFile) {
            this.logFile = logFile;
            return this;
        }

        public Builder readyTimeout(Duration timeout) {
            this.readyTimeout = Objects.requireNonNull(timeout);
            return this;
        }

        /** Deadline for SIGTERM and again for SIGKILL. */
        public Builder stopTimeout(Duration timeout) {
            this.stopTimeout = Objects.requireNonNull(timeout);
            return this;
        }

        public MediatorProcess build() throws IOException {
            return new MediatorProcess(this);
        }
    }
}

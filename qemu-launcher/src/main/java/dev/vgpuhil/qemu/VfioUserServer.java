package dev.vgpuhil.qemu;

import dev.vgpuhil.common.BoundProcesses;
import dev.vgpuhil.common.Setting;
import dev.vgpuhil.common.ShippedScripts;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Objects;
import java.util.concurrent.TimeUnit;

/**
 * One running {@code vgpu-stub-vfio-user}: the vgpu-stub device as a vfio-user server (vgpu-stub/vfio-user/), for
 * a QEMU that attaches it with {@link #qemuDeviceArg}. Started through {@link BoundProcesses}, so it dies with the
 * JVM; it also exits by itself when its QEMU hangs up. Its stdout and stderr go to {@link Config#log()}.
 *
 * <p>{@link #start} returns once the socket exists (the server renames it into place after {@code listen()}, so
 * QEMU's connect cannot be refused). {@link #close()} sends SIGTERM (the server removes its socket), then SIGKILL
 * after {@link #STOP_TIMEOUT}, and reaps it; safe twice.
 *
 * <p>{@code -Dvgpu.vfioUser.verbose=true} makes every server log each vfio-user message.
 *
 * <p>The binary: {@code -Dvgpu.vfioUser.server=PATH}, else {@code VGPU_VFIO_USER_SERVER}, else the last stdout
 * line of {@code vgpu-stub/vfio-user/build.sh} (builds with gcc and caches by source hash; seconds).
 */
public final class VfioUserServer implements AutoCloseable {
    public static final String QEMU_DEVICE = "vfio-user-pci";
    public static final String BINARY_PROPERTY = Setting.VFIO_USER_SERVER.property();
    public static final String BINARY_ENV = Setting.VFIO_USER_SERVER.env();
    /** {@code -Dvgpu.vfioUser.verbose=true}: servers log every vfio-user message (debugging). */
    public static final String VERBOSE_PROPERTY = Setting.VFIO_USER_VERBOSE.property();

    public static final Duration START_TIMEOUT = Duration.ofSeconds(10);
    public static final Duration STOP_TIMEOUT = Duration.ofSeconds(5);
    static final Duration BUILD_TIMEOUT = Duration.ofMinutes(5);
    private static final int LOG_TAIL_LINES = 20;
    private static volatile Path defaultBinary;

    /**
     * What one server hosts: the vgpu-stub identity (as the in-QEMU device's {@code pool_id}, {@code priority},
     * {@code vm_id}, {@code timeout_ms} properties), the mediator socket, where to listen and where to log.
     *
     * @param pool      'A' or 'B'
     * @param priority  low, medium or high (or 0, 1, 2)
     * @param timeoutMs reply deadline in ms on the host clock; null = the device default (5000)
     * @param extraArgs more server options, after the others (a later option wins)
     */
    public record Config(
            Path binary,
            Path socket,
            Path mediatorSocket,
            char pool,
            String priority,
            long vmId,
            Integer timeoutMs,
            Path log,
            List<String> extraArgs) {
        public Config {
            Objects.requireNonNull(binary, "binary");
            Objects.requireNonNull(socket, "socket");
            Objects.requireNonNull(mediatorSocket, "mediatorSocket");
            Objects.requireNonNull(priority, "priority");
            Objects.requireNonNull(log, "log");
            extraArgs = List.copyOf(extraArgs);
        }

        public Config(
                Path binary,
                Path socket,
                Path mediatorSocket,
                char pool,
                String priority,
                long vmId,
                Integer timeoutMs,
                Path log) {
            this(binary, socket, mediatorSocket, pool, priority, vmId, timeoutMs, log, List.of());
        }

        /** A copy with {@code args} appended to {@link #extraArgs()}. */
        public Config withExtraArgs(List<String> args) {
            List<String> all = new ArrayList<>(extraArgs);
            all.addAll(args);
            return new Config(binary, socket, mediatorSocket, pool, priority, vmId, timeoutMs, log, all);
        }

        /** The server's command line. */
        public List<String> command() {
            List<String> c = new ArrayList<>(List.of(
                    binary.toString(),
                    "--socket",
                    socket.toString(),
                    "--mediator",
                    mediatorSocket.toString(),
                    "--pool",
                    String.valueOf(pool),
                    "--priority",
                    priority.toLowerCase(Locale.ROOT),
                    "--vm-id",
                    Long.toString(vmId)));
            if (timeoutMs != null) {
                c.addAll(List.of("--timeout-ms", Integer.toString(timeoutMs)));
            }
            if (Setting.VFIO_USER_VERBOSE.enabled()) {
                c.add("--verbose");
            }
            c.addAll(extraArgs);
            return c;
        }
    }

    private final Config config;
    private final Process process;
    private volatile boolean closed;

    private VfioUserServer(Config config, Process process) {
        this.config = config;
        this.process = process;
    }

    /**
     * Starts the server and waits (≤ {@code timeout}) for its socket. A server that exits first (a bad option, a
     * socket path in use) fails with its exit code and log tail.
     */
    public static VfioUserServer start(Config config, Duration timeout) throws IOException {
        Files.createDirectories(config.log().toAbsolutePath().getParent());
        Process p = BoundProcesses.start(new ProcessBuilder(config.command())
                .redirectInput(ProcessBuilder.Redirect.from(Path.of("/dev/null").toFile()))
                .redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.appendTo(config.log().toFile())));
        VfioUserServer server = new VfioUserServer(config, p);
        long deadline = System.nanoTime() + timeout.toNanos();
        try {
            while (!Files.exists(config.socket())) {
                if (!p.isAlive()) {
                    throw new IOException("vgpu-stub-vfio-user exited with status " + p.exitValue()
                            + " before listening on " + config.socket() + "; log " + config.log() + ":\n"
                            + server.logTail());
                }
                if (System.nanoTime() > deadline) {
                    throw new IOException("vgpu-stub-vfio-user did not listen on " + config.socket() + " within "
                            + timeout + "; log " + config.log() + ":\n" + server.logTail());
                }
                Thread.sleep(5);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            server.close();
            throw new IOException("interrupted while starting vgpu-stub-vfio-user", e);
        } catch (IOException e) {
            server.close();
            throw e;
        }
        return server;
    }

    /** {@link #start(Config, Duration)} with {@link #START_TIMEOUT}. */
    public static VfioUserServer start(Config config) throws IOException {
        return start(config, START_TIMEOUT);
    }

    /**
     * The {@code -device} value that attaches this server to QEMU: QEMU's JSON form, as {@code socket} is a
     * SocketAddress struct. {@code id} and {@code addr} (PCI slot) are optional.
     */
    public String qemuDeviceArg(String id, String addr) {
        StringBuilder b = new StringBuilder("{\"driver\":\"" + QEMU_DEVICE + "\"");
        if (id != null) {
            b.append(",\"id\":").append(jsonString(id));
        }
        if (addr != null) {
            b.append(",\"addr\":").append(jsonString(addr));
        }
        b.append(",\"socket\":{\"type\":\"unix\",\"path\":")
                .append(jsonString(config.socket().toString()))
                .append("}}");
        return b.toString();
    }

    static String jsonString(String s) {
        StringBuilder b = new StringBuilder("\"");
        for (char ch : s.toCharArray()) {
            switch (ch) {
                case '"' -> b.append("\\\"");
                case '\\' -> b.append("\\\\");
                default -> {
                    if (ch < 0x20) {
                        b.append(String.format("\\u%04x", (int) ch));
                    } else {
                        b.append(ch);
                    }
                }
            }
        }
        return b.append('"').toString();
    }

    public Config config() {
        return config;
    }

    public Process process() {
        return process;
    }

    public Path socket() {
        return config.socket();
    }

    public Path log() {
        return config.log();
    }

    public boolean isAlive() {
        return process.isAlive();
    }

    /** The last lines of the server's log. */
    public String logTail() {
        try {
            return BoundProcesses.tail(Files.readString(config.log(), StandardCharsets.UTF_8), LOG_TAIL_LINES);
        } catch (IOException e) {
            return "(no log: " + e.getMessage() + ")";
        }
    }

    /** Waits ≤ {@code timeout} for the server to exit by itself; its exit status, or null if still running. */
    public Integer awaitExit(Duration timeout) {
        try {
            return process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS) ? process.exitValue() : null;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return process.isAlive() ? null : process.exitValue();
        }
    }

    /** SIGTERM, SIGKILL after {@link #STOP_TIMEOUT}; reaped. Idempotent. */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        if (process.isAlive()) {
            process.destroy();
            if (awaitExit(STOP_TIMEOUT) == null) {
                BoundProcesses.kill(process, STOP_TIMEOUT);
            }
        }
    }

    /** The server binary (see class comment), located once per JVM. */
    public static Path locateBinary() {
        Path p = defaultBinary;
        if (p != null) {
            return p;
        }
        synchronized (VfioUserServer.class) {
            if (defaultBinary == null) {
                defaultBinary = findBinary();
            }
            return defaultBinary;
        }
    }

    private static Path findBinary() {
        java.util.Optional<String> given = Setting.VFIO_USER_SERVER.value();
        if (given.isPresent()) {
            Path p = Path.of(given.get().strip()).toAbsolutePath();
            if (!Files.isExecutable(p)) {
                throw new IllegalStateException("vgpu-stub-vfio-user " + p + " (from "
                        + Setting.VFIO_USER_SERVER.spelled() + ") is not an executable file");
            }
            return p;
        }
        Path script = ShippedScripts.script("vgpu-stub/vfio-user/build.sh");
        try {
            return ShippedScripts.runForPath(null, BUILD_TIMEOUT, List.of(script.toString(), "--print-path"));
        } catch (IOException e) {
            throw new IllegalStateException(script + " --print-path: " + e.getMessage(), e);
        }
    }

    @Override
    public String toString() {
        return "vgpu-stub-vfio-user pid " + process.pid() + " on " + config.socket();
    }
}

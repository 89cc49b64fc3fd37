package dev.vgpuhil.containers;

import com.github.dockerjava.api.exception.NotFoundException;
import com.github.dockerjava.api.model.AccessMode;
import com.github.dockerjava.api.model.Bind;
import com.github.dockerjava.api.model.DeviceRequest;
import com.github.dockerjava.api.model.Volume;
import dev.vgpuhil.protocol.MediatorContract;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.OptionalInt;
import org.testcontainers.containers.GenericContainer;
import org.testcontainers.containers.wait.strategy.AbstractWaitStrategy;
import org.testcontainers.utility.DockerImageName;

/**
 * A mediator of {@code vgpu_protocol.h} in a container, under the mediator contract (docs/MEDIATOR-CONTRACT.md): the
 * socket directory bind-mounted at the same absolute path, the socket path as {@code VGPU_MEDIATOR_SOCKET} and as
 * {@code --socket PATH} after the image's entry point, network {@code none}, the container running as this JVM's
 * uid and gid (so the mediator's peer-uid check admits this JVM's clients and the socket file is theirs), ready when
 * the socket answers a HELLO ({@link MediatorContract#awaitReady}). {@link #stop()} is SIGTERM ({@code docker stop}) with a
 * grace, {@link #kill()} SIGKILL. Each {@link #start()} after a stop or kill is a fresh container; the log file spans
 * every incarnation. Every container is labelled and reaped by {@link ContainerReaper}.
 */
public final class ContainerMediator implements AutoCloseable {

    /**
     * What to run: {@code image} (a local image; the mediator-lite one by {@link LocalImages#mediatorLite}), the
     * socket directory and path in it, extra environment (the contract's knobs) and arguments (before {@code
     * --socket}), the readiness and stop deadlines, whether to request the GPUs, and the log file (stdout and stderr
     * of every incarnation).
     */
    public record Spec(
            String image,
            Path dir,
            Path socket,
            Map<String, String> env,
            List<String> args,
            Duration readyTimeout,
            Duration stopGrace,
            boolean gpus,
            Path logFile) {
        public Spec {
            Objects.requireNonNull(image, "image");
            dir = dir.toAbsolutePath();
            socket = socket.toAbsolutePath();
            if (!socket.startsWith(dir)) {
                throw new IllegalArgumentException("socket " + socket + " must lie in the mounted directory " + dir);
            }
            env = Map.copyOf(env);
            args = List.copyOf(args);
            logFile = logFile != null ? logFile : dir.resolve("mediator.log");
        }

        /** Defaults: no extra environment or arguments, 60 s to be ready, 15 s grace, no GPUs, dir/mediator.log. */
        public static Spec of(String image, Path dir, Path socket) {
            return new Spec(
                    image,
                    dir,
                    socket,
                    Map.of(),
                    List.of(),
                    Duration.ofSeconds(60),
                    Duration.ofSeconds(15),
                    false,
                    null);
        }

        public Spec withEnv(Map<String, String> more) {
            Map<String, String> e = new LinkedHashMap<>(env);
            e.putAll(more);
            return new Spec(image, dir, socket, e, args, readyTimeout, stopGrace, gpus, logFile);
        }

        public Spec withArgs(List<String> a) {
            return new Spec(image, dir, socket, env, a, readyTimeout, stopGrace, gpus, logFile);
        }

        public Spec withReadyTimeout(Duration d) {
            return new Spec(image, dir, socket, env, args, d, stopGrace, gpus, logFile);
        }

        public Spec withGpus(boolean g) {
            return new Spec(image, dir, socket, env, args, readyTimeout, stopGrace, g, logFile);
        }

        public Spec withLogFile(Path f) {
            return new Spec(image, dir, socket, env, args, readyTimeout, stopGrace, gpus, f);
        }
    }

    private final Spec spec;
    private GenericContainer<?> container;
    private String containerId;
    private boolean closed;

    public ContainerMediator(Spec spec) {
        this.spec = spec;
    }

    public Spec spec() {
        return spec;
    }

    /** Starts a container (no-op while one runs) and waits until the socket answers a HELLO. */
    public synchronized void start() throws IOException {
        if (closed) {
            throw new IllegalStateException("closed; make a new ContainerMediator");
        }
        if (isAlive()) {
            return;
        }
        removeContainer();
        if (spec.gpus()) {
            var missing = ContainerEngine.gpuMissing();
            if (missing.isPresent()) {
                throw new IOException("GPUs requested for " + spec.image() + ", but " + missing.get());
            }
        }
        ContainerEngine.client();
        String user = Files.getAttribute(spec.dir(), "unix:uid") + ":" + Files.getAttribute(spec.dir(), "unix:gid");
        List<String> cmd = new ArrayList<>(spec.args());
        cmd.add(MediatorContract.ARG_SOCKET);
        cmd.add(spec.socket().toString());
        Files.deleteIfExists(spec.socket()); // a stale file of a killed incarnation
        GenericContainer<?> c = new GenericContainer<>(DockerImageName.parse(spec.image()))
                .withNetworkMode("none")
                .withEnv(MediatorContract.ENV_SOCKET, spec.socket().toString())
                .withEnv(spec.env())
                // what the NVIDIA runtime injects for a device request: the driver's compute libraries (libcuda)
                .withEnv(spec.gpus() ? Map.of("NVIDIA_DRIVER_CAPABILITIES", "compute,utility") : Map.of())
                .withLabels(ContainerReaper.labels())
                .withCommand(cmd.toArray(String[]::new))
                .withLogConsumer(f -> append(f.getUtf8String()))
                .waitingFor(new AbstractWaitStrategy() {
                    @Override
                    protected void waitUntilReady() {
                        // readiness is the contract's HELLO, checked below with the log at hand
                    }
                })
                .withCreateContainerCmdModifier(cc -> {
                    cc.withUser(user);
                    // the bind here, not by withFileSystemBind: that makes Testcontainers check that mounting works
                    // by running alpine, which it would pull
                    List<Bind> binds = new ArrayList<>();
                    if (cc.getHostConfig().getBinds() != null) {
                        binds.addAll(List.of(cc.getHostConfig().getBinds()));
                    }
                    binds.add(new Bind(
                            spec.dir().toString(), new Volume(spec.dir().toString()), AccessMode.rw));
                    cc.getHostConfig().withBinds(binds);
                    if (spec.gpus()) {
                        cc.getHostConfig()
                                .withDeviceRequests(List.of(new DeviceRequest()
                                        .withDriver("nvidia")
                                        .withCount(-1)
                                        .withCapabilities(List.of(List.of("gpu")))));
                    }
                });
        append("--- container " + spec.image() + " " + cmd + "\n");
        try {
            c.start();
        } catch (RuntimeException e) {
            throw new IOException(
                    "the mediator container " + spec.image() + " did not start: " + e.getMessage() + "\n" + logTail(20),
                    e);
        } finally {
            if (c.getContainerId() != null) {
                ContainerReaper.register(c.getContainerId());
            }
        }
        container = c;
        containerId = c.getContainerId();
        try {
            awaitHello();
        } catch (IOException | RuntimeException e) {
            kill();
            throw e;
        }
    }

    private void awaitHello() throws IOException {
        try {
            MediatorContract.awaitReady(
                    "the mediator container " + spec.image(),
                    spec.socket(),
                    spec.readyTimeout(),
                    () -> isAlive() ? OptionalInt.empty() : OptionalInt.of(exitCode()));
        } catch (IOException e) {
            throw new IOException(e.getMessage() + "; log:\n" + logTail(20), e);
        }
    }

    /** SIGTERM, up to the grace, then SIGKILL ({@code docker stop}); the exit status (0 expected), -1 if none ran. */
    public synchronized int stop() {
        if (containerId == null) {
            return -1;
        }
        try {
            ContainerEngine.client()
                    .stopContainerCmd(containerId)
                    .withTimeout((int) Math.max(1, spec.stopGrace().toSeconds()))
                    .exec();
        } catch (NotFoundException e) {
            return -1;
        } catch (RuntimeException e) {
            // already stopped (304) is fine; the status below tells
        }
        return exitCode();
    }

    /** SIGKILL (a crash); the socket file stays. */
    public synchronized void kill() {
        if (containerId == null || !isAlive()) {
            return;
        }
        try {
            ContainerEngine.client().killContainerCmd(containerId).exec();
        } catch (RuntimeException e) {
            // exited meanwhile
        }
    }

    public synchronized boolean isAlive() {
        if (containerId == null) {
            return false;
        }
        try {
            Boolean running = ContainerEngine.client()
                    .inspectContainerCmd(containerId)
                    .exec()
                    .getState()
                    .getRunning();
            return Boolean.TRUE.equals(running);
        } catch (NotFoundException e) {
            return false;
        }
    }

    /** The last container's exit status; -1 while it runs or when there is none. */
    public synchronized int exitCode() {
        if (containerId == null) {
            return -1;
        }
        try {
            var state = ContainerEngine.client()
                    .inspectContainerCmd(containerId)
                    .exec()
                    .getState();
            return Boolean.TRUE.equals(state.getRunning()) || state.getExitCodeLong() == null
                    ? -1
                    : state.getExitCodeLong().intValue();
        } catch (NotFoundException e) {
            return -1;
        }
    }

    public Path socketPath() {
        return spec.socket();
    }

    /** The current (or last) container's id; null before the first start. */
    public synchronized String containerId() {
        return containerId;
    }

    /** Everything every incarnation wrote (stdout and stderr), with a line per start. */
    public String log() {
        try {
            return Files.exists(spec.logFile()) ? Files.readString(spec.logFile(), StandardCharsets.UTF_8) : "";
        } catch (IOException e) {
            return "(cannot read " + spec.logFile() + ": " + e + ")";
        }
    }

    public String logTail(int lines) {
        List<String> all = log().lines().toList();
        return String.join("\n", all.subList(Math.max(0, all.size() - lines), all.size()));
    }

    public String describe() {
        return "image: " + spec.image()
                + (containerId == null ? "" : " (container " + containerId.substring(0, 12) + ")");
    }

    private synchronized void append(String text) {
        try {
            Files.writeString(
                    spec.logFile(), text, StandardCharsets.UTF_8, StandardOpenOption.CREATE, StandardOpenOption.APPEND);
        } catch (IOException e) {
            // the log is best effort; the container's own log stays with the engine until removal
        }
    }

    private void removeContainer() {
        if (containerId != null) {
            ContainerReaper.remove(containerId);
            containerId = null;
            container = null;
        }
    }

    /** Stops (SIGTERM, grace) and removes the container; safe twice. */
    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        if (isAlive()) {
            stop();
        }
        removeContainer();
    }

    @Override
    public String toString() {
        return "ContainerMediator[" + describe() + ", " + spec.socket() + "]";
    }
}

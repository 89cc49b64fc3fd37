package dev.vgpuhil.harness.junit;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.vgpuhil.common.MoreFiles;
import dev.vgpuhil.common.OwnedDirs;
import dev.vgpuhil.common.Setting;
import dev.vgpuhil.containers.BuiltImage;
import dev.vgpuhil.containers.ContainerEngine;
import dev.vgpuhil.containers.ContainerMediator;
import dev.vgpuhil.containers.LocalImages;
import dev.vgpuhil.harness.JsonObjects;
import dev.vgpuhil.harness.report.MediatorFailure;
import dev.vgpuhil.harness.report.Reporting;
import dev.vgpuhil.mediator.BackendChoice;
import dev.vgpuhil.mediator.Mediator;
import dev.vgpuhil.mediator.MediatorClient;
import dev.vgpuhil.mediator.MediatorConfig;
import dev.vgpuhil.mediator.MediatorProcess;
import dev.vgpuhil.mediator.contract.CommandMediator;
import dev.vgpuhil.mediator.contract.MediatorLaunch;
import dev.vgpuhil.qemu.machine.CleanupMode;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.logging.Logger;

/**
 * A mediator-lite the harness runs for tests: in this JVM ({@link Mediator}) or as a child process
 * ({@link MediatorProcess}), on a socket path fixed when the handle is made (so VMs can be started pointing at
 * it before it runs). {@link #stop()} / {@link #start()} / {@link #restart()} for the reconnect scenarios; the
 * log file spans every incarnation and lives in a run directory {@code <vgpu.runs.dir>/mediator-<time>-<n>/} (kept
 * after a failure as {@code vgpu.cleanup} says); the socket in a private /tmp directory of this JVM. Stats are
 * read over the socket (STATS_REQUEST), as any client would.
 */
public final class MediatorHandle implements AutoCloseable {
    /** In-process mediators log to their file only, not to the test JVM's console. */
    private static final Logger QUIET = quietMediatorLoggers();

    private final BackendChoice backend;
    private final boolean childProcess;
    private final MediatorRuntime runtime;
    /** The container image (a user's, or empty for mediator-lite's, resolved at start). */
    private final String image;

    private final Duration aging;
    private final int workersPerPool;
    /** The user's mediator program (the contract's command), or empty for mediator-lite. */
    private final String command;

    private final Path dir;
    /** False for a handle made by {@link #onSameSocket}: the socket directory is the first handle's. */
    private final boolean ownsDir;

    private final Path logDir;
    private final Path socket;
    private final Path logFile;
    private Mediator inProcess;
    private MediatorProcess child;
    private ContainerMediator container;
    private CommandMediator external;
    private int incarnations;
    private boolean keepFiles;

    public MediatorHandle(BackendChoice backend, boolean childProcess, Duration aging, int workersPerPool) {
        this(
                backend,
                childProcess ? MediatorRuntime.CHILD_PROCESS : MediatorRuntime.IN_PROCESS,
                "",
                aging,
                workersPerPool,
                "");
    }

    /** A mediator in {@code runtime}; {@code image} a user's container image (implies CONTAINER), empty for lite. */
    public MediatorHandle(
            BackendChoice backend, MediatorRuntime runtime, String image, Duration aging, int workersPerPool) {
        this(backend, runtime, image, aging, workersPerPool, "");
    }

    /**
     * A mediator in {@code runtime}, or the user's program {@code command} run under the mediator contract
     * (docs/MEDIATOR-CONTRACT.md) when it is not empty.
     */
    public MediatorHandle(
            BackendChoice backend,
            MediatorRuntime runtime,
            String image,
            Duration aging,
            int workersPerPool,
            String command) {
        this(backend, runtime, image, aging, workersPerPool, command, null);
    }

    private MediatorHandle(
            BackendChoice backend,
            MediatorRuntime runtime,
            String image,
            Duration aging,
            int workersPerPool,
            String command,
            Path sharedDir) {
        this.backend = backend;
        this.image = image == null ? "" : image;
        this.runtime = this.image.isEmpty() ? runtime : MediatorRuntime.CONTAINER;
        this.childProcess = this.runtime == MediatorRuntime.CHILD_PROCESS;
        this.aging = aging;
        this.workersPerPool = workersPerPool;
        this.command = command == null ? "" : command.strip();
        try {
            // the socket in a short private path (Unix socket paths are limited to 107 bytes), swept when this JVM
            // dies; the log where run directories go, kept like them (vgpu.cleanup) and pruned with them
            this.dir = sharedDir != null ? sharedDir : OwnedDirs.temp("med");
            this.logDir = OwnedDirs.createRunDir(RunDirectoryBase.get(), "mediator");
        } catch (IOException | java.io.UncheckedIOException e) {
            throw new MediatorFailure("cannot create the mediator's socket or log directory", e);
        }
        this.ownsDir = sharedDir == null;
        this.socket = dir.resolve("mediator.sock");
        // a user's program writes where the contract's launch says (its own directory, kept with the socket's)
        this.logFile = this.command.isEmpty()
                ? logDir.resolve("mediator.log")
                : MediatorLaunch.in(dir).logFile();
    }

    /**
     * A second mediator of this one's options in {@code otherRuntime}, serving this handle's socket path, so the VMs
     * started against this one reconnect to it (a fault of a container mediator without a VM boot of its own). Start
     * it only while this one is stopped; its close leaves the socket directory to this handle.
     */
    public MediatorHandle onSameSocket(MediatorRuntime otherRuntime) {
        return new MediatorHandle(backend, otherRuntime, image, aging, workersPerPool, command, dir);
    }

    public static MediatorHandle from(WithMediator a) {
        return new MediatorHandle(
                BackendChoice.parse(a.backend()),
                a.childProcess() ? MediatorRuntime.CHILD_PROCESS : a.runtime(),
                a.image(),
                Duration.ofMillis(a.agingMs()),
                a.workersPerPool(),
                a.command());
    }

    public MediatorRuntime runtime() {
        return runtime;
    }

    /**
     * Why this mediator cannot run on this machine (no container engine; backend cuda in a container without the
     * engine's nvidia runtime), for the extension's assumption; empty when it can.
     */
    public java.util.Optional<String> missing() {
        if (runtime != MediatorRuntime.CONTAINER) {
            return java.util.Optional.empty();
        }
        ContainerEngine.Availability a = ContainerEngine.availability();
        if (!a.available()) {
            return java.util.Optional.of("a container mediator needs a container engine: " + a.reason());
        }
        if (backend == BackendChoice.CUDA) {
            return ContainerEngine.gpuMissing().map(m -> "backend cuda in a container needs the GPUs: " + m);
        }
        return java.util.Optional.empty();
    }

    private static Logger quietMediatorLoggers() {
        Logger l = Logger.getLogger("dev.vgpuhil.mediator");
        l.setUseParentHandlers(false);
        return l;
    }

    public Path socketPath() {
        return socket;
    }

    public Path logFile() {
        return logFile;
    }

    public boolean childProcess() {
        return childProcess;
    }

    /** The user's mediator command, or empty for mediator-lite. */
    public String command() {
        return command;
    }

    /** Starts the mediator (no-op when running); waits until its socket answers. */
    public synchronized MediatorHandle start() {
        if (isRunning()) {
            return this;
        }
        incarnations++;
        if (!command.isEmpty()) {
            return startCommand();
        }
        Reporting.progress("starting " + (image.isEmpty() ? "mediator-lite" : "mediator image " + image) + " ("
                + runtime.name().toLowerCase().replace('_', ' ') + ", backend "
                + backend.name().toLowerCase() + ") on "
                + socket);
        try {
            if (runtime == MediatorRuntime.CONTAINER) {
                container = new ContainerMediator(containerSpec());
                container.start();
            } else if (childProcess) {
                List<String> args = new ArrayList<>(List.of(
                        "--aging-ms",
                        Long.toString(aging.toMillis()),
                        "--workers-per-pool",
                        Integer.toString(workersPerPool)));
                child = MediatorProcess.builder()
                        .jar(Shipped.mediatorJar())
                        .socketPath(socket)
                        .backend(backend)
                        .logFile(logFile)
                        .args(args.toArray(String[]::new))
                        .readyTimeout(Duration.ofSeconds(30))
                        .build();
                child.start();
            } else {
                inProcess = new Mediator(MediatorConfig.builder()
                        .socketPath(socket)
                        .backend(backend)
                        .aging(aging)
                        .workersPerPool(workersPerPool)
                        .logFile(logFile)
                        .build());
                inProcess.start();
            }
        } catch (IOException | RuntimeException e) {
            throw new MediatorFailure(
                    "mediator-lite did not start on " + socket + " (log " + logFile + ":\n" + logTail(20) + ")", e);
        }
        return this;
    }

    /** The user's program under the contract; its output goes to the log file, like mediator-lite's log. */
    private MediatorHandle startCommand() {
        Reporting.progress("starting the mediator command `" + command + "` on " + socket);
        external = CommandMediator.of(
                command, MediatorLaunch.in(dir).withAging(aging), Duration.ofSeconds(60), Duration.ofSeconds(20));
        try {
            external.start();
        } catch (IOException | RuntimeException e) {
            external.close();
            external = null;
            throw new MediatorFailure(
                    "the mediator command `" + command + "` did not start on " + socket + ": " + e.getMessage(), e);
        }
        return this;
    }

    /** Stops the mediator (SIGTERM for a child); VMs see their link close. No-op when stopped. */
    public synchronized void stop() {
        Reporting.progress(
                "stopping " + (command.isEmpty() ? "mediator-lite" : "the mediator command") + " on " + socket);
        if (external != null) {
            external.close();
            external = null;
        }
        if (child != null) {
            child.close();
            child = null;
        }
        if (container != null) {
            container.close();
            container = null;
        }
        if (inProcess != null) {
            inProcess.close();
            inProcess = null;
        }
    }

    /** Stop, then start again on the same socket path. */
    public synchronized void restart() {
        stop();
        start();
    }

    public synchronized boolean isRunning() {
        return (child != null && child.isAlive())
                || (container != null && container.isAlive())
                || (inProcess != null && inProcess.isRunning())
                || (external != null && external.isAlive());
    }

    /** How many times it was started. */
    public synchronized int incarnations() {
        return incarnations;
    }

    /**
     * What is wrong with the mediator from outside, if anything: its child process or its container died (and how:
     * "killed by signal 9 (SIGKILL)"; a container's state as its engine tells it) or is stopped (SIGSTOP) or paused;
     * empty while it runs, or when the test never started or stopped it itself.
     */
    public synchronized java.util.Optional<String> fault() {
        if (container != null && container.containerId() != null) {
            return containerFault();
        }
        if (child == null) {
            return java.util.Optional.empty();
        }
        long pid = child.pid();
        java.util.Optional<Integer> exit = child.exitCode();
        if (exit.isPresent()) {
            return java.util.Optional.of("mediator-lite pid " + pid + " on " + socket + " died: "
                    + new dev.vgpuhil.qemu.machine.ExitStatus(exit.get()));
        }
        return stopped(pid).map(s -> "mediator-lite pid " + pid + " on " + socket + s);
    }

    /** The container's state from the engine: exited (its status read as a signal's like a child's), paused, gone. */
    private java.util.Optional<String> containerFault() {
        String id = container.containerId();
        String what = "the mediator container " + id.substring(0, Math.min(12, id.length())) + " ("
                + container.spec().image() + ") on " + socket;
        com.github.dockerjava.api.command.InspectContainerResponse.ContainerState state;
        try {
            state = ContainerEngine.client().inspectContainerCmd(id).exec().getState();
        } catch (com.github.dockerjava.api.exception.NotFoundException e) {
            return java.util.Optional.of(what + " is gone: removed behind the harness's back");
        } catch (RuntimeException e) {
            return java.util.Optional.of(what + ": its container engine does not answer (" + e.getMessage() + ")");
        }
        if (!Boolean.TRUE.equals(state.getRunning())) {
            Long code = state.getExitCodeLong();
            // the engine reports a death by signal N as 128+N, as Java does for a process
            return java.util.Optional.of(what + " died: "
                    + (code == null ? "no exit status" : new dev.vgpuhil.qemu.machine.ExitStatus(code.intValue()))
                    + (Boolean.TRUE.equals(state.getOOMKilled()) ? ", out of memory" : "")
                    + " (engine state " + state.getStatus() + ")");
        }
        if (Boolean.TRUE.equals(state.getPaused())) {
            return java.util.Optional.of(what + " is paused: it reads no requests");
        }
        Long pid = state.getPidLong();
        return pid == null || pid <= 0
                ? java.util.Optional.empty()
                : stopped(pid).map(s -> what + ", pid " + pid + s);
    }

    /** " is stopped (SIGSTOP)..." when {@code pid} is in state T, else empty (also when it is gone this instant). */
    private static java.util.Optional<String> stopped(long pid) {
        try {
            String stat = Files.readString(Path.of("/proc/" + pid + "/stat"));
            char state = stat.charAt(stat.lastIndexOf(')') + 2);
            if (state == 'T' || state == 't') {
                return java.util.Optional.of(" is stopped (SIGSTOP): it reads no requests");
            }
        } catch (IOException | RuntimeException e) {
            // gone this instant: the next look says how
        }
        return java.util.Optional.empty();
    }

    /** The id of the container it runs in now (or last ran in, when that one died); empty outside CONTAINER. */
    public synchronized java.util.Optional<String> containerId() {
        return java.util.Optional.ofNullable(container).map(ContainerMediator::containerId);
    }

    /**
     * Holds the in-process mediator's workers (requests queue, none starts) until the hold is closed or
     * {@code maxHold} has passed, whichever comes first: a hold never outlasts what the devices' deadlines allow
     * ({@link dev.vgpuhil.harness.agent.RequestDeadlines#maxHold}). MediatorFailure without an in-process mediator.
     */
    public Hold hold(Duration maxHold) {
        Mediator m = inProcessMediator()
                .orElseThrow(() -> new MediatorFailure("a scheduler hold needs the in-process mediator"));
        return new Hold(m, maxHold);
    }

    /** A scheduler hold ({@link #hold}); close releases it (safe twice). */
    public static final class Hold implements AutoCloseable {
        private final Mediator mediator;
        private final Duration max;
        private final long since = System.nanoTime();
        private final Thread timer;
        private volatile boolean expired;
        private boolean released;

        Hold(Mediator mediator, Duration max) {
            this.mediator = mediator;
            this.max = max;
            mediator.pauseScheduling();
            timer = new Thread(
                    () -> {
                        try {
                            Thread.sleep(max.toMillis());
                        } catch (InterruptedException e) {
                            return; // released in time
                        }
                        expired = true;
                        release();
                    },
                    "mediator-hold-timer");
            timer.setDaemon(true);
            timer.start();
        }

        /** True when the hold ran out before it was closed (the harness, not the product, was too slow). */
        public boolean expired() {
            return expired;
        }

        /** How long it has held (so far, or until its release). */
        public Duration held() {
            return Duration.ofNanos(System.nanoTime() - since);
        }

        public Duration max() {
            return max;
        }

        private synchronized void release() {
            if (!released) {
                released = true;
                mediator.resumeScheduling();
            }
        }

        @Override
        public void close() {
            timer.interrupt();
            release();
        }
    }

    /** The pid serving the socket (this JVM for in-process; the container's main process on this host). */
    public synchronized long pid() {
        if (external != null) {
            return external.pid();
        }
        if (container != null && container.containerId() != null) {
            Long p = ContainerEngine.client()
                    .inspectContainerCmd(container.containerId())
                    .exec()
                    .getState()
                    .getPidLong();
            return p == null ? -1 : p;
        }
        return child != null ? child.pid() : ProcessHandle.current().pid();
    }

    /**
     * The container this mediator runs in: mediator-lite's image (built here from {@link Shipped#mediatorJar()} with
     * this handle's options) or the user's, which gets the contract's knobs as environment variables.
     */
    private ContainerMediator.Spec containerSpec() {
        ContainerMediator.Spec s;
        if (image.isEmpty()) {
            BuiltImage lite = LocalImages.mediatorLite(Shipped.mediatorJar(), MediatorProcess.JVM_OPTIONS);
            imageInReport(lite);
            s = ContainerMediator.Spec.of(lite.ref(), dir, socket)
                    .withArgs(List.of(
                            "--backend",
                            backend.name().toLowerCase(),
                            "--aging-ms",
                            Long.toString(aging.toMillis()),
                            "--workers-per-pool",
                            Integer.toString(workersPerPool)));
        } else {
            imageInReport(LocalImages.inspect(image));
            s = ContainerMediator.Spec.of(image, dir, socket)
                    .withEnv(MediatorLaunch.in(dir).withAging(aging).environment());
        }
        return s.withGpus(backend == BackendChoice.CUDA).withLogFile(logFile).withReadyTimeout(Duration.ofSeconds(120));
    }

    private static void imageInReport(BuiltImage i) {
        Reporting.environment(java.util.Map.of(
                "mediator.image", i.ref(),
                "mediator.image.id", i.id(),
                "mediator.image.hash", i.hash(),
                "mediator.image.inputs", i.inputs()));
    }

    /** STATS_REPLY over the socket, parsed (the summary that fits one frame: totals, per VM, last executions). */
    public ObjectNode stats() {
        return JsonObjects.object(statsJson());
    }

    public String statsJson() {
        try (MediatorClient c = MediatorClient.connect(socket, Duration.ofSeconds(5))) {
            return c.stats(Duration.ofSeconds(5));
        } catch (IOException e) {
            throw new MediatorFailure("cannot read the mediator's stats on " + socket, e);
        }
    }

    /** The in-process mediator itself (for its execution log); empty for a child process or when stopped. */
    public synchronized java.util.Optional<Mediator> inProcessMediator() {
        return java.util.Optional.ofNullable(inProcess);
    }

    /**
     * The vm_ids whose device connection is bound by an accepted HELLO right now, from STATS_REPLY's
     * {@code bound_vms} (in-process and child mediators alike); empty when the mediator is not running.
     * MediatorFailure when the reply had to leave some out to fit one frame (very many bound VMs).
     */
    public synchronized java.util.Set<Long> boundVms() {
        java.util.Set<Long> out = new java.util.TreeSet<>();
        if (!isRunning()) {
            return out;
        }
        ObjectNode stats = stats();
        com.fasterxml.jackson.databind.JsonNode list = stats.get("bound_vms");
        if (list == null || !list.isArray()) {
            throw new MediatorFailure("the mediator's STATS_REPLY on " + socket + " has no bound_vms: " + stats);
        }
        for (com.fasterxml.jackson.databind.JsonNode vm : list) {
            out.add(vm.asLong());
        }
        long bound = stats.path("bound").asLong(-1);
        if (out.size() != bound) {
            throw new MediatorFailure("the mediator reports " + bound + " bound VMs but its STATS_REPLY lists only "
                    + out.size() + " (cut to fit one frame)");
        }
        return out;
    }

    /** The log of every incarnation so far. */
    public String log() {
        try {
            return Files.exists(logFile) ? Files.readString(logFile, StandardCharsets.UTF_8) : "";
        } catch (IOException e) {
            return "(cannot read " + logFile + ": " + e + ")";
        }
    }

    /** The per-request log lines ("request vm=... pool=... priority=... request_id=... op=... outcome=..."). */
    public List<String> requestLogLines() {
        return log().lines().filter(l -> l.contains("request vm=")).toList();
    }

    public String logTail(int lines) {
        List<String> all = log().lines().toList();
        return String.join("\n", all.subList(Math.max(0, all.size() - lines), all.size()));
    }

    /** Attaches the log and the current stats to the running test. */
    public void attachTo(String what) {
        Reporting.attachText("mediator log" + what, log());
        if (isRunning()) {
            try {
                Reporting.attachJson("mediator stats" + what, statsJson());
            } catch (MediatorFailure e) {
                Reporting.attachText("mediator stats" + what, e.getMessage());
            }
        }
    }

    /** Keep the socket directory and log after close (a test failed). */
    public void keepFiles() {
        this.keepFiles = true;
    }

    @Override
    public synchronized void close() {
        stop();
        if (ownsDir) {
            OwnedDirs.delete(dir);
        }
        // a kept log's path was printed when the test failed (or is in the start failure's message)
        if (CleanupMode.configured().deletes(keepFiles)) {
            MoreFiles.deleteTree(logDir);
        }
        OwnedDirs.prune(RunDirectoryBase.get(), Setting.RUNS_KEEP.integer());
    }

    /** Where run directories go: {@link Setting#RUNS_DIR}, relative to the working directory. */
    static final class RunDirectoryBase {
        private RunDirectoryBase() {}

        static Path get() {
            return Setting.RUNS_DIR.path().orElseThrow().toAbsolutePath();
        }
    }

    @Override
    public String toString() {
        if (!command.isEmpty()) {
            return "mediator[command: " + command + ", " + socket + "]";
        }
        return (image.isEmpty() ? "mediator-lite[" : "mediator[" + image + ", ")
                + runtime.name().toLowerCase() + ", " + backend + ", " + socket + "]";
    }
}

package dev.vgpuhil.harness.junit;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.vgpuhil.common.MoreFiles;
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
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.logging.Logger;

/**
 * A mediator-lite the harness runs for tests: in this JVM ({@link Mediator}) or as a child process
 * ({@link MediatorProcess}), on a socket path fixed when the handle is made (so VMs can be started pointing at
 * it before it runs). {@link #stop()} / {@link #start()} / {@link #restart()} for the reconnect scenarios; the
 * log file spans every incarnation. Stats are read over the socket (STATS_REQUEST), as any client would.
 */
public final class MediatorHandle implements AutoCloseable {
    /** In-process mediators log to their file only, not to the test JVM's console. */
    private static final Logger QUIET = quietMediatorLoggers();

    private final BackendChoice backend;
    private final boolean childProcess;
    private final Duration aging;
    private final int workersPerPool;
    /** The user's mediator program (the contract's command), or empty for mediator-lite. */
    private final String command;

    private final Path dir;
    private final Path socket;
    private final Path logFile;
    private Mediator inProcess;
    private MediatorProcess child;
    private CommandMediator external;
    private int incarnations;
    private boolean keepFiles;

    public MediatorHandle(BackendChoice backend, boolean childProcess, Duration aging, int workersPerPool) {
        this(backend, childProcess, aging, workersPerPool, "");
    }

    /** @param command the user's mediator program run under the mediator contract; empty: mediator-lite */
    public MediatorHandle(
            BackendChoice backend, boolean childProcess, Duration aging, int workersPerPool, String command) {
        this.backend = backend;
        this.childProcess = childProcess;
        this.aging = aging;
        this.workersPerPool = workersPerPool;
        this.command = command == null ? "" : command.strip();
        try {
            // a short path: Unix socket paths are limited to 107 bytes
            this.dir = Files.createTempDirectory(
                    Path.of("/tmp"),
                    "vgpu-hil-med-",
                    PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
        } catch (IOException e) {
            throw new MediatorFailure("cannot create a directory for the mediator socket", e);
        }
        MediatorLaunch launch = MediatorLaunch.in(dir);
        this.socket = launch.socket();
        this.logFile = launch.logFile();
    }

    public static MediatorHandle from(WithMediator a) {
        return new MediatorHandle(
                BackendChoice.parse(a.backend()),
                a.childProcess(),
                Duration.ofMillis(a.agingMs()),
                a.workersPerPool(),
                a.command());
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
        Reporting.progress("starting mediator-lite (" + (childProcess ? "child process" : "in-process") + ", backend "
                + backend.name().toLowerCase() + ") on " + socket);
        try {
            if (childProcess) {
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
                || (inProcess != null && inProcess.isRunning())
                || (external != null && external.isAlive());
    }

    /** How many times it was started. */
    public synchronized int incarnations() {
        return incarnations;
    }

    /** The pid serving the socket (this JVM for in-process). */
    public synchronized long pid() {
        if (external != null) {
            return external.pid();
        }
        return child != null ? child.pid() : ProcessHandle.current().pid();
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
        if (keepFiles) { // its path was printed when the test failed (or is in the start failure's message)
            return;
        }
        MoreFiles.deleteTree(dir);
    }

    @Override
    public String toString() {
        if (!command.isEmpty()) {
            return "mediator[command: " + command + ", " + socket + "]";
        }
        return "mediator-lite[" + (childProcess ? "child" : "in-process") + ", " + backend + ", " + socket + "]";
    }
}

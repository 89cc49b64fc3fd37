package dev.vgpuhil.qemu.machine;

import dev.vgpuhil.common.BoundProcesses;
import dev.vgpuhil.common.MoreFiles;
import dev.vgpuhil.qemu.QemuBinary;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A QEMU virtual machine for tests, configured by an immutable {@link MachineSpec}, started once, closed once (both
 * idempotent).
 *
 * <pre>{@code
 * try (QemuMachine vm = QemuMachine.builder()
 *         .name("smoke").memoryMb(512).accelerator(Accelerator.AUTO)
 *         .kernel(img.kernel()).initrd(img.initramfs()).append(img.kernelCommandLine(key))
 *         .vgpu(VgpuStubDevice.of(Pool.B, Priority.HIGH, 200))
 *         .userNetworking(true)
 *         .waitingFor(SerialLineWait.forLine("vgpu-hil: ssh ready"))
 *         .start()) {
 *     int port = vm.sshPort();
 *     vm.qmp().queryPci();
 *     vm.waits().forSerialLine("some marker");
 * }
 * }</pre>
 *
 * <p>What {@link #start()} does: probes the binary and the accelerator (see {@link KvmProbe}), sweeps orphans
 * of dead JVMs under the run base directory ({@link #sweepOrphans}), makes a private run directory (see
 * {@link #logFiles()}), starts QEMU paused ({@code -S}, arguments by {@link QemuCommandLine}) through
 * {@link BoundProcesses} (parent-death signal), takes its serial port (QEMU connects to a socket the machine listens
 * on, so no byte is lost), connects QMP, resumes the guest, reads the forwarded ports back, and runs the spec's
 * {@link WaitStrategy} within the boot budget. Any failure is one {@link MachineBootException} with the exit status,
 * serial tail, stderr tail and command line; QEMU is then killed and reaped and the run directory kept (unless
 * {@link CleanupMode#ALWAYS}).
 *
 * <p>{@link #close()} (or {@link #shutdown}) ends QEMU by {@link ShutdownEscalation}; QEMU is always reaped. The run
 * directory is then deleted as {@link MachineSpec#cleanup()} says ({@link #markFailed()} counts as a failure).
 */
public final class QemuMachine implements AutoCloseable {
    private static final int TAIL_LINES = 30;
    private static final Pattern HOSTFWD =
            Pattern.compile("TCP\\[HOST_FORWARD\\]\\s+\\d+\\s+(\\S+)\\s+(\\d+)\\s+(\\S+)\\s+(\\d+)");

    /** Which step of {@link #shutdown} ended QEMU. */
    public enum ShutdownStep {
        /** {@link #start()} was never called (or failed before QEMU ran). */
        NOT_STARTED,
        /** QEMU had already exited (guest power-off, crash, an earlier kill). */
        ALREADY_EXITED,
        /** The guest powered off after the ACPI power button ({@code system_powerdown}). */
        POWERDOWN,
        /** QMP {@code quit}. */
        QUIT,
        /** SIGTERM after quit did not end it in time. */
        SIGTERM,
        /** SIGKILL after SIGTERM did not end it in time. */
        SIGKILL
    }

    /** A QEMU of a dead JVM killed by {@link #sweepOrphans}. */
    public record Orphan(long qemuPid, Path runDir, long ownerPid) {}

    /** Which output stream a wait depends on (for the drain-before-death rule). */
    enum Stream {
        SERIAL,
        QMP,
        NONE
    }

    private final MachineSpec spec;
    private final Object monitor = new Object();
    private final Object lifecycle = new Object();
    private final SerialConsole serialPlaceholder;
    private volatile QemuBinary qemu;
    private volatile AcceleratorChoice acceleratorChoice;
    private volatile Path runDir;
    private volatile Path socketDir;
    private volatile List<String> commandLine = List.of();
    private volatile Process process;
    /** How QEMU was launched: on this host, or in a container to remove once QEMU is done ({@link #reapContainer}). */
    private volatile QemuBinary.Launch launch;

    private volatile SerialConsole serial;
    private volatile QmpClient qmp;
    private volatile HostedDevices hosted = HostedDevices.NONE;
    private volatile ServerSocketChannel serialServer;
    private volatile Map<Integer, Integer> forwardedPorts = Map.of();
    private volatile Long exitedAtNanos;
    private volatile String fatalLine;
    private volatile ShutdownStep shutdownStep;
    private volatile Instant startedAt;
    private volatile boolean started;
    private volatile boolean bootFailed;
    private volatile boolean closed;
    private volatile boolean failed;
    private boolean cleanedUp; // guarded by lifecycle

    /** An unstarted machine of {@code spec}. */
    public QemuMachine(MachineSpec spec) {
        this.spec = Objects.requireNonNull(spec);
        this.serialPlaceholder = new SerialConsole(Path.of("/dev/null"), () -> {});
    }

    /** {@link MachineSpec#builder()}: the usual way to make one. */
    public static MachineSpec.Builder builder() {
        return MachineSpec.builder();
    }

    /** {@link #sweepOrphans(Path)} on the default base directory. */
    public static List<Orphan> sweepOrphans() {
        return sweepOrphans(RunDirectory.defaultBase());
    }

    /**
     * Kills QEMUs left by dead JVMs under {@code baseDir}: for each run directory whose owner JVM (owner.pid) is
     * dead and whose pidfile names a live qemu-system process started with exactly that pidfile. Normally the
     * parent-death signal got there first and this finds nothing. Runs at every {@link #start()}.
     */
    public static List<Orphan> sweepOrphans(Path baseDir) {
        return RunDirectory.sweepOrphans(baseDir).stream()
                .map(s -> new Orphan(s.qemuPid(), s.runDir(), s.ownerPid()))
                .toList();
    }

    // ------------------------------------------------------------------ lifecycle

    /**
     * Starts the machine (see class comment); a second call returns at once.
     *
     * @throws MachineBootException (or {@link AcceleratorUnavailableException}) saying what went wrong
     * @throws IllegalStateException if the machine was closed
     */
    public QemuMachine start() {
        synchronized (lifecycle) {
            if (closed) {
                throw new IllegalStateException("machine " + spec.name() + " is closed"
                        + (bootFailed ? " (its start failed; logs in " + runDir + ")" : ""));
            }
            if (started) {
                return this;
            }
            started = true;
            startedAt = Instant.now();
            try {
                boot();
            } catch (MachineBootException e) {
                bootFailed = true;
                closed = true;
                throw e;
            } catch (RuntimeException e) {
                bootFailed = true;
                closed = true;
                throw bootFailure("unexpected failure during start: " + e, e);
            }
            return this;
        }
    }

    private void boot() {
        qemu = resolveBinary();
        acceleratorChoice = resolveAccelerator(qemu);
        sweepOrphans(spec.runBaseDir());
        try {
            runDir = RunDirectory.create(spec.runBaseDir(), spec.name());
            socketDir = RunDirectory.socketDir(runDir);
        } catch (IOException e) {
            throw new MachineBootException(
                    "cannot create a run directory under " + spec.runBaseDir() + ": " + e, null, e);
        }
        serial = new SerialConsole(runDir.resolve(RunDirectory.SERIAL_LOG), this::signal);
        Path serialSock = socketDir.resolve("serial.sock");
        Path qmpSock = socketDir.resolve("qmp.sock");
        long deadline = System.nanoTime() + spec.startTimeout().toNanos();
        try {
            serialServer = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
            serialServer.bind(UnixDomainSocketAddress.of(serialSock));
            serialServer.configureBlocking(false);
            try {
                hosted = HostedDevices.start(qemu, spec.devices(), mediatorSocket(), runDir, socketDir);
            } catch (IOException | RuntimeException e) {
                throw bootFailure("cannot host the vgpu-stub devices: " + e.getMessage(), e);
            }
            commandLine = List.copyOf(QemuCommandLine.of(
                    spec,
                    qemu,
                    acceleratorChoice.accelerator(),
                    new QemuCommandLine.RunPaths(
                            serialSock, qmpSock, runDir.resolve(RunDirectory.QEMU_PID), mediatorSocket()),
                    hosted.qemuArgs()));
            Files.writeString(runDir.resolve(RunDirectory.CMDLINE), CommandLine.shellQuote(commandLine) + "\n");
            writeInfo();
            QemuBinary.Launch l = qemu.launch(commandLine, runDir);
            launch = l;
            if (l.container() != null) {
                Files.writeString(
                        runDir.resolve(RunDirectory.CMDLINE),
                        CommandLine.shellQuote(commandLine) + "\n# in a container:\n"
                                + CommandLine.shellQuote(l.command()) + "\n");
            }
            Process p = BoundProcesses.start(new ProcessBuilder(l.command())
                    .directory(runDir.toFile())
                    .redirectInput(
                            ProcessBuilder.Redirect.from(Path.of("/dev/null").toFile()))
                    .redirectOutput(runDir.resolve(RunDirectory.STDOUT).toFile())
                    .redirectError(runDir.resolve(RunDirectory.STDERR).toFile()));
            process = p;
            p.onExit().thenRun(() -> {
                exitedAtNanos = System.nanoTime();
                signal();
            });
        } catch (IOException e) {
            throw bootFailure("cannot start QEMU: " + e.getMessage(), e);
        }

        // 1. the serial port: QEMU connects while creating its chardevs, before the machine exists
        try {
            SocketChannel ch;
            while ((ch = serialServer.accept()) == null) {
                checkAliveDuringStart("before connecting its serial port");
                if (System.nanoTime() > deadline) {
                    throw bootFailure("QEMU did not connect its serial port within " + spec.startTimeout(), null);
                }
                Thread.sleep(5);
            }
            ch.configureBlocking(true);
            serial.attach(ch, "serial-" + spec.name() + "-" + process.pid());
            serialServer.close();
            Files.deleteIfExists(serialSock);
        } catch (IOException e) {
            throw bootFailure("serial connection failed: " + e.getMessage(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw bootFailure("interrupted while starting", e);
        }

        // 2. QMP (server=on,wait=off): the socket exists once QEMU has created its monitor
        IOException lastConnectError = null;
        while (qmp == null) {
            checkAliveDuringStart("before its QMP monitor answered");
            long left = deadline - System.nanoTime();
            if (left <= 0) {
                throw bootFailure(
                        "QEMU did not open its QMP socket within " + spec.startTimeout()
                                + (lastConnectError != null
                                        ? " (last error: " + lastConnectError.getMessage() + ")"
                                        : ""),
                        lastConnectError);
            }
            if (!Files.exists(qmpSock)) {
                sleep(10);
                continue;
            }
            try {
                qmp = QmpClient.connect(
                        qmpSock,
                        runDir.resolve(RunDirectory.QMP_LOG),
                        Duration.ofNanos(Math.max(left, Duration.ofSeconds(1).toNanos())),
                        this::signal);
            } catch (IOException e) {
                lastConnectError = e; // not listening yet
                sleep(10);
            } catch (QmpException e) {
                throw bootFailure("QMP handshake failed: " + e.getMessage(), e);
            }
        }

        // 3. resume, read the forwarded ports back
        try {
            if (!spec.startPaused()) {
                qmp.cont();
            }
            if (!spec.forwardedGuestPorts().isEmpty()) {
                forwardedPorts = readForwardedPorts();
            }
        } catch (QmpException e) {
            throw bootFailure(e.getMessage(), e);
        }
        writeInfo();

        // 4. readiness, within the boot budget
        WaitStrategy ready = spec.readiness();
        if (ready != null) {
            try {
                ready.waitUntilReady(this, Deadline.after(spec.bootTimeout()));
            } catch (QemuMachineException e) {
                String why = e.getMessage().lines().findFirst().orElse("");
                throw bootFailure("boot failed before " + ready.description() + ": " + why, e);
            }
        }
    }

    private QemuBinary resolveBinary() {
        boolean needsDevice = !spec.devices().isEmpty();
        try {
            if (spec.binary() != null) {
                if (needsDevice && spec.binary().hostings().isEmpty()) {
                    throw new QemuBinary.QemuBinaryException(spec.binary().path() + " ("
                            + spec.binary().version()
                            + ") lacks the " + QemuBinary.DEVICE + " device that "
                            + spec.devices().size()
                            + " -device " + QemuBinary.DEVICE + " need, and vfio-user-pci; use the QEMU built by"
                            + " vgpu-stub/build-qemu.sh, or a stock QEMU >= 10.1 (vfio-user)");
                }
                return spec.binary();
            }
            if (spec.binaryPath() != null) {
                return needsDevice ? QemuBinary.probe(spec.binaryPath()) : QemuBinary.probeAnyQemu(spec.binaryPath());
            }
            return defaultBinary();
        } catch (QemuBinary.QemuBinaryException e) {
            throw new MachineBootException("QEMU binary refused: " + e.getMessage(), null, e);
        }
    }

    private static volatile QemuBinary defaultBinary;

    /** {@link QemuBinary#locate()}, once per JVM (a failure is not remembered: the next machine tries again). */
    private static QemuBinary defaultBinary() {
        QemuBinary q = defaultBinary;
        if (q == null) {
            synchronized (QemuMachine.class) {
                q = defaultBinary;
                if (q == null) {
                    q = QemuBinary.locate();
                    defaultBinary = q;
                }
            }
        }
        return q;
    }

    private AcceleratorChoice resolveAccelerator(QemuBinary q) {
        Accelerator want = spec.accelerator();
        if (want == Accelerator.TCG) {
            return new AcceleratorChoice(Accelerator.TCG, "requested", Duration.ZERO);
        }
        if (want == Accelerator.AUTO && !KvmProbe.kvmForced()) {
            return KvmProbe.decide(q);
        }
        String origin = want == Accelerator.KVM ? "requested" : "forced by -D" + KvmProbe.FORCE_PROPERTY + "=kvm";
        AcceleratorChoice probed = KvmProbe.decide(q);
        if (probed.accelerator() != Accelerator.KVM) {
            throw new AcceleratorUnavailableException("KVM " + origin + " for machine " + spec.name()
                    + " but it does not work here: " + probed.reason() + " (use Accelerator.TCG or AUTO)");
        }
        return new AcceleratorChoice(Accelerator.KVM, origin + "; " + probed.reason(), probed.probeTime());
    }

    private Map<Integer, Integer> readForwardedPorts() {
        String usernet = qmp.hmp("info usernet");
        Map<Integer, Integer> ports = new LinkedHashMap<>();
        Matcher m = HOSTFWD.matcher(usernet);
        while (m.find()) {
            ports.put(Integer.parseInt(m.group(4)), Integer.parseInt(m.group(2)));
        }
        for (int guestPort : spec.forwardedGuestPorts()) {
            Integer host = ports.get(guestPort);
            if (host == null || host == 0) {
                throw new QmpException(
                        "`info usernet` shows no host port forwarded to guest port " + guestPort + ":\n"
                                + usernet.strip(),
                        null);
            }
        }
        return Collections.unmodifiableMap(ports);
    }

    private void checkAliveDuringStart(String when) {
        Process p = process;
        if (p != null && !p.isAlive()) {
            throw bootFailure("QEMU exited " + when, null);
        }
    }

    /** Builds the boot exception; kills and reaps QEMU, closes the connections, keeps the run directory. */
    private MachineBootException bootFailure(String headline, Throwable cause) {
        Process p = process;
        ExitStatus status = null;
        if (p != null) {
            try {
                // when QEMU is on its way out (it closed a socket), let it finish to report its own exit code
                if (p.waitFor(cause instanceof QmpException || !p.isAlive() ? 2_000 : 0, TimeUnit.MILLISECONDS)) {
                    status = new ExitStatus(p.exitValue());
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        String killed = "";
        if (p != null && p.isAlive()) {
            reapContainer();
            BoundProcesses.kill(p, Duration.ofSeconds(10));
            killed = " (QEMU was still running and was killed)";
        }
        reapContainer();
        hosted.close();
        releaseConnections();
        shutdownStep = ShutdownStep.NOT_STARTED;
        // when QEMU exited by itself that is the news, whichever symptom (EOF, reset, missing socket) we saw first
        String head = status != null
                ? "QEMU exited during start-up with " + status + " (noticed as: " + headline + ")"
                : headline + killed;
        writeInfo();
        return new MachineBootException(head, diagnostics(true, status), cause);
    }

    /**
     * Shuts QEMU down ({@link MachineSpec.Builder#gracefulShutdown} decides whether ACPI power-off is tried first) and
     * returns the step that ended it. Idempotent; the run directory stays until {@link #close()}.
     */
    public ShutdownStep shutdown() {
        return shutdown(spec.shutdown().graceful());
    }

    /**
     * Shuts QEMU down by {@link ShutdownEscalation} ({@code graceful}: ACPI power-off first). QEMU is reaped.
     * Idempotent: a later call returns the first result.
     */
    public ShutdownStep shutdown(boolean graceful) {
        synchronized (lifecycle) {
            if (shutdownStep != null) {
                return shutdownStep;
            }
            Process p = process;
            if (p == null) {
                hosted.close();
                shutdownStep = ShutdownStep.NOT_STARTED;
                return shutdownStep;
            }
            ShutdownStep step = new ShutdownEscalation(spec.shutdown()).run(p, qmp, graceful);
            reapContainer(); // the client was SIGKILLed: its container (QEMU) may still run
            shutdownStep = step;
            hosted.close(); // vfio-user servers, after their QEMU
            releaseConnections();
            writeInfo();
            signal();
            return step;
        }
    }

    /** SIGKILLs QEMU at once (a crash, for tests of what happens around it) and reaps it. */
    public void kill() {
        Process p = process;
        if (p != null) {
            reapContainer(); // SIGKILLs QEMU itself, not only its container's client
            BoundProcesses.kill(p, spec.shutdown().kill());
        }
    }

    /** A QEMU in a container: force-removes the container if it is still there (QEMU with it). */
    private void reapContainer() {
        QemuBinary.Launch l = launch;
        if (l != null) {
            l.reap();
        }
    }

    /**
     * Counts the run as failed (a test using the machine failed): {@link CleanupMode#ON_SUCCESS} then keeps the run
     * directory at {@link #close()}.
     */
    public void markFailed() {
        failed = true;
    }

    /**
     * {@link #shutdown()}, then deletes the run directory as the spec's {@link CleanupMode} says (a failed start
     * or {@link #markFailed} is a failure). Idempotent.
     */
    @Override
    public void close() {
        synchronized (lifecycle) {
            closed = true;
            shutdown();
            if (!cleanedUp) {
                cleanedUp = true;
                if (spec.cleanup().deletes(bootFailed || failed)) {
                    MoreFiles.deleteTree(runDir);
                }
            }
            if (socketDir != null && !socketDir.equals(runDir)) {
                dev.vgpuhil.common.OwnedDirs.delete(socketDir);
            }
        }
        signal();
    }

    private void releaseConnections() {
        QmpClient q = qmp;
        if (q != null) {
            q.awaitDisconnect(Duration.ofSeconds(process != null && !process.isAlive() ? 2 : 0));
            q.close();
        }
        SerialConsole s = serial;
        if (s != null) {
            if (process != null && !process.isAlive()) {
                s.awaitEof(2_000); // QEMU is gone: read what it wrote last
            }
            s.close();
        }
        ServerSocketChannel srv = serialServer;
        if (srv != null) {
            try {
                srv.close();
            } catch (IOException ignored) {
                // closing anyway
            }
        }
    }

    private void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw bootFailure("interrupted while starting", e);
        }
    }

    // ------------------------------------------------------------------ for Waits

    Object monitor() {
        return monitor;
    }

    private void signal() {
        SerialConsole s = serial;
        if (fatalLine == null && spec.fatalSerialPattern() != null && s != null) {
            synchronized (fatalLock) {
                for (SerialConsole.IndexedLine l : s.linesFrom(fatalScan)) {
                    if (spec.fatalSerialPattern().matcher(l.text()).find()) {
                        fatalLine = "line " + l.index() + ": " + l.text();
                        break;
                    }
                    fatalScan = l.index() + 1;
                }
            }
        }
        synchronized (monitor) {
            monitor.notifyAll();
        }
    }

    private final Object fatalLock = new Object();
    private int fatalScan; // guarded by fatalLock

    /** The first serial line that matched the fatal pattern, or null. */
    String fatalSerialLine() {
        return fatalLine;
    }

    /** Why a wait depending on {@code stream} can no longer succeed, or null while it still can. */
    String deathReason(Stream stream) {
        Process p = process;
        if (p == null) {
            return closed ? "the machine is closed" : "the machine is not started";
        }
        if (p.isAlive()) {
            return closed ? "the machine is closed" : null;
        }
        Long exitAt = exitedAtNanos;
        boolean drained = switch (stream) {
            case SERIAL -> serial == null || serial.isClosed();
            case QMP -> qmp == null || !qmp.isConnected();
            case NONE -> true;
        };
        long since = exitAt == null ? 0 : System.nanoTime() - exitAt; // null: onExit has not run yet
        if (!drained && since < TimeUnit.SECONDS.toNanos(2)) {
            return null; // let the reader deliver what QEMU wrote before exiting
        }
        return "QEMU exited (" + new ExitStatus(p.exitValue()) + ")"
                + (shutdownStep != null ? " after shutdown step " + shutdownStep : "");
    }

    QemuMachineException.Diagnostics diagnostics(boolean withCommandLine) {
        return diagnostics(withCommandLine, exitStatus().orElse(null));
    }

    private QemuMachineException.Diagnostics diagnostics(boolean withCommandLine, ExitStatus status) {
        SerialConsole s = serial;
        return new QemuMachineException.Diagnostics(
                spec.name(),
                runDir,
                status,
                s == null ? "" : s.tail(TAIL_LINES),
                stderrTail(TAIL_LINES),
                commandLine,
                withCommandLine);
    }

    private void writeInfo() {
        Path dir = runDir;
        if (dir == null) {
            return;
        }
        Map<String, Object> info = new LinkedHashMap<>();
        info.put("name", spec.name());
        info.put("started", startedAt);
        info.put("owner.pid", ProcessHandle.current().pid());
        info.put("qemu", qemu == null ? "" : qemu.path());
        info.put("qemu.version", qemu == null ? "" : qemu.version());
        info.put(
                "accelerator",
                acceleratorChoice == null ? "" : acceleratorChoice.accelerator().qemuName());
        info.put("accelerator.reason", acceleratorChoice == null ? "" : acceleratorChoice.reason());
        info.put("vgpu.hosting", hosted.hosting().map(h -> h.label()).orElse(""));
        Process p = process;
        info.put("qemu.pid", p == null ? "" : p.pid());
        forwardedPorts.forEach((g, h) -> info.put("forward.guest" + g, "127.0.0.1:" + h));
        exitStatus().ifPresent(s -> info.put("exit", s));
        if (shutdownStep != null) {
            info.put("shutdown.step", shutdownStep);
        }
        StringBuilder b = new StringBuilder();
        info.forEach(
                (k, v) -> b.append(k).append('=').append(v == null ? "" : v).append('\n'));
        try {
            Files.writeString(dir.resolve(RunDirectory.INFO), b.toString(), StandardCharsets.UTF_8);
        } catch (IOException ignored) {
            // diagnostics only
        }
    }

    // ------------------------------------------------------------------ accessors

    public String name() {
        return spec.name();
    }

    /** The configuration. */
    public MachineSpec spec() {
        return spec;
    }

    /** The binary in use (after {@link #start()}). */
    public QemuBinary qemu() {
        requireStarted();
        return qemu;
    }

    /** The accelerator used and why, e.g. {@code tcg (kvm unusable: kvm_pvm paravirtual KVM; probe: ...)}. */
    public AcceleratorChoice accelerator() {
        requireStarted();
        return acceleratorChoice;
    }

    /** The private run directory (exists from {@link #start()} until {@link #close()} unless kept). */
    public Path runDir() {
        requireStarted();
        return runDir;
    }

    /** The log and state files of the run directory that exist now, by file name (for report attachments). */
    public Map<String, Path> logFiles() {
        requireStarted();
        Map<String, Path> m = new LinkedHashMap<>();
        for (String f : List.of(
                RunDirectory.CMDLINE,
                RunDirectory.INFO,
                RunDirectory.SERIAL_LOG,
                RunDirectory.QMP_LOG,
                RunDirectory.STDERR,
                RunDirectory.STDOUT)) {
            Path p = runDir.resolve(f);
            if (Files.exists(p)) {
                m.put(f, p);
            }
        }
        m.putAll(hosted.logFiles());
        return m;
    }

    /** QEMU's full command line. */
    public List<String> commandLine() {
        return commandLine;
    }

    /** QEMU's pid. */
    public long pid() {
        requireStarted();
        return process.pid();
    }

    /**
     * The name of the container QEMU runs in ({@code vgpu.qemu=stock:11.1}); empty for a QEMU on this host. {@link
     * #pid()} is then the container's client ({@code docker run}), which exits with QEMU's status.
     */
    public Optional<String> container() {
        QemuBinary.Launch l = launch;
        return l == null ? Optional.empty() : Optional.ofNullable(l.container());
    }

    /** True while the QEMU process runs. */
    public boolean isRunning() {
        Process p = process;
        return p != null && p.isAlive();
    }

    /** QEMU's exit status once it has exited. */
    public Optional<ExitStatus> exitStatus() {
        Process p = process;
        return p == null || p.isAlive() ? Optional.empty() : Optional.of(new ExitStatus(p.exitValue()));
    }

    /** The step that ended QEMU, once {@link #shutdown} / {@link #close()} ran. */
    public Optional<ShutdownStep> shutdownStep() {
        return Optional.ofNullable(shutdownStep);
    }

    /** The QMP client. */
    public QmpClient qmp() {
        requireStarted();
        return qmp;
    }

    /** The serial console (ttyS0). */
    public SerialConsole serial() {
        SerialConsole s = serial;
        return s != null ? s : serialPlaceholder;
    }

    /** Waits with the machine's default timeout ({@link MachineSpec#waitTimeout}). */
    public Waits waits() {
        return new Waits(this, spec.waitTimeout());
    }

    /** Waits with another timeout. */
    public Waits waits(Duration timeout) {
        return new Waits(this, timeout);
    }

    /** The loopback port forwarded to the guest's SSH port 22 ({@link MachineSpec.Builder#userNetworking}). */
    public int sshPort() {
        return forwardedPort(22);
    }

    /** The loopback port (on 127.0.0.1) forwarded to {@code guestPort}. */
    public int forwardedPort(int guestPort) {
        requireStarted();
        Integer p = forwardedPorts.get(guestPort);
        if (p == null) {
            throw new IllegalStateException("guest port " + guestPort + " is not forwarded (forwarded: "
                    + forwardedPorts.keySet() + "); use MachineSpec.Builder.userNetworking(true) / forwardGuestPort("
                    + guestPort + ")");
        }
        return p;
    }

    /**
     * The mediator socket path that vgpu-stub devices without their own {@link VgpuStubDevice#socket} use:
     * {@link MachineSpec#mediatorSocket} if set, else {@code mediator.sock} in the run directory (nobody listens
     * there unless you start a mediator on it; the devices reconnect every second).
     */
    public Path mediatorSocket() {
        requireStarted();
        return spec.mediatorSocket() != null ? spec.mediatorSocket() : socketDir.resolve("mediator.sock");
    }

    /** The vfio-user servers hosting its devices (empty in-QEMU): a fault test kills one, a report says it died. */
    public List<dev.vgpuhil.qemu.VfioUserServer> vfioUserServers() {
        return hosted.servers();
    }

    /** How the vgpu-stub devices are hosted (after {@link #start()}); empty without devices. */
    public Optional<dev.vgpuhil.qemu.DeviceHosting> deviceHosting() {
        requireStarted();
        return hosted.hosting();
    }

    /** The vgpu-stub devices as configured. */
    public List<VgpuStubDevice> vgpuDevices() {
        return spec.devices();
    }

    /** Everything QEMU wrote to stderr so far. */
    public String stderr() {
        Path dir = runDir;
        if (dir == null) {
            return "";
        }
        try {
            return Files.readString(dir.resolve(RunDirectory.STDERR), StandardCharsets.UTF_8);
        } catch (IOException e) {
            return "";
        }
    }

    /** The last {@code n} lines of QEMU's stderr. */
    public String stderrTail(int n) {
        return BoundProcesses.tail(stderr(), n);
    }

    private void requireStarted() {
        if (!started) {
            throw new IllegalStateException("machine " + spec.name() + " is not started");
        }
    }

    @Override
    public String toString() {
        Process p = process;
        return "QemuMachine[" + spec.name() + (p != null ? ", pid " + p.pid() : "")
                + (acceleratorChoice != null
                        ? ", " + acceleratorChoice.accelerator().qemuName()
                        : "") + (runDir != null ? ", " + runDir : "")
                + "]";
    }
}

package dev.vgpuhil.qemu.machine;

import dev.vgpuhil.qemu.ChildProcesses;
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
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A QEMU virtual machine for tests: built fluently, started once, closed once (both idempotent).
 *
 * <pre>{@code
 * try (QemuMachine vm = QemuMachine.builder()
 *         .name("smoke").memoryMb(512).accelerator(Accelerator.AUTO)
 *         .kernel(img.kernel()).initrd(img.initramfs()).append(img.kernelCommandLine(key))
 *         .vgpu(VgpuStubDevice.of(Pool.B, Priority.HIGH, 200))
 *         .userNetworking(true)
 *         .readyWhen(Pattern.compile("vgpu-hil: ssh ready"))
 *         .start()) {
 *     int port = vm.sshPort();
 *     vm.qmp().queryPci();
 *     vm.waits().forSerialLine("some marker");
 * }
 * }</pre>
 *
 * <p>What {@link #start()} does: probes the binary and the accelerator (see {@link KvmProbe}), sweeps orphans
 * of dead JVMs under the run base directory ({@link #sweepOrphans}), makes a private run directory (see
 * {@link #logFiles()}), starts QEMU paused ({@code -S}) through {@link ChildProcesses} (parent-death signal),
 * takes its serial port (QEMU connects to a socket the machine listens on, so no byte is lost), connects QMP,
 * resumes the guest, reads the forwarded ports back, and — if {@link Builder#readyWhen} was given — waits for
 * that serial line. Any failure is one {@link MachineBootException} with the exit status, serial tail, stderr
 * tail and command line; QEMU is then killed and reaped and the run directory kept.
 *
 * <p>{@link #close()} (or {@link #shutdown}) escalates: [ACPI {@code system_powerdown} when graceful] → QMP
 * {@code quit} → SIGTERM → SIGKILL, each step with a deadline; QEMU is always reaped. The run directory is then
 * deleted unless {@link Builder#keepRunDirectory} (or {@code -Dvgpu.keepRunDirs=true}).
 */
public final class QemuMachine implements AutoCloseable {
    /** The default fatal serial line: a kernel panic. */
    public static final Pattern KERNEL_PANIC = Pattern.compile("Kernel panic - not syncing");
    /** Debian's qboot (qemu-system-data): fast firmware for direct kernel boot. */
    public static final Path QBOOT = Path.of("/usr/share/qemu/qboot.rom");
    public static final Duration DEFAULT_WAIT_TIMEOUT = Duration.ofSeconds(60);
    public static final Duration DEFAULT_START_TIMEOUT = Duration.ofSeconds(30);
    public static final Duration DEFAULT_BOOT_TIMEOUT = Duration.ofSeconds(120);
    private static final int TAIL_LINES = 30;
    private static final Pattern HOSTFWD = Pattern.compile(
            "TCP\\[HOST_FORWARD\\]\\s+\\d+\\s+(\\S+)\\s+(\\d+)\\s+(\\S+)\\s+(\\d+)");

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
    enum Stream { SERIAL, QMP, NONE }

    private final Builder cfg;
    private final Object monitor = new Object();
    private final Object lifecycle = new Object();
    private final SerialConsole serialPlaceholder;
    private volatile QemuBinary qemu;
    private volatile AcceleratorChoice acceleratorChoice;
    private volatile Path runDir;
    private volatile Path socketDir;
    private volatile List<String> commandLine = List.of();
    private volatile Process process;
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

    private QemuMachine(Builder cfg) {
        this.cfg = cfg;
        this.serialPlaceholder = new SerialConsole(Path.of("/dev/null"), () -> { });
    }

    public static Builder builder() {
        return new Builder();
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
                .map(s -> new Orphan(s.qemuPid(), s.runDir(), s.ownerPid())).toList();
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
                throw new IllegalStateException("machine " + cfg.name + " is closed" + (bootFailed
                        ? " (its start failed; logs in " + runDir + ")" : ""));
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
        sweepOrphans(cfg.baseDir);
        try {
            runDir = RunDirectory.create(cfg.baseDir, cfg.name);
            socketDir = RunDirectory.socketDir(runDir);
        } catch (IOException e) {
            throw new MachineBootException("cannot create a run directory under " + cfg.baseDir + ": " + e, null,
                    e);
        }
        serial = new SerialConsole(runDir.resolve(RunDirectory.SERIAL_LOG), this::signal);
        Path serialSock = socketDir.resolve("serial.sock");
        Path qmpSock = socketDir.resolve("qmp.sock");
        long deadline = System.nanoTime() + cfg.startTimeout.toNanos();
        try {
            serialServer = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
            serialServer.bind(UnixDomainSocketAddress.of(serialSock));
            serialServer.configureBlocking(false);
            try {
                hosted = HostedDevices.start(qemu, cfg.vgpus, mediatorSocket(), runDir, socketDir);
            } catch (IOException | RuntimeException e) {
                throw bootFailure("cannot host the vgpu-stub devices: " + e.getMessage(), e);
            }
            commandLine = List.copyOf(buildCommandLine(serialSock, qmpSock));
            Files.writeString(runDir.resolve(RunDirectory.CMDLINE), CommandLine.shellQuote(commandLine) + "\n");
            writeInfo();
            Process p = ChildProcesses.start(new ProcessBuilder(commandLine).directory(runDir.toFile())
                    .redirectInput(ProcessBuilder.Redirect.from(Path.of("/dev/null").toFile()))
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
                    throw bootFailure("QEMU did not connect its serial port within " + cfg.startTimeout, null);
                }
                Thread.sleep(5);
            }
            ch.configureBlocking(true);
            serial.attach(ch, "serial-" + cfg.name + "-" + process.pid());
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
                throw bootFailure("QEMU did not open its QMP socket within " + cfg.startTimeout
                        + (lastConnectError != null ? " (last error: " + lastConnectError.getMessage() + ")" : ""),
                        lastConnectError);
            }
            if (!Files.exists(qmpSock)) {
                sleep(10);
                continue;
            }
            try {
                qmp = QmpClient.connect(qmpSock, runDir.resolve(RunDirectory.QMP_LOG),
                        Duration.ofNanos(Math.max(left, Duration.ofSeconds(1).toNanos())), this::signal);
            } catch (IOException e) {
                lastConnectError = e; // not listening yet
                sleep(10);
            } catch (QmpException e) {
                throw bootFailure("QMP handshake failed: " + e.getMessage(), e);
            }
        }

        // 3. resume, read the forwarded ports back
        try {
            if (!cfg.startPaused) {
                qmp.cont();
            }
            if (!cfg.forwards.isEmpty()) {
                forwardedPorts = readForwardedPorts();
            }
        } catch (QmpException e) {
            throw bootFailure(e.getMessage(), e);
        }
        writeInfo();

        // 4. the boot marker
        if (cfg.readyPattern != null) {
            try {
                waits(cfg.bootTimeout).forSerialLine(cfg.readyPattern);
            } catch (WaitTimeoutException e) {
                throw bootFailure("the guest did not print a line matching /" + cfg.readyPattern.pattern()
                        + "/ within " + cfg.bootTimeout, e);
            } catch (QemuMachineException e) {
                String why = e.getMessage().lines().findFirst().orElse("");
                throw bootFailure("boot failed before /" + cfg.readyPattern.pattern() + "/: " + why, e);
            }
        }
    }

    private QemuBinary resolveBinary() {
        boolean needsDevice = !cfg.vgpus.isEmpty();
        try {
            if (cfg.binary != null) {
                if (needsDevice && cfg.binary.hostings().isEmpty()) {
                    throw new QemuBinary.QemuBinaryException(cfg.binary.path() + " (" + cfg.binary.version()
                            + ") lacks the " + QemuBinary.DEVICE + " device that " + cfg.vgpus.size()
                            + " -device " + QemuBinary.DEVICE + " need, and vfio-user-pci; use the QEMU built by"
                            + " vgpu-stub/build-qemu.sh, or a stock QEMU >= 10.1 (vfio-user)");
                }
                return cfg.binary;
            }
            if (cfg.binaryPath != null) {
                return needsDevice ? QemuBinary.probe(cfg.binaryPath) : QemuBinary.probeAnyQemu(cfg.binaryPath);
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
        Accelerator want = cfg.accelerator;
        if (want == Accelerator.TCG) {
            return new AcceleratorChoice(Accelerator.TCG, "requested", Duration.ZERO);
        }
        if (want == Accelerator.AUTO && !KvmProbe.kvmForced()) {
            return KvmProbe.decide(q);
        }
        String origin = want == Accelerator.KVM ? "requested" : "forced by -D" + KvmProbe.FORCE_PROPERTY + "=kvm";
        AcceleratorChoice probed = KvmProbe.decide(q);
        if (probed.accelerator() != Accelerator.KVM) {
            throw new AcceleratorUnavailableException("KVM " + origin + " for machine " + cfg.name
                    + " but it does not work here: " + probed.reason() + " (use Accelerator.TCG or AUTO)");
        }
        return new AcceleratorChoice(Accelerator.KVM, origin + "; " + probed.reason(), probed.probeTime());
    }

    private List<String> buildCommandLine(Path serialSock, Path qmpSock) {
        List<String> c = new ArrayList<>();
        c.add(qemu.path().toString());
        c.addAll(List.of("-name", cfg.name));
        c.addAll(List.of("-machine", cfg.machineType));
        c.addAll(List.of("-accel", acceleratorChoice.accelerator().qemuName()));
        String cpu = cfg.cpu != null ? cfg.cpu : acceleratorChoice.accelerator() == Accelerator.KVM ? "host" : null;
        if (cpu != null) {
            c.addAll(List.of("-cpu", cpu));
        }
        c.addAll(List.of("-m", Integer.toString(cfg.memoryMb), "-smp", Integer.toString(cfg.cpus)));
        c.addAll(List.of("-nodefaults", "-no-user-config", "-display", "none"));
        c.addAll(qemu.firmwareArgs());
        Path bios = cfg.bios != null ? cfg.bios : cfg.kernel != null && Files.isRegularFile(QBOOT) ? QBOOT : null;
        if (bios != null) {
            c.addAll(List.of("-bios", bios.toString()));
        }
        c.addAll(List.of("-chardev", "socket,id=serial0,path=" + opt(serialSock.toString()),
                "-serial", "chardev:serial0"));
        c.addAll(List.of("-qmp", "unix:" + opt(qmpSock.toString()) + ",server=on,wait=off"));
        c.addAll(List.of("-pidfile", runDir.resolve(RunDirectory.QEMU_PID).toString()));
        c.add("-S");
        if (cfg.noReboot) {
            c.add("-no-reboot");
        }
        if (cfg.kernel != null) {
            c.addAll(List.of("-kernel", cfg.kernel.toString()));
            if (cfg.initrd != null) {
                c.addAll(List.of("-initrd", cfg.initrd.toString()));
            }
            if (cfg.append != null) {
                c.addAll(List.of("-append", cfg.append));
            }
        }
        if (cfg.disk != null) {
            c.addAll(List.of("-drive", "file=" + opt(cfg.disk.toString()) + ",if=virtio,format=" + cfg.diskFormat
                    + (cfg.diskSnapshot ? ",snapshot=on" : "")));
        }
        if (cfg.seed != null) {
            c.addAll(List.of("-drive", "file=" + opt(cfg.seed.toString()) + ",if=virtio,format=raw,readonly=on"));
        }
        if (cfg.userNet) {
            StringBuilder net = new StringBuilder("user,id=net0");
            for (int guestPort : cfg.forwards) {
                net.append(",hostfwd=tcp:127.0.0.1:0-:").append(guestPort);
            }
            c.addAll(List.of("-netdev", net.toString(), "-device", cfg.nicModel + ",netdev=net0"));
        }
        c.addAll(hosted.qemuArgs()); // vgpu-stub or vfio-user-pci devices (HostedDevices)
        c.addAll(cfg.extraArgs);
        return c;
    }

    private static String opt(String value) {
        return value.replace(",", ",,");
    }

    private Map<Integer, Integer> readForwardedPorts() {
        String usernet = qmp.hmp("info usernet");
        Map<Integer, Integer> ports = new LinkedHashMap<>();
        Matcher m = HOSTFWD.matcher(usernet);
        while (m.find()) {
            ports.put(Integer.parseInt(m.group(4)), Integer.parseInt(m.group(2)));
        }
        for (int guestPort : cfg.forwards) {
            Integer host = ports.get(guestPort);
            if (host == null || host == 0) {
                throw new QmpException("`info usernet` shows no host port forwarded to guest port " + guestPort
                        + ":\n" + usernet.strip(), null);
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
            ChildProcesses.kill(p, Duration.ofSeconds(10));
            killed = " (QEMU was still running and was killed)";
        }
        hosted.close();
        releaseConnections();
        shutdownStep = ShutdownStep.NOT_STARTED;
        // when QEMU exited by itself that is the news, whichever symptom (EOF, reset, missing socket) we saw first
        String head = status != null ? "QEMU exited during start-up with " + status + " (noticed as: " + headline + ")"
                : headline + killed;
        writeInfo();
        return new MachineBootException(head, diagnostics(true, status), cause);
    }

    /**
     * Shuts QEMU down ({@link Builder#gracefulShutdown} decides whether ACPI power-off is tried first) and
     * returns the step that ended it. Idempotent; the run directory stays until {@link #close()}.
     */
    public ShutdownStep shutdown() {
        return shutdown(cfg.graceful);
    }

    /**
     * Shuts QEMU down: [{@code system_powerdown}, wait ≤ powerdown timeout] → QMP {@code quit}, wait ≤ quit
     * timeout → SIGTERM, wait ≤ term timeout → SIGKILL, wait ≤ kill timeout. QEMU is reaped. Idempotent: a
     * later call returns the first result.
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
            ShutdownStep step = escalate(p, graceful);
            shutdownStep = step;
            hosted.close(); // vfio-user servers, after their QEMU
            releaseConnections();
            writeInfo();
            signal();
            return step;
        }
    }

    private ShutdownStep escalate(Process p, boolean graceful) {
        if (!p.isAlive()) {
            return ShutdownStep.ALREADY_EXITED;
        }
        QmpClient q = qmp;
        if (graceful && q != null && q.isConnected()) {
            try {
                q.execute("system_powerdown", null, cfg.powerdownTimeout);
            } catch (QmpException ignored) {
                // escalate
            }
            if (waitFor(p, cfg.powerdownTimeout)) {
                return ShutdownStep.POWERDOWN;
            }
        }
        if (q != null && q.isConnected()) {
            long t0 = System.nanoTime();
            try {
                q.quit(cfg.quitTimeout);
            } catch (QmpException ignored) {
                // no reply in time (a stopped or hung QEMU): escalate
            }
            Duration left = cfg.quitTimeout.minusNanos(System.nanoTime() - t0);
            if (waitFor(p, left.isNegative() ? Duration.ZERO : left)) {
                return ShutdownStep.QUIT;
            }
        }
        p.destroy(); // SIGTERM
        if (waitFor(p, cfg.termTimeout)) {
            return ShutdownStep.SIGTERM;
        }
        p.destroyForcibly(); // SIGKILL: also ends a stopped process
        waitFor(p, cfg.killTimeout);
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

    /** SIGKILLs QEMU at once (a crash, for tests of what happens around it) and reaps it. */
    public void kill() {
        Process p = process;
        if (p != null) {
            ChildProcesses.kill(p, cfg.killTimeout);
        }
    }

    /**
     * {@link #shutdown()}, then deletes the run directory unless it is to be kept (or the start failed).
     * Idempotent.
     */
    @Override
    public void close() {
        synchronized (lifecycle) {
            boolean wasClosed = closed;
            closed = true;
            shutdown();
            if (!wasClosed && !bootFailed && !cfg.keepRunDir) {
                RunDirectory.deleteTree(runDir);
            }
            if (socketDir != null && !socketDir.equals(runDir)) {
                RunDirectory.deleteTree(socketDir);
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
        if (fatalLine == null && cfg.fatalPattern != null && s != null) {
            synchronized (fatalLock) {
                for (SerialConsole.IndexedLine l : s.linesFrom(fatalScan)) {
                    if (cfg.fatalPattern.matcher(l.text()).find()) {
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
        return "QEMU exited (" + new ExitStatus(p.exitValue()) + ")" + (shutdownStep != null
                ? " after shutdown step " + shutdownStep : "");
    }

    QemuMachineException.Diagnostics diagnostics(boolean withCommandLine) {
        return diagnostics(withCommandLine, exitStatus().orElse(null));
    }

    private QemuMachineException.Diagnostics diagnostics(boolean withCommandLine, ExitStatus status) {
        SerialConsole s = serial;
        return new QemuMachineException.Diagnostics(cfg.name, runDir, status, s == null ? "" : s.tail(TAIL_LINES),
                stderrTail(TAIL_LINES), commandLine, withCommandLine);
    }

    private void writeInfo() {
        Path dir = runDir;
        if (dir == null) {
            return;
        }
        Map<String, Object> info = new LinkedHashMap<>();
        info.put("name", cfg.name);
        info.put("started", startedAt);
        info.put("owner.pid", ProcessHandle.current().pid());
        info.put("qemu", qemu == null ? "" : qemu.path());
        info.put("qemu.version", qemu == null ? "" : qemu.version());
        info.put("accelerator", acceleratorChoice == null ? "" : acceleratorChoice.accelerator().qemuName());
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
        info.forEach((k, v) -> b.append(k).append('=').append(v == null ? "" : v).append('\n'));
        try {
            Files.writeString(dir.resolve(RunDirectory.INFO), b.toString(), StandardCharsets.UTF_8);
        } catch (IOException ignored) {
            // diagnostics only
        }
    }

    // ------------------------------------------------------------------ accessors

    public String name() {
        return cfg.name;
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
        for (String f : List.of(RunDirectory.CMDLINE, RunDirectory.INFO, RunDirectory.SERIAL_LOG,
                RunDirectory.QMP_LOG, RunDirectory.STDERR, RunDirectory.STDOUT)) {
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

    /** Waits with the machine's default timeout ({@link Builder#waitTimeout}). */
    public Waits waits() {
        return new Waits(this, cfg.waitTimeout);
    }

    /** Waits with another timeout. */
    public Waits waits(Duration timeout) {
        return new Waits(this, timeout);
    }

    /** The loopback port forwarded to the guest's SSH port 22 ({@link Builder#userNetworking}). */
    public int sshPort() {
        return forwardedPort(22);
    }

    /** The loopback port (on 127.0.0.1) forwarded to {@code guestPort}. */
    public int forwardedPort(int guestPort) {
        requireStarted();
        Integer p = forwardedPorts.get(guestPort);
        if (p == null) {
            throw new IllegalStateException("guest port " + guestPort + " is not forwarded (forwarded: "
                    + forwardedPorts.keySet() + "); use Builder.userNetworking(true) / forwardGuestPort("
                    + guestPort + ")");
        }
        return p;
    }

    /**
     * The mediator socket path that vgpu-stub devices without their own {@link VgpuStubDevice#socket} use:
     * {@link Builder#mediatorSocket} if set, else {@code mediator.sock} in the run directory (nobody listens
     * there unless you start a mediator on it; the devices reconnect every second).
     */
    public Path mediatorSocket() {
        requireStarted();
        return cfg.mediatorSocket != null ? cfg.mediatorSocket : socketDir.resolve("mediator.sock");
    }

    /** How the vgpu-stub devices are hosted (after {@link #start()}); empty without devices. */
    public Optional<dev.vgpuhil.qemu.DeviceHosting> deviceHosting() {
        requireStarted();
        return hosted.hosting();
    }

    /** The vgpu-stub devices as configured. */
    public List<VgpuStubDevice> vgpuDevices() {
        return List.copyOf(cfg.vgpus);
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
        return ChildProcesses.tail(stderr(), n);
    }

    private void requireStarted() {
        if (!started) {
            throw new IllegalStateException("machine " + cfg.name + " is not started");
        }
    }

    @Override
    public String toString() {
        Process p = process;
        return "QemuMachine[" + cfg.name + (p != null ? ", pid " + p.pid() : "") + (acceleratorChoice != null
                ? ", " + acceleratorChoice.accelerator().qemuName() : "") + (runDir != null ? ", " + runDir : "")
                + "]";
    }

    // ------------------------------------------------------------------ builder

    /** Configuration of a machine; {@link #build()} makes an unstarted machine, {@link #start()} also starts it. */
    public static final class Builder {
        private QemuBinary binary;
        private Path binaryPath;
        private String name = "vm";
        private String machineType = "q35";
        private int memoryMb = 512;
        private int cpus = 1;
        private String cpu;
        private Accelerator accelerator = Accelerator.AUTO;
        private Path bios;
        private Path kernel;
        private Path initrd;
        private String append;
        private Path disk;
        private String diskFormat;
        private boolean diskSnapshot = true;
        private Path seed;
        private final List<VgpuStubDevice> vgpus = new ArrayList<>();
        private Path mediatorSocket;
        private boolean userNet;
        private final Set<Integer> forwards = new LinkedHashSet<>();
        private String nicModel = "virtio-net-pci";
        private final List<String> extraArgs = new ArrayList<>();
        private Path baseDir = RunDirectory.defaultBase();
        private boolean keepRunDir = Boolean.getBoolean("vgpu.keepRunDirs");
        private Duration waitTimeout = DEFAULT_WAIT_TIMEOUT;
        private Duration startTimeout = DEFAULT_START_TIMEOUT;
        private Duration bootTimeout = DEFAULT_BOOT_TIMEOUT;
        private Pattern readyPattern;
        private Pattern fatalPattern = KERNEL_PANIC;
        private boolean noReboot = true;
        private boolean startPaused;
        private boolean graceful;
        private Duration powerdownTimeout = Duration.ofSeconds(20);
        private Duration quitTimeout = Duration.ofSeconds(5);
        private Duration termTimeout = Duration.ofSeconds(5);
        private Duration killTimeout = Duration.ofSeconds(10);

        private Builder() {}

        /**
         * A probed binary. Default: {@link QemuBinary#locate()} (builds/locates the QEMU with vgpu-stub; once per
         * JVM).
         */
        public Builder binary(QemuBinary q) {
            this.binary = Objects.requireNonNull(q);
            this.binaryPath = null;
            return this;
        }

        /**
         * A binary path, probed at start: it must have vgpu-stub if any {@link #vgpu} device is configured, else
         * any QEMU will do (e.g. Debian's stock one).
         */
        public Builder binary(Path path) {
            this.binaryPath = Objects.requireNonNull(path);
            this.binary = null;
            return this;
        }

        /** Name in logs, {@code -name} and the run directory (default "vm"). */
        public Builder name(String n) {
            this.name = Objects.requireNonNull(n);
            return this;
        }

        /** {@code -machine} (default q35). */
        public Builder machineType(String type) {
            this.machineType = Objects.requireNonNull(type);
            return this;
        }

        /** Guest RAM in MiB (default 512). */
        public Builder memoryMb(int mb) {
            if (mb < 16) {
                throw new IllegalArgumentException("memory too small: " + mb + " MiB");
            }
            this.memoryMb = mb;
            return this;
        }

        /** vCPUs (default 1). */
        public Builder cpus(int n) {
            if (n < 1) {
                throw new IllegalArgumentException("cpus must be at least 1: " + n);
            }
            this.cpus = n;
            return this;
        }

        /** {@code -cpu} model (default: "host" under KVM, QEMU's default under TCG). */
        public Builder cpu(String model) {
            this.cpu = model;
            return this;
        }

        /** AUTO (default), KVM or TCG; see {@link Accelerator}. */
        public Builder accelerator(Accelerator a) {
            this.accelerator = Objects.requireNonNull(a);
            return this;
        }

        /**
         * {@code -bios} (default: {@link QemuMachine#QBOOT} for direct kernel boot if installed, else QEMU's
         * SeaBIOS).
         */
        public Builder bios(Path firmware) {
            this.bios = firmware;
            return this;
        }

        /** Direct kernel boot: {@code -kernel}. */
        public Builder kernel(Path k) {
            this.kernel = k;
            return this;
        }

        /** {@code -initrd} (needs {@link #kernel}). */
        public Builder initrd(Path i) {
            this.initrd = i;
            return this;
        }

        /** Kernel command line {@code -append} (needs {@link #kernel}); e.g. "console=ttyS0 ...". */
        public Builder append(String cmdline) {
            this.append = cmdline;
            return this;
        }

        /**
         * A disk image on virtio-blk (format from the extension: qcow2 unless .raw/.img). With
         * {@link #diskSnapshot} (default true) writes go to a temporary overlay and the image stays untouched.
         */
        public Builder disk(Path image) {
            this.disk = image;
            return this;
        }

        /** Format of {@link #disk} (default: from its extension). */
        public Builder diskFormat(String format) {
            this.diskFormat = format;
            return this;
        }

        /** {@code snapshot=on} for the disk (default true). */
        public Builder diskSnapshot(boolean snapshot) {
            this.diskSnapshot = snapshot;
            return this;
        }

        /** A NoCloud cloud-init seed image (raw, read-only virtio disk). */
        public Builder cloudInitSeed(Path seedImage) {
            this.seed = seedImage;
            return this;
        }

        /** Adds a vgpu-stub device. */
        public Builder vgpu(VgpuStubDevice device) {
            vgpus.add(Objects.requireNonNull(device));
            return this;
        }

        /** Adds several vgpu-stub devices. */
        public Builder vgpu(VgpuStubDevice... devices) {
            for (VgpuStubDevice d : devices) {
                vgpu(d);
            }
            return this;
        }

        /** The mediator socket for devices without their own (default: {@code mediator.sock} in the run dir). */
        public Builder mediatorSocket(Path socket) {
            this.mediatorSocket = socket == null ? null : socket.toAbsolutePath();
            return this;
        }

        /**
         * User-mode networking with a NIC ({@link #nicModel}) and the guest's SSH port 22 forwarded from a free
         * loopback port ({@code hostfwd=tcp:127.0.0.1:0-:22}), read back through {@code info usernet}:
         * {@link QemuMachine#sshPort()}.
         */
        public Builder userNetworking(boolean on) {
            this.userNet = on;
            if (on) {
                forwards.add(22);
            } else {
                forwards.clear();
            }
            return this;
        }

        /** Also forwards a free loopback port to {@code guestPort} (turns user networking on). */
        public Builder forwardGuestPort(int guestPort) {
            if (guestPort < 1 || guestPort > 65535) {
                throw new IllegalArgumentException("bad port " + guestPort);
            }
            this.userNet = true;
            forwards.add(guestPort);
            return this;
        }

        /** NIC model for user networking (default virtio-net-pci). */
        public Builder nicModel(String model) {
            this.nicModel = Objects.requireNonNull(model);
            return this;
        }

        /** Raw QEMU arguments appended last. */
        public Builder extraArgs(String... args) {
            extraArgs.addAll(List.of(args));
            return this;
        }

        /** Base of the run directories (default {@code -Dvgpu.runs.dir} or {@code ./target/vgpu-runs}). */
        public Builder runBaseDir(Path base) {
            this.baseDir = base.toAbsolutePath();
            return this;
        }

        /** Keep the run directory after close (default {@code -Dvgpu.keepRunDirs}; always kept on boot failure). */
        public Builder keepRunDirectory(boolean keep) {
            this.keepRunDir = keep;
            return this;
        }

        /** Default deadline of {@link QemuMachine#waits()} (default 60 s). */
        public Builder waitTimeout(Duration t) {
            this.waitTimeout = Objects.requireNonNull(t);
            return this;
        }

        /** Deadline for QEMU to come up to a negotiated QMP monitor (default 30 s). */
        public Builder startTimeout(Duration t) {
            this.startTimeout = Objects.requireNonNull(t);
            return this;
        }

        /** {@link #start()} also waits for a serial line matching this (a boot marker); failure = boot failure. */
        public Builder readyWhen(Pattern marker) {
            this.readyPattern = marker;
            return this;
        }

        /** {@link #readyWhen(Pattern)} with a regex. */
        public Builder readyWhen(String markerRegex) {
            return readyWhen(Pattern.compile(markerRegex));
        }

        /** Deadline for the {@link #readyWhen} marker (default 120 s). */
        public Builder bootTimeout(Duration t) {
            this.bootTimeout = Objects.requireNonNull(t);
            return this;
        }

        /**
         * A serial line that makes serial waits (and the boot) fail at once (default
         * {@link QemuMachine#KERNEL_PANIC}); null disables it.
         */
        public Builder failOnSerial(Pattern fatal) {
            this.fatalPattern = fatal;
            return this;
        }

        /** {@code -no-reboot} (default true): a guest reboot or triple fault ends QEMU instead of looping. */
        public Builder noReboot(boolean on) {
            this.noReboot = on;
            return this;
        }

        /** Leave the guest paused after start (resume with {@code qmp().cont()}); default false. */
        public Builder startPaused(boolean paused) {
            this.startPaused = paused;
            return this;
        }

        /** Try ACPI power-off ({@code system_powerdown}) before quit when shutting down (default false). */
        public Builder gracefulShutdown(boolean on) {
            this.graceful = on;
            return this;
        }

        /** Deadlines of the shutdown steps (defaults: powerdown 20 s, quit 5 s, SIGTERM 5 s). */
        public Builder shutdownTimeouts(Duration powerdown, Duration quit, Duration term) {
            this.powerdownTimeout = Objects.requireNonNull(powerdown);
            this.quitTimeout = Objects.requireNonNull(quit);
            this.termTimeout = Objects.requireNonNull(term);
            return this;
        }

        /** An unstarted machine. */
        public QemuMachine build() {
            if (kernel == null && (initrd != null || append != null)) {
                throw new IllegalStateException("initrd/append need a kernel");
            }
            if (kernel != null && !Files.isRegularFile(kernel)) {
                throw new IllegalArgumentException("kernel " + kernel + " is not a file");
            }
            if (initrd != null && !Files.isRegularFile(initrd)) {
                throw new IllegalArgumentException("initrd " + initrd + " is not a file");
            }
            if (disk != null && !Files.isRegularFile(disk)) {
                throw new IllegalArgumentException("disk image " + disk + " is not a file");
            }
            if (seed != null && !Files.isRegularFile(seed)) {
                throw new IllegalArgumentException("seed image " + seed + " is not a file");
            }
            if (disk != null && diskFormat == null) {
                String f = disk.getFileName().toString();
                diskFormat = f.endsWith(".raw") || f.endsWith(".img") ? "raw" : "qcow2";
            }
            Builder copy = copy();
            return new QemuMachine(copy);
        }

        /** {@link #build()} and {@link QemuMachine#start()}. */
        public QemuMachine start() {
            return build().start();
        }

        private Builder copy() {
            Builder b = new Builder();
            b.binary = binary;
            b.binaryPath = binaryPath;
            b.name = name;
            b.machineType = machineType;
            b.memoryMb = memoryMb;
            b.cpus = cpus;
            b.cpu = cpu;
            b.accelerator = accelerator;
            b.bios = bios;
            b.kernel = kernel == null ? null : kernel.toAbsolutePath();
            b.initrd = initrd == null ? null : initrd.toAbsolutePath();
            b.append = append;
            b.disk = disk == null ? null : disk.toAbsolutePath();
            b.diskFormat = diskFormat;
            b.diskSnapshot = diskSnapshot;
            b.seed = seed == null ? null : seed.toAbsolutePath();
            b.vgpus.addAll(vgpus);
            b.mediatorSocket = mediatorSocket;
            b.userNet = userNet;
            b.forwards.addAll(forwards);
            b.nicModel = nicModel;
            b.extraArgs.addAll(extraArgs);
            b.baseDir = baseDir;
            b.keepRunDir = keepRunDir;
            b.waitTimeout = waitTimeout;
            b.startTimeout = startTimeout;
            b.bootTimeout = bootTimeout;
            b.readyPattern = readyPattern;
            b.fatalPattern = fatalPattern;
            b.noReboot = noReboot;
            b.startPaused = startPaused;
            b.graceful = graceful;
            b.powerdownTimeout = powerdownTimeout;
            b.quitTimeout = quitTimeout;
            b.termTimeout = termTimeout;
            b.killTimeout = killTimeout;
            return b;
        }
    }
}

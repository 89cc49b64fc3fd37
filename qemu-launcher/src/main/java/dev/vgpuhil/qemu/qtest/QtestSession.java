package dev.vgpuhil.qemu.qtest;

import dev.vgpuhil.common.BoundProcesses;
import dev.vgpuhil.common.MoreFiles;
import dev.vgpuhil.common.OwnedDirs;
import dev.vgpuhil.qemu.QemuBinary;
import dev.vgpuhil.qemu.machine.CleanupMode;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * A QEMU started with {@code -accel qtest}, driven over QEMU's qtest line protocol (softmmu/qtest.c): memory and
 * port I/O, the virtual clock and interrupt interception, with no guest code running.
 *
 * <p>Each session has a private run directory (sockets, pidfile, QEMU's stdout/stderr). Every command has a
 * deadline; if QEMU dies the exception carries its exit code and stderr tail. Asynchronous {@code IRQ raise/lower}
 * lines are queued apart from command replies. QEMU does not exit when the qtest socket closes, so the child is
 * bound to the JVM by {@link BoundProcesses} (parent-death signal + shutdown hook). {@link #close()} kills and
 * reaps QEMU and removes the run directory; it is idempotent.
 */
public final class QtestSession implements AutoCloseable {
    public static final Duration DEFAULT_COMMAND_TIMEOUT = Duration.ofSeconds(10);
    public static final Duration DEFAULT_START_TIMEOUT = Duration.ofSeconds(30);
    private static final String EOF = new String("<eof>"); // identity-compared sentinel
    private static final int STDERR_TAIL_LINES = 30;
    private static final String RUN_DIR_PREFIX = OwnedDirs.TEMP_PREFIX + "qtest-";
    private static final String QEMU_PID_FILE = "qemu.pid";

    private final QemuBinary qemu;
    private final Path runDir;
    private final Process process;
    private final SocketChannel channel;
    private final Duration commandTimeout;
    private final List<String> commandLine;
    private final Path qmpSocket;
    private final CleanupMode cleanup;
    private final BlockingQueue<String> replies = new LinkedBlockingQueue<>();
    private final BlockingQueue<IrqEvent> irqEvents = new LinkedBlockingQueue<>();
    private final Map<Integer, Boolean> irqLevels = new ConcurrentHashMap<>();
    private final Thread reader;
    private final List<Companion> companions;
    private volatile String brokenBecause;
    private volatile boolean closed;

    private QtestSession(Builder b, Path runDir, Process process, SocketChannel channel, List<String> commandLine) {
        this.qemu = b.qemu;
        this.runDir = runDir;
        this.process = process;
        this.channel = channel;
        this.commandTimeout = b.commandTimeout;
        this.commandLine = List.copyOf(commandLine);
        this.qmpSocket = b.qmp ? runDir.resolve("qmp.sock") : null;
        this.cleanup = b.cleanup;
        this.companions = List.copyOf(b.companions);
        this.reader = new Thread(this::readLoop, "qtest-reader-" + process.pid());
        this.reader.setDaemon(true);
        this.reader.start();
    }

    public static Builder builder(QemuBinary qemu) {
        return new Builder(qemu);
    }

    /**
     * A process QEMU needs beside it, e.g. the vgpu-stub's vfio-user server ({@link VfioUserCompanion}): started
     * in the session's run directory before QEMU, its QEMU arguments appended to the command line; closed after
     * QEMU is reaped (also when the start fails).
     */
    public interface Companion extends AutoCloseable {
        /** Starts it; returns the arguments QEMU needs for it (e.g. {@code -device ...}). */
        List<String> start(Path runDir) throws IOException;

        /** Stops it, after QEMU has exited; must be safe to call twice. */
        @Override
        void close();
    }

    /** Options for a session; {@link #start()} launches QEMU and waits for its qtest connection. */
    public static final class Builder {
        private final QemuBinary qemu;
        private String machine = "q35";
        private final List<String> extraArgs = new ArrayList<>();
        private final List<Companion> companions = new ArrayList<>();
        private boolean qmp;
        private CleanupMode cleanup = CleanupMode.configured();
        private Duration commandTimeout = DEFAULT_COMMAND_TIMEOUT;
        private Duration startTimeout = DEFAULT_START_TIMEOUT;

        private Builder(QemuBinary qemu) {
            this.qemu = qemu;
        }

        /** {@code -machine} value (default q35). */
        public Builder machine(String machineSpec) {
            this.machine = machineSpec;
            return this;
        }

        /** Adds {@code -device spec}, e.g. {@code "vgpu-stub,pool_id=B"}. */
        public Builder device(String spec) {
            return args("-device", spec);
        }

        /** Adds {@code -chardev spec}. */
        public Builder chardev(String spec) {
            return args("-chardev", spec);
        }

        /** Appends raw QEMU arguments. */
        public Builder args(String... args) {
            extraArgs.addAll(List.of(args));
            return this;
        }

        /** Adds a {@link Companion}, started (in order) before QEMU, its arguments after the others. */
        public Builder companion(Companion c) {
            companions.add(java.util.Objects.requireNonNull(c));
            return this;
        }

        /** Also opens a QMP server socket ({@link QtestSession#qmpSocket()}). */
        public Builder withQmp() {
            this.qmp = true;
            return this;
        }

        /** What becomes of the run directory (default {@link CleanupMode#configured()}; a failed start is a failure). */
        public Builder cleanup(CleanupMode mode) {
            this.cleanup = java.util.Objects.requireNonNull(mode);
            return this;
        }

        public Builder commandTimeout(Duration timeout) {
            this.commandTimeout = timeout;
            return this;
        }

        public Builder startTimeout(Duration timeout) {
            this.startTimeout = timeout;
            return this;
        }

        /**
         * Starts QEMU. If it exits before connecting (e.g. a bad {@code -device} property) the QtestException
         * carries its exit code and stderr.
         */
        public QtestSession start() {
            sweepStaleRunDirs();
            Path runDir;
            try {
                // marked with this JVM: deleted at close, or by the next JVM's sweep once this one is dead
                runDir = OwnedDirs.temp("qtest");
            } catch (java.io.UncheckedIOException e) {
                throw new QtestException("cannot create a run directory: " + e.getMessage(), null, null, e);
            }
            Path qtestSock = runDir.resolve("qtest.sock");
            List<String> cmd = new ArrayList<>();
            cmd.add(qemu.path().toString());
            cmd.addAll(qemu.firmwareArgs());
            cmd.addAll(List.of("-machine", machine));
            // Without the qtest accelerator (Debian's stock QEMU lacks it) fall back to a TCG machine that never
            // runs (-S): memory/port/IRQ commands work, the virtual clock commands do not.
            cmd.addAll(qemu.hasQtestAccelerator() ? List.of("-accel", "qtest") : List.of("-accel", "tcg", "-S"));
            cmd.addAll(List.of(
                    "-qtest",
                    "unix:" + qtestSock,
                    "-display",
                    "none",
                    "-nodefaults",
                    "-no-user-config",
                    "-serial",
                    "none",
                    "-monitor",
                    "none",
                    "-pidfile",
                    runDir.resolve(QEMU_PID_FILE).toString(),
                    // without -qtest-log QEMU logs every command to stderr, burying its own messages
                    "-qtest-log",
                    runDir.resolve("qtest.log").toString()));
            if (qmp) {
                cmd.addAll(List.of("-qmp", "unix:" + runDir.resolve("qmp.sock") + ",server=on,wait=off"));
            }
            cmd.addAll(extraArgs);
            Process process = null;
            int companionsStarted = 0;
            try (ServerSocketChannel server = ServerSocketChannel.open(StandardProtocolFamily.UNIX)) {
                server.bind(UnixDomainSocketAddress.of(qtestSock));
                server.configureBlocking(false);
                for (Companion c : companions) {
                    companionsStarted++;
                    cmd.addAll(c.start(runDir));
                }
                Files.writeString(runDir.resolve("command-line.txt"), String.join(" ", cmd) + "\n");
                process = BoundProcesses.start(new ProcessBuilder(cmd)
                        .directory(runDir.toFile())
                        .redirectInput(ProcessBuilder.Redirect.from(
                                Path.of("/dev/null").toFile()))
                        .redirectOutput(runDir.resolve("qemu.stdout").toFile())
                        .redirectError(runDir.resolve("qemu.stderr").toFile()));
                long deadline = System.nanoTime() + startTimeout.toNanos();
                SocketChannel ch;
                while ((ch = server.accept()) == null) {
                    if (!process.isAlive()) {
                        throw new QtestException(
                                "QEMU exited before connecting to qtest (" + String.join(" ", cmd) + ")",
                                process.exitValue(),
                                stderrTail(runDir),
                                null);
                    }
                    if (System.nanoTime() > deadline) {
                        throw new QtestException(
                                "QEMU did not connect to qtest within " + startTimeout, null, stderrTail(runDir), null);
                    }
                    Thread.sleep(5);
                }
                ch.configureBlocking(true);
                Files.deleteIfExists(qtestSock);
                QtestSession session = new QtestSession(this, runDir, process, ch, cmd);
                // QEMU connects to qtest before it creates devices and answers commands only from its main
                // loop: the first reply proves the machine (with its -device list) is up.
                try {
                    String endianness = session.command("endianness");
                    if (!endianness.equals("little")) {
                        throw new QtestException("unexpected target endianness: " + endianness);
                    }
                } catch (QtestException e) {
                    session.close();
                    throw new QtestException(
                            "QEMU failed to start (" + String.join(" ", cmd) + ")", e.exitCode(), e.stderrTail(), e);
                }
                return session;
            } catch (IOException | InterruptedException | RuntimeException e) {
                if (process != null) {
                    BoundProcesses.kill(process, Duration.ofSeconds(10));
                }
                companions.subList(0, companionsStarted).forEach(Companion::close);
                if (cleanup.deletes(true)) {
                    OwnedDirs.delete(runDir);
                }
                if (e instanceof InterruptedException) {
                    Thread.currentThread().interrupt();
                }
                if (e instanceof QtestException q) {
                    throw q;
                }
                throw new QtestException("cannot start QEMU: " + e, null, null, e);
            }
        }
    }

    // ---- lifecycle and diagnostics

    public QemuBinary qemu() {
        return qemu;
    }

    public Path runDir() {
        return runDir;
    }

    public long pid() {
        return process.pid();
    }

    public List<String> commandLine() {
        return commandLine;
    }

    /** The QMP server socket (only with {@link Builder#withQmp()}). */
    public Path qmpSocket() {
        if (qmpSocket == null) {
            throw new IllegalStateException("session was started without withQmp()");
        }
        return qmpSocket;
    }

    public boolean isAlive() {
        return process.isAlive();
    }

    /** QEMU's exit code once it has exited. */
    public Optional<Integer> exitCode() {
        return process.isAlive() ? Optional.empty() : Optional.of(process.exitValue());
    }

    /** Everything QEMU has written to stderr so far. */
    public String stderr() {
        try {
            return Files.readString(runDir.resolve("qemu.stderr"), StandardCharsets.UTF_8);
        } catch (IOException e) {
            return "";
        }
    }

    /** The last lines QEMU wrote to stderr. */
    public String stderrTail() {
        return stderrTail(runDir);
    }

    /**
     * Waits up to {@code timeout} for QEMU to exit by itself (e.g. after a QMP quit); true if it did. The session
     * stays open until {@link #close()}.
     */
    public boolean awaitExit(Duration timeout) throws InterruptedException {
        return process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS);
    }

    /** Kills QEMU, reaps it and removes the run directory. Safe to call twice. */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        try {
            channel.close();
        } catch (IOException ignored) {
            // the process is killed next; nothing more to do with its socket
        }
        BoundProcesses.kill(process, Duration.ofSeconds(10));
        companions.forEach(Companion::close);
        try {
            reader.join(5_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        if (cleanup.deletes(false)) {
            OwnedDirs.delete(runDir);
        }
    }

    // ---- raw protocol

    /**
     * Sends one qtest command line and returns what follows "OK" in the reply (may be empty). FAIL/ERR replies,
     * a missed deadline and QEMU's death throw QtestException.
     */
    public synchronized String command(String line) {
        String reply = reply(line);
        if (reply.equals("OK")) {
            return "";
        }
        if (reply.startsWith("OK ")) {
            return reply.substring(3);
        }
        throw new QtestException("qtest refused \"" + line + "\": " + reply, null, stderrTail(), null);
    }

    /** Sends one qtest command line and returns QEMU's whole reply line (OK or FAIL); no reply or death throw. */
    private synchronized String reply(String line) {
        if (closed) {
            throw new QtestException("session is closed; cannot send: " + line);
        }
        if (brokenBecause != null) {
            throw new QtestException("session unusable (" + brokenBecause + "); cannot send: " + line);
        }
        if (line.indexOf('\n') >= 0) {
            throw new IllegalArgumentException("a qtest command is one line: " + line);
        }
        try {
            ByteBuffer out = ByteBuffer.wrap((line + "\n").getBytes(StandardCharsets.US_ASCII));
            while (out.hasRemaining()) {
                channel.write(out);
            }
        } catch (IOException e) {
            throw died("writing \"" + line + "\" failed: " + e.getMessage(), e);
        }
        String reply;
        try {
            reply = replies.poll(commandTimeout.toMillis(), TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            brokenBecause = "interrupted while waiting for the reply to \"" + line + "\"";
            throw new QtestException(brokenBecause);
        }
        if (reply == EOF) {
            throw died("QEMU closed the qtest connection during \"" + line + "\"", null);
        }
        if (reply == null) {
            if (!process.isAlive()) {
                throw died("QEMU died during \"" + line + "\"", null);
            }
            // the reply may still come and would be taken for the next command's: stop using the stream
            brokenBecause = "no reply to \"" + line + "\" within " + commandTimeout;
            throw new QtestException(brokenBecause, null, stderrTail(), null);
        }
        return reply;
    }

    private QtestException died(String what, Throwable cause) {
        brokenBecause = what;
        Integer code = null;
        try {
            if (process.waitFor(5, TimeUnit.SECONDS)) {
                code = process.exitValue();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        return new QtestException(what, code, stderrTail(), cause);
    }

    private void readLoop() {
        try (BufferedReader in = new BufferedReader(
                new InputStreamReader(Channels.newInputStream(channel), StandardCharsets.US_ASCII))) {
            String line;
            while ((line = in.readLine()) != null) {
                if (line.startsWith("IRQ ")) {
                    IrqEvent ev = IrqEvent.parse(line);
                    irqLevels.put(ev.line(), ev.raised());
                    irqEvents.add(ev);
                } else {
                    replies.add(line);
                }
            }
        } catch (IOException | RuntimeException e) {
            // closed by close(), or QEMU went away: either way the EOF marker below tells a waiting command
        }
        replies.add(EOF);
    }

    // ---- memory

    public int readb(long addr) {
        return (int) parseValue(command("readb " + hex(addr)));
    }

    public int readw(long addr) {
        return (int) parseValue(command("readw " + hex(addr)));
    }

    public int readl(long addr) {
        return (int) parseValue(command("readl " + hex(addr)));
    }

    public long readq(long addr) {
        return parseValue(command("readq " + hex(addr)));
    }

    public void writeb(long addr, int value) {
        command("writeb " + hex(addr) + " " + hex(value & 0xFFL));
    }

    public void writew(long addr, int value) {
        command("writew " + hex(addr) + " " + hex(value & 0xFFFFL));
    }

    public void writel(long addr, int value) {
        command("writel " + hex(addr) + " " + hex(Integer.toUnsignedLong(value)));
    }

    public void writeq(long addr, long value) {
        command("writeq " + hex(addr) + " " + hex(value));
    }

    /** Reads {@code len} bytes of guest-physical memory ("read", hex-encoded). */
    public byte[] memread(long addr, int len) {
        if (len == 0) {
            return new byte[0]; // qtest asserts on len 0
        }
        String r = command("read " + hex(addr) + " " + len);
        if (!r.startsWith("0x") || r.length() != 2 + 2 * len) {
            throw new QtestException("malformed read reply for " + len + " bytes: " + r);
        }
        return HexFormat.of().parseHex(r.substring(2));
    }

    /** Writes bytes to guest-physical memory ("write", hex-encoded). */
    public void memwrite(long addr, byte[] data) {
        if (data.length == 0) {
            return;
        }
        command("write " + hex(addr) + " " + data.length + " 0x"
                + HexFormat.of().formatHex(data));
    }

    /** Like {@link #memread} but base64 on the wire (half the bytes for big reads). */
    public byte[] b64read(long addr, int len) {
        if (len == 0) {
            return new byte[0];
        }
        return Base64.getDecoder().decode(command("b64read " + hex(addr) + " " + len));
    }

    public void b64write(long addr, byte[] data) {
        if (data.length == 0) {
            return;
        }
        command("b64write " + hex(addr) + " " + data.length + " "
                + Base64.getEncoder().encodeToString(data));
    }

    /** Fills {@code len} bytes with {@code value}. */
    public void memset(long addr, int len, int value) {
        if (len == 0) {
            return;
        }
        command("memset " + hex(addr) + " " + len + " " + hex(value & 0xFFL));
    }

    // ---- port I/O

    public int inb(int port) {
        return (int) parseValue(command("inb " + hex(port & 0xFFFFL)));
    }

    public int inw(int port) {
        return (int) parseValue(command("inw " + hex(port & 0xFFFFL)));
    }

    public int inl(int port) {
        return (int) parseValue(command("inl " + hex(port & 0xFFFFL)));
    }

    public void outb(int port, int value) {
        command("outb " + hex(port & 0xFFFFL) + " " + hex(value & 0xFFL));
    }

    public void outw(int port, int value) {
        command("outw " + hex(port & 0xFFFFL) + " " + hex(value & 0xFFFFL));
    }

    public void outl(int port, int value) {
        command("outl " + hex(port & 0xFFFFL) + " " + hex(Integer.toUnsignedLong(value)));
    }

    // ---- virtual clock

    private void requireQtestAccel(String what) {
        if (!qemu.hasQtestAccelerator()) {
            throw new QtestException(what + " needs -accel qtest, which " + qemu.path() + " lacks (accelerators: "
                    + qemu.accelerators() + ")");
        }
    }

    /** Advances QEMU_CLOCK_VIRTUAL to the next timer deadline; returns the new clock in ns. */
    public long clockStep() {
        requireQtestAccel("clock_step");
        return Long.parseLong(command("clock_step"));
    }

    /** Advances QEMU_CLOCK_VIRTUAL by {@code ns} (running the timers that fall due); returns the new clock. */
    public long clockStep(long ns) {
        requireQtestAccel("clock_step");
        return Long.parseLong(command("clock_step " + ns));
    }

    /** Advances QEMU_CLOCK_VIRTUAL to {@code ns} (never backwards); returns the new clock. */
    public long clockSet(long ns) {
        requireQtestAccel("clock_set");
        return Long.parseLong(command("clock_set " + ns));
    }

    /**
     * The current virtual clock in ns, without moving it. QEMU up to 9.x answers {@code clock_step 0} with the
     * clock; from 10.0 a step that does not advance is refused, and {@code clock_set 0} (never backwards) answers
     * {@code FAIL <now>} instead.
     */
    public long clockNow() {
        requireQtestAccel("clock_step");
        String step = reply("clock_step 0");
        if (step.startsWith("OK ")) {
            return Long.parseLong(step.substring(3).strip());
        }
        String set = reply("clock_set 0");
        java.util.regex.Matcher m =
                java.util.regex.Pattern.compile("(?:OK|FAIL) (\\d+)").matcher(set);
        if (!m.matches()) {
            throw new QtestException(
                    "cannot read the virtual clock: \"clock_step 0\" answered \"" + step
                            + "\", \"clock_set 0\" answered \"" + set + "\"",
                    null,
                    stderrTail(),
                    null);
        }
        return Long.parseLong(m.group(1));
    }

    // ---- interrupts

    /** Intercepts the input GPIO lines of the device at a QOM path (e.g. "ioapic"); one device per session. */
    public void irqInterceptIn(String qomPath) {
        command("irq_intercept_in " + qomPath);
    }

    /** Intercepts the output GPIO lines of the device at a QOM path. */
    public void irqInterceptOut(String qomPath) {
        command("irq_intercept_out " + qomPath);
    }

    /** Level of an intercepted line as last reported by QEMU (false if never reported). */
    public boolean irqLevel(int line) {
        return irqLevels.getOrDefault(line, false);
    }

    /** Lines currently raised. */
    public List<Integer> raisedIrqLines() {
        return irqLevels.entrySet().stream()
                .filter(Map.Entry::getValue)
                .map(Map.Entry::getKey)
                .sorted()
                .toList();
    }

    /** Takes every IRQ event received so far, oldest first. */
    public List<IrqEvent> drainIrqEvents() {
        List<IrqEvent> out = new ArrayList<>();
        irqEvents.drainTo(out);
        return out;
    }

    // ---- helpers

    private static String hex(long v) {
        return "0x" + Long.toHexString(v);
    }

    private static long parseValue(String reply) {
        if (!reply.startsWith("0x")) {
            throw new QtestException("expected a hex value, got: " + reply);
        }
        return Long.parseUnsignedLong(reply.substring(2), 16);
    }

    private static String stderrTail(Path runDir) {
        try {
            return BoundProcesses.tail(
                    Files.readString(runDir.resolve("qemu.stderr"), StandardCharsets.UTF_8), STDERR_TAIL_LINES);
        } catch (IOException e) {
            return "";
        }
    }

    /**
     * Removes run directories left by JVMs that died without closing their sessions (their QEMU was already
     * killed by the parent-death signal; if one still runs with that run directory on its command line, it is
     * killed here).
     */
    static void sweepStaleRunDirs() {
        Path tmp = Path.of("/tmp"); // where OwnedDirs.temp puts them
        try (Stream<Path> dirs = Files.list(tmp)) {
            dirs.filter(d -> d.getFileName().toString().startsWith(RUN_DIR_PREFIX) && Files.isDirectory(d))
                    .forEach(QtestSession::sweepIfStale);
        } catch (IOException | RuntimeException ignored) {
            // best effort: another JVM may be sweeping at the same time
        }
    }

    private static void sweepIfStale(Path dir) {
        try {
            java.util.Optional<long[]> owner = OwnedDirs.readOwner(dir);
            if (owner.isEmpty()) {
                return; // being created right now, or not ours
            }
            if (OwnedDirs.ownerAlive(owner.get()[0], owner.get()[1])) {
                return;
            }
            Path pidFile = dir.resolve(QEMU_PID_FILE);
            if (Files.exists(pidFile)) {
                long qemuPid = Long.parseLong(Files.readString(pidFile).trim());
                ProcessHandle.of(qemuPid)
                        .filter(h -> h.info()
                                .arguments()
                                .map(a -> String.join(" ", a).contains(dir.toString()))
                                .orElse(false))
                        .ifPresent(ProcessHandle::destroyForcibly);
            }
            MoreFiles.deleteTree(dir);
        } catch (IOException | RuntimeException ignored) {
            // unreadable or vanished: leave it
        }
    }

    @Override
    public String toString() {
        return "QtestSession[pid " + process.pid() + ", " + runDir + "]";
    }
}

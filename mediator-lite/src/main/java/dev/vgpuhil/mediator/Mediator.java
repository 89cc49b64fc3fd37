package dev.vgpuhil.mediator;

import static dev.vgpuhil.protocol.VgpuProtocol.*;

import dev.vgpuhil.mediator.backend.Backend;
import dev.vgpuhil.mediator.backend.BackendException;
import dev.vgpuhil.mediator.backend.Backends;
import dev.vgpuhil.protocol.Frame;
import dev.vgpuhil.protocol.VgpuProtocol.ErrorCode;
import java.io.IOException;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.LongSupplier;
import java.util.logging.FileHandler;
import java.util.logging.Level;
import java.util.logging.Logger;
import jdk.net.ExtendedSocketOptions;

/**
 * The mediator daemon, in-process: a Unix-socket server (one reader + one writer thread per connection),
 * one {@link Scheduler} for every connection, workers per pool, and a compute backend.
 *
 * <pre>{@code
 * try (Mediator m = Mediator.builder().socketPath(dir.resolve("m.sock")).backend(BackendChoice.CPU).build()) {
 *     m.start();
 *     ...
 * }
 * }</pre>
 * {@link #start()} and {@link #close()} may each be called more than once. Closing answers every queued
 * request with SHUTDOWN at once, gives running ones the shutdown grace to finish (their real answer) and
 * answers those still running after it with SHUTDOWN, removes the socket file (only if it is still this
 * mediator's) and logs the counters. A watchdog thread enforces the frame and unbound-idle timeouts.
 */
public final class Mediator implements AutoCloseable {
    private static final AtomicLong INSTANCES = new AtomicLong();
    private static final Duration CONNECTION_STOP_DEADLINE = Duration.ofSeconds(5);

    private final Path socketPath;
    private final BackendChoice backendChoice;
    private final AllowedUids allowedUids;
    private final Set<java.nio.file.attribute.PosixFilePermission> socketMode;
    private final int queueCap;
    private final Duration aging;
    private final TenantPolicy tenants;
    private final int workersPerPool;
    private final Path logFile;
    private final LongSupplier nanoClock;
    private final int maxConnections;
    private final boolean requestLog;
    private final Duration frameTimeout;
    private final Duration unboundIdleTimeout;
    private final Duration shutdownGrace;
    private final Backend backendOverride;
    private final Logger log;

    private final Object lifecycle = new Object();
    private boolean started;
    private boolean closed;
    private Backend backend;
    private Scheduler scheduler;
    private Stats stats;
    private ServerSocketChannel server;
    private Thread acceptor;
    private Thread watchdog;
    private Object socketKey;
    /** Requests a worker is running now; at shutdown those still running after the grace get SHUTDOWN. */
    private final Set<InFlight> running = ConcurrentHashMap.newKeySet();
    private final List<Thread> workers = new ArrayList<>();
    private final Set<Connection> connections = ConcurrentHashMap.newKeySet();
    private final AtomicLong connectionIds = new AtomicLong();
    private FileHandler fileHandler;

    private Mediator(Builder b) {
        this.socketPath = b.socketPath.toAbsolutePath();
        this.backendChoice = b.backend;
        this.allowedUids = b.allowedUids == null ? AllowedUids.of(SocketSecurity.defaultAllowedUids()) : b.allowedUids;
        this.socketMode = b.socketMode;
        this.queueCap = b.queueCap;
        this.aging = b.aging;
        this.tenants = b.tenants;
        this.workersPerPool = b.workersPerPool;
        this.logFile = b.logFile;
        this.nanoClock = b.nanoClock;
        this.maxConnections = b.maxConnections;
        this.requestLog = b.requestLog;
        this.frameTimeout = b.frameTimeout;
        this.unboundIdleTimeout = b.unboundIdleTimeout;
        this.shutdownGrace = b.shutdownGrace;
        this.backendOverride = b.backendOverride;
        this.log = Logger.getLogger("dev.vgpuhil.mediator.Mediator." + INSTANCES.incrementAndGet());
        if (queueCap < 1 || workersPerPool < 1 || maxConnections < 1) {
            throw new IllegalArgumentException("queue cap, workers per pool and max connections must be >= 1");
        }
        if (frameTimeout.isNegative() || frameTimeout.isZero() || unboundIdleTimeout.isNegative()
                || unboundIdleTimeout.isZero() || shutdownGrace.isNegative()) {
            throw new IllegalArgumentException("frame timeout and unbound idle timeout must be > 0, shutdown grace >= 0");
        }
    }

    public static Builder builder() {
        return new Builder();
    }

    /** Binds the socket and starts serving; a second call does nothing. */
    public void start() throws IOException {
        synchronized (lifecycle) {
            if (started) {
                return;
            }
            if (closed) {
                throw new IllegalStateException("mediator on " + socketPath + " was closed; build a new one");
            }
            if (logFile != null) {
                Path parent = logFile.toAbsolutePath().getParent();
                if (parent != null) {
                    Files.createDirectories(parent);
                }
                fileHandler = new FileHandler(logFile.toString(), true);
                fileHandler.setFormatter(new OneLineFormatter());
                log.addHandler(fileHandler);
            }
            try {
                if (backendOverride != null) {
                    backend = backendOverride;
                    log.info("backend " + backend.name() + " (given by the caller)");
                } else {
                    backend = Backends.open(backendChoice, log::info);
                }
            } catch (BackendException e) {
                String msg = "cannot start with --backend " + backendChoice.name().toLowerCase() + ": " + e.getMessage();
                log.severe(msg);
                closeLogFile();
                throw new MediatorStartException(msg, e);
            }
            try {
                SocketSecurity.prepare(socketPath);
                server = SocketSecurity.bind(socketPath, socketMode);
                socketKey = SocketSecurity.fileKey(socketPath);
                SocketSecurity.directoryWarning(socketPath).ifPresent(log::warning);
            } catch (IOException e) {
                log.severe("cannot start on " + socketPath + ": " + e.getMessage());
                if (server != null) {
                    server.close();
                }
                backend.close();
                closeLogFile();
                throw e instanceof MediatorStartException ? e
                        : new MediatorStartException("cannot listen on " + socketPath + ": " + e, e);
            }
            scheduler = new Scheduler(queueCap, aging, nanoClock);
            stats = new Stats(backend.name(), () -> scheduler.depth(POOL_A), () -> scheduler.depth(POOL_B),
                    connections::size);
            for (int pool : new int[] {POOL_A, POOL_B}) {
                for (int i = 0; i < workersPerPool; i++) {
                    Thread t = new Thread(() -> workLoop(pool), "mediator-pool-" + (char) pool + "-worker-" + i);
                    t.setDaemon(true);
                    workers.add(t);
                    t.start();
                }
            }
            acceptor = new Thread(this::acceptLoop, "mediator-accept");
            acceptor.setDaemon(true);
            acceptor.start();
            watchdog = new Thread(this::watchLoop, "mediator-watchdog");
            watchdog.setDaemon(true);
            watchdog.start();
            started = true;
            log.info("ready socket=" + socketPath + " (mode 0600, directory mode " + SocketSecurity.directoryMode(socketPath)
                    + ") backend=" + backend.name() + " pid=" + ProcessHandle.current().pid() + " allowed_uids="
                    + allowedUids + " queue_cap=" + queueCap + " aging_ms=" + aging.toMillis() + " workers_per_pool="
                    + workersPerPool + " max_connections=" + maxConnections + " frame_timeout_ms="
                    + frameTimeout.toMillis() + " unbound_idle_ms=" + unboundIdleTimeout.toMillis() + " tenants: " + tenants);
        }
    }

    private void acceptLoop() {
        while (true) {
            SocketChannel ch;
            try {
                ch = server.accept();
            } catch (ClosedChannelException e) {
                return;
            } catch (IOException e) {
                if (!server.isOpen()) {
                    return;
                }
                // e.g. out of file descriptors: back off instead of spinning on the error
                log.warning("accept failed: " + e.getMessage());
                pause(ACCEPT_BACKOFF);
                continue;
            }
            try {
                admit(ch);
            } catch (IOException | RuntimeException | OutOfMemoryError e) {
                // OutOfMemoryError here is "unable to create native thread": refuse this one, keep accepting
                log.warning("dropping a new connection: " + e);
                try {
                    ch.close();
                } catch (IOException ignored) {
                    // already gone
                }
            }
        }
    }

    private static final Duration ACCEPT_BACKOFF = Duration.ofMillis(50);
    private static final Duration WATCHDOG_PERIOD_MAX = Duration.ofMillis(200);

    private static void pause(Duration d) {
        try {
            Thread.sleep(d.toMillis());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** Closes connections that drip a frame too slowly or sit without HELLO (see Connection). */
    private void watchLoop() {
        long period = Math.max(1, Math.min(WATCHDOG_PERIOD_MAX.toMillis(),
                Math.min(frameTimeout.toMillis(), unboundIdleTimeout.toMillis()) / 4));
        while (isRunning() || !started) {
            long now = System.nanoTime();
            for (Connection c : connections) {
                c.checkDeadlines(now, frameTimeout.toNanos(), unboundIdleTimeout.toNanos());
            }
            try {
                Thread.sleep(period);
            } catch (InterruptedException e) {
                return;
            }
        }
    }

    private void admit(SocketChannel ch) throws IOException {
        var cred = ch.getOption(ExtendedSocketOptions.SO_PEERCRED);
        String peer = cred.user().getName();
        if (!allowedUids.admits(cred.user())) {
            refuseAtAccept(ch, ERR_NOT_PERMITTED, "peer user " + peer + " is not in the allowed uids " + allowedUids);
            return;
        }
        if (connections.size() >= maxConnections) {
            refuseAtAccept(ch, ERR_REJECTED, "connection limit " + maxConnections + " reached");
            return;
        }
        synchronized (lifecycle) {
            if (closed) {
                refuseAtAccept(ch, ERR_SHUTDOWN, "mediator is shutting down");
                return;
            }
            Connection c = new Connection(this, ch, connectionIds.incrementAndGet(), peer);
            connections.add(c);
            c.start();
            log.info("conn " + c.id() + " accepted peer=" + peer);
        }
    }

    /** A refused peer gets one RESPONSE frame saying why (32 bytes into an empty socket buffer), then EOF. */
    private void refuseAtAccept(SocketChannel ch, int status, String why) throws IOException {
        log.warning("refusing connection: " + why + " [" + ErrorCode.nameOf(status) + "]");
        stats.refused(status);
        try (ch) {
            Frame.of(MSG_RESPONSE, 0, 0, 0, 0, status, null).writeTo(ch);
        }
    }

    /** A request a worker is running; {@code answered} makes sure exactly one reply goes out for it. */
    private static final class InFlight {
        final Job job;
        final java.util.concurrent.atomic.AtomicBoolean answered = new java.util.concurrent.atomic.AtomicBoolean();

        InFlight(Job job) {
            this.job = job;
        }
    }

    private void workLoop(int pool) {
        while (true) {
            Job job;
            try {
                job = scheduler.take(pool);
            } catch (InterruptedException e) {
                return;
            }
            if (job == null) {
                return;
            }
            InFlight flight = new InFlight(job);
            running.add(flight);
            try {
                execute(pool, job, flight);
            } finally {
                running.remove(flight);
            }
        }
    }

    private void execute(int pool, Job job, InFlight flight) {
        long startClock = nanoClock.getAsLong();
        int effective = scheduler.effectiveClass(job, startClock);
        Stats.Executed order = stats.started(job, effective);
        long t0 = System.nanoTime();
        int status = ERR_NONE;
        byte[] result = null;
        String detail = "seq=" + order.seq() + (effective != job.priority()
                ? " aged_to=" + TenantPolicy.priorityName(effective) : "");
        try {
            result = backend.execute(job.request());
        } catch (BackendException | RuntimeException e) {
            status = ERR_BACKEND;
            detail += " error=" + e.getMessage();
        }
        long runNanos = System.nanoTime() - t0;
        long waitNanos = Math.max(0, startClock - job.enqueuedNanos());
        if (!flight.answered.compareAndSet(false, true)) {
            // shutdown's grace ran out while this ran: the client already got SHUTDOWN
            log.info("request vm=" + Integer.toUnsignedString(job.vmId()) + " request_id="
                    + Integer.toUnsignedString(job.requestId()) + " finished after its SHUTDOWN reply; result discarded");
            return;
        }
        // counted before the reply leaves, so a client that got its answer sees it in the stats
        stats.answered(job.vmId(), pool, status, waitNanos + runNanos);
        boolean delivered = job.replyTo().send(job.header().reply(MSG_RESPONSE, status, result));
        logRequest(job.header(), waitNanos, runNanos, status, delivered ? detail : detail + " undelivered=connection-gone");
    }

    /** The one log line per request: vm, pool, priority, request id, op, queue wait, run time, outcome. */
    void logRequest(Frame f, long waitNanos, long runNanos, int status, String detail) {
        logRequestOutcome(f, waitNanos, runNanos, status == ERR_NONE ? "DONE" : ErrorCode.nameOf(status), detail);
    }

    private void logRequestOutcome(Frame f, long waitNanos, long runNanos, String outcome, String detail) {
        if (!requestLog || !log.isLoggable(Level.INFO)) {
            return;
        }
        String op = f.payload().length >= 4 ? opcodeName(java.nio.ByteBuffer.wrap(f.payload())
                .order(java.nio.ByteOrder.LITTLE_ENDIAN).getInt(0)) : "-";
        log.info(String.format("request vm=%s pool=%s priority=%s request_id=%s op=%s wait_us=%s run_us=%s outcome=%s%s",
                Integer.toUnsignedString(f.vmId()),
                f.poolId() == POOL_A || f.poolId() == POOL_B ? String.valueOf((char) f.poolId()) : "0x" + Integer.toHexString(f.poolId()),
                TenantPolicy.priorityName(f.priority()), Integer.toUnsignedString(f.requestId()), op,
                waitNanos < 0 ? "-" : Long.toString(waitNanos / 1000), runNanos < 0 ? "-" : Long.toString(runNanos / 1000),
                outcome, detail == null || detail.isEmpty() ? "" : " " + detail));
    }

    void connectionClosed(Connection c) {
        connections.remove(c);
        Scheduler s = scheduler;
        if (s != null) {
            List<Job> dropped = s.removeIf(j -> j.replyTo() == c);
            for (Job j : dropped) {
                stats.droppedOne();
                logRequestOutcome(j.header(), nanoClock.getAsLong() - j.enqueuedNanos(), -1, "DROPPED",
                        "connection closed before it ran");
            }
        }
    }

    /** Stops the daemon (see class comment); safe to call twice and before start. */
    @Override
    public void close() {
        synchronized (lifecycle) {
            if (closed) {
                return;
            }
            closed = true;
            if (!started) {
                return;
            }
        }
        log.info("shutting down: closing " + socketPath);
        try {
            server.close();
        } catch (IOException e) {
            log.warning("closing the listening socket: " + e.getMessage());
        }
        try {
            Object key = SocketSecurity.fileKey(socketPath);
            if (key != null && key.equals(socketKey)) {
                Files.deleteIfExists(socketPath);
            } else if (key != null) {
                log.warning(socketPath + " is no longer this mediator's socket (replaced by someone else); left alone");
            }
        } catch (IOException e) {
            log.warning("cannot remove socket file " + socketPath + ": " + e.getMessage());
        }
        joinQuietly(List.of(acceptor), Duration.ofSeconds(2));
        List<Job> queued = scheduler.shutdown();
        for (Job j : queued) {
            j.replyTo().send(j.header().reply(MSG_RESPONSE, ERR_SHUTDOWN, null));
            stats.answered(j.vmId(), j.pool(), ERR_SHUTDOWN, -1);
            logRequest(j.header(), nanoClock.getAsLong() - j.enqueuedNanos(), -1, ERR_SHUTDOWN, "queued at shutdown");
        }
        // running requests may finish within the grace and get their real answer; the rest get SHUTDOWN
        joinQuietly(workers, shutdownGrace);
        for (InFlight f : new ArrayList<>(running)) {
            if (f.answered.compareAndSet(false, true)) {
                Job j = f.job;
                j.replyTo().send(j.header().reply(MSG_RESPONSE, ERR_SHUTDOWN, null));
                stats.answered(j.vmId(), j.pool(), ERR_SHUTDOWN, -1);
                logRequest(j.header(), -1, -1, ERR_SHUTDOWN, "still running after the shutdown grace of "
                        + shutdownGrace.toMillis() + " ms");
            }
        }
        List<Thread> readers = new ArrayList<>();
        for (Connection c : new ArrayList<>(connections)) {
            readers.add(c.readerThread());
            c.stopReading();
        }
        joinQuietly(readers, CONNECTION_STOP_DEADLINE);
        for (Connection c : new ArrayList<>(connections)) {
            c.forceClose();
        }
        watchdog.interrupt();
        boolean stuck = false;
        for (Thread w : workers) {
            if (w.isAlive()) {
                stuck = true;
                log.warning(w.getName() + " still running a request after the shutdown grace of "
                        + shutdownGrace.toMillis() + " ms (answered SHUTDOWN)");
            }
        }
        if (!stuck) {
            backend.close(); // a backend call still running keeps its resources; the process is going away
        }
        log.info("stopped; counters " + stats.toJson());
        closeLogFile();
    }

    private static void joinQuietly(List<Thread> threads, Duration deadline) {
        long end = System.nanoTime() + deadline.toNanos();
        for (Thread t : threads) {
            long left = end - System.nanoTime();
            if (left <= 0) {
                return;
            }
            try {
                t.join(Math.max(1, left / 1_000_000));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
        }
    }

    private void closeLogFile() {
        if (fileHandler != null) {
            log.removeHandler(fileHandler);
            fileHandler.close();
            fileHandler = null;
        }
    }

    // ---------------------------------------------------------------- API for callers and tests

    public Path socketPath() {
        return socketPath;
    }

    public boolean isRunning() {
        synchronized (lifecycle) {
            return started && !closed;
        }
    }

    /** "cpu" or "cuda (device)"; valid after start. */
    public String backendName() {
        return requireStarted().backend.name();
    }

    public Stats stats() {
        return requireStarted().stats;
    }

    /** Every counter as JSON (unbounded; STATS_REPLY carries the summary that fits 1024 bytes). */
    public String statsJson() {
        return stats().toJson();
    }

    /** The last requests in the order workers started them. */
    public List<Stats.Executed> executionLog() {
        return stats().executionLog();
    }

    /** Holds the workers (running requests finish; queued ones wait) until {@link #resumeScheduling()}. */
    public void pauseScheduling() {
        scheduler().pause();
    }

    public void resumeScheduling() {
        scheduler().resume();
    }

    /** Waits until at least {@code count} requests are queued (all pools); false at the deadline. */
    public boolean awaitQueued(int count, Duration timeout) throws InterruptedException {
        return scheduler().awaitQueued(count, timeout);
    }

    public int connectionCount() {
        return connections.size();
    }

    /** The vm_ids bound by an accepted HELLO on the open connections (sorted, unsigned order). */
    public List<Integer> boundVms() {
        List<Integer> vms = new ArrayList<>();
        for (Connection c : connections) {
            c.boundVm().ifPresent(vms::add);
        }
        vms.sort(Integer::compareUnsigned);
        return vms;
    }

    /** Waits until a connection has bound {@code vmId} by HELLO; false at the deadline. */
    public boolean awaitBound(int vmId, Duration timeout) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (!boundVms().contains(vmId)) {
            if (System.nanoTime() - deadline > 0) {
                return false;
            }
            Thread.sleep(5);
        }
        return true;
    }

    Scheduler scheduler() {
        return requireStarted().scheduler;
    }

    TenantPolicy tenants() {
        return tenants;
    }

    int queueCap() {
        return queueCap;
    }

    Logger log() {
        return log;
    }

    private Mediator requireStarted() {
        synchronized (lifecycle) {
            if (!started) {
                throw new IllegalStateException("mediator not started");
            }
        }
        return this;
    }

    @Override
    public String toString() {
        return "Mediator[" + socketPath + ", " + backendChoice + "]";
    }

    /**
     * System property that, when set and not blank, replaces the compiled-in default socket path
     * ({@value dev.vgpuhil.protocol.VgpuProtocol#SOCKET_PATH_DEFAULT}) for builders created afterwards: lets tests
     * exercise the default-path logic on a private path, and side-by-side installs move the default. An explicit
     * {@code socketPath(...)} / {@code --socket} always wins.
     */
    public static final String DEFAULT_SOCKET_PROPERTY = "vgpu.mediator.defaultSocket";

    /** The socket path a builder starts with: {@link #DEFAULT_SOCKET_PROPERTY} if set, else SOCKET_PATH_DEFAULT. */
    public static Path defaultSocketPath() {
        String p = System.getProperty(DEFAULT_SOCKET_PROPERTY);
        return p == null || p.isBlank() ? Path.of(SOCKET_PATH_DEFAULT) : Path.of(p);
    }

    /** Options of one mediator; defaults match the daemon's command line defaults. */
    public static final class Builder {
        private Path socketPath = defaultSocketPath();
        private BackendChoice backend = BackendChoice.AUTO;
        private AllowedUids allowedUids;
        private Set<java.nio.file.attribute.PosixFilePermission> socketMode = SocketSecurity.OWNER_ONLY;
        private int queueCap = 64;
        private Duration aging = Duration.ofMillis(1000);
        private TenantPolicy tenants = TenantPolicy.openToAll();
        private int workersPerPool = 1;
        private Path logFile;
        private LongSupplier nanoClock = System::nanoTime;
        private int maxConnections = 256;
        private boolean requestLog = true;
        private Duration frameTimeout = Duration.ofSeconds(5);
        private Duration unboundIdleTimeout = Duration.ofSeconds(30);
        private Duration shutdownGrace = Duration.ofSeconds(5);
        private Backend backendOverride;

        private Builder() {}

        /**
         * Default {@value dev.vgpuhil.protocol.VgpuProtocol#SOCKET_PATH_DEFAULT}, or the system property
         * {@value Mediator#DEFAULT_SOCKET_PROPERTY} when set (see {@link Mediator#defaultSocketPath()}).
         */
        public Builder socketPath(Path path) {
            this.socketPath = Objects.requireNonNull(path);
            return this;
        }

        /** Default AUTO. */
        public Builder backend(BackendChoice choice) {
            this.backend = Objects.requireNonNull(choice);
            return this;
        }

        /** Peers whose SO_PEERCRED uid is in this set may connect; default: own uid and root. */
        public Builder allowedUids(Set<Integer> uids) {
            this.allowedUids = AllowedUids.of(uids);
            return this;
        }

        /**
         * The socket's mode as octal digits (default 0600). 0666 lets peers of other uids connect (XCP-ng: each
         * QEMU runs as qemu_base+domid); who is admitted is still decided by {@link #allowedUids}.
         */
        public Builder socketMode(String octal) {
            if (!octal.matches("0?[0-7]{3}")) {
                throw new IllegalArgumentException("--socket-mode must be octal like 0600 or 0666, not '" + octal + "'");
            }
            int m = Integer.parseInt(octal, 8);
            StringBuilder rwx = new StringBuilder();
            for (int shift = 6; shift >= 0; shift -= 3) {
                int bits = (m >> shift) & 7;
                rwx.append((bits & 4) != 0 ? 'r' : '-').append((bits & 2) != 0 ? 'w' : '-').append((bits & 1) != 0 ? 'x' : '-');
            }
            this.socketMode = java.nio.file.attribute.PosixFilePermissions.fromString(rwx.toString());
            return this;
        }

        /** Peer uids and uid ranges allowed to connect (--allowed-uids 0,1000,65536-131071). */
        public Builder allowedUids(String spec) {
            this.allowedUids = AllowedUids.parse(spec);
            return this;
        }

        /** Queued requests allowed per vm_id before QUEUE_FULL; default 64. */
        public Builder queueCap(int cap) {
            this.queueCap = cap;
            return this;
        }

        /** Wait after which a queued request moves up one class; zero disables aging; default 1 s. */
        public Builder aging(Duration aging) {
            this.aging = Objects.requireNonNull(aging);
            return this;
        }

        /** Which vm_ids may connect and their priority ceilings; default open to all. */
        public Builder tenants(TenantPolicy tenants) {
            this.tenants = Objects.requireNonNull(tenants);
            return this;
        }

        /** Workers draining each pool's queue; default 1 (strict order). */
        public Builder workersPerPool(int n) {
            this.workersPerPool = n;
            return this;
        }

        /** Also append the log to this file. */
        public Builder logFile(Path file) {
            this.logFile = file;
            return this;
        }

        /** The scheduler's clock (aging, queue wait); tests inject a manual one. */
        public Builder nanoClock(LongSupplier clock) {
            this.nanoClock = Objects.requireNonNull(clock);
            return this;
        }

        /** Connections beyond this are refused with REJECTED; default 256. */
        public Builder maxConnections(int n) {
            this.maxConnections = n;
            return this;
        }

        /** The per-request log line (on by default; the benchmark turns it off to measure the core). */
        public Builder requestLog(boolean on) {
            this.requestLog = on;
            return this;
        }

        /** A frame's last byte must arrive within this after its first (slow-loris guard); default 5 s. */
        public Builder frameTimeout(Duration timeout) {
            this.frameTimeout = Objects.requireNonNull(timeout);
            return this;
        }

        /** A connection without an accepted HELLO is closed after this long without a frame; default 30 s. */
        public Builder unboundIdleTimeout(Duration timeout) {
            this.unboundIdleTimeout = Objects.requireNonNull(timeout);
            return this;
        }

        /** How long close() lets running requests finish before answering them SHUTDOWN; default 5 s. */
        public Builder shutdownGrace(Duration grace) {
            this.shutdownGrace = Objects.requireNonNull(grace);
            return this;
        }

        /**
         * Runs this backend instead of opening one from {@link #backend(BackendChoice)} (tests use a gated
         * backend). The mediator closes it at shutdown.
         */
        public Builder backend(Backend instance) {
            this.backendOverride = Objects.requireNonNull(instance);
            return this;
        }

        public Mediator build() {
            return new Mediator(this);
        }
    }
}

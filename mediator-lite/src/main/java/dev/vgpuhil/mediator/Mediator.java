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
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.logging.FileHandler;
import java.util.logging.Logger;
import jdk.net.ExtendedSocketOptions;

/**
 * The mediator daemon, in-process: a Unix-socket server (one thread and one selector per connection, reading
 * frames and flushing replies that did not fit at once),
 * one {@link Scheduler} for every connection, {@link Workers} per pool, a compute backend, the {@link RequestLog}
 * and the {@link Stats}; configured by a {@link MediatorConfig}.
 *
 * <pre>{@code
 * try (Mediator m = new Mediator(MediatorConfig.builder().socketPath(dir.resolve("m.sock")).backend(BackendChoice.CPU).build())) {
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

    private final MediatorConfig config;
    private final Logger log;
    private final RequestLog requestLog;

    private final Object lifecycle = new Object();
    private boolean started;
    private boolean closed;
    private Backend backend;
    private Scheduler scheduler;
    private Stats stats;
    private Workers workers;
    private ServerSocketChannel server;
    private Thread acceptor;
    private Thread watchdog;
    private Object socketKey;
    private final Set<Connection> connections = ConcurrentHashMap.newKeySet();
    private final AtomicLong connectionIds = new AtomicLong();
    private FileHandler fileHandler;

    public Mediator(MediatorConfig config) {
        this.config = java.util.Objects.requireNonNull(config);
        this.log = Logger.getLogger("dev.vgpuhil.mediator.Mediator." + INSTANCES.incrementAndGet());
        this.requestLog = new RequestLog(log, config.requestLog());
    }

    public MediatorConfig config() {
        return config;
    }

    /** Binds the socket and starts serving; a second call does nothing. */
    public void start() throws IOException {
        synchronized (lifecycle) {
            if (started) {
                return;
            }
            if (closed) {
                throw new IllegalStateException("mediator on " + config.socketPath() + " was closed; build a new one");
            }
            Path logFile = config.logFile();
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
                if (config.backendInstance() != null) {
                    backend = config.backendInstance();
                    log.info("backend " + backend.name() + " (given by the caller)");
                } else {
                    backend = Backends.open(config.backend(), log::info);
                }
            } catch (BackendException e) {
                String msg =
                        "cannot start with --backend " + config.backend().name().toLowerCase() + ": " + e.getMessage();
                log.severe(msg);
                closeLogFile();
                throw new MediatorStartException(msg, e);
            }
            Path socketPath = config.socketPath();
            try {
                SocketSecurity.prepare(socketPath);
                server = SocketSecurity.bind(socketPath, config.socketMode());
                socketKey = SocketSecurity.fileKey(socketPath);
                SocketSecurity.directoryWarning(socketPath).ifPresent(log::warning);
            } catch (IOException e) {
                log.severe("cannot start on " + socketPath + ": " + e.getMessage());
                if (server != null) {
                    server.close();
                }
                backend.close();
                closeLogFile();
                throw e instanceof MediatorStartException
                        ? e
                        : new MediatorStartException("cannot listen on " + socketPath + ": " + e, e);
            }
            scheduler = new Scheduler(config.queueCap(), config.aging(), config.nanoClock(), config.workersPerPool());
            if (config.holdFile() != null) {
                java.nio.file.Path hold = config.holdFile();
                scheduler.holdWhile(() -> java.nio.file.Files.exists(hold));
                log.info("hold file " + hold + ": no request starts while it exists");
            }
            stats = new Stats(backend.name(), scheduler::depth, connections::size, this::boundVms);
            workers = new Workers(scheduler, backend, stats, requestLog, config.nanoClock(), log);
            workers.start(config.workersPerPool());
            reserveSpareFd();
            acceptor = new Thread(this::acceptLoop, "mediator-accept");
            acceptor.setDaemon(true);
            acceptor.start();
            watchdog = new Thread(this::watchLoop, "mediator-watchdog");
            watchdog.setDaemon(true);
            watchdog.start();
            started = true;
            log.info("ready socket=" + socketPath + " (mode 0600, directory mode "
                    + SocketSecurity.directoryMode(socketPath)
                    + ") backend=" + backend.name() + " pid="
                    + ProcessHandle.current().pid() + " allowed_uids="
                    + config.allowedUids() + " queue_cap=" + config.queueCap() + " aging_ms="
                    + config.aging().toMillis()
                    + " workers_per_pool=" + config.workersPerPool() + " max_connections=" + config.maxConnections()
                    + " max_outstanding=" + config.outstandingCap()
                    + " frame_timeout_ms=" + config.frameTimeout().toMillis() + " unbound_idle_ms="
                    + config.unboundIdleTimeout().toMillis() + " tenants: " + config.tenants());
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
                // e.g. out of file descriptors: the client waits in the backlog, where no answer reaches it.
                // The spare fd makes room to accept it and say REJECTED; then back off instead of spinning.
                exhausted("accept failed: " + e.getMessage());
                ch = acceptWithSpareFd();
                if (ch == null) {
                    pause(ACCEPT_BACKOFF);
                    continue;
                }
                refuseQuietly(ch, ERR_REJECTED);
                pause(ACCEPT_BACKOFF);
                continue;
            }
            try {
                admit(ch);
                recovered();
            } catch (IOException | RuntimeException | OutOfMemoryError e) {
                // no fd for the connection's selector, or (OutOfMemoryError) "unable to create native thread":
                // refuse this one with REJECTED, keep accepting
                exhausted("cannot serve a new connection: " + e);
                refuseQuietly(ch, ERR_REJECTED);
            }
        }
    }

    /**
     * One fd held back for the accept loop (a /dev/null channel): released to accept a client that would else
     * wait unanswered in the backlog while the process has no fd left, then taken again. Null when it could not
     * be taken back yet (retried at the next exhaustion).
     */
    private java.nio.channels.FileChannel spareFd;

    /** Refused during the current exhaustion episode; -1 outside one. Accept-loop thread only. */
    private long refusedInEpisode = -1;

    private void reserveSpareFd() {
        if (spareFd == null) {
            try {
                spareFd = java.nio.channels.FileChannel.open(Path.of("/dev/null"));
            } catch (IOException | UnsupportedOperationException e) {
                spareFd = null;
            }
        }
    }

    private SocketChannel acceptWithSpareFd() {
        if (spareFd == null) {
            reserveSpareFd();
            return null;
        }
        try {
            spareFd.close();
        } catch (IOException ignored) {
            // released either way
        }
        spareFd = null;
        SocketChannel ch;
        try {
            ch = server.accept();
        } catch (IOException e) {
            ch = null;
        }
        return ch;
    }

    /** The log names an exhaustion once per episode, not once per client (a flood of them would flood the log). */
    private void exhausted(String what) {
        if (refusedInEpisode < 0) {
            refusedInEpisode = 0;
            log.warning("out of resources (" + what + "): refusing new connections with REJECTED, backing off "
                    + ACCEPT_BACKOFF.toMillis() + " ms after each failed accept, until a connection can be served");
        }
        refusedInEpisode++;
    }

    private void recovered() {
        if (refusedInEpisode >= 0) {
            log.info("serving new connections again; " + refusedInEpisode + " refused or not accepted meanwhile");
            refusedInEpisode = -1;
        }
        reserveSpareFd();
    }

    /** REJECTED (one 32-byte frame into an empty socket buffer, needing no fd) and EOF; counted, not logged. */
    private void refuseQuietly(SocketChannel ch, int status) {
        try (ch) {
            stats.refused(status);
            Frame.of(MSG_RESPONSE, 0, 0, 0, 0, status, null).writeTo(ch);
        } catch (IOException | RuntimeException e) {
            // the peer is gone already: the close is its answer
        }
        reserveSpareFd();
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
        Duration frameTimeout = config.frameTimeout();
        Duration unboundIdleTimeout = config.unboundIdleTimeout();
        long period = Math.max(
                1,
                Math.min(
                        WATCHDOG_PERIOD_MAX.toMillis(),
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
        if (!config.allowedUids().admits(cred.user())) {
            refuseAtAccept(
                    ch, ERR_NOT_PERMITTED, "peer user " + peer + " is not in the allowed uids " + config.allowedUids());
            return;
        }
        if (connections.size() >= config.maxConnections()) {
            refuseAtAccept(ch, ERR_REJECTED, "connection limit " + config.maxConnections() + " reached");
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

    /** The request log line of a REQUEST answered before it reached the scheduler (see {@link RequestLog}). */
    RequestLog requestLog() {
        return requestLog;
    }

    void connectionClosed(Connection c) {
        connections.remove(c);
        Scheduler s = scheduler;
        if (s != null) {
            List<Job> dropped = s.removeIf(j -> j.replyTo() == c);
            for (Job j : dropped) {
                stats.droppedOne();
                requestLog.dropped(j.header(), config.nanoClock().getAsLong() - j.enqueuedNanos());
            }
        }
    }

    /**
     * Answers SHUTDOWN to every request of {@code c} still queued or running (a connection closing after an
     * unreadable frame whose grace ran out); a running one's late result is then discarded.
     */
    void answerShutdown(Connection c, String why) {
        for (Job j : scheduler.removeIf(j -> j.replyTo() == c)) {
            answerQueuedShutdown(j, why);
        }
        workers.answerRunning(j -> j.replyTo() == c, why);
    }

    private void answerQueuedShutdown(Job j, String why) {
        j.replyTo().reply(j.header(), ERR_SHUTDOWN, null);
        stats.answered(j.vmId(), j.pool(), ERR_SHUTDOWN, -1);
        requestLog.answered(j.header(), config.nanoClock().getAsLong() - j.enqueuedNanos(), -1, ERR_SHUTDOWN, why);
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
        Path socketPath = config.socketPath();
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
        if (spareFd != null) {
            try {
                spareFd.close();
            } catch (IOException ignored) {
                // closing anyway
            }
        }
        for (Job j : scheduler.shutdown()) {
            answerQueuedShutdown(j, "queued at shutdown");
        }
        // running requests may finish within the grace and get their real answer; the rest get SHUTDOWN
        boolean workersDone = workers.stop(config.shutdownGrace());
        List<Thread> readers = new ArrayList<>();
        for (Connection c : new ArrayList<>(connections)) {
            readers.add(c.thread());
            c.stopReading();
        }
        joinQuietly(readers, CONNECTION_STOP_DEADLINE);
        for (Connection c : new ArrayList<>(connections)) {
            c.forceClose();
        }
        watchdog.interrupt();
        if (workersDone) {
            backend.close(); // a backend call still running keeps its resources; the process is going away
        }
        log.info("stopped; counters " + stats.toJson());
        closeLogFile();
    }

    static void joinQuietly(List<Thread> threads, Duration deadline) {
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
        return config.socketPath();
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

    Workers workers() {
        return workers;
    }

    TenantPolicy tenants() {
        return config.tenants();
    }

    int queueCap() {
        return config.queueCap();
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
        return "Mediator[" + config.socketPath() + ", " + config.backend() + "]";
    }
}

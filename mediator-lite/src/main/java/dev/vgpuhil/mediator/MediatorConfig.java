package dev.vgpuhil.mediator;

import static dev.vgpuhil.protocol.VgpuProtocol.SOCKET_PATH_DEFAULT;

import dev.vgpuhil.mediator.backend.Backend;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Objects;
import java.util.Set;
import java.util.function.LongSupplier;

/**
 * Everything one {@link Mediator} is configured with, immutable; {@link #builder()} starts from the daemon's
 * command-line defaults. Checked when built: a bad value fails here, not when the mediator starts.
 *
 * @param socketPath         the Unix socket to listen on (made absolute)
 * @param backend            which compute backend to open at start
 * @param backendInstance    a backend to run instead of opening {@code backend} (tests use a gated one); null: none.
 *                           The mediator closes it at shutdown
 * @param allowedUids        peers whose SO_PEERCRED uid is in these uids and uid ranges may connect
 * @param socketMode         the socket file's permissions (0600; 0666 where other uids connect, as on XCP-ng)
 * @param queueCap           queued requests allowed per vm_id before QUEUE_FULL
 * @param aging              wait after which a queued request moves up one class; zero disables aging
 * @param tenants            which vm_ids may connect and their priority ceilings
 * @param workersPerPool     workers draining each pool's queue
 * @param logFile            also append the log to this file; null: none
 * @param nanoClock          the scheduler's clock (aging, queue wait)
 * @param maxConnections     connections beyond this are refused with REJECTED
 * @param requestLog         the per-request log line
 * @param frameTimeout       a frame's last byte must arrive within this after its first (slow-loris guard)
 * @param unboundIdleTimeout a connection without an accepted HELLO is closed after this long without a frame
 * @param shutdownGrace      how long close() lets running requests finish before answering them SHUTDOWN
 * @param holdFile           while this file exists no new request starts (the mediator contract's hold,
 *                           docs/MEDIATOR-CONTRACT.md); null: no hold
 * @param maxOutstanding     requests one connection may have accepted and not yet answered before it stops reading
 *                           (backpressure, see {@link #outstandingCap()}); 0: derived from the queue cap
 */
public record MediatorConfig(
        Path socketPath,
        BackendChoice backend,
        Backend backendInstance,
        AllowedUids allowedUids,
        Set<java.nio.file.attribute.PosixFilePermission> socketMode,
        int queueCap,
        Duration aging,
        TenantPolicy tenants,
        int workersPerPool,
        Path logFile,
        LongSupplier nanoClock,
        int maxConnections,
        boolean requestLog,
        Duration frameTimeout,
        Duration unboundIdleTimeout,
        Duration shutdownGrace,
        Path holdFile,
        int maxOutstanding) {

    /**
     * System property that, when set and not blank, replaces the compiled-in default socket path
     * ({@value dev.vgpuhil.protocol.VgpuProtocol#SOCKET_PATH_DEFAULT}) for builders created afterwards: lets tests
     * exercise the default-path logic on a private path, and side-by-side installs move the default. An explicit
     * {@code socketPath(...)} / {@code --socket} always wins.
     */
    public static final String DEFAULT_SOCKET_PROPERTY = dev.vgpuhil.common.Setting.Names.MEDIATOR_DEFAULT_SOCKET;

    public MediatorConfig {
        socketPath = socketPath.toAbsolutePath();
        holdFile = holdFile == null ? null : holdFile.toAbsolutePath();
        Objects.requireNonNull(backend, "backend");
        Objects.requireNonNull(allowedUids, "allowedUids");
        socketMode = Set.copyOf(socketMode);
        Objects.requireNonNull(aging, "aging");
        Objects.requireNonNull(tenants, "tenants");
        Objects.requireNonNull(nanoClock, "nanoClock");
        if (queueCap < 1 || workersPerPool < 1 || maxConnections < 1) {
            throw new IllegalArgumentException("queue cap, workers per pool and max connections must be >= 1");
        }
        if (maxOutstanding < 0) {
            throw new IllegalArgumentException("max outstanding must be >= 1, or 0 for twice the queue cap");
        }
        if (frameTimeout.isNegative()
                || frameTimeout.isZero()
                || unboundIdleTimeout.isNegative()
                || unboundIdleTimeout.isZero()
                || shutdownGrace.isNegative()) {
            throw new IllegalArgumentException(
                    "frame timeout and unbound idle timeout must be > 0, shutdown grace >= 0");
        }
    }

    /**
     * Requests one connection may have accepted (handed to the scheduler) and not yet answered; at this many it
     * reads no more frames until replies bring it below. Default twice the queue cap: room for a full queue and
     * as many again running, answered but not yet written, or waiting in the scheduler's inbox - so a connection
     * whose VM's queue is full still reads its next request and answers it QUEUE_FULL at once (the contract), and
     * what the daemon holds per connection is bounded even where the queue cap does not count (the inbox).
     */
    public int outstandingCap() {
        return maxOutstanding > 0 ? maxOutstanding : (int) Math.min(Integer.MAX_VALUE, 2L * queueCap);
    }

    /** The socket path a builder starts with: {@link #DEFAULT_SOCKET_PROPERTY} if set, else SOCKET_PATH_DEFAULT. */
    public static Path defaultSocketPath() {
        return dev.vgpuhil.common.Setting.MEDIATOR_DEFAULT_SOCKET
                .value()
                .map(Path::of)
                .orElse(Path.of(SOCKET_PATH_DEFAULT));
    }

    /** A builder with the daemon's defaults. */
    public static Builder builder() {
        return new Builder();
    }

    /** A builder holding this configuration, to derive a changed one. */
    public Builder toBuilder() {
        Builder b = new Builder();
        b.socketPath = socketPath;
        b.backend = backend;
        b.backendInstance = backendInstance;
        b.allowedUids = allowedUids;
        b.socketMode = socketMode;
        b.queueCap = queueCap;
        b.aging = aging;
        b.tenants = tenants;
        b.workersPerPool = workersPerPool;
        b.logFile = logFile;
        b.nanoClock = nanoClock;
        b.maxConnections = maxConnections;
        b.requestLog = requestLog;
        b.frameTimeout = frameTimeout;
        b.unboundIdleTimeout = unboundIdleTimeout;
        b.shutdownGrace = shutdownGrace;
        b.holdFile = holdFile;
        b.maxOutstanding = maxOutstanding;
        return b;
    }

    /** Options of one mediator; defaults match the daemon's command line defaults. */
    public static final class Builder {
        private Path socketPath = defaultSocketPath();
        private BackendChoice backend = BackendChoice.AUTO;
        private Backend backendInstance;
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
        private Path holdFile;
        private int maxOutstanding;

        private Builder() {}

        /**
         * Default {@value dev.vgpuhil.protocol.VgpuProtocol#SOCKET_PATH_DEFAULT}, or the system property
         * {@value MediatorConfig#DEFAULT_SOCKET_PROPERTY} when set (see {@link MediatorConfig#defaultSocketPath()}).
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

        /** Runs this backend instead of opening one from {@link #backend(BackendChoice)}; closed at shutdown. */
        public Builder backend(Backend instance) {
            this.backendInstance = Objects.requireNonNull(instance);
            return this;
        }

        /** Peers whose SO_PEERCRED uid is in this set may connect; default: own uid and root. */
        public Builder allowedUids(Set<Integer> uids) {
            this.allowedUids = AllowedUids.of(uids);
            return this;
        }

        /** Peer uids and uid ranges allowed to connect (--allowed-uids 0,1000,65536-131071). */
        public Builder allowedUids(String spec) {
            this.allowedUids = AllowedUids.parse(spec);
            return this;
        }

        /**
         * The socket file's mode, octal (default 0600). XCP-ng needs 0666: each VM's QEMU runs as its own uid
         * (qemu_base+domid); who is admitted is still decided by {@link #allowedUids}.
         */
        public Builder socketMode(String octal) {
            if (!octal.matches("0?[0-7]{3}")) {
                throw new IllegalArgumentException(
                        "--socket-mode must be octal like 0600 or 0666, not '" + octal + "'");
            }
            int m = Integer.parseInt(octal, 8);
            StringBuilder rwx = new StringBuilder();
            for (int shift = 6; shift >= 0; shift -= 3) {
                int bits = (m >> shift) & 7;
                rwx.append((bits & 4) != 0 ? 'r' : '-')
                        .append((bits & 2) != 0 ? 'w' : '-')
                        .append((bits & 1) != 0 ? 'x' : '-');
            }
            this.socketMode = java.nio.file.attribute.PosixFilePermissions.fromString(rwx.toString());
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

        /** While this file exists no new request starts (queued ones wait); null (default): no hold. */
        public Builder holdFile(Path file) {
            this.holdFile = file;
            return this;
        }

        /**
         * Requests one connection may have accepted and not yet answered before it stops reading (backpressure);
         * 0 (default): twice the queue cap (see {@link MediatorConfig#outstandingCap()}).
         */
        public Builder maxOutstanding(int n) {
            this.maxOutstanding = n;
            return this;
        }

        public MediatorConfig build() {
            return new MediatorConfig(
                    socketPath,
                    backend,
                    backendInstance,
                    allowedUids == null ? AllowedUids.of(SocketSecurity.defaultAllowedUids()) : allowedUids,
                    socketMode,
                    queueCap,
                    aging,
                    tenants,
                    workersPerPool,
                    logFile,
                    nanoClock,
                    maxConnections,
                    requestLog,
                    frameTimeout,
                    unboundIdleTimeout,
                    shutdownGrace,
                    holdFile,
                    maxOutstanding);
        }
    }
}

package dev.vgpuhil.mediator;

import static dev.vgpuhil.protocol.VgpuProtocol.SOCKET_PATH_DEFAULT;

import dev.vgpuhil.mediator.backend.Backend;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashSet;
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
 * @param allowedUids        peers whose SO_PEERCRED uid is in this set may connect
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
 */
public record MediatorConfig(Path socketPath, BackendChoice backend, Backend backendInstance, Set<Integer> allowedUids,
                             int queueCap, Duration aging, TenantPolicy tenants, int workersPerPool, Path logFile,
                             LongSupplier nanoClock, int maxConnections, boolean requestLog, Duration frameTimeout,
                             Duration unboundIdleTimeout, Duration shutdownGrace) {

    /**
     * System property that, when set and not blank, replaces the compiled-in default socket path
     * ({@value dev.vgpuhil.protocol.VgpuProtocol#SOCKET_PATH_DEFAULT}) for builders created afterwards: lets tests
     * exercise the default-path logic on a private path, and side-by-side installs move the default. An explicit
     * {@code socketPath(...)} / {@code --socket} always wins.
     */
    public static final String DEFAULT_SOCKET_PROPERTY = dev.vgpuhil.common.Setting.Names.MEDIATOR_DEFAULT_SOCKET;

    public MediatorConfig {
        socketPath = socketPath.toAbsolutePath();
        Objects.requireNonNull(backend, "backend");
        allowedUids = Set.copyOf(allowedUids);
        Objects.requireNonNull(aging, "aging");
        Objects.requireNonNull(tenants, "tenants");
        Objects.requireNonNull(nanoClock, "nanoClock");
        if (queueCap < 1 || workersPerPool < 1 || maxConnections < 1) {
            throw new IllegalArgumentException("queue cap, workers per pool and max connections must be >= 1");
        }
        if (frameTimeout.isNegative() || frameTimeout.isZero() || unboundIdleTimeout.isNegative()
                || unboundIdleTimeout.isZero() || shutdownGrace.isNegative()) {
            throw new IllegalArgumentException("frame timeout and unbound idle timeout must be > 0, shutdown grace >= 0");
        }
    }

    /** The socket path a builder starts with: {@link #DEFAULT_SOCKET_PROPERTY} if set, else SOCKET_PATH_DEFAULT. */
    public static Path defaultSocketPath() {
        return dev.vgpuhil.common.Setting.MEDIATOR_DEFAULT_SOCKET.value().map(Path::of)
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
        return b;
    }

    /** Options of one mediator; defaults match the daemon's command line defaults. */
    public static final class Builder {
        private Path socketPath = defaultSocketPath();
        private BackendChoice backend = BackendChoice.AUTO;
        private Backend backendInstance;
        private Set<Integer> allowedUids;
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
            this.allowedUids = new LinkedHashSet<>(uids);
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

        public MediatorConfig build() {
            return new MediatorConfig(socketPath, backend, backendInstance,
                    allowedUids == null ? SocketSecurity.defaultAllowedUids() : allowedUids, queueCap, aging, tenants,
                    workersPerPool, logFile, nanoClock, maxConnections, requestLog, frameTimeout, unboundIdleTimeout,
                    shutdownGrace);
        }
    }
}

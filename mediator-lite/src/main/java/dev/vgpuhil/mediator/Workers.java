package dev.vgpuhil.mediator;

import static dev.vgpuhil.protocol.VgpuProtocol.*;

import dev.vgpuhil.mediator.backend.Backend;
import dev.vgpuhil.mediator.backend.BackendException;
import dev.vgpuhil.protocol.Pool;
import dev.vgpuhil.protocol.Priority;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.LongSupplier;
import java.util.logging.Logger;

/**
 * The worker threads of one mediator: {@code perPool} per pool, each taking the scheduler's next job of its pool,
 * running it on the backend and sending exactly one reply. A connection's own thread may run a job it
 * {@linkplain Scheduler#claim claimed} here too ({@link #runClaimed}), when the backend's calls are quick. Whoever
 * finishes a job takes the next queued one of its pool (a connection's thread at most {@value #DRAIN_LIMIT} in a
 * row, then it wakes a worker and goes back to reading). At shutdown, {@link #stop} gives running requests the
 * grace to finish and answers those still running after it with SHUTDOWN.
 */
final class Workers {
    /** Jobs a connection's thread runs in a row (its own and queued ones) before it hands the rest to a worker. */
    static final int DRAIN_LIMIT = 8;

    /** A request a worker is running; {@code answered} makes sure exactly one reply goes out for it. */
    private static final class InFlight {
        final Job job;
        final AtomicBoolean answered = new AtomicBoolean();

        InFlight(Job job) {
            this.job = job;
        }
    }

    private final Scheduler scheduler;
    private final Backend backend;
    private final Stats stats;
    private final RequestLog requestLog;
    private final LongSupplier nanoClock;
    private final Logger log;
    private final Set<InFlight> running = ConcurrentHashMap.newKeySet();
    private final List<Thread> threads = new ArrayList<>();

    Workers(
            Scheduler scheduler,
            Backend backend,
            Stats stats,
            RequestLog requestLog,
            LongSupplier nanoClock,
            Logger log) {
        this.scheduler = scheduler;
        this.backend = backend;
        this.stats = stats;
        this.requestLog = requestLog;
        this.nanoClock = nanoClock;
        this.log = log;
    }

    void start(int perPool) {
        for (Pool pool : Pool.values()) {
            for (int i = 0; i < perPool; i++) {
                Thread t = new Thread(() -> workLoop(pool), "mediator-pool-" + pool.name() + "-worker-" + i);
                t.setDaemon(true);
                threads.add(t);
                t.start();
            }
        }
    }

    /** True when connection threads may run requests themselves: the backend's calls never block. */
    boolean inline() {
        return backend.quick();
    }

    private void workLoop(Pool pool) {
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
            while (job != null) {
                runOne(pool, job);
                job = scheduler.finish(pool, true);
            }
        }
    }

    /** Runs a job the caller claimed, then up to {@value #DRAIN_LIMIT} - 1 queued ones of the same pool. */
    void runClaimed(Pool pool, Job claimed) {
        Job job = claimed;
        for (int n = 1; job != null; n++) {
            runOne(pool, job);
            job = scheduler.finish(pool, n < DRAIN_LIMIT);
        }
    }

    private void runOne(Pool pool, Job job) {
        InFlight flight = new InFlight(job);
        running.add(flight);
        try {
            execute(pool, job, flight);
        } finally {
            running.remove(flight);
        }
    }

    private void execute(Pool pool, Job job, InFlight flight) {
        long startClock = nanoClock.getAsLong();
        Priority effective = scheduler.effectiveClass(job, startClock);
        Stats.Executed order = stats.started(job, effective);
        long t0 = System.nanoTime();
        int status = ERR_NONE;
        byte[] result = null;
        String error = null;
        try {
            result = backend.execute(job.request());
        } catch (BackendException | RuntimeException e) {
            status = ERR_BACKEND;
            error = e.getMessage();
        }
        long runNanos = System.nanoTime() - t0;
        long waitNanos = Math.max(0, startClock - job.enqueuedNanos());
        if (!flight.answered.compareAndSet(false, true)) {
            // shutdown's grace ran out while this ran: the client already got SHUTDOWN
            log.info("request vm=" + Integer.toUnsignedString(job.vmId()) + " request_id="
                    + Integer.toUnsignedString(job.requestId())
                    + " finished after its SHUTDOWN reply; result discarded");
            return;
        }
        // counted before the reply leaves, so a client that got its answer sees it in the stats
        stats.answered(job.vmId(), pool, status, waitNanos + runNanos);
        boolean delivered = job.replyTo().send(job.header().reply(MSG_RESPONSE, status, result));
        if (requestLog.on()) {
            // the detail only when it is logged: no string work per request otherwise
            String detail = "seq=" + order.seq() + (effective != job.priority() ? " aged_to=" + effective.label() : "")
                    + (error != null ? " error=" + error : "") + (delivered ? "" : " undelivered=connection-gone");
            requestLog.answered(job.header(), waitNanos, runNanos, status, detail);
        }
    }

    /**
     * Waits up to {@code grace} for the workers (the scheduler is shut down already, so they end after their
     * current request), answers the requests still running with SHUTDOWN; true when no worker is still running.
     */
    boolean stop(Duration grace) {
        Mediator.joinQuietly(threads, grace);
        for (InFlight f : new ArrayList<>(running)) {
            if (f.answered.compareAndSet(false, true)) {
                Job j = f.job;
                j.replyTo().send(j.header().reply(MSG_RESPONSE, ERR_SHUTDOWN, null));
                stats.answered(j.vmId(), j.pool(), ERR_SHUTDOWN, -1);
                requestLog.answered(
                        j.header(),
                        -1,
                        -1,
                        ERR_SHUTDOWN,
                        "still running after the shutdown grace of " + grace.toMillis() + " ms");
            }
        }
        boolean stuck = false;
        for (Thread w : threads) {
            if (w.isAlive()) {
                stuck = true;
                log.warning(w.getName() + " still running a request after the shutdown grace of " + grace.toMillis()
                        + " ms (answered SHUTDOWN)");
            }
        }
        return !stuck;
    }
}

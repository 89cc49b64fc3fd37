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
 * submitted here too ({@link #runClaimed}), when the backend's calls are quick. Whoever
 * finishes a job takes the next queued one of its pool (a connection's thread at most {@value #DRAIN_LIMIT} in a
 * row, then it wakes a worker and goes back to reading). At shutdown, {@link #stop} gives running requests the
 * grace to finish and answers those still running after it with SHUTDOWN.
 */
final class Workers {
    /** Jobs a connection's thread runs in a row (its own and queued ones) before it hands the rest to a worker. */
    static final int DRAIN_LIMIT = 8;

    /**
     * A request being run, then its outcome until the reply is out; {@code answered} makes sure exactly one
     * reply goes out for it.
     */
    private static final class InFlight {
        final Job job;
        final AtomicBoolean answered = new AtomicBoolean();
        Stats.Executed order;
        Priority effective;
        int status = ERR_NONE;
        byte[] result;
        String error;
        long waitNanos;
        long runNanos;
        Pool pool;
        /** False when shutdown's grace answered it with SHUTDOWN while it ran. */
        boolean ours;

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
            runBatch(pool, job, false);
        }
    }

    /** Runs a job the scheduler started on the caller's thread (and what it takes next, see runBatch). */
    void runClaimed(Pool pool, Job job) {
        runBatch(pool, job, true);
    }

    /**
     * Runs a job that holds a slot of its pool, then up to {@value #DRAIN_LIMIT} - 1 jobs queued behind it (of the
     * same pool; with {@code anyPool}, a connection's thread, of either), and only then - the slot released - writes their replies: a thread that a write's wake-up of its
     * client preempts then holds up no other request of the pool.
     */
    private void runBatch(Pool firstPool, Job first, boolean anyPool) {
        InFlight[] done = new InFlight[DRAIN_LIMIT];
        int n = 0;
        Job job = first;
        Pool pool = firstPool;
        try {
            while (job != null) {
                InFlight flight = new InFlight(job);
                running.add(flight);
                done[n++] = flight;
                compute(pool, flight);
                job = null; // released by the finish below (or taken over by the next job)
                job = scheduler.finish(pool, n < DRAIN_LIMIT, anyPool);
                pool = job != null ? job.pool() : pool;
            }
        } finally {
            if (job != null) {
                scheduler.finish(pool, false); // an Error escaped while a slot was held: release it
            }
            for (int i = 0; i < n; i++) {
                try {
                    deliver(done[i]);
                } finally {
                    running.remove(done[i]);
                }
            }
        }
    }

    /**
     * Runs the job on the backend, holding its slot: only what must be in start order happens here (the start's
     * place in the execution log); the counting waits for {@link #deliver}, so the slot is held briefly.
     */
    private void compute(Pool pool, InFlight f) {
        Job job = f.job;
        long startClock = nanoClock.getAsLong();
        f.effective = scheduler.effectiveClass(job, startClock);
        f.waitNanos = Math.max(0, startClock - job.enqueuedNanos());
        f.order = stats.started(job, f.effective, f.waitNanos);
        long t0 = System.nanoTime();
        try {
            f.result = backend.execute(job.request());
        } catch (BackendException | RuntimeException e) {
            f.status = ERR_BACKEND;
            f.error = e.getMessage();
        }
        f.runNanos = System.nanoTime() - t0;
        f.pool = pool;
    }

    private void deliver(InFlight f) {
        Job job = f.job;
        if (f.order == null) {
            return; // never computed (an Error escaped before): shutdown answers it, or nobody can
        }
        stats.finished(f.order, f.runNanos);
        f.ours = f.answered.compareAndSet(false, true);
        if (f.ours) {
            // counted before the reply leaves, so a client that got its answer sees it in the stats
            stats.answered(job.vmId(), f.pool, f.status, f.waitNanos + f.runNanos);
        }
        if (!f.ours) {
            // shutdown's grace ran out while this ran: the client already got SHUTDOWN
            log.info("request vm=" + Integer.toUnsignedString(job.vmId()) + " request_id="
                    + Integer.toUnsignedString(job.requestId())
                    + " finished after its SHUTDOWN reply; result discarded");
            return;
        }
        boolean delivered = job.replyTo().reply(job.header(), f.status, f.result);
        if (requestLog.on()) {
            // the detail only when it is logged: no string work per request otherwise
            String detail = "seq=" + f.order.seq()
                    + (f.effective != job.priority() ? " aged_to=" + f.effective.label() : "")
                    + (f.error != null ? " error=" + f.error : "") + (delivered ? "" : " undelivered=connection-gone");
            requestLog.answered(job.header(), f.waitNanos, f.runNanos, f.status, detail);
        }
    }

    /**
     * Answers SHUTDOWN now to the running (or computed, not yet delivered) requests that match; each one's own
     * result is then discarded ({@code answered}: one reply per request).
     */
    void answerRunning(java.util.function.Predicate<Job> which, String why) {
        for (InFlight f : new ArrayList<>(running)) {
            if (which.test(f.job) && f.answered.compareAndSet(false, true)) {
                Job j = f.job;
                j.replyTo().reply(j.header(), ERR_SHUTDOWN, null);
                stats.answered(j.vmId(), j.pool(), ERR_SHUTDOWN, -1);
                requestLog.answered(j.header(), -1, -1, ERR_SHUTDOWN, why);
            }
        }
    }

    /**
     * Waits up to {@code grace} for the workers (the scheduler is shut down already, so they end after their
     * current request), answers the requests still running with SHUTDOWN; true when no worker is still running.
     */
    boolean stop(Duration grace) {
        Mediator.joinQuietly(threads, grace);
        answerRunning(j -> true, "still running after the shutdown grace of " + grace.toMillis() + " ms");
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

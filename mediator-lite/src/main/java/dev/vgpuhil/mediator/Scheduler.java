package dev.vgpuhil.mediator;

import static dev.vgpuhil.protocol.VgpuProtocol.*;

import dev.vgpuhil.protocol.ComputeRequest;
import dev.vgpuhil.protocol.Frame;
import dev.vgpuhil.protocol.Pool;
import dev.vgpuhil.protocol.Priority;
import java.time.Duration;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicIntegerArray;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.BooleanSupplier;
import java.util.function.LongSupplier;
import java.util.function.Predicate;

/**
 * The one scheduler every connection's requests go through.
 *
 * <ul>
 * <li>pools A and B are separate queues, each drained by its own workers ({@link #take(Pool)});</li>
 * <li>inside a pool: the highest effective class first (high, medium, low);</li>
 * <li>aging: a request's effective class is its priority plus one for every full aging interval it has
 *     waited (capped at high), so a low request is never starved for longer than two intervals;</li>
 * <li>FIFO inside a class, with per-VM fairness (start-time fair queueing): at admission a request gets a
 *     tag {@code max(V, F_vm)} where V is the tag of the request started last in that pool and F_vm is one
 *     past the tag of the previous request of that VM in that pool; the lowest tag of the top class runs
 *     first, ties in arrival order. Without a backlog every tag equals V, so that is plain FIFO; a VM that
 *     floods gets tags V, V+1, V+2, ... and a VM arriving later slots in at V: each VM with work gets a
 *     turn before any gets a second one, and a flood cannot starve another VM of its class;</li>
 * <li>admission: at most {@code perVmCap} queued requests per vm_id (else QUEUE_FULL).</li>
 * </ul>
 * The queues are bounded by the cap, so picking by a linear scan is cheap and keeps the rules obvious.
 * {@link #pause()}/{@link #resume()} hold the workers so tests can enqueue first and observe the order.
 *
 * <p>Each pool runs at most {@code slotsPerPool} jobs at a time (the mediator's workers per pool). Whoever runs
 * a job holds one of its pool's slots: a worker ({@link #take}) or a connection's own thread, which runs the
 * job the rules pick next when it submits to a pool with a free slot ({@link #submit(Frame, ComputeRequest,
 * Job.ReplySink, Runner)}), without a hand-off to a worker. Whoever finishes a job may take the next queued one
 * ({@link #finish}), so under load the slot passes from job to job without waking a thread.
 *
 * <p>No connection thread ever waits for the lock: on a machine with far more runnable threads than cores, a
 * lock holder that gets preempted would otherwise park every other connection behind it (a convoy). A
 * connection that finds the lock taken leaves its request in a lock-free inbox; whoever holds the lock admits
 * the inbox (in arrival order, so with the same tags) before it picks, and looks at the inbox again after it
 * let go of the lock, so nothing is left behind. A request refused from the inbox (QUEUE_FULL, SHUTDOWN) is
 * answered through its {@link Job.ReplySink#rejected}. Workers wait on a semaphore, not on the lock.
 */
public final class Scheduler {

    public enum Admission {
        ACCEPTED,
        QUEUE_FULL,
        SHUTDOWN
    }

    /** Runs a job on the caller's thread (it holds a slot of its pool; the runner calls {@link #finish}). */
    @FunctionalInterface
    public interface Runner {
        void run(Pool pool, Job job);
    }

    /** An inbox entry that admits nothing: "a slot came free, look at the queues" (see {@link #finish}). */
    private static final Job DISPATCH = new Job(-1, null, null, null, 0, 0);

    private static final int SHUTDOWN_PERMITS = 1 << 16;

    private record Refused(Job job, Admission why) {}

    private final int perVmCap;
    private final long agingNanos;
    private final LongSupplier nanoClock;
    private final int slotsPerPool;
    private final ReentrantLock lock = new ReentrantLock();
    /** Submissions (and DISPATCH marks) that found the lock taken; admitted by whoever holds it next. */
    private final ConcurrentLinkedQueue<Job> inbox = new ConcurrentLinkedQueue<>();
    /** Per pool (by ordinal): permits wake that pool's workers; a permit is a hint to look, not a job. */
    private final Semaphore[] wake = new Semaphore[Pool.values().length];
    /**
     * Per pool (by ordinal): jobs running now (taken and not yet finished). Raised only under the lock;
     * {@link #finish} lowers it without the lock.
     */
    private final AtomicIntegerArray running = new AtomicIntegerArray(Pool.values().length);
    /** Per pool: queued jobs, written under the lock, read by {@link #finish} without it. */
    private final AtomicIntegerArray queued = new AtomicIntegerArray(Pool.values().length);

    private final Map<Pool, List<Job>> queues = new EnumMap<>(Pool.class);
    /** pool → virtual time V: the tag of the request started last in that pool. */
    private final Map<Pool, long[]> virtualTime = new EnumMap<>(Pool.class);
    /** pool → vm_id → F_vm, one past the tag of that VM's latest admitted request (dropped once stale). */
    private final Map<Pool, Map<Integer, Long>> finishTags = new EnumMap<>(Pool.class);

    private final Map<Integer, Integer> queuedPerVm = new HashMap<>();
    /** Inbox entries refused while the lock was held; answered once it is let go. Guarded by the lock. */
    private List<Refused> refused;

    private long arrivals;
    private volatile boolean paused;
    /** The hold of the mediator contract (a hold file exists): polled, since nothing signals its removal. */
    private volatile BooleanSupplier held;

    private static final long HOLD_POLL_NANOS = Duration.ofMillis(10).toNanos();
    private volatile boolean shutdown;

    /**
     * @param perVmCap  queued (not yet running) requests allowed per vm_id
     * @param aging     how long a request waits before moving up one class; zero or negative disables aging
     * @param nanoClock monotonic nanoseconds (System::nanoTime; tests inject a manual clock)
     */
    public Scheduler(int perVmCap, Duration aging, LongSupplier nanoClock) {
        this(perVmCap, aging, nanoClock, Integer.MAX_VALUE);
    }

    /**
     * @param slotsPerPool jobs a pool may run at a time (taken by {@link #take} or started by {@link #submit}
     *                     with a runner, released by {@link #finish}); the 3-argument form has no limit
     */
    public Scheduler(int perVmCap, Duration aging, LongSupplier nanoClock, int slotsPerPool) {
        if (perVmCap < 1) {
            throw new IllegalArgumentException("queue cap must be at least 1, got " + perVmCap);
        }
        if (slotsPerPool < 1) {
            throw new IllegalArgumentException("slots per pool must be at least 1, got " + slotsPerPool);
        }
        this.perVmCap = perVmCap;
        this.agingNanos = aging.toNanos();
        this.nanoClock = nanoClock;
        this.slotsPerPool = slotsPerPool;
        for (int i = 0; i < wake.length; i++) {
            wake[i] = new Semaphore(0);
        }
        for (Pool pool : Pool.values()) {
            queues.put(pool, new ArrayList<>());
            virtualTime.put(pool, new long[] {0});
            finishTags.put(pool, new HashMap<>());
        }
    }

    /** Builds a job with the next arrival number and the clock's time, and admits it (or says why not). */
    public Admission submit(Frame header, ComputeRequest request, Job.ReplySink replyTo) {
        Job job = new Job(-1, header, request, replyTo, nanoClock.getAsLong(), -1);
        poolOf(job);
        lock.lock();
        Admission a;
        try {
            admitInboxLocked();
            a = admitLocked(job, false);
            dispatchLocked(false, null, false);
        } finally {
            release(null, false, null, false);
        }
        return a;
    }

    /**
     * Admits a request like {@link #submit(Frame, ComputeRequest, Job.ReplySink)}, but never waits for the
     * lock, and with a {@code runner} (the caller's thread may run jobs itself: a quick backend): a pool with
     * a free slot that is not paused starts the job its rules pick next - this very request when nothing is
     * queued, which then is not queued at all - on the caller's thread, through the runner, once the lock is
     * let go. ACCEPTED also when the lock was taken and the request went to the inbox; then a refusal comes
     * later, through {@link Job.ReplySink#rejected}.
     */
    public Admission submit(Frame header, ComputeRequest request, Job.ReplySink replyTo, Runner runner) {
        if (runner == null) {
            return submit(header, request, replyTo);
        }
        Job job = new Job(-1, header, request, replyTo, nanoClock.getAsLong(), -1);
        Pool pool = poolOf(job);
        Job mine = null;
        Admission a = Admission.ACCEPTED;
        if (lock.tryLock()) {
            try {
                admitInboxLocked();
                int p = pool.ordinal();
                if (!shutdown && !holding() && queues.get(pool).isEmpty() && running.get(p) < slotsPerPool) {
                    // the rules would pick it next anyway: it starts without being queued
                    mine = startLocked(pool, stamp(job, pool));
                } else {
                    a = admitLocked(job, false);
                }
                Job other = dispatchLocked(mine == null, pool, true);
                mine = mine != null ? mine : other;
            } finally {
                mine = release(mine, true, pool, true);
            }
        } else {
            inbox.offer(job); // the holder admits it before it lets go (or after: see release)
            mine = help(true, pool, true);
        }
        if (mine != null) {
            runner.run(poolOf(mine), mine);
        }
        return a;
    }

    /**
     * Releases the slot of a finished job of this pool. With {@code canRunNext}, a job the rules pick next (this
     * pool first) starts in the caller's thread and is returned for it to run (then {@link #finish} again);
     * otherwise what is queued goes to a worker, and null.
     */
    public Job finish(Pool pool, boolean canRunNext) {
        return finish(pool, canRunNext, false);
    }

    /** {@link #finish(Pool, boolean)}; {@code anyPool}: the next job may be of the other pool too. */
    Job finish(Pool pool, boolean canRunNext, boolean anyPool) {
        running.decrementAndGet(pool.ordinal());
        // nothing queued: done without the lock. A submit that queues meanwhile raises the count before it
        // reads running, so it sees the slot free and dispatches, or this read sees its job
        if (queued.get(pool.ordinal()) == 0 && inbox.isEmpty()) {
            return null;
        }
        if (!lock.tryLock()) {
            inbox.offer(DISPATCH); // the holder dispatches when it lets go
            return help(canRunNext, pool, anyPool);
        }
        Job mine = null;
        try {
            admitInboxLocked();
            mine = dispatchLocked(canRunNext, pool, anyPool);
        } finally {
            mine = release(mine, canRunNext, pool, anyPool);
        }
        return mine;
    }

    /**
     * The next job of this pool by the rules above, holding one of its slots; blocks while paused, empty or
     * every slot is taken; null once shut down.
     */
    public Job take(Pool pool) throws InterruptedException {
        List<Job> queue = queues.get(pool);
        int p = pool.ordinal();
        while (true) {
            Job job = null;
            boolean down;
            lock.lockInterruptibly();
            try {
                admitInboxLocked();
                down = shutdown;
                if (!down && !holding() && !queue.isEmpty() && running.get(p) < slotsPerPool) {
                    job = takeLocked(pool, queue);
                }
                dispatchLocked(false, null, false);
            } finally {
                release(null, false, null, false);
            }
            if (down) {
                return null;
            }
            if (job != null) {
                return job;
            }
            if (held == null) {
                wake[p].acquire();
            } else {
                wake[p].tryAcquire(HOLD_POLL_NANOS, TimeUnit.NANOSECONDS); // a hold's end signals nothing
            }
        }
    }

    /** Paused, or the contract's hold in force: no request starts. */
    private boolean holding() {
        BooleanSupplier h = held;
        return paused || (h != null && h.getAsBoolean());
    }

    /**
     * Holds every worker before its next take while {@code condition} is true (checked before each start, and
     * every 10 ms while work waits): the contract's hold file, so a client can enqueue first and observe the order.
     */
    public void holdWhile(BooleanSupplier condition) {
        this.held = java.util.Objects.requireNonNull(condition);
    }

    // ---------------------------------------------------------------- under the lock

    private static Pool poolOf(Job job) {
        return Pool.fromWire(job.header().poolId())
                .orElseThrow(() ->
                        new IllegalArgumentException("pool " + job.header().poolId() + " is neither A nor B"));
    }

    /** The job with its arrival number and fair-queueing start tag (max(V, F_vm); F_vm moves past it). */
    private Job stamp(Job job, Pool pool) {
        long v = virtualTime.get(pool)[0];
        Map<Integer, Long> finish = finishTags.get(pool);
        Long f = finish.get(job.vmId());
        long tag = f == null ? v : Math.max(v, f);
        finish.put(job.vmId(), tag + 1);
        return new Job(arrivals++, job.header(), job.request(), job.replyTo(), job.enqueuedNanos(), tag);
    }

    /** Queues a job or says why not; {@code fromInbox}: a refusal is answered after the lock is let go. */
    private Admission admitLocked(Job job, boolean fromInbox) {
        Admission a;
        if (shutdown) {
            a = Admission.SHUTDOWN;
        } else if (queuedPerVm.getOrDefault(job.vmId(), 0) >= perVmCap) {
            a = Admission.QUEUE_FULL;
        } else {
            Pool pool = poolOf(job);
            queues.get(pool).add(stamp(job, pool));
            queued.incrementAndGet(pool.ordinal());
            queuedPerVm.merge(job.vmId(), 1, Integer::sum);
            a = Admission.ACCEPTED;
        }
        if (fromInbox && a != Admission.ACCEPTED) {
            if (refused == null) {
                refused = new ArrayList<>();
            }
            refused.add(new Refused(job, a));
        }
        return a;
    }

    /** Admits what waits in the inbox, oldest first. */
    private void admitInboxLocked() {
        for (Job j; (j = inbox.poll()) != null; ) {
            if (j != DISPATCH) {
                admitLocked(j, true);
            }
        }
    }

    /**
     * Starts queued work where a pool has a free slot and is not paused: with {@code canRun}, one job for the
     * caller (of the {@code prefer} pool, else with {@code anyPool} of another), returned; for the rest a worker
     * of the pool is woken. The queued count is
     * raised before running is read (in admitLocked), which pairs with finish().
     */
    private Job dispatchLocked(boolean canRun, Pool prefer, boolean anyPool) {
        if (shutdown || holding()) {
            return null;
        }
        Job mine = null;
        if (canRun && prefer != null) {
            mine = takeIfFree(prefer);
        }
        for (Pool pool : Pool.values()) {
            if (canRun && anyPool && mine == null) {
                mine = takeIfFree(pool);
            }
            int p = pool.ordinal();
            if (!queues.get(pool).isEmpty() && running.get(p) < slotsPerPool && wake[p].availablePermits() == 0) {
                wake[p].release();
            }
        }
        return mine;
    }

    private Job takeIfFree(Pool pool) {
        List<Job> queue = queues.get(pool);
        return !queue.isEmpty() && running.get(pool.ordinal()) < slotsPerPool ? takeLocked(pool, queue) : null;
    }

    private Job takeLocked(Pool pool, List<Job> queue) {
        Job job = pick(pool, queue);
        queue.remove(job);
        queued.decrementAndGet(pool.ordinal());
        queuedPerVm.merge(job.vmId(), -1, (a, b) -> a + b == 0 ? null : a + b);
        running.incrementAndGet(pool.ordinal());
        return job;
    }

    /** A job starting now without having been queued: V moves to its tag, stale finish tags go, it holds a slot. */
    private Job startLocked(Pool pool, Job job) {
        advance(pool, job.tag());
        running.incrementAndGet(pool.ordinal());
        return job;
    }

    private void advance(Pool pool, long tag) {
        long[] v = virtualTime.get(pool);
        v[0] = Math.max(v[0], tag);
        // forget VMs whose finish tag no longer matters (<= V): keeps the map as small as the backlog
        long now = v[0];
        finishTags.get(pool).values().removeIf(f -> f <= now);
    }

    private Job pick(Pool pool, List<Job> queue) {
        long now = nanoClock.getAsLong();
        Job best = null;
        Priority bestClass = null;
        for (Job j : queue) {
            Priority c = effectiveClass(j, now);
            if (best == null
                    || c.compareTo(bestClass) > 0
                    || (c == bestClass
                            && (j.tag() < best.tag() || (j.tag() == best.tag() && j.arrival() < best.arrival())))) {
                best = j;
                bestClass = c;
            }
        }
        advance(pool, best.tag());
        return best;
    }

    /**
     * Lets go of the lock, then - while the inbox holds something and the lock is free - takes it again to
     * admit and dispatch: whoever held the lock last leaves no submission behind. Answers the refusals made
     * meanwhile. Returns {@code mine}, or the job started for the caller when it had none and may run one
     * ({@code canRun}, {@code prefer}, {@code anyPool} as for dispatchLocked).
     */
    private Job release(Job mine, boolean canRun, Pool prefer, boolean anyPool) {
        List<Refused> answer = refused;
        refused = null;
        lock.unlock();
        while (!inbox.isEmpty() && lock.tryLock()) {
            try {
                admitInboxLocked();
                Job j = dispatchLocked(canRun && mine == null, prefer, anyPool);
                if (j != null) {
                    mine = j;
                }
                if (refused != null) {
                    answer = answer == null ? refused : concat(answer, refused);
                    refused = null;
                }
            } finally {
                lock.unlock();
            }
        }
        if (answer != null) {
            for (Refused r : answer) {
                r.job().replyTo().rejected(r.job().header(), r.why());
            }
        }
        return mine;
    }

    /**
     * After an inbox offer: admits and dispatches if the lock is free and something waits; {@link #release} goes
     * on doing so for as long as both hold.
     */
    private Job help(boolean canRun, Pool prefer, boolean anyPool) {
        if (inbox.isEmpty() || !lock.tryLock()) {
            return null;
        }
        Job mine = null;
        try {
            admitInboxLocked();
            mine = dispatchLocked(canRun, prefer, anyPool);
        } finally {
            mine = release(mine, canRun, prefer, anyPool);
        }
        return mine;
    }

    private static <T> List<T> concat(List<T> a, List<T> b) {
        List<T> all = new ArrayList<>(a);
        all.addAll(b);
        return all;
    }

    /** The class a job competes in now: its priority, raised one step per full aging interval waited. */
    public Priority effectiveClass(Job job, long nowNanos) {
        Priority base = job.priority();
        if (agingNanos <= 0) {
            return base;
        }
        long steps = Math.max(0, nowNanos - job.enqueuedNanos()) / agingNanos;
        Priority[] classes = Priority.values(); // in wire order, low to high
        return classes[(int) Math.min(classes.length - 1, base.ordinal() + steps)];
    }

    /** Holds every worker before its next take (running jobs finish). */
    public void pause() {
        lock.lock();
        try {
            paused = true;
        } finally {
            release(null, false, null, false);
        }
    }

    public void resume() {
        lock.lock();
        try {
            paused = false;
            admitInboxLocked();
            dispatchLocked(false, null, false);
        } finally {
            release(null, false, null, false);
        }
    }

    /** Waits until at least {@code count} jobs are queued in total; false at the deadline. */
    public boolean awaitQueued(int count, Duration timeout) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        // polled: a thread waiting on a condition of the lock would let go of it without looking at the inbox
        while (depth() < count) {
            if (System.nanoTime() - deadline > 0) {
                return false;
            }
            Thread.sleep(1);
        }
        return true;
    }

    /** Stops admission, wakes the workers (take returns null) and hands back every queued job. */
    public List<Job> shutdown() {
        lock.lock();
        List<Job> drained = new ArrayList<>();
        try {
            admitInboxLocked(); // before the flag: what arrived until now is queued, then handed back
            shutdown = true;
            queues.values().forEach(q -> {
                drained.addAll(q);
                q.clear();
            });
            for (int i = 0; i < queued.length(); i++) {
                queued.set(i, 0);
            }
            drained.sort((a, b) -> Long.compare(a.arrival(), b.arrival()));
            queuedPerVm.clear();
            finishTags.values().forEach(Map::clear);
            for (Semaphore s : wake) {
                s.release(SHUTDOWN_PERMITS);
            }
        } finally {
            release(null, false, null, false);
        }
        return drained;
    }

    /** Removes (and returns) the queued jobs matching the filter, e.g. those of a closed connection. */
    public List<Job> removeIf(Predicate<Job> filter) {
        lock.lock();
        List<Job> removed = new ArrayList<>();
        try {
            admitInboxLocked();
            for (List<Job> q : queues.values()) {
                for (Iterator<Job> it = q.iterator(); it.hasNext(); ) {
                    Job j = it.next();
                    if (filter.test(j)) {
                        it.remove();
                        queued.decrementAndGet(poolOf(j).ordinal());
                        removed.add(j);
                        queuedPerVm.merge(j.vmId(), -1, (a, b) -> a + b == 0 ? null : a + b);
                    }
                }
            }
            if (!removed.isEmpty()) {
                // a VM whose queued work was removed (its connection closed) leaves no tag debt behind
                for (var e : queues.entrySet()) {
                    java.util.Set<Integer> backlogged = new java.util.HashSet<>();
                    e.getValue().forEach(j -> backlogged.add(j.vmId()));
                    finishTags.get(e.getKey()).keySet().retainAll(backlogged);
                }
            }
            dispatchLocked(false, null, false);
        } finally {
            release(null, false, null, false);
        }
        return removed;
    }

    public int depth(Pool pool) {
        lock.lock();
        try {
            admitInboxLocked();
            dispatchLocked(false, null, false);
            return queues.get(pool).size();
        } finally {
            release(null, false, null, false);
        }
    }

    public int depth() {
        lock.lock();
        try {
            admitInboxLocked();
            dispatchLocked(false, null, false);
            int n = 0;
            for (List<Job> q : queues.values()) {
                n += q.size();
            }
            return n;
        } finally {
            release(null, false, null, false);
        }
    }

    public boolean isShutdown() {
        return shutdown;
    }
}

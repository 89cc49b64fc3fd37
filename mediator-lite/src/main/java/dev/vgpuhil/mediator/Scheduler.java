package dev.vgpuhil.mediator;

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
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
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
 * a job holds one of its pool's slots: a worker ({@link #take}) or a connection's own thread, which may
 * {@link #claim} a request when its pool has a free slot and nothing queued - the job the rules would pick
 * next anyway, without a hand-off to a worker. Whoever finishes a job may take the next queued one of the same
 * pool ({@link #finish}), so under load the slot passes from job to job without waking a thread.
 */
public final class Scheduler {

    public enum Admission {
        ACCEPTED,
        QUEUE_FULL,
        SHUTDOWN
    }

    private final int perVmCap;
    private final long agingNanos;
    private final LongSupplier nanoClock;
    private final int slotsPerPool;
    private final ReentrantLock lock = new ReentrantLock();
    /** Signalled on admission, for {@link #awaitQueued}. */
    private final Condition changed = lock.newCondition();
    /** Per pool (by ordinal): signalled when that pool's workers may find a job to take. */
    private final Condition[] work = new Condition[Pool.values().length];
    /** Per pool (by ordinal): jobs running now (taken or claimed and not yet finished). */
    private final int[] running = new int[Pool.values().length];

    private final Map<Pool, List<Job>> queues = new EnumMap<>(Pool.class);
    /** pool → virtual time V: the tag of the request started last in that pool. */
    private final Map<Pool, long[]> virtualTime = new EnumMap<>(Pool.class);
    /** pool → vm_id → F_vm, one past the tag of that VM's latest admitted request (dropped once stale). */
    private final Map<Pool, Map<Integer, Long>> finishTags = new EnumMap<>(Pool.class);

    private final Map<Integer, Integer> queuedPerVm = new HashMap<>();
    private long arrivals;
    private boolean paused;
    private boolean shutdown;

    /**
     * @param perVmCap  queued (not yet running) requests allowed per vm_id
     * @param aging     how long a request waits before moving up one class; zero or negative disables aging
     * @param nanoClock monotonic nanoseconds (System::nanoTime; tests inject a manual clock)
     */
    public Scheduler(int perVmCap, Duration aging, LongSupplier nanoClock) {
        this(perVmCap, aging, nanoClock, Integer.MAX_VALUE);
    }

    /**
     * @param slotsPerPool jobs a pool may run at a time (taken by {@link #take} or {@link #claim}, released by
     *                     {@link #finish}); the 3-argument form has no limit (a caller that never finishes)
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
        for (int i = 0; i < work.length; i++) {
            work[i] = lock.newCondition();
        }
        for (Pool pool : Pool.values()) {
            queues.put(pool, new ArrayList<>());
            virtualTime.put(pool, new long[] {0});
            finishTags.put(pool, new HashMap<>());
        }
    }

    /** Builds a job with the next arrival number and the clock's time, and admits it (or says why not). */
    public Admission submit(Frame header, ComputeRequest request, Job.ReplySink replyTo) {
        lock.lock();
        try {
            Pool pool = Pool.fromWire(header.poolId())
                    .orElseThrow(() -> new IllegalArgumentException("pool " + header.poolId() + " is neither A nor B"));
            List<Job> queue = queues.get(pool);
            if (shutdown) {
                return Admission.SHUTDOWN;
            }
            int queued = queuedPerVm.getOrDefault(header.vmId(), 0);
            if (queued >= perVmCap) {
                return Admission.QUEUE_FULL;
            }
            long tag = admissionTag(pool, header.vmId());
            queue.add(new Job(arrivals++, header, request, replyTo, nanoClock.getAsLong(), tag));
            queuedPerVm.put(header.vmId(), queued + 1);
            changed.signalAll();
            if (running[pool.ordinal()] < slotsPerPool) {
                work[pool.ordinal()].signal();
            }
            return Admission.ACCEPTED;
        } finally {
            lock.unlock();
        }
    }

    /** The fair-queueing start tag of a request of {@code vmId} admitted now: max(V, F_vm); F_vm moves past it. */
    private long admissionTag(Pool pool, int vmId) {
        long v = virtualTime.get(pool)[0];
        Map<Integer, Long> finish = finishTags.get(pool);
        Long f = finish.get(vmId);
        long tag = f == null ? v : Math.max(v, f);
        finish.put(vmId, tag + 1);
        return tag;
    }

    /**
     * Admits the request and starts it at once, holding one of its pool's slots, when the rules would pick it
     * next anyway: the pool has a free slot and nothing queued (so nothing of a higher class, or of the same
     * class ahead of it, waits), and the scheduler is neither paused nor shut down. Null otherwise: then
     * {@link #submit} it. The caller runs the job and then calls {@link #finish}.
     */
    public Job claim(Frame header, ComputeRequest request, Job.ReplySink replyTo) {
        lock.lock();
        try {
            Pool pool = Pool.fromWire(header.poolId())
                    .orElseThrow(() -> new IllegalArgumentException("pool " + header.poolId() + " is neither A nor B"));
            int p = pool.ordinal();
            if (shutdown
                    || paused
                    || running[p] >= slotsPerPool
                    || !queues.get(pool).isEmpty()) {
                return null;
            }
            long tag = admissionTag(pool, header.vmId());
            Job job = new Job(arrivals++, header, request, replyTo, nanoClock.getAsLong(), tag);
            started(pool, job);
            return job;
        } finally {
            lock.unlock();
        }
    }

    /**
     * Releases the slot of a finished job of this pool. With {@code takeNext}, and a job of this pool queued
     * (not paused, not shut down), that job is started in the same slot and returned for the caller to run
     * (then {@link #finish} again); otherwise a worker of the pool is woken for what is queued, and null.
     */
    public Job finish(Pool pool, boolean takeNext) {
        lock.lock();
        try {
            int p = pool.ordinal();
            running[p]--;
            List<Job> queue = queues.get(pool);
            if (shutdown || paused || queue.isEmpty()) {
                return null;
            }
            if (takeNext) {
                return takeLocked(pool, queue);
            }
            work[p].signal();
            return null;
        } finally {
            lock.unlock();
        }
    }

    /**
     * The next job of this pool by the rules above, holding one of its slots; blocks while paused, empty or
     * every slot is taken; null once shut down.
     */
    public Job take(Pool pool) throws InterruptedException {
        lock.lockInterruptibly();
        try {
            List<Job> queue = queues.get(pool);
            int p = pool.ordinal();
            while (!shutdown && (paused || queue.isEmpty() || running[p] >= slotsPerPool)) {
                work[p].await();
            }
            if (shutdown) {
                return null;
            }
            return takeLocked(pool, queue);
        } finally {
            lock.unlock();
        }
    }

    private Job takeLocked(Pool pool, List<Job> queue) {
        Job job = pick(pool, queue);
        queue.remove(job);
        queuedPerVm.merge(job.vmId(), -1, (a, b) -> a + b == 0 ? null : a + b);
        running[pool.ordinal()]++;
        if (!queue.isEmpty() && running[pool.ordinal()] < slotsPerPool) {
            work[pool.ordinal()].signal(); // more work and a free slot: the next worker
        }
        return job;
    }

    /** The bookkeeping of a job starting now: V moves to its tag, stale finish tags go, it holds a slot. */
    private void started(Pool pool, Job job) {
        long[] v = virtualTime.get(pool);
        v[0] = Math.max(v[0], job.tag());
        // forget VMs whose finish tag no longer matters (<= V): keeps the map as small as the backlog
        finishTags.get(pool).values().removeIf(f -> f <= v[0]);
        running[pool.ordinal()]++;
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
        long[] v = virtualTime.get(pool);
        v[0] = Math.max(v[0], best.tag());
        // forget VMs whose finish tag no longer matters (<= V): keeps the map as small as the backlog
        finishTags.get(pool).values().removeIf(f -> f <= v[0]);
        return best;
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
            lock.unlock();
        }
    }

    public void resume() {
        lock.lock();
        try {
            paused = false;
            signalEveryone();
        } finally {
            lock.unlock();
        }
    }

    /** Waits until at least {@code count} jobs are queued in total; false at the deadline. */
    public boolean awaitQueued(int count, Duration timeout) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        lock.lock();
        try {
            while (depthLocked() < count) {
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    return false;
                }
                changed.awaitNanos(left);
            }
            return true;
        } finally {
            lock.unlock();
        }
    }

    /** Stops admission, wakes the workers (take returns null) and hands back every queued job. */
    public List<Job> shutdown() {
        lock.lock();
        try {
            shutdown = true;
            List<Job> drained = new ArrayList<>();
            queues.values().forEach(q -> {
                drained.addAll(q);
                q.clear();
            });
            drained.sort((a, b) -> Long.compare(a.arrival(), b.arrival()));
            queuedPerVm.clear();
            finishTags.values().forEach(Map::clear);
            signalEveryone();
            return drained;
        } finally {
            lock.unlock();
        }
    }

    /** Removes (and returns) the queued jobs matching the filter, e.g. those of a closed connection. */
    public List<Job> removeIf(Predicate<Job> filter) {
        lock.lock();
        try {
            List<Job> removed = new ArrayList<>();
            for (List<Job> q : queues.values()) {
                for (Iterator<Job> it = q.iterator(); it.hasNext(); ) {
                    Job j = it.next();
                    if (filter.test(j)) {
                        it.remove();
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
                changed.signalAll();
            }
            return removed;
        } finally {
            lock.unlock();
        }
    }

    private void signalEveryone() {
        changed.signalAll();
        for (Condition c : work) {
            c.signalAll();
        }
    }

    public int depth(Pool pool) {
        lock.lock();
        try {
            List<Job> q = queues.get(pool);
            return q == null ? 0 : q.size();
        } finally {
            lock.unlock();
        }
    }

    public int depth() {
        lock.lock();
        try {
            return depthLocked();
        } finally {
            lock.unlock();
        }
    }

    private int depthLocked() {
        int n = 0;
        for (List<Job> q : queues.values()) {
            n += q.size();
        }
        return n;
    }

    public boolean isShutdown() {
        lock.lock();
        try {
            return shutdown;
        } finally {
            lock.unlock();
        }
    }
}

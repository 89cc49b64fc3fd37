package dev.vgpuhil.mediator;

import static dev.vgpuhil.protocol.VgpuProtocol.*;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.vgpuhil.common.Percentile;
import dev.vgpuhil.protocol.Pool;
import dev.vgpuhil.protocol.Priority;
import dev.vgpuhil.protocol.VgpuProtocol.ErrorCode;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicLongArray;
import java.util.concurrent.atomic.AtomicReferenceArray;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.IntSupplier;
import java.util.function.Supplier;
import java.util.function.ToIntFunction;

/**
 * Counters of one mediator: per VM, per pool, per error code, latency percentiles per pool (over the last
 * {@value #LATENCY_WINDOW} requests of that pool), the vm_ids bound by HELLO right now, and the order in which
 * requests were started (with their start and run times).
 *
 * <p>The JSON (STATS_REPLY's payload, and the counters logged at shutdown): {@code pid}, {@code backend},
 * {@code uptime_ms}, {@code connections}, {@code bound} (how many connections are bound by HELLO),
 * {@code received}, {@code completed}, {@code failed}, {@code dropped}, {@code queued} {A, B}, {@code pools}
 * {A|B: ok, failed, p50_us, p95_us, p99_us}, {@code errors} {code name: count}, {@code vms_other} [ok, failed]
 * when VMs beyond the tracked ones answered, then what fits: {@code bound_vms} [vm_id...] (ascending, unsigned),
 * {@code vms} {vm_id: [ok, failed]}, {@code last} [[vm_id, request_id, priority]...] (start order), and
 * {@code truncated: true} when something was left out.
 */
public final class Stats {
    static final int LATENCY_WINDOW = 8192;
    static final int EXECUTION_LOG_SIZE = 512;
    /** VMs counted one by one; later ones share the "vms_other" bucket, so clients cycling vm_ids cannot grow it. */
    static final int MAX_VMS_TRACKED = 4096;

    private static final ObjectMapper JSON = new ObjectMapper();

    /**
     * One started request, in start order ({@code seq} counts from 1): {@code startNanos} on the mediator's
     * monotonic clock (System.nanoTime), {@code waitNanos} how long it was queued before, {@code runNanos} the
     * backend's time once it finished, -1 before.
     */
    public record Executed(
            long seq,
            int vmId,
            int requestId,
            Pool pool,
            Priority priority,
            Priority effectiveClass,
            long startNanos,
            long waitNanos,
            long runNanos) {
        Executed finished(long run) {
            return new Executed(seq, vmId, requestId, pool, priority, effectiveClass, startNanos, waitNanos, run);
        }
    }

    // Every per-request update is lock-free (adders, atomics): a thread preempted while it counts must not
    // hold up the other connections. Readers (the JSON, the accessors) take a consistent-enough snapshot.
    private final long startNanos = System.nanoTime();
    private final String backend;
    private final ToIntFunction<Pool> queueDepth;
    private final IntSupplier connections;
    private final Supplier<List<Integer>> boundVms;
    private final LongAdder received = new LongAdder();
    private final LongAdder completed = new LongAdder();
    private final LongAdder failed = new LongAdder();
    private final LongAdder dropped = new LongAdder();
    private final Map<String, LongAdder> errors = new ConcurrentHashMap<>();
    private final Map<Long, LongAdder[]> perVm = new ConcurrentHashMap<>(); // vm (unsigned) → {ok, failed}
    private final LongAdder[] otherVms = pair();
    private final Map<Pool, LongAdder[]> perPool = new EnumMap<>(Pool.class); // pool → {ok, failed}
    private final Map<Pool, LatencyWindow> latency = new EnumMap<>(Pool.class);
    private final AtomicReferenceArray<Executed> executed = new AtomicReferenceArray<>(EXECUTION_LOG_SIZE);
    private final AtomicLong executedSeq = new AtomicLong();

    /**
     * @param queueDepth  queued requests of a pool now
     * @param connections open connections now
     * @param boundVms    the vm_ids bound by an accepted HELLO now, ascending in unsigned order
     */
    Stats(String backend, ToIntFunction<Pool> queueDepth, IntSupplier connections, Supplier<List<Integer>> boundVms) {
        this.backend = backend;
        this.queueDepth = queueDepth;
        this.connections = connections;
        this.boundVms = boundVms;
        for (Pool pool : Pool.values()) {
            perPool.put(pool, pair());
            latency.put(pool, new LatencyWindow());
        }
    }

    private static LongAdder[] pair() {
        return new LongAdder[] {new LongAdder(), new LongAdder()};
    }

    void requestReceived() {
        received.increment();
    }

    /** Records the start of a request and returns its place in the execution order. */
    Executed started(Job job, Priority effectiveClass, long waitNanos) {
        Executed e = new Executed(
                executedSeq.incrementAndGet(),
                job.vmId(),
                job.requestId(),
                job.pool(),
                job.priority(),
                effectiveClass,
                System.nanoTime(),
                waitNanos,
                -1);
        executed.set((int) (e.seq() % EXECUTION_LOG_SIZE), e);
        return e;
    }

    /** Adds the run time to a started request's entry (if the log still holds it). */
    void finished(Executed e, long runNanos) {
        executed.compareAndSet((int) (e.seq() % EXECUTION_LOG_SIZE), e, e.finished(runNanos));
    }

    /**
     * A REQUEST answered (status 0 = done); latency counted only for requests that reached a worker.
     * {@code vmId} null: not counted per VM (a frame refused before it could be attributed to a bound VM);
     * {@code pool} null: not counted per pool (a frame naming no valid pool).
     */
    void answered(Integer vmId, Pool pool, int status, long totalNanos) {
        boolean ok = status == ERR_NONE;
        if (ok) {
            completed.increment();
        } else {
            failed.increment();
            errors.computeIfAbsent(ErrorCode.nameOf(status), k -> new LongAdder())
                    .increment();
        }
        if (vmId != null) {
            long key = Integer.toUnsignedLong(vmId);
            LongAdder[] counts = perVm.get(key);
            if (counts == null && perVm.size() < MAX_VMS_TRACKED) {
                counts = perVm.computeIfAbsent(key, k -> pair());
            }
            (counts != null ? counts : otherVms)[ok ? 0 : 1].increment();
        }
        if (pool != null) {
            perPool.get(pool)[ok ? 0 : 1].increment();
            if (totalNanos >= 0) {
                latency.get(pool).add(totalNanos);
            }
        }
    }

    /** A queued request thrown away because its connection closed before it ran (nobody to answer). */
    void droppedOne() {
        dropped.increment();
    }

    public long dropped() {
        return dropped.sum();
    }

    /** A frame refused outside a request (HELLO refused, bad frame, peer refused): counted per error code. */
    void refused(int status) {
        errors.computeIfAbsent(ErrorCode.nameOf(status), k -> new LongAdder()).increment();
    }

    /** The last (up to {@value #EXECUTION_LOG_SIZE}) started requests, in start order. */
    public List<Executed> executionLog() {
        long last = executedSeq.get();
        List<Executed> out = new ArrayList<>();
        for (long seq = Math.max(1, last - EXECUTION_LOG_SIZE + 1); seq <= last; seq++) {
            Executed e = executed.get((int) (seq % EXECUTION_LOG_SIZE));
            if (e != null && e.seq() == seq) { // a slot being rewritten right now is left out
                out.add(e);
            }
        }
        return out;
    }

    /** REQUEST frames read (answered or not yet). */
    public long received() {
        return received.sum();
    }

    public long completed() {
        return completed.sum();
    }

    public long failed() {
        return failed.sum();
    }

    public Map<String, Long> errorCounts() {
        Map<String, Long> out = new TreeMap<>();
        errors.forEach((k, v) -> out.put(k, v.sum()));
        return out;
    }

    /** Every counter as JSON (no size limit; printed at shutdown and offered to in-process callers). */
    public synchronized String toJson() {
        return json(Integer.MAX_VALUE);
    }

    /**
     * The same JSON cut to fit {@code maxBytes} (STATS_REPLY must fit VGPU_MAX_PAYLOAD): the totals always,
     * then as many bound vm_ids, VMs and (newest) execution-log entries as fit; {@code "truncated":true} says
     * some were cut.
     */
    public synchronized String toJson(int maxBytes) {
        return json(maxBytes);
    }

    private String json(int maxBytes) {
        List<Integer> bound = boundVms.get();
        ObjectNode root = JSON.createObjectNode();
        root.put("pid", ProcessHandle.current().pid());
        root.put("backend", backend);
        root.put("uptime_ms", (System.nanoTime() - startNanos) / 1_000_000);
        root.put("connections", connections.getAsInt());
        root.put("bound", bound.size());
        root.put("received", received.sum());
        root.put("completed", completed.sum());
        root.put("failed", failed.sum());
        root.put("dropped", dropped.sum());
        ObjectNode queued = root.putObject("queued");
        ObjectNode pools = root.putObject("pools");
        for (Pool pool : Pool.values()) {
            queued.put(pool.name(), queueDepth.applyAsInt(pool));
            long[] lat = latency.get(pool).percentilesMicros();
            pools.putObject(pool.name())
                    .put("ok", perPool.get(pool)[0].sum())
                    .put("failed", perPool.get(pool)[1].sum())
                    .put("p50_us", lat[0])
                    .put("p95_us", lat[1])
                    .put("p99_us", lat[2]);
        }
        ObjectNode errs = root.putObject("errors");
        errorCounts().forEach(errs::put);
        long otherOk = otherVms[0].sum();
        long otherFailed = otherVms[1].sum();
        if (otherOk + otherFailed > 0) {
            root.putArray("vms_other").add(otherOk).add(otherFailed);
        }
        // optional parts, in this order, each item added only while the whole stays within maxBytes; an item
        // adds its own text plus one separator, the reserve keeps room for "truncated"
        ArrayNode boundNode = root.putArray("bound_vms");
        ObjectNode vms = root.putObject("vms");
        ArrayNode last = root.putArray("last");
        int used = bytes(write(root)) + ",\"truncated\":true".length();
        boolean truncated = false;
        for (int vm : bound) {
            String item = Integer.toUnsignedString(vm);
            if (used + item.length() + 1 > maxBytes) {
                truncated = true;
                break;
            }
            used += item.length() + 1;
            boundNode.add(Integer.toUnsignedLong(vm));
        }
        for (var e : new TreeMap<>(perVm).entrySet()) {
            long ok = e.getValue()[0].sum();
            long bad = e.getValue()[1].sum();
            String item = "\"" + e.getKey() + "\":[" + ok + "," + bad + "]";
            if (used + item.length() + 1 > maxBytes) {
                truncated = true;
                break;
            }
            used += item.length() + 1;
            vms.putArray(Long.toString(e.getKey())).add(ok).add(bad);
        }
        // newest executions first when choosing what fits, printed oldest first (execution order)
        Executed[] all = executionLog().toArray(new Executed[0]);
        int from = all.length;
        while (from > 0) {
            Executed x = all[from - 1];
            String item = "[" + Integer.toUnsignedString(x.vmId()) + "," + Integer.toUnsignedString(x.requestId()) + ","
                    + x.priority().wire() + "]";
            if (used + item.length() + 1 > maxBytes) {
                truncated = true;
                break;
            }
            used += item.length() + 1;
            from--;
        }
        for (int i = from; i < all.length; i++) {
            last.addArray()
                    .add(Integer.toUnsignedLong(all[i].vmId()))
                    .add(Integer.toUnsignedLong(all[i].requestId()))
                    .add(all[i].priority().wire());
        }
        if (truncated) {
            root.put("truncated", true);
        }
        return write(root);
    }

    private static String write(ObjectNode node) {
        try {
            return JSON.writeValueAsString(node);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("cannot write the stats as JSON", e); // a tree of numbers cannot fail
        }
    }

    private static int bytes(String s) {
        return s.getBytes(StandardCharsets.UTF_8).length;
    }

    /** A ring of the last latencies, written lock-free; percentiles of a sorted copy. */
    private static final class LatencyWindow {
        private final AtomicLongArray ring = new AtomicLongArray(LATENCY_WINDOW);
        private final AtomicLong next = new AtomicLong();

        void add(long nanos) {
            ring.lazySet((int) (next.getAndIncrement() % LATENCY_WINDOW), nanos);
        }

        long[] percentilesMicros() {
            int size = (int) Math.min(next.get(), LATENCY_WINDOW);
            long[] sorted = new long[size];
            for (int i = 0; i < size; i++) {
                sorted[i] = ring.get(i);
            }
            Arrays.sort(sorted);
            return new long[] {
                Percentile.nearestRank(sorted, 50) / 1000,
                Percentile.nearestRank(sorted, 95) / 1000,
                Percentile.nearestRank(sorted, 99) / 1000
            };
        }
    }
}

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
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.IntSupplier;
import java.util.function.Supplier;
import java.util.function.ToIntFunction;

/**
 * Counters of one mediator: per VM, per pool, per error code, latency percentiles per pool (over the last
 * {@value #LATENCY_WINDOW} requests of that pool), the vm_ids bound by HELLO right now, and the order in which
 * requests were started. All methods are synchronized: they are called once per request, far from the hot
 * compute path.
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

    /** One started request, in start order ({@code seq} counts from 1). */
    public record Executed(long seq, int vmId, int requestId, Pool pool, Priority priority, Priority effectiveClass) {}

    private final long startNanos = System.nanoTime();
    private final String backend;
    private final ToIntFunction<Pool> queueDepth;
    private final IntSupplier connections;
    private final Supplier<List<Integer>> boundVms;
    private long received;
    private long completed;
    private long failed;
    private long dropped;
    private final Map<String, Long> errors = new TreeMap<>();
    private final Map<Long, long[]> perVm = new TreeMap<>(); // vm (unsigned) → {ok, failed}
    private final long[] otherVms = new long[2];
    private final Map<Pool, long[]> perPool = new EnumMap<>(Pool.class); // pool → {ok, failed}
    private final Map<Pool, LatencyWindow> latency = new EnumMap<>(Pool.class);
    private final ArrayDeque<Executed> executed = new ArrayDeque<>();
    private long executedSeq;

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
            perPool.put(pool, new long[2]);
            latency.put(pool, new LatencyWindow());
        }
    }

    synchronized void requestReceived() {
        received++;
    }

    /** Records the start of a request and returns its place in the execution order. */
    synchronized Executed started(Job job, Priority effectiveClass) {
        Executed e =
                new Executed(++executedSeq, job.vmId(), job.requestId(), job.pool(), job.priority(), effectiveClass);
        if (executed.size() == EXECUTION_LOG_SIZE) {
            executed.removeFirst();
        }
        executed.addLast(e);
        return e;
    }

    /**
     * A REQUEST answered (status 0 = done); latency counted only for requests that reached a worker.
     * {@code vmId} null: not counted per VM (a frame refused before it could be attributed to a bound VM);
     * {@code pool} null: not counted per pool (a frame naming no valid pool).
     */
    synchronized void answered(Integer vmId, Pool pool, int status, long totalNanos) {
        boolean ok = status == ERR_NONE;
        if (ok) {
            completed++;
        } else {
            failed++;
            errors.merge(ErrorCode.nameOf(status), 1L, Long::sum);
        }
        if (vmId != null) {
            long key = Integer.toUnsignedLong(vmId);
            long[] counts = perVm.get(key);
            if (counts == null && perVm.size() < MAX_VMS_TRACKED) {
                counts = new long[2];
                perVm.put(key, counts);
            }
            (counts != null ? counts : otherVms)[ok ? 0 : 1]++;
        }
        if (pool != null) {
            perPool.get(pool)[ok ? 0 : 1]++;
            if (totalNanos >= 0) {
                latency.get(pool).add(totalNanos);
            }
        }
    }

    /** A queued request thrown away because its connection closed before it ran (nobody to answer). */
    synchronized void droppedOne() {
        dropped++;
    }

    public synchronized long dropped() {
        return dropped;
    }

    /** A frame refused outside a request (HELLO refused, bad frame, peer refused): counted per error code. */
    synchronized void refused(int status) {
        errors.merge(ErrorCode.nameOf(status), 1L, Long::sum);
    }

    public synchronized List<Executed> executionLog() {
        return new ArrayList<>(executed);
    }

    public synchronized long completed() {
        return completed;
    }

    public synchronized long failed() {
        return failed;
    }

    public synchronized Map<String, Long> errorCounts() {
        return new TreeMap<>(errors);
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
        root.put("received", received);
        root.put("completed", completed);
        root.put("failed", failed);
        root.put("dropped", dropped);
        ObjectNode queued = root.putObject("queued");
        ObjectNode pools = root.putObject("pools");
        for (Pool pool : Pool.values()) {
            queued.put(pool.name(), queueDepth.applyAsInt(pool));
            long[] lat = latency.get(pool).percentilesMicros();
            pools.putObject(pool.name())
                    .put("ok", perPool.get(pool)[0])
                    .put("failed", perPool.get(pool)[1])
                    .put("p50_us", lat[0])
                    .put("p95_us", lat[1])
                    .put("p99_us", lat[2]);
        }
        ObjectNode errs = root.putObject("errors");
        errors.forEach(errs::put);
        if (otherVms[0] + otherVms[1] > 0) {
            root.putArray("vms_other").add(otherVms[0]).add(otherVms[1]);
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
        for (var e : perVm.entrySet()) {
            String item = "\"" + e.getKey() + "\":[" + e.getValue()[0] + "," + e.getValue()[1] + "]";
            if (used + item.length() + 1 > maxBytes) {
                truncated = true;
                break;
            }
            used += item.length() + 1;
            vms.putArray(Long.toString(e.getKey())).add(e.getValue()[0]).add(e.getValue()[1]);
        }
        // newest executions first when choosing what fits, printed oldest first (execution order)
        Executed[] all = executed.toArray(new Executed[0]);
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

    /** A ring of the last latencies; percentiles of a sorted copy. */
    private static final class LatencyWindow {
        private final long[] ring = new long[LATENCY_WINDOW];
        private int size;
        private int next;

        void add(long nanos) {
            ring[next] = nanos;
            next = (next + 1) % ring.length;
            size = Math.min(size + 1, ring.length);
        }

        long[] percentilesMicros() {
            long[] sorted = Arrays.copyOf(ring, size);
            Arrays.sort(sorted);
            return new long[] {
                Percentile.nearestRank(sorted, 50) / 1000,
                Percentile.nearestRank(sorted, 95) / 1000,
                Percentile.nearestRank(sorted, 99) / 1000
            };
        }
    }
}

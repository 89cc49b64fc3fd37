package dev.vgpuhil.mediator;

import static dev.vgpuhil.protocol.VgpuProtocol.*;

import dev.vgpuhil.protocol.VgpuProtocol.ErrorCode;
import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.IntSupplier;

/**
 * Counters of one mediator: per VM, per pool, per error code, latency percentiles per pool (over the last
 * {@value #LATENCY_WINDOW} requests of that pool) and the order in which requests were started.
 * All methods are synchronized: they are called once per request, far from the hot compute path.
 */
public final class Stats {
    static final int LATENCY_WINDOW = 8192;
    static final int EXECUTION_LOG_SIZE = 512;
    /** VMs counted one by one; later ones share the "vms_other" bucket, so clients cycling vm_ids cannot grow it. */
    static final int MAX_VMS_TRACKED = 4096;

    /** One started request, in start order ({@code seq} counts from 1). */
    public record Executed(long seq, int vmId, int requestId, int pool, int priority, int effectiveClass) {}

    private final long startNanos = System.nanoTime();
    private final String backend;
    private final IntSupplier queueDepthA;
    private final IntSupplier queueDepthB;
    private final IntSupplier connections;
    private long received;
    private long completed;
    private long failed;
    private long dropped;
    private final Map<String, Long> errors = new TreeMap<>();
    private final Map<Long, long[]> perVm = new TreeMap<>(); // vm (unsigned) → {ok, failed}
    private final long[] otherVms = new long[2];
    private final Map<Integer, long[]> perPool = new TreeMap<>(); // pool → {ok, failed}
    private final Map<Integer, LatencyWindow> latency = new TreeMap<>();
    private final ArrayDeque<Executed> executed = new ArrayDeque<>();
    private long executedSeq;

    Stats(String backend, IntSupplier queueDepthA, IntSupplier queueDepthB, IntSupplier connections) {
        this.backend = backend;
        this.queueDepthA = queueDepthA;
        this.queueDepthB = queueDepthB;
        this.connections = connections;
        for (int pool : new int[] {POOL_A, POOL_B}) {
            perPool.put(pool, new long[2]);
            latency.put(pool, new LatencyWindow());
        }
    }

    synchronized void requestReceived() {
        received++;
    }

    /** Records the start of a request and returns its place in the execution order. */
    synchronized Executed started(Job job, int effectiveClass) {
        Executed e = new Executed(++executedSeq, job.vmId(), job.requestId(), job.pool(), job.priority(),
                effectiveClass);
        if (executed.size() == EXECUTION_LOG_SIZE) {
            executed.removeFirst();
        }
        executed.addLast(e);
        return e;
    }

    /**
     * A REQUEST answered (status 0 = done); latency counted only for requests that reached a worker.
     * {@code vmId} null: not counted per VM (a frame refused before it could be attributed to a bound VM).
     */
    synchronized void answered(Integer vmId, int pool, int status, long totalNanos) {
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
        long[] p = perPool.get(pool);
        if (p != null) {
            p[ok ? 0 : 1]++;
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
     * then as many VMs and (newest) execution-log entries as fit; {@code "truncated":true} says some were cut.
     */
    public synchronized String toJson(int maxBytes) {
        return json(maxBytes);
    }

    private String json(int maxBytes) {
        StringBuilder head = new StringBuilder();
        head.append("{\"pid\":").append(ProcessHandle.current().pid())
                .append(",\"backend\":\"").append(escape(backend)).append('"')
                .append(",\"uptime_ms\":").append((System.nanoTime() - startNanos) / 1_000_000)
                .append(",\"connections\":").append(connections.getAsInt())
                .append(",\"received\":").append(received)
                .append(",\"completed\":").append(completed)
                .append(",\"failed\":").append(failed)
                .append(",\"dropped\":").append(dropped)
                .append(",\"queued\":{\"A\":").append(queueDepthA.getAsInt())
                .append(",\"B\":").append(queueDepthB.getAsInt()).append('}')
                .append(",\"pools\":{");
        boolean first = true;
        for (var e : perPool.entrySet()) {
            long[] lat = latency.get(e.getKey()).percentilesMicros();
            head.append(first ? "" : ",").append('"').append((char) e.getKey().intValue()).append("\":{")
                    .append("\"ok\":").append(e.getValue()[0]).append(",\"failed\":").append(e.getValue()[1])
                    .append(",\"p50_us\":").append(lat[0]).append(",\"p95_us\":").append(lat[1])
                    .append(",\"p99_us\":").append(lat[2]).append('}');
            first = false;
        }
        head.append("},\"errors\":{");
        first = true;
        for (var e : errors.entrySet()) {
            head.append(first ? "" : ",").append('"').append(e.getKey()).append("\":").append(e.getValue());
            first = false;
        }
        head.append('}');
        if (otherVms[0] + otherVms[1] > 0) {
            head.append(",\"vms_other\":[").append(otherVms[0]).append(',').append(otherVms[1]).append(']');
        }
        // optional parts, each added only while the whole stays within maxBytes ("truncated" reserved)
        final int reserve = ",\"truncated\":true}".length();
        boolean truncated = false;
        StringBuilder vms = new StringBuilder(",\"vms\":{");
        first = true;
        for (var e : perVm.entrySet()) {
            String item = (first ? "" : ",") + "\"" + e.getKey() + "\":[" + e.getValue()[0] + "," + e.getValue()[1] + "]";
            if (bytes(head) + bytes(vms) + item.length() + 1 + reserve + "\"last\":[]".length() + 1 > maxBytes) {
                truncated = true;
                break;
            }
            vms.append(item);
            first = false;
        }
        vms.append('}');
        head.append(vms);
        // newest executions first when choosing what fits, printed oldest first (execution order)
        List<String> last = new ArrayList<>();
        int used = bytes(head) + ",\"last\":[]".length() + reserve;
        Executed[] all = executed.toArray(new Executed[0]);
        for (int i = all.length - 1; i >= 0; i--) {
            Executed x = all[i];
            String item = "[" + Integer.toUnsignedString(x.vmId()) + "," + Integer.toUnsignedString(x.requestId())
                    + "," + x.priority() + "]";
            if (used + item.length() + 1 > maxBytes) {
                truncated = true;
                break;
            }
            used += item.length() + 1;
            last.add(0, item);
        }
        head.append(",\"last\":[").append(String.join(",", last)).append(']');
        if (truncated) {
            head.append(",\"truncated\":true");
        }
        return head.append('}').toString();
    }

    private static int bytes(CharSequence s) {
        return s.toString().getBytes(StandardCharsets.UTF_8).length;
    }

    private static String escape(String s) {
        return s.replace("\\", "\\\\").replace("\"", "\\\"");
    }

    /** A ring of the last latencies; percentiles by sorting a copy (nearest-rank). */
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
            if (size == 0) {
                return new long[] {0, 0, 0};
            }
            long[] sorted = Arrays.copyOf(ring, size);
            Arrays.sort(sorted);
            return new long[] {rank(sorted, 50) / 1000, rank(sorted, 95) / 1000, rank(sorted, 99) / 1000};
        }

        private static long rank(long[] sorted, int pct) {
            int idx = (int) Math.ceil(pct / 100.0 * sorted.length) - 1;
            return sorted[Math.max(0, Math.min(sorted.length - 1, idx))];
        }
    }
}

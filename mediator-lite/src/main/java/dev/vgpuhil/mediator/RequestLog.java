package dev.vgpuhil.mediator;

import static dev.vgpuhil.protocol.VgpuProtocol.*;

import dev.vgpuhil.protocol.Frame;
import dev.vgpuhil.protocol.Pool;
import dev.vgpuhil.protocol.Priority;
import dev.vgpuhil.protocol.VgpuProtocol.ErrorCode;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * The one log line per request: vm, pool, priority, request id, op, queue wait, run time, outcome (and a
 * detail), for answered, refused and dropped requests alike. Off when the configuration says so (the benchmark
 * measures the core without it).
 */
final class RequestLog {
    private final Logger log;
    private final boolean on;

    RequestLog(Logger log, boolean on) {
        this.log = log;
        this.on = on;
    }

    /** Whether lines are written at all (callers skip building a detail otherwise). */
    boolean on() {
        return on && log.isLoggable(Level.INFO);
    }

    /** A request answered with {@code status} (DONE for ERR_NONE); -1 for a wait or run time it never had. */
    void answered(Frame f, long waitNanos, long runNanos, int status, String detail) {
        outcome(f, waitNanos, runNanos, status == ERR_NONE ? "DONE" : ErrorCode.nameOf(status), detail);
    }

    /** A queued request thrown away because its connection closed before it ran. */
    void dropped(Frame f, long waitNanos) {
        outcome(f, waitNanos, -1, "DROPPED", "connection closed before it ran");
    }

    private void outcome(Frame f, long waitNanos, long runNanos, String outcome, String detail) {
        if (!on || !log.isLoggable(Level.INFO)) {
            return;
        }
        String op = f.payload().length >= 4
                ? opcodeName(ByteBuffer.wrap(f.payload())
                        .order(ByteOrder.LITTLE_ENDIAN)
                        .getInt(0))
                : "-";
        log.info(String.format(
                "request vm=%s pool=%s priority=%s request_id=%s op=%s wait_us=%s run_us=%s outcome=%s%s",
                Integer.toUnsignedString(f.vmId()),
                Pool.nameOf(f.poolId()),
                Priority.nameOf(f.priority()),
                Integer.toUnsignedString(f.requestId()),
                op,
                waitNanos < 0 ? "-" : Long.toString(waitNanos / 1000),
                runNanos < 0 ? "-" : Long.toString(runNanos / 1000),
                outcome,
                detail == null || detail.isEmpty() ? "" : " " + detail));
    }
}

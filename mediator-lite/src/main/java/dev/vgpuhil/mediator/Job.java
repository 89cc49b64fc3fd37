package dev.vgpuhil.mediator;

import dev.vgpuhil.protocol.ComputeRequest;
import dev.vgpuhil.protocol.Frame;
import dev.vgpuhil.protocol.Pool;
import dev.vgpuhil.protocol.Priority;
import dev.vgpuhil.protocol.VgpuProtocol;

/**
 * One admitted REQUEST waiting in (or taken from) the scheduler.
 *
 * @param arrival   admission order across all connections (FIFO tie-break)
 * @param header    the REQUEST frame (vm_id, pool, priority, request_id are echoed in the reply)
 * @param request   the decoded, already validated compute request
 * @param replyTo   where the RESPONSE goes
 * @param enqueuedNanos scheduler clock at admission (queue wait and aging)
 * @param tag       fair-queueing start tag (see {@link Scheduler}); lower runs first inside a class
 */
public record Job(long arrival, Frame header, ComputeRequest request, ReplySink replyTo, long enqueuedNanos, long tag) {

    public int vmId() {
        return header.vmId();
    }

    /** Valid: the connection admits only frames with a known pool and priority. */
    public Pool pool() {
        return Pool.fromWire(header.poolId()).orElseThrow();
    }

    public Priority priority() {
        return Priority.fromWire(header.priority()).orElseThrow();
    }

    public int requestId() {
        return header.requestId();
    }

    /** Receives the reply frames of one connection. */
    public interface ReplySink {
        /** Queues a frame for sending without blocking; false when the connection is gone or jammed. */
        boolean send(Frame frame);

        /**
         * Sends the one RESPONSE of an admitted request {@code request} (same vm, pool, priority, request_id) with
         * this status and payload: its result, or SHUTDOWN (every answer of an admitted job goes through here or
         * {@link #rejected}, so a sink can count what it still owes).
         */
        default boolean reply(Frame request, int status, byte[] payload) {
            return send(request.reply(VgpuProtocol.MSG_RESPONSE, status, payload));
        }

        /**
         * A request the scheduler refused after {@link Scheduler#submit(Frame, ComputeRequest, ReplySink,
         * Scheduler.Runner)} had returned (it waited in the inbox): answers it with the refusal's status.
         */
        default void rejected(Frame header, Scheduler.Admission why) {
            send(header.reply(
                    VgpuProtocol.MSG_RESPONSE,
                    why == Scheduler.Admission.QUEUE_FULL ? VgpuProtocol.ERR_QUEUE_FULL : VgpuProtocol.ERR_SHUTDOWN,
                    null));
        }
    }
}

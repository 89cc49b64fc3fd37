package dev.vgpuhil.mediator;

import dev.vgpuhil.protocol.ComputeRequest;
import dev.vgpuhil.protocol.Frame;

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
public record Job(long arrival, Frame header, ComputeRequest request, ReplySink replyTo, long enqueuedNanos,
                  long tag) {

    public int vmId() {
        return header.vmId();
    }

    public int pool() {
        return header.poolId();
    }

    public int priority() {
        return header.priority();
    }

    public int requestId() {
        return header.requestId();
    }

    /** Receives the reply frames of one connection. */
    public interface ReplySink {
        /** Queues a frame for sending without blocking; false when the connection is gone or jammed. */
        boolean send(Frame frame);
    }
}

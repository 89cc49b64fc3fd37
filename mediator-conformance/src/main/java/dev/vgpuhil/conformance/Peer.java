package dev.vgpuhil.conformance;

import static dev.vgpuhil.protocol.VgpuProtocol.*;

import dev.vgpuhil.mediator.MediatorClient;
import dev.vgpuhil.protocol.ComputeRequest;
import dev.vgpuhil.protocol.Frame;
import dev.vgpuhil.protocol.VgpuProtocol.ErrorCode;
import java.io.EOFException;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.time.Duration;
import java.util.Set;

/**
 * One client connection to the mediator under test, speaking the device's side. Every frame the mediator sends
 * is checked against the reply framing rules before a rule looks at it ({@link #reply()}); every wait ends at
 * the running rule's deadline. Failures are AssertionErrors that say which rule the mediator broke.
 */
public final class Peer implements AutoCloseable {
    /** Codes only the device produces: a mediator never answers with them. */
    static final Set<Integer> DEVICE_ONLY = Set.of(ERR_MEDIATOR_UNAVAILABLE, ERR_BUSY, ERR_TIMEOUT);

    private final MediatorClient client;
    private final MediatorUnderTest mediator;
    private int vmId;
    private int pool = POOL_A;
    private int priority = PRIORITY_LOW;

    Peer(MediatorClient client, MediatorUnderTest mediator) {
        this.client = client;
        this.mediator = mediator;
    }

    /** Sends HELLO with these fields and returns the reply (checked to be a HELLO_ACK). */
    public Frame hello(int vm, int poolId, int prio) {
        sendHello(vm, poolId, prio);
        Frame ack = reply();
        if (ack.msgType() != MSG_HELLO_ACK) {
            throw new AssertionError("a HELLO must be answered by HELLO_ACK, got " + ack);
        }
        return ack;
    }

    /** Sends HELLO with these fields (later requests carry them) without waiting for the reply. */
    public void sendHello(int vm, int poolId, int prio) {
        this.vmId = vm;
        this.pool = poolId;
        this.priority = prio;
        send(Frame.of(MSG_HELLO, vm, poolId, prio, 0, ERR_NONE, null));
    }

    public int vmId() {
        return vmId;
    }

    /** A REQUEST frame with this connection's HELLO fields. */
    public Frame requestFrame(int requestId, ComputeRequest request) {
        return requestFrame(requestId, request.encode());
    }

    public Frame requestFrame(int requestId, byte[] payload) {
        return Frame.of(MSG_REQUEST, vmId, pool, priority, requestId, ERR_NONE, payload);
    }

    /** Sends a REQUEST and returns its RESPONSE (checked to echo the request's header). */
    public Frame request(int requestId, ComputeRequest request) {
        Frame f = requestFrame(requestId, request);
        return checkedResponse(f, exchange(f));
    }

    /** A RESPONSE to {@code request}: type RESPONSE and the request's request_id, vm_id, pool and priority. */
    public static Frame checkedResponse(Frame request, Frame reply) {
        if (reply.msgType() != MSG_RESPONSE
                || reply.requestId() != request.requestId()
                || reply.vmId() != request.vmId()
                || reply.poolId() != request.poolId()
                || reply.priority() != request.priority()) {
            throw new AssertionError("a REQUEST must be answered by a RESPONSE echoing its request_id, vm_id, pool"
                    + " and priority; sent " + request + ", got " + reply);
        }
        return reply;
    }

    public void send(Frame frame) {
        sendRaw(frame.encode());
    }

    public void sendRaw(byte[] bytes) {
        try {
            client.sendRaw(bytes);
        } catch (IOException e) {
            throw new AssertionError("the mediator did not take " + bytes.length + " bytes: " + e.getMessage(), e);
        }
    }

    public Frame exchange(Frame frame) {
        send(frame);
        return reply();
    }

    /**
     * The next frame from the mediator, within the rule's deadline, checked against the reply framing rules: magic,
     * protocol major, a mediator message type, flags and reserved 0, payload_len at most 1024, a status the
     * mediator may send (a defined VGPU_ERR_* and none of the device's own: MEDIATOR_UNAVAILABLE, BUSY, TIMEOUT).
     */
    public Frame reply() {
        Frame f;
        try {
            f = client.receiveUnchecked(mediator.timeLeft());
        } catch (EOFException e) {
            throw new AssertionError(
                    "the mediator closed the connection where a reply was due (" + e.getMessage() + ")");
        } catch (IOException e) {
            throw new AssertionError("no reply from the mediator before the rule's deadline (" + e.getMessage() + ")");
        }
        checkReplyFraming(f);
        return f;
    }

    /** The reply framing rules, for any frame a mediator sends. */
    public static void checkReplyFraming(Frame f) {
        StringBuilder bad = new StringBuilder();
        if (f.magic() != SOCKET_MAGIC) {
            bad.append(String.format(" magic 0x%08x;", f.magic()));
        }
        if (majorOf(f.version()) != PROTOCOL_MAJOR) {
            bad.append(String.format(" version 0x%08x;", f.version()));
        }
        if (f.msgType() != MSG_HELLO_ACK && f.msgType() != MSG_RESPONSE && f.msgType() != MSG_STATS_REPLY) {
            bad.append(" msg_type ").append(messageTypeName(f.msgType())).append(" is not a mediator's;");
        }
        if (f.flags() != FLAG_NONE || f.reserved() != 0) {
            bad.append(" flags ")
                    .append(f.flags())
                    .append(" reserved ")
                    .append(f.reserved())
                    .append(";");
        }
        if (Integer.compareUnsigned(f.payloadLen(), MAX_PAYLOAD) > 0) {
            bad.append(" payload_len ")
                    .append(Integer.toUnsignedString(f.payloadLen()))
                    .append(" > 1024;");
        }
        if (ErrorCode.fromCode(f.status()).isEmpty() || DEVICE_ONLY.contains(f.status())) {
            bad.append(" status ").append(ErrorCode.nameOf(f.status())).append(" is not a mediator's reply code;");
        }
        if (bad.length() > 0) {
            throw new AssertionError("a mediator's frame must be well-formed:" + bad + " got " + f);
        }
    }

    /** True when a reply (or the connection's end) is waiting to be read: the mediator answered something. */
    public boolean answered() {
        try {
            return client.readable();
        } catch (IOException e) {
            return true;
        }
    }

    /** True when the mediator closes this connection before the deadline; an AssertionError for data instead. */
    public boolean closedByPeer(Duration within) {
        try {
            return client.closedByPeer(within);
        } catch (IOException e) {
            throw new AssertionError("expected the mediator to close the connection: " + e.getMessage(), e);
        }
    }

    /** Asserts the connection still serves: an ECHO on it is answered NONE with the same bytes. */
    public void assertStillServes(String after) {
        byte[] data = {9, 8, 7, 6, 5};
        Frame r = request(0x5E4E, ComputeRequest.echo(data));
        if (r.status() != ERR_NONE || !java.util.Arrays.equals(r.payload(), data)) {
            throw new AssertionError("after " + after + " the connection must go on serving; an ECHO got " + r);
        }
    }

    @Override
    public void close() {
        try {
            client.close();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}

package dev.vgpuhil.mediator;

import static dev.vgpuhil.protocol.VgpuProtocol.*;

import dev.vgpuhil.protocol.ComputeRequest;
import dev.vgpuhil.protocol.Frame;
import dev.vgpuhil.protocol.FrameException;
import dev.vgpuhil.protocol.VgpuProtocol.ErrorCode;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.util.OptionalInt;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * One client connection: a reader thread that validates every frame field by field and answers or enqueues,
 * and a writer thread fed through a bounded queue, so a worker never blocks on a slow client; a client whose
 * queue fills up (it stopped reading) is disconnected.
 *
 * <p>Outcomes: bad magic or payload_len &gt; 1024 → PROTOCOL reply, then this connection closes (the stream
 * cannot be resynchronised). Everything else gets an error reply and the connection goes on, except a refused
 * HELLO (VERSION, NOT_PERMITTED, PROTOCOL), which closes it.
 */
final class Connection implements Job.ReplySink {
    static final int OUTBOUND_CAPACITY = 256;
    private static final Object CLOSE = new Object();
    private static final long WRITER_DRAIN_MILLIS = 2000;

    private final Mediator mediator;
    private final SocketChannel channel;
    private final long id;
    private final String peer;
    private final BlockingQueue<Object> outbound = new ArrayBlockingQueue<>(OUTBOUND_CAPACITY + 1);
    private final AtomicBoolean closing = new AtomicBoolean();
    private final Thread reader;
    private final Thread writer;
    // written and read only by the reader thread
    private boolean helloDone;
    private int boundVm;
    private int ceiling;

    Connection(Mediator mediator, SocketChannel channel, long id, String peer) {
        this.mediator = mediator;
        this.channel = channel;
        this.id = id;
        this.peer = peer;
        this.reader = new Thread(this::readLoop, "mediator-conn-" + id + "-reader");
        this.writer = new Thread(this::writeLoop, "mediator-conn-" + id + "-writer");
        reader.setDaemon(true);
        writer.setDaemon(true);
    }

    void start() {
        writer.start();
        reader.start();
    }

    long id() {
        return id;
    }

    Thread readerThread() {
        return reader;
    }

    @Override
    public boolean send(Frame frame) {
        if (closing.get() && !channel.isOpen()) {
            return false;
        }
        // one slot stays free for the CLOSE marker
        if (outbound.remainingCapacity() <= 1 || !outbound.offer(frame)) {
            mediator.log().warning("conn " + id + " " + describe() + ": client is not reading its replies ("
                    + OUTBOUND_CAPACITY + " queued); closing the connection");
            forceClose();
            return false;
        }
        return true;
    }

    /** Half-closes the input: the reader sees end of stream and runs the normal close path. */
    void stopReading() {
        try {
            channel.shutdownInput();
        } catch (IOException e) {
            forceClose();
        }
    }

    void forceClose() {
        closing.set(true);
        try {
            channel.close();
        } catch (IOException ignored) {
            // closing anyway
        }
    }

    private String describe() {
        return helloDone ? "vm=" + Integer.toUnsignedString(boundVm) + " peer=" + peer : "peer=" + peer;
    }

    // ---------------------------------------------------------------- reader

    private void readLoop() {
        String reason = "end of stream";
        try {
            byte[] head = new byte[SOCKET_HEADER_SIZE];
            while (true) {
                if (!readFully(head, "header")) {
                    break;
                }
                Frame frame = parseHeader(head);
                if (frame.magic() != SOCKET_MAGIC) {
                    reason = String.format("bad magic 0x%08x", frame.magic());
                    refuse(frame, MSG_RESPONSE, ERR_PROTOCOL, reason + "; stream unreadable, closing");
                    break;
                }
                if (Integer.compareUnsigned(frame.payloadLen(), MAX_PAYLOAD) > 0) {
                    reason = "payload_len " + Integer.toUnsignedString(frame.payloadLen()) + " > " + MAX_PAYLOAD;
                    refuse(frame, MSG_RESPONSE, ERR_PROTOCOL, reason + "; stream unreadable, closing");
                    break;
                }
                byte[] payload = new byte[frame.payloadLen()];
                if (!readFully(payload, "payload")) {
                    reason = "client vanished mid-frame (" + messageTypeName(frame.msgType()) + " payload)";
                    break;
                }
                frame = withPayload(frame, payload);
                if (!handle(frame)) {
                    reason = "handshake refused";
                    break;
                }
            }
        } catch (IOException e) {
            reason = closing.get() ? "closed" : "read failed: " + e.getMessage();
        } catch (RuntimeException e) {
            // a bug must not take the daemon down: drop this connection only
            reason = "internal error: " + e;
            mediator.log().log(java.util.logging.Level.SEVERE, "conn " + id + " internal error", e);
        } finally {
            closeAfterFlush(reason);
        }
    }

    /** False at end of stream before any byte of this piece; EOF in the middle also gives false. */
    private boolean readFully(byte[] into, String what) throws IOException {
        ByteBuffer buf = ByteBuffer.wrap(into);
        while (buf.hasRemaining()) {
            if (channel.read(buf) < 0) {
                if (buf.position() > 0) {
                    mediator.log().info("conn " + id + " " + describe() + ": client vanished after "
                            + buf.position() + " of " + into.length + " " + what + " bytes");
                }
                return false;
            }
        }
        return true;
    }

    private static Frame parseHeader(byte[] h) {
        ByteBuffer b = ByteBuffer.wrap(h).order(ByteOrder.LITTLE_ENDIAN);
        return new Frame(b.getInt(), b.getInt(), Short.toUnsignedInt(b.getShort()),
                Short.toUnsignedInt(b.getShort()), b.getInt(), Byte.toUnsignedInt(b.get()),
                Byte.toUnsignedInt(b.get()), Short.toUnsignedInt(b.getShort()), b.getInt(), b.getInt(),
                b.getInt(), null);
    }

    private static Frame withPayload(Frame f, byte[] payload) {
        return new Frame(f.magic(), f.version(), f.msgType(), f.flags(), f.vmId(), f.poolId(), f.priority(),
                f.reserved(), f.requestId(), f.payloadLen(), f.status(), payload);
    }

    /** Handles one whole frame; false when the connection must close (a refused HELLO). */
    private boolean handle(Frame f) {
        int type = f.msgType();
        int replyType = type == MSG_HELLO ? MSG_HELLO_ACK : type == MSG_STATS_REQUEST ? MSG_STATS_REPLY : MSG_RESPONSE;
        if (type == MSG_REQUEST) {
            mediator.stats().requestReceived();
        }
        if (majorOf(f.version()) != PROTOCOL_MAJOR) {
            refuse(f, replyType, ERR_VERSION, String.format("protocol major %d (version 0x%08x), mediator speaks %d",
                    majorOf(f.version()), f.version(), PROTOCOL_MAJOR));
            return type != MSG_HELLO;
        }
        if (f.flags() != FLAG_NONE || f.reserved() != 0 || f.status() != 0) {
            refuse(f, replyType, ERR_PROTOCOL, "flags/reserved/status must be 0 in a client frame (flags="
                    + f.flags() + " reserved=" + f.reserved() + " status=" + Integer.toUnsignedString(f.status()) + ")");
            return type != MSG_HELLO;
        }
        switch (type) {
            case MSG_HELLO:
                return onHello(f);
            case MSG_REQUEST:
                onRequest(f);
                return true;
            case MSG_STATS_REQUEST:
                onStats(f);
                return true;
            default:
                refuse(f, MSG_RESPONSE, ERR_PROTOCOL, "msg_type " + messageTypeName(type) + " is not sent by clients");
                return true;
        }
    }

    private boolean onHello(Frame f) {
        if (helloDone) {
            refuse(f, MSG_HELLO_ACK, ERR_PROTOCOL, "repeated HELLO; connection stays bound to vm "
                    + Integer.toUnsignedString(boundVm));
            return true;
        }
        if (f.payloadLen() != 0) {
            refuse(f, MSG_HELLO_ACK, ERR_PROTOCOL, "HELLO carries no payload, got " + f.payloadLen() + " bytes");
            return false;
        }
        String bad = badPoolOrPriority(f);
        if (bad != null) {
            refuse(f, MSG_HELLO_ACK, ERR_PROTOCOL, bad);
            return false;
        }
        OptionalInt c = mediator.tenants().ceilingFor(f.vmId());
        if (c.isEmpty()) {
            refuse(f, MSG_HELLO_ACK, ERR_NOT_PERMITTED, "vm_id " + Integer.toUnsignedString(f.vmId())
                    + " is not an allowed tenant");
            return false;
        }
        if (f.priority() > c.getAsInt()) {
            refuse(f, MSG_HELLO_ACK, ERR_NOT_PERMITTED, "priority " + TenantPolicy.priorityName(f.priority())
                    + " is above vm " + Integer.toUnsignedString(f.vmId()) + "'s ceiling "
                    + TenantPolicy.priorityName(c.getAsInt()));
            return false;
        }
        helloDone = true;
        boundVm = f.vmId();
        ceiling = c.getAsInt();
        int negotiated = (PROTOCOL_MAJOR << 16) | Math.min(minorOf(f.version()), PROTOCOL_MINOR);
        send(new Frame(SOCKET_MAGIC, negotiated, MSG_HELLO_ACK, FLAG_NONE, f.vmId(), f.poolId(), f.priority(), 0,
                f.requestId(), 0, ERR_NONE, null));
        mediator.log().info(String.format("conn %d hello vm=%s pool=%c priority=%s ceiling=%s version=0x%08x peer=%s",
                id, Integer.toUnsignedString(boundVm), (char) f.poolId(), TenantPolicy.priorityName(f.priority()),
                TenantPolicy.priorityName(ceiling), negotiated, peer));
        return true;
    }

    private void onStats(Frame f) {
        if (f.payloadLen() != 0) {
            refuse(f, MSG_STATS_REPLY, ERR_PROTOCOL, "STATS_REQUEST carries no payload, got " + f.payloadLen());
            return;
        }
        byte[] json = mediator.stats().toJson(MAX_PAYLOAD).getBytes(StandardCharsets.UTF_8);
        send(f.reply(MSG_STATS_REPLY, ERR_NONE, json));
    }

    private void onRequest(Frame f) {
        if (!helloDone) {
            reject(f, ERR_PROTOCOL, "REQUEST before HELLO");
            return;
        }
        String bad = badPoolOrPriority(f);
        if (bad != null) {
            reject(f, ERR_PROTOCOL, bad);
            return;
        }
        if (f.vmId() != boundVm) {
            reject(f, ERR_NOT_PERMITTED, "connection is bound to vm " + Integer.toUnsignedString(boundVm));
            return;
        }
        if (f.priority() > ceiling) {
            reject(f, ERR_NOT_PERMITTED, "priority above the tenant ceiling " + TenantPolicy.priorityName(ceiling));
            return;
        }
        if (f.payloadLen() == 0) {
            reject(f, ERR_INVALID_LENGTH, "empty request payload");
            return;
        }
        ComputeRequest request;
        try {
            request = ComputeRequest.decode(f.payload());
            request.checkConsistent();
        } catch (FrameException e) {
            reject(f, e.errorCode(), e.getMessage());
            return;
        }
        switch (mediator.scheduler().submit(f, request, this)) {
            case ACCEPTED:
                return;
            case QUEUE_FULL:
                reject(f, ERR_QUEUE_FULL, "vm already has " + mediator.queueCap() + " queued requests");
                return;
            case SHUTDOWN:
            default:
                reject(f, ERR_SHUTDOWN, "mediator is shutting down");
        }
    }

    private static String badPoolOrPriority(Frame f) {
        if (f.poolId() != POOL_A && f.poolId() != POOL_B) {
            return "pool_id 0x" + Integer.toHexString(f.poolId()) + " is neither 'A' nor 'B'";
        }
        if (f.priority() > PRIORITY_HIGH) {
            return "priority " + f.priority() + " is not 0-2";
        }
        return null;
    }

    /** A REQUEST answered with an error before reaching the scheduler: one request log line. */
    private void reject(Frame f, int status, String why) {
        mediator.stats().answered(f.vmId(), f.poolId(), status, -1);
        mediator.logRequest(f, -1, -1, status, why);
        send(f.reply(MSG_RESPONSE, status, null));
    }

    /** Any other refused frame. */
    private void refuse(Frame f, int replyType, int status, String why) {
        if (f.msgType() == MSG_REQUEST && f.magic() == SOCKET_MAGIC) {
            reject(f, status, why);
            return;
        }
        mediator.stats().refused(status);
        mediator.log().info("conn " + id + " " + describe() + ": " + messageTypeName(f.msgType()) + " refused with "
                + ErrorCode.nameOf(status) + ": " + why);
        send(f.reply(replyType, status, null));
    }

    // ---------------------------------------------------------------- writer

    private void writeLoop() {
        try {
            while (true) {
                Object next = outbound.take();
                if (next == CLOSE) {
                    break;
                }
                ((Frame) next).writeTo(channel);
            }
        } catch (IOException | InterruptedException e) {
            // the peer went away or we were force-closed: nothing more to send
        } finally {
            forceClose();
        }
    }

    /** Lets the writer send what is queued (bounded by a deadline), then closes; runs on the reader thread. */
    private void closeAfterFlush(String reason) {
        closing.set(true);
        mediator.connectionClosed(this);
        outbound.offer(CLOSE); // the reserved slot; if a jam filled it anyway, the deadline below applies
        try {
            writer.join(WRITER_DRAIN_MILLIS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        forceClose();
        writer.interrupt();
        mediator.log().info("conn " + id + " closed " + describe() + ": " + reason);
    }
}

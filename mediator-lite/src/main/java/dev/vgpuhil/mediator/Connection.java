package dev.vgpuhil.mediator;

import static dev.vgpuhil.protocol.VgpuProtocol.*;

import dev.vgpuhil.protocol.ComputeRequest;
import dev.vgpuhil.protocol.Frame;
import dev.vgpuhil.protocol.FrameException;
import dev.vgpuhil.protocol.Pool;
import dev.vgpuhil.protocol.Priority;
import dev.vgpuhil.protocol.VgpuProtocol.ErrorCode;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * One client connection: a reader thread that validates every frame field by field and answers or enqueues,
 * and a non-blocking reply path, so a worker never blocks on a slow client. The channel is non-blocking: a
 * reply is written straight into the socket by whoever produces it (worker or reader) when nothing is
 * pending; whatever does not fit waits in a bounded queue that the connection's writer thread flushes when
 * the socket drains. A client whose queue fills up (it stopped reading its replies) is disconnected.
 *
 * <p>Outcomes: bad magic or payload_len &gt; 1024 → PROTOCOL reply, then this connection closes (the stream
 * cannot be resynchronised). Every other bad frame - a refused HELLO too - gets an error reply with its precise
 * code and the connection goes on. Two deadlines (checked by the mediator's watchdog, see
 * {@link #checkDeadlines}) keep a silent or dripping client from holding a connection slot forever: a frame
 * once begun must be complete within the frame timeout, and a connection without an accepted HELLO must
 * complete a frame at least once per unbound-idle timeout. A bound (HELLOed) connection may idle forever.
 */
final class Connection implements Job.ReplySink {
    static final int OUTBOUND_CAPACITY = 256;
    private static final long WRITER_DRAIN_MILLIS = 2000;

    private final Mediator mediator;
    private final SocketChannel channel;
    private final long id;
    private final String peer;
    /** Replies not yet (fully) written, oldest first; guarded by itself. Only the writer removes the head. */
    private final ArrayDeque<ByteBuffer> pending = new ArrayDeque<>();
    /** Guarded by {@link #pending}: the writer closes the connection once {@link #pending} is empty. */
    private boolean flushThenClose;

    private final Selector readSelector;
    private final Selector writeSelector;
    private final AtomicBoolean closing = new AtomicBoolean();
    private final Thread reader;
    private final Thread writer;
    // written only by the reader thread; read by the watchdog and workers too
    private volatile boolean helloDone;
    private volatile int boundVm;
    private volatile Priority ceiling;
    /** System.nanoTime when the first byte of the frame being read arrived; 0 between frames. */
    private volatile long frameStartedNanos;
    /** System.nanoTime of accept or of the last complete frame. */
    private volatile long lastFrameNanos = System.nanoTime();

    private volatile String closeReason;

    Connection(Mediator mediator, SocketChannel channel, long id, String peer) throws IOException {
        this.mediator = mediator;
        this.channel = channel;
        this.id = id;
        this.peer = peer;
        channel.configureBlocking(false);
        Selector rs = Selector.open();
        Selector ws;
        try {
            ws = Selector.open();
            channel.register(rs, SelectionKey.OP_READ);
            channel.register(ws, SelectionKey.OP_WRITE);
        } catch (IOException | RuntimeException e) {
            rs.close();
            throw e;
        }
        this.readSelector = rs;
        this.writeSelector = ws;
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

    /** The vm_id this connection is bound to by its HELLO, or empty before one was accepted. */
    java.util.OptionalInt boundVm() {
        return helloDone ? java.util.OptionalInt.of(boundVm) : java.util.OptionalInt.empty();
    }

    /**
     * Called by the watchdog: closes this connection when a frame has been dripping in for longer than
     * {@code frameTimeoutNanos}, or when it has no HELLO and completed no frame for {@code unboundIdleNanos}.
     */
    void checkDeadlines(long now, long frameTimeoutNanos, long unboundIdleNanos) {
        if (closing.get()) {
            return;
        }
        long started = frameStartedNanos;
        if (started != 0 && now - started > frameTimeoutNanos) {
            closeBecause("frame incomplete " + (now - started) / 1_000_000 + " ms after its first byte (frame timeout "
                    + frameTimeoutNanos / 1_000_000 + " ms): slow or stalled sender");
        } else if (started == 0 && !helloDone && now - lastFrameNanos > unboundIdleNanos) {
            closeBecause("no accepted HELLO and no frame for " + (now - lastFrameNanos) / 1_000_000
                    + " ms (unbound idle timeout " + unboundIdleNanos / 1_000_000 + " ms)");
        }
    }

    private void closeBecause(String reason) {
        closeReason = reason;
        forceClose();
    }

    Thread readerThread() {
        return reader;
    }

    /**
     * Sends a reply without ever blocking: written at once when nothing is pending and the socket takes it,
     * else queued for the writer. False when the connection is gone, or jammed (then it is closed).
     */
    @Override
    public boolean send(Frame frame) {
        ByteBuffer bytes = ByteBuffer.wrap(frame.encode());
        synchronized (pending) {
            if (!channel.isOpen()) {
                return false;
            }
            if (pending.isEmpty()) {
                try {
                    channel.write(bytes);
                } catch (IOException e) {
                    forceClose();
                    return false;
                }
                if (!bytes.hasRemaining()) {
                    return true;
                }
            } else if (pending.size() >= OUTBOUND_CAPACITY) {
                String why = "client is not reading its replies (" + OUTBOUND_CAPACITY + " queued)";
                mediator.log().warning("conn " + id + " " + describe() + ": " + why + "; closing the connection");
                closeBecause(why);
                return false;
            }
            pending.add(bytes);
            pending.notifyAll();
            return true;
        }
    }

    /** Half-closes the input: the reader sees end of stream and runs the normal close path. */
    void stopReading() {
        try {
            channel.shutdownInput();
        } catch (IOException e) {
            forceClose();
        }
    }

    /**
     * Closes the channel at once. The selectors are closed too: a channel registered with a selector is only
     * really closed (EOF for the peer) once every selector has let go of it, and closing them also wakes the
     * reader and writer out of select().
     */
    void forceClose() {
        closing.set(true);
        try {
            channel.close();
        } catch (IOException ignored) {
            // closing anyway
        }
        for (Selector sel : new Selector[] {readSelector, writeSelector}) {
            try {
                sel.close();
            } catch (IOException ignored) {
                // closing anyway
            }
        }
        synchronized (pending) {
            pending.notifyAll();
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
                if (!readFully(head, "header", true)) {
                    break;
                }
                Frame frame = Frame.parseHeader(head);
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
                if (!readFully(payload, "payload", false)) {
                    reason = "client vanished mid-frame (" + messageTypeName(frame.msgType()) + " payload)";
                    break;
                }
                frameStartedNanos = 0;
                lastFrameNanos = System.nanoTime();
                handle(frame.withPayload(payload));
            }
        } catch (IOException e) {
            reason = closeReason != null ? closeReason : closing.get() ? "closed" : "read failed: " + e.getMessage();
        } catch (RuntimeException e) {
            // a bug must not take the daemon down: drop this connection only
            reason = "internal error: " + e;
            mediator.log().log(java.util.logging.Level.SEVERE, "conn " + id + " internal error", e);
        } finally {
            closeAfterFlush(reason);
        }
    }

    /**
     * False at end of stream (also in the middle of the piece). {@code frameStart}: the first byte of this
     * piece starts a frame, which from then on must be complete within the frame timeout.
     */
    private boolean readFully(byte[] into, String what, boolean frameStart) throws IOException {
        ByteBuffer buf = ByteBuffer.wrap(into);
        while (buf.hasRemaining()) {
            int n = channel.read(buf);
            if (n == 0) {
                awaitReadable();
                continue;
            }
            if (n < 0) {
                if (buf.position() > 0 || !frameStart) {
                    mediator.log()
                            .info("conn " + id + " " + describe() + ": client vanished after " + buf.position() + " of "
                                    + into.length + " " + what + " bytes");
                }
                return false;
            }
            if (frameStart && frameStartedNanos == 0 && buf.position() > 0) {
                frameStartedNanos = System.nanoTime();
            }
        }
        return true;
    }

    private void awaitReadable() throws IOException {
        try {
            readSelector.select();
            readSelector.selectedKeys().clear();
        } catch (java.nio.channels.ClosedSelectorException e) {
            throw new java.nio.channels.ClosedChannelException();
        }
    }

    /** Handles one whole, readable frame: answers it or enqueues it; the connection always goes on. */
    private void handle(Frame f) {
        int type = f.msgType();
        int replyType = type == MSG_HELLO ? MSG_HELLO_ACK : type == MSG_STATS_REQUEST ? MSG_STATS_REPLY : MSG_RESPONSE;
        if (type == MSG_REQUEST) {
            mediator.stats().requestReceived();
        }
        if (majorOf(f.version()) != PROTOCOL_MAJOR) {
            refuse(
                    f,
                    replyType,
                    ERR_VERSION,
                    String.format(
                            "protocol major %d (version 0x%08x), mediator speaks %d",
                            majorOf(f.version()), f.version(), PROTOCOL_MAJOR));
            return;
        }
        if (f.flags() != FLAG_NONE || f.reserved() != 0 || f.status() != 0) {
            refuse(
                    f,
                    replyType,
                    ERR_PROTOCOL,
                    "flags/reserved/status must be 0 in a client frame (flags=" + f.flags() + " reserved="
                            + f.reserved() + " status=" + Integer.toUnsignedString(f.status()) + ")");
            return;
        }
        switch (type) {
            case MSG_HELLO -> onHello(f);
            case MSG_REQUEST -> onRequest(f);
            case MSG_STATS_REQUEST -> onStats(f);
            default ->
                refuse(f, MSG_RESPONSE, ERR_PROTOCOL, "msg_type " + messageTypeName(type) + " is not sent by clients");
        }
    }

    /** A refused HELLO leaves the connection open and unbound: the client may try again (or go away). */
    private void onHello(Frame f) {
        if (helloDone) {
            refuse(
                    f,
                    MSG_HELLO_ACK,
                    ERR_PROTOCOL,
                    "repeated HELLO; connection stays bound to vm " + Integer.toUnsignedString(boundVm));
            return;
        }
        if (f.payloadLen() != 0) {
            refuse(f, MSG_HELLO_ACK, ERR_PROTOCOL, "HELLO carries no payload, got " + f.payloadLen() + " bytes");
            return;
        }
        String bad = badPoolOrPriority(f);
        if (bad != null) {
            refuse(f, MSG_HELLO_ACK, ERR_PROTOCOL, bad);
            return;
        }
        Optional<Priority> c = mediator.tenants().ceilingFor(f.vmId());
        if (c.isEmpty()) {
            refuse(
                    f,
                    MSG_HELLO_ACK,
                    ERR_NOT_PERMITTED,
                    "vm_id " + Integer.toUnsignedString(f.vmId()) + " is not an allowed tenant");
            return;
        }
        if (f.priority() > c.get().wire()) {
            refuse(
                    f,
                    MSG_HELLO_ACK,
                    ERR_NOT_PERMITTED,
                    "priority " + Priority.nameOf(f.priority()) + " is above vm " + Integer.toUnsignedString(f.vmId())
                            + "'s ceiling " + c.get().label());
            return;
        }
        boundVm = f.vmId();
        ceiling = c.get();
        helloDone = true;
        int negotiated = (PROTOCOL_MAJOR << 16) | Math.min(minorOf(f.version()), PROTOCOL_MINOR);
        send(new Frame(
                SOCKET_MAGIC,
                negotiated,
                MSG_HELLO_ACK,
                FLAG_NONE,
                f.vmId(),
                f.poolId(),
                f.priority(),
                0,
                f.requestId(),
                0,
                ERR_NONE,
                null));
        mediator.log()
                .info(String.format(
                        "conn %d hello vm=%s pool=%c priority=%s ceiling=%s version=0x%08x peer=%s",
                        id,
                        Integer.toUnsignedString(boundVm),
                        (char) f.poolId(),
                        Priority.nameOf(f.priority()),
                        ceiling.label(),
                        negotiated,
                        peer));
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
        if (f.priority() > ceiling.wire()) {
            reject(f, ERR_NOT_PERMITTED, "priority above the tenant ceiling " + ceiling.label());
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
        if (Pool.fromWire(f.poolId()).isEmpty()) {
            return "pool_id 0x" + Integer.toHexString(f.poolId()) + " is neither 'A' nor 'B'";
        }
        if (Priority.fromWire(f.priority()).isEmpty()) {
            return "priority " + f.priority() + " is not 0-2";
        }
        return null;
    }

    /** A REQUEST answered with an error before reaching the scheduler: one request log line. */
    private void reject(Frame f, int status, String why) {
        // counted per VM only for the VM this connection is bound to: a frame claiming other vm_ids must not
        // grow the per-VM table without bound
        mediator.stats()
                .answered(
                        helloDone && f.vmId() == boundVm ? Integer.valueOf(boundVm) : null,
                        Pool.fromWire(f.poolId()).orElse(null),
                        status,
                        -1);
        mediator.requestLog().answered(f, -1, -1, status, why);
        send(f.reply(MSG_RESPONSE, status, null));
    }

    /** Any other refused frame. */
    private void refuse(Frame f, int replyType, int status, String why) {
        if (f.msgType() == MSG_REQUEST && f.magic() == SOCKET_MAGIC) {
            reject(f, status, why);
            return;
        }
        mediator.stats().refused(status);
        mediator.log()
                .info("conn " + id + " " + describe() + ": " + messageTypeName(f.msgType()) + " refused with "
                        + ErrorCode.nameOf(status) + ": " + why);
        send(f.reply(replyType, status, null));
    }

    // ---------------------------------------------------------------- writer

    /** Flushes what {@link #send} could not write at once, waiting for the socket to drain. */
    private void writeLoop() {
        try {
            while (true) {
                ByteBuffer head;
                synchronized (pending) {
                    while (pending.isEmpty() && !flushThenClose && channel.isOpen()) {
                        pending.wait();
                    }
                    if (!channel.isOpen() || pending.isEmpty()) {
                        return; // closed, or everything flushed before the close
                    }
                    head = pending.peek();
                }
                // only this thread writes while something is pending, so the head is written outside the lock
                while (head.hasRemaining()) {
                    if (channel.write(head) == 0) {
                        writeSelector.select();
                        writeSelector.selectedKeys().clear();
                    }
                }
                synchronized (pending) {
                    pending.poll();
                }
            }
        } catch (IOException | InterruptedException | java.nio.channels.ClosedSelectorException e) {
            // the peer went away or we were force-closed: nothing more to send
        } finally {
            forceClose();
        }
    }

    /** Lets the writer send what is queued (bounded by a deadline), then closes; runs on the reader thread. */
    private void closeAfterFlush(String reason) {
        closing.set(true);
        mediator.connectionClosed(this);
        synchronized (pending) {
            flushThenClose = true;
            pending.notifyAll();
        }
        try {
            writer.join(WRITER_DRAIN_MILLIS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        forceClose();
        writer.interrupt();
        mediator.log()
                .info("conn " + id + " closed " + describe() + ": " + (closeReason != null ? closeReason : reason));
    }
}

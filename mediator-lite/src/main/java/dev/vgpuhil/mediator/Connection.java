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
import java.nio.ByteOrder;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * One client connection, served by one thread and one selector: the thread reads whatever the socket has into a
 * buffer, validates every whole frame in it field by field and answers it, runs it itself (a quick backend, its
 * pool idle: see {@link Scheduler#submit(Frame, ComputeRequest, Job.ReplySink, Scheduler.Runner)}) or enqueues it; and it flushes replies that did not fit into the socket
 * at once. The channel is non-blocking: a reply is written straight into the socket by whoever produces it
 * (worker or this thread) when nothing is pending, so a worker never blocks on a slow client; whatever does not
 * fit waits in a bounded queue that this thread flushes when the socket drains. A client whose queue fills up
 * (it stopped reading its replies) is disconnected.
 *
 * <p>Outcomes: bad magic or payload_len &gt; 1024 → PROTOCOL reply, then this connection stops reading (the stream
 * cannot be resynchronised) but still answers every request it had accepted - its result, or SHUTDOWN for what
 * is still queued or running once the shutdown grace ({@link MediatorConfig#shutdownGrace}, the time the
 * mediator's own close gives running requests) has passed since the bad frame - and closes only then. Every
 * other bad frame - a refused HELLO too - gets an error reply with its precise code and the connection goes on.
 * Two deadlines (checked by the mediator's watchdog, see {@link #checkDeadlines}) keep a silent or dripping
 * client from holding a connection slot forever: a frame once begun must be complete within the frame timeout,
 * and a connection without an accepted HELLO must complete a frame at least once per unbound-idle timeout. A
 * bound (HELLOed) connection may idle forever.
 *
 * <p>Backpressure: a connection with {@link MediatorConfig#outstandingCap} requests accepted and not yet answered
 * reads nothing more (its bytes wait in the socket, its client's writes block) until replies bring it below the
 * cap; the thread sending such a reply wakes this one. A flooding client is slowed down, not disconnected. The
 * count ({@link #outstanding}) is raised before a request goes to the scheduler and lowered when its one answer
 * ({@link #reply} or {@link #rejected}) is out or queued; the frame timeout does not run while this connection
 * is the one not reading (a client that vanished meanwhile is noticed when a reply cannot be written).
 */
final class Connection implements Job.ReplySink {
    static final int OUTBOUND_CAPACITY = 256;
    private static final long DRAIN_ON_CLOSE_MILLIS = 2000;
    /** Room for a few whole frames: one read usually brings a whole frame, or several pipelined ones. */
    private static final int READ_BUFFER_BYTES = 4 * (SOCKET_HEADER_SIZE + MAX_PAYLOAD);

    private final Mediator mediator;
    private final Scheduler scheduler;
    /** Runs requests on this connection's thread when the backend is quick (see Scheduler#submit); else null. */
    private final Scheduler.Runner runner;

    private final Stats stats;
    private final SocketChannel channel;
    private final long id;
    private final String peer;
    /** Replies not yet (fully) written, oldest first; guarded by itself, as is every write to the channel. */
    private final ArrayDeque<ByteBuffer> pending = new ArrayDeque<>();

    private final Selector selector;
    private final SelectionKey key;
    /** Bytes read and not yet handled (write mode between reads); only the connection's thread touches it. */
    private final ByteBuffer in = ByteBuffer.allocateDirect(READ_BUFFER_BYTES).order(ByteOrder.LITTLE_ENDIAN);

    private final byte[] head = new byte[SOCKET_HEADER_SIZE];
    private final AtomicBoolean closing = new AtomicBoolean();
    /** Requests handed to the scheduler whose one answer has not gone out yet (see the class comment). */
    private final AtomicInteger outstanding = new AtomicInteger();

    private final int outstandingCap;
    /** Set by the connection's thread while it reads nothing because of the cap; a reply below it wakes it. */
    private volatile boolean readPaused;
    /** Set by the connection's thread once it only waits for the answers of its accepted requests. */
    private volatile boolean draining;
    /** Set when the stream became unreadable: the close waits for the outstanding answers first. */
    private boolean unreadable;

    private final Thread thread;
    // written only by the connection's thread; read by the watchdog and workers too
    private volatile boolean helloDone;
    private volatile int boundVm;
    private volatile Priority ceiling;
    /** System.nanoTime when the first byte of the frame being read arrived; 0 between frames. */
    private volatile long frameStartedNanos;
    /** System.nanoTime of accept or of the last complete frame. */
    private volatile long lastFrameNanos = System.nanoTime();

    private volatile String closeReason;

    /** Built by a started mediator (its scheduler, workers and stats exist). */
    Connection(Mediator mediator, SocketChannel channel, long id, String peer) throws IOException {
        this.mediator = mediator;
        this.scheduler = mediator.scheduler();
        Workers workers = mediator.workers();
        this.runner = workers.inline() ? workers::runClaimed : null;
        this.stats = mediator.stats();
        this.outstandingCap = mediator.config().outstandingCap();
        this.channel = channel;
        this.id = id;
        this.peer = peer;
        channel.configureBlocking(false);
        Selector sel = Selector.open();
        try {
            this.key = channel.register(sel, SelectionKey.OP_READ);
        } catch (IOException | RuntimeException e) {
            sel.close();
            throw e;
        }
        this.selector = sel;
        this.thread = new Thread(this::ioLoop, "mediator-conn-" + id);
        thread.setDaemon(true);
    }

    void start() {
        thread.start();
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

    /** The thread that reads, answers and flushes for this connection (ends after the close). */
    Thread thread() {
        return thread;
    }

    /**
     * Sends a reply without ever blocking: written at once when nothing is pending and the socket takes it,
     * else queued for the connection's thread. False when the connection is gone, or jammed (then it is closed).
     */
    @Override
    public boolean send(Frame frame) {
        return send(ByteBuffer.wrap(frame.encode()));
    }

    /** The reply encoded straight into its buffer: the payload is copied once, not into a Frame and out again. */
    @Override
    public boolean reply(Frame request, int status, byte[] payload) {
        byte[] p = payload == null ? new byte[0] : payload;
        ByteBuffer bytes = ByteBuffer.allocate(SOCKET_HEADER_SIZE + p.length);
        // a header-only frame carrying the real payload_len, then the payload itself
        new Frame(
                        SOCKET_MAGIC,
                        PROTOCOL_VERSION,
                        MSG_RESPONSE,
                        FLAG_NONE,
                        request.vmId(),
                        request.poolId(),
                        request.priority(),
                        0,
                        request.requestId(),
                        p.length,
                        status,
                        null)
                .encodeTo(bytes);
        bytes.put(p).flip();
        try {
            return send(bytes);
        } finally {
            answered();
        }
    }

    /** One outstanding request answered: wakes the connection's thread when it waits for just that. */
    private void answered() {
        int n = outstanding.decrementAndGet();
        if ((readPaused && n < outstandingCap) || (draining && n == 0)) {
            selector.wakeup();
        }
    }

    private boolean send(ByteBuffer bytes) {
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
            boolean first = pending.isEmpty();
            pending.add(bytes);
            if (first) {
                try {
                    key.interestOps(key.interestOps() | SelectionKey.OP_WRITE);
                } catch (java.nio.channels.CancelledKeyException e) {
                    return false; // closed meanwhile
                }
                if (Thread.currentThread() != thread) {
                    selector.wakeup(); // it may be waiting for reads only
                }
            }
            return true;
        }
    }

    /** Half-closes the input: the connection's thread sees end of stream and runs the normal close path. */
    void stopReading() {
        try {
            channel.shutdownInput();
        } catch (IOException e) {
            forceClose();
        }
    }

    /**
     * Closes the channel at once. The selector is closed too: a channel registered with a selector is only
     * really closed (EOF for the peer) once the selector has let go of it, and closing it also wakes the
     * connection's thread out of select().
     */
    void forceClose() {
        closing.set(true);
        try {
            channel.close();
        } catch (IOException ignored) {
            // closing anyway
        }
        try {
            selector.close();
        } catch (IOException ignored) {
            // closing anyway
        }
    }

    private String describe() {
        return helloDone ? "vm=" + Integer.toUnsignedString(boundVm) + " peer=" + peer : "peer=" + peer;
    }

    // ---------------------------------------------------------------- the connection's thread

    private void ioLoop() {
        String reason = "end of stream";
        try {
            while (true) {
                String stop = handleBuffered();
                if (stop != null) {
                    reason = stop;
                    break;
                }
                selector.select();
                selector.selectedKeys().clear();
                if (!key.isValid()) {
                    throw new java.nio.channels.ClosedChannelException();
                }
                int ready = key.readyOps();
                if ((ready & SelectionKey.OP_WRITE) != 0) {
                    flushPending(readPaused ? 0 : SelectionKey.OP_READ);
                }
                // readyOps may be stale after a wake-up: a paused connection must not read on it
                if (!readPaused && (ready & SelectionKey.OP_READ) != 0 && channel.read(in) < 0) {
                    reason = endOfStream(reason);
                    break;
                }
            }
        } catch (IOException | java.nio.channels.ClosedSelectorException | java.nio.channels.CancelledKeyException e) {
            reason = closeReason != null
                    ? closeReason
                    : closing.get() ? "closed" : "read failed: " + (e.getMessage() != null ? e.getMessage() : e);
        } catch (RuntimeException e) {
            // a bug must not take the daemon down: drop this connection only
            reason = "internal error: " + e;
            mediator.log().log(java.util.logging.Level.SEVERE, "conn " + id + " internal error", e);
        } finally {
            closeAfterFlush(reason);
        }
    }

    /**
     * Handles every whole frame in the buffer and keeps the rest (a frame begun: its deadline starts). Non-null:
     * the reason to close (a header that makes the stream unreadable; answered already).
     */
    private String handleBuffered() {
        in.flip();
        boolean capped = false;
        try {
            while (in.remaining() >= SOCKET_HEADER_SIZE) {
                if (atCap()) {
                    capped = true;
                    break;
                }
                int at = in.position();
                in.get(at, head);
                Frame frame = Frame.parseHeader(head);
                if (frame.magic() != SOCKET_MAGIC) {
                    String reason = String.format("bad magic 0x%08x", frame.magic());
                    refuse(frame, MSG_RESPONSE, ERR_PROTOCOL, reason + "; stream unreadable, closing");
                    unreadable = true;
                    return reason;
                }
                if (Integer.compareUnsigned(frame.payloadLen(), MAX_PAYLOAD) > 0) {
                    String reason = "payload_len " + Integer.toUnsignedString(frame.payloadLen()) + " > " + MAX_PAYLOAD;
                    refuse(frame, MSG_RESPONSE, ERR_PROTOCOL, reason + "; stream unreadable, closing");
                    unreadable = true;
                    return reason;
                }
                if (in.remaining() < SOCKET_HEADER_SIZE + frame.payloadLen()) {
                    break;
                }
                byte[] payload = new byte[frame.payloadLen()];
                in.get(at + SOCKET_HEADER_SIZE, payload);
                in.position(at + SOCKET_HEADER_SIZE + payload.length);
                frameStartedNanos = 0;
                lastFrameNanos = System.nanoTime();
                handle(frame.withPayload(payload), payload);
            }
        } finally {
            in.compact();
        }
        pauseReading(capped || atCap());
        if (readPaused) {
            frameStartedNanos = 0; // the stall is ours, not the client's: its frame timeout starts when we read again
        } else if (in.position() > 0 && frameStartedNanos == 0) {
            frameStartedNanos = System.nanoTime();
        }
        return null;
    }

    /**
     * True at the cap. The flag is raised before the count is read again, and a reply lowers the count before it
     * reads the flag, so either this sees the reply's decrement or the reply sees the flag (and wakes us).
     */
    private boolean atCap() {
        if (outstanding.get() < outstandingCap) {
            return false;
        }
        readPaused = true;
        return outstanding.get() >= outstandingCap;
    }

    /**
     * Drops or restores OP_READ (writes keep their interest). Nothing to do only when reading goes on: a pause may
     * have been flagged by {@link #atCap} already, without the interest dropped yet.
     */
    private void pauseReading(boolean pause) {
        if (!pause && !readPaused) {
            return;
        }
        synchronized (pending) {
            readPaused = pause;
            int ops = key.interestOps();
            key.interestOps(pause ? ops & ~SelectionKey.OP_READ : ops | SelectionKey.OP_READ);
        }
    }

    /** The close reason at end of stream; a frame cut off is logged. */
    private String endOfStream(String reason) {
        int buffered = in.position();
        if (buffered == 0) {
            return reason;
        }
        if (buffered < SOCKET_HEADER_SIZE) {
            mediator.log()
                    .info("conn " + id + " " + describe() + ": client vanished after " + buffered + " of "
                            + SOCKET_HEADER_SIZE + " header bytes");
            return reason;
        }
        in.get(0, head);
        Frame frame = Frame.parseHeader(head);
        mediator.log()
                .info("conn " + id + " " + describe() + ": client vanished after " + (buffered - SOCKET_HEADER_SIZE)
                        + " of " + frame.payloadLen() + " payload bytes");
        return "client vanished mid-frame (" + messageTypeName(frame.msgType()) + " payload)";
    }

    /**
     * Writes what is pending as far as the socket takes it; once all is out, the interest goes back to
     * {@code interestWhenEmpty}. True when nothing is pending any more.
     */
    private boolean flushPending(int interestWhenEmpty) throws IOException {
        synchronized (pending) {
            while (!pending.isEmpty()) {
                ByteBuffer first = pending.peek();
                channel.write(first);
                if (first.hasRemaining()) {
                    return false;
                }
                pending.poll();
            }
            key.interestOps(interestWhenEmpty);
            return true;
        }
    }

    /** Handles one whole, readable frame: answers it or enqueues it; the connection always goes on. */
    private void handle(Frame f, byte[] payload) {
        int type = f.msgType();
        int replyType = type == MSG_HELLO ? MSG_HELLO_ACK : type == MSG_STATS_REQUEST ? MSG_STATS_REPLY : MSG_RESPONSE;
        if (type == MSG_REQUEST) {
            stats.requestReceived();
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
            case MSG_REQUEST -> onRequest(f, payload);
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
        byte[] json = stats.toJson(MAX_PAYLOAD).getBytes(StandardCharsets.UTF_8);
        send(f.reply(MSG_STATS_REPLY, ERR_NONE, json));
    }

    /** {@code payload}: the frame's payload as read (the frame holds its own copy; decoding needs no third). */
    private void onRequest(Frame f, byte[] payload) {
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
            request = ComputeRequest.decode(payload);
            request.checkConsistent();
        } catch (FrameException e) {
            reject(f, e.errorCode(), e.getMessage());
            return;
        }
        // counted before the submit: its answer may come (from a worker, or refused from the inbox) before the
        // submit returns
        outstanding.incrementAndGet();
        Scheduler.Admission a = scheduler.submit(f, request, this, runner);
        if (a != Scheduler.Admission.ACCEPTED) {
            rejected(f, a);
        }
    }

    /** A request the scheduler refused (at once, or later from its inbox): one request log line and the reply. */
    @Override
    public void rejected(Frame f, Scheduler.Admission why) {
        try {
            if (why == Scheduler.Admission.QUEUE_FULL) {
                reject(f, ERR_QUEUE_FULL, "vm already has " + mediator.queueCap() + " queued requests");
            } else {
                reject(f, ERR_SHUTDOWN, "mediator is shutting down");
            }
        } finally {
            answered();
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
        stats.refused(status);
        mediator.log()
                .info("conn " + id + " " + describe() + ": " + messageTypeName(f.msgType()) + " refused with "
                        + ErrorCode.nameOf(status) + ": " + why);
        send(f.reply(replyType, status, null));
    }

    /**
     * After an unreadable frame: waits (reading nothing, flushing replies) until every accepted request is
     * answered, at most the shutdown grace; then what is still queued or running is answered SHUTDOWN.
     */
    private void answerOutstanding() {
        long deadline = System.nanoTime() + mediator.config().shutdownGrace().toNanos();
        try {
            synchronized (pending) {
                key.interestOps(pending.isEmpty() ? 0 : SelectionKey.OP_WRITE);
            }
            draining = true; // before the count is read: a reply that brings it to 0 then wakes this thread
            flushWhile(flushed -> outstanding.get() > 0, deadline);
        } catch (IOException | java.nio.channels.ClosedSelectorException | java.nio.channels.CancelledKeyException e) {
            return; // the peer went away or we were force-closed: nobody to answer
        }
        int left = outstanding.get();
        if (left > 0) {
            mediator.answerShutdown(
                    this,
                    "connection closing after an unreadable frame; not answered within the shutdown grace of "
                            + mediator.config().shutdownGrace().toMillis() + " ms");
            mediator.log()
                    .info("conn " + id + " " + describe() + ": " + left
                            + " accepted requests not answered within the shutdown grace: SHUTDOWN");
        }
    }

    /**
     * Once reading is over: flushes what is pending and waits (for the socket to take more, or a wake-up by a reply)
     * as long as {@code more} holds - given whether all is flushed - and {@code deadlineNanos} (System.nanoTime) is
     * ahead.
     */
    private void flushWhile(java.util.function.Predicate<Boolean> more, long deadlineNanos) throws IOException {
        while (true) {
            boolean flushed = flushPending(0);
            if (!more.test(flushed)) {
                return;
            }
            if (!flushed) {
                key.interestOps(SelectionKey.OP_WRITE);
            }
            long left = (deadlineNanos - System.nanoTime()) / 1_000_000;
            if (left <= 0) {
                return;
            }
            selector.select(left);
            selector.selectedKeys().clear();
        }
    }

    /**
     * Sends what is still queued (bounded by a deadline), then closes; runs on the connection's thread. After an
     * unreadable frame the accepted requests are answered first ({@link #answerOutstanding}).
     */
    private void closeAfterFlush(String reason) {
        closing.set(true);
        if (unreadable && outstanding.get() > 0) {
            answerOutstanding();
        }
        mediator.connectionClosed(this);
        long deadline = System.nanoTime() + DRAIN_ON_CLOSE_MILLIS * 1_000_000;
        try {
            // reading is over: wait for writability only (a half-closed input would always be "readable")
            flushWhile(flushed -> !flushed, deadline);
        } catch (IOException | java.nio.channels.ClosedSelectorException | java.nio.channels.CancelledKeyException e) {
            // the peer went away or we were force-closed: nothing more to send
        }
        forceClose();
        mediator.log()
                .info("conn " + id + " closed " + describe() + ": " + (closeReason != null ? closeReason : reason));
    }
}

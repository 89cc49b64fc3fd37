package dev.vgpuhil.mediator;

import static dev.vgpuhil.protocol.VgpuProtocol.*;

import dev.vgpuhil.protocol.ComputeRequest;
import dev.vgpuhil.protocol.Frame;
import dev.vgpuhil.protocol.FrameException;
import java.io.EOFException;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;

/**
 * A client of the mediator speaking the device's side of the protocol over a real Unix socket, with a
 * deadline on every wait. Used by the tests, the benchmark and the harness (e.g. to read STATS).
 * Not thread-safe: one thread per client.
 */
public final class MediatorClient implements AutoCloseable {
    private final SocketChannel channel;
    private final Selector selector;
    private int vmId;
    private int pool = POOL_A;
    private int priority = PRIORITY_LOW;

    private MediatorClient(SocketChannel channel) throws IOException {
        this.channel = channel;
        channel.configureBlocking(false);
        this.selector = Selector.open();
    }

    /** Connects, retrying until the socket accepts or the deadline passes. */
    public static MediatorClient connect(Path socket, Duration timeout) throws IOException {
        long deadline = System.nanoTime() + timeout.toNanos();
        IOException last;
        do {
            SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX);
            try {
                ch.connect(UnixDomainSocketAddress.of(socket));
                return new MediatorClient(ch);
            } catch (IOException e) {
                ch.close();
                last = e;
            }
            try {
                Thread.sleep(20);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new InterruptedIOException("interrupted while connecting to " + socket);
            }
        } while (System.nanoTime() < deadline);
        throw new IOException("cannot connect to " + socket + " within " + timeout.toMillis() + " ms: " + last, last);
    }

    /** Sends HELLO and returns the HELLO_ACK; later {@link #request} calls use these vm/pool/priority. */
    public Frame hello(int vmId, int pool, int priority, Duration timeout) throws IOException {
        this.vmId = vmId;
        this.pool = pool;
        this.priority = priority;
        send(Frame.of(MSG_HELLO, vmId, pool, priority, 0, 0, null));
        return receive(timeout);
    }

    /** Sends a REQUEST (with the HELLO's vm/pool/priority) and waits for its reply. */
    public Frame request(int requestId, ComputeRequest request, Duration timeout) throws IOException {
        send(requestFrame(requestId, request));
        return receive(timeout);
    }

    public Frame requestFrame(int requestId, ComputeRequest request) {
        return Frame.of(MSG_REQUEST, vmId, pool, priority, requestId, 0, request.encode());
    }

    /** STATS_REQUEST → the STATS_REPLY JSON. */
    public String stats(Duration timeout) throws IOException {
        send(Frame.of(MSG_STATS_REQUEST, vmId, pool, priority, 0, 0, null));
        Frame reply = receive(timeout);
        if (reply.msgType() != MSG_STATS_REPLY || reply.status() != ERR_NONE) {
            throw new IOException("expected STATS_REPLY status 0, got " + reply);
        }
        return new String(reply.payload(), StandardCharsets.UTF_8);
    }

    /** Sends a frame and returns the next frame received. */
    public Frame exchange(Frame frame, Duration timeout) throws IOException {
        send(frame);
        return receive(timeout);
    }

    public void send(Frame frame) throws IOException {
        sendRaw(frame.encode());
    }

    /** Writes bytes as they are (for malformed-frame tests). */
    public void sendRaw(byte[] bytes) throws IOException {
        ByteBuffer buf = ByteBuffer.wrap(bytes);
        long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
        while (buf.hasRemaining()) {
            if (channel.write(buf) == 0) {
                await(SelectionKey.OP_WRITE, deadline, "writing");
            }
        }
    }

    /** Reads one whole frame; EOFException when the mediator closed the connection, IOException at the deadline. */
    public Frame receive(Duration timeout) throws IOException {
        long deadline = System.nanoTime() + timeout.toNanos();
        ByteBuffer head = readFully(SOCKET_HEADER_SIZE, deadline);
        Frame header;
        try {
            header = Frame.decodeHeader(head.array());
        } catch (FrameException e) {
            throw new IOException("mediator sent a bad frame header: " + e.getMessage(), e);
        }
        ByteBuffer payload = readFully(header.payloadLen(), deadline);
        return header.withPayload(payload.array());
    }

    /**
     * Reads one frame as the bytes say, not validated (the conformance kit judges every field of a reply itself):
     * the header's fields, then {@code payload_len} bytes if that is at most {@link
     * dev.vgpuhil.protocol.VgpuProtocol#MAX_PAYLOAD}, else an empty payload and the stream left after the header.
     */
    public Frame receiveUnchecked(Duration timeout) throws IOException {
        long deadline = System.nanoTime() + timeout.toNanos();
        Frame header = Frame.parseHeader(readFully(SOCKET_HEADER_SIZE, deadline).array());
        if (Integer.compareUnsigned(header.payloadLen(), MAX_PAYLOAD) > 0) {
            return header;
        }
        return header.withPayload(readFully(header.payloadLen(), deadline).array());
    }

    /** True when a byte (or the end of the stream) waits to be read now; consumes nothing. */
    public boolean readable() throws IOException {
        SelectionKey key = channel.register(selector, SelectionKey.OP_READ);
        try {
            return selector.selectNow() > 0;
        } finally {
            key.interestOps(0);
            selector.selectedKeys().clear();
        }
    }

    /** True when the mediator closes the connection (EOF) within the timeout, false if it stays open. */
    public boolean closedByPeer(Duration timeout) throws IOException {
        long deadline = System.nanoTime() + timeout.toNanos();
        ByteBuffer one = ByteBuffer.allocate(1);
        try {
            while (true) {
                int n = channel.read(one);
                if (n < 0) {
                    return true;
                }
                if (n > 0) {
                    throw new IOException("expected end of stream, got more data");
                }
                await(SelectionKey.OP_READ, deadline, "waiting for end of stream");
            }
        } catch (java.net.SocketException e) {
            return true; // reset by peer: closed too
        } catch (IOException e) {
            if (e.getMessage() != null && e.getMessage().startsWith("no ")) {
                return false;
            }
            throw e;
        }
    }

    private ByteBuffer readFully(int n, long deadline) throws IOException {
        ByteBuffer buf = ByteBuffer.allocate(n);
        while (buf.hasRemaining()) {
            int r;
            try {
                r = channel.read(buf);
            } catch (java.net.SocketException e) {
                // the mediator closed with our unread bytes in its buffer: a reset is its way of closing
                throw new EOFException("mediator reset the connection after " + buf.position() + " of " + n + " bytes");
            }
            if (r < 0) {
                throw new EOFException(
                        "mediator closed the connection after " + buf.position() + " of " + n + " bytes");
            }
            if (r == 0) {
                await(SelectionKey.OP_READ, deadline, "reading");
            }
        }
        return buf;
    }

    private void await(int op, long deadline, String what) throws IOException {
        long left = deadline - System.nanoTime();
        if (left <= 0) {
            throw new IOException("no progress " + what + " before the deadline");
        }
        SelectionKey key = channel.register(selector, op);
        try {
            selector.select(Math.max(1, left / 1_000_000));
        } finally {
            key.interestOps(0);
            selector.selectedKeys().clear();
        }
        if (System.nanoTime() - deadline >= 0) {
            throw new IOException("no progress " + what + " before the deadline");
        }
    }

    @Override
    public void close() throws IOException {
        try {
            selector.close();
        } finally {
            channel.close();
        }
    }
}

package dev.vgpuhil.qemu.device;

import java.io.EOFException;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;

/**
 * A minimal vfio-user client over a real Unix socket, for tests of vgpu-stub-vfio-user without QEMU: it sends
 * well-formed or deliberately broken messages and reads replies, every read with a deadline. It passes no file
 * descriptors (Java cannot); the eventfd paths are covered through QEMU. Its own waits (the server taking our
 * bytes, a reply) are one wait of the test's {@link DeviceBudget}.
 */
final class VfioUserClient implements AutoCloseable {
    static final int VERSION = 1;
    static final int DMA_MAP = 2;
    static final int DMA_UNMAP = 3;
    static final int DEVICE_GET_INFO = 4;
    static final int DEVICE_GET_REGION_INFO = 5;
    static final int DEVICE_GET_IRQ_INFO = 7;
    static final int DEVICE_SET_IRQS = 8;
    static final int REGION_READ = 9;
    static final int REGION_WRITE = 10;
    static final int DEVICE_RESET = 13;
    static final int FLAG_REPLY = 0x1;
    static final int FLAG_NO_REPLY = 0x10;
    static final int FLAG_ERROR = 0x20;
    static final int BAR0 = 0;
    static final int CONFIG = 7;

    /** A reply: header fields and the payload after the 16-byte header. */
    record Reply(int id, int command, int flags, int error, byte[] payload) {
        boolean isError() {
            return (flags & FLAG_ERROR) != 0;
        }

        ByteBuffer le() {
            return ByteBuffer.wrap(payload).order(ByteOrder.LITTLE_ENDIAN);
        }
    }

    private final SocketChannel channel;
    private final DeviceBudget budget;
    private final Selector selector;
    private int nextId = 1;

    private VfioUserClient(SocketChannel channel, DeviceBudget budget) throws IOException {
        this.channel = channel;
        this.budget = budget;
        channel.configureBlocking(false);
        this.selector = Selector.open();
        channel.register(selector, SelectionKey.OP_READ);
    }

    static VfioUserClient connect(Path socket, DeviceBudget budget) throws IOException {
        SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX);
        ch.connect(UnixDomainSocketAddress.of(socket));
        return new VfioUserClient(ch, budget);
    }

    /** VERSION 0.0 with QEMU's kind of capabilities; the reply must not be an error. */
    Reply negotiate() throws IOException {
        byte[] caps = "{\"capabilities\":{\"max_msg_fds\":16,\"max_data_xfer_size\":1048576}}\0"
                .getBytes(StandardCharsets.US_ASCII);
        Reply r = call(
                VERSION,
                le(4 + caps.length)
                        .putShort((short) 0)
                        .putShort((short) 0)
                        .put(caps)
                        .array());
        if (r.isError()) {
            throw new AssertionError("VERSION refused: errno " + r.error());
        }
        return r;
    }

    /** Sends a command with the next id and waits for its reply. */
    Reply call(int command, byte[] payload) throws IOException {
        int id = nextId++ & 0xffff;
        send(id, command, 0, payload);
        Reply r = readReply();
        if (r.id() != id || r.command() != command || (r.flags() & 0xf) != FLAG_REPLY) {
            throw new AssertionError("reply " + r + " does not answer command " + command + " id " + id);
        }
        return r;
    }

    /** Sends a command header + payload as given (the size field says 16 + payload). */
    void send(int id, int command, int flags, byte[] payload) throws IOException {
        ByteBuffer b = le(16 + payload.length)
                .putShort((short) id)
                .putShort((short) command)
                .putInt(16 + payload.length)
                .putInt(flags)
                .putInt(0)
                .put(payload);
        sendRaw(b.array());
    }

    void sendRaw(byte[] bytes) throws IOException {
        ByteBuffer b = ByteBuffer.wrap(bytes);
        long end = System.nanoTime() + budget.waitFor().toNanos();
        while (b.hasRemaining()) {
            if (channel.write(b) == 0) {
                if (System.nanoTime() > end) {
                    throw new AssertionError("the server did not take our bytes within " + budget);
                }
                sleep(1);
            }
        }
    }

    Reply readReply() throws IOException {
        ByteBuffer h = readFully(16).order(ByteOrder.LITTLE_ENDIAN);
        int id = h.getShort(0) & 0xffff;
        int cmd = h.getShort(2) & 0xffff;
        int size = h.getInt(4);
        int flags = h.getInt(8);
        int err = h.getInt(12);
        if (size < 16 || size > 1 << 20) {
            throw new AssertionError("reply with size " + size);
        }
        byte[] payload = readFully(size - 16).array();
        return new Reply(id, cmd, flags, err, payload);
    }

    /** True if the server closes the connection within the deadline (bytes before the close are dropped). */
    boolean awaitClosedByServer(Duration deadline) throws IOException {
        long end = System.nanoTime() + deadline.toNanos();
        ByteBuffer sink = ByteBuffer.allocate(4096);
        while (System.nanoTime() < end) {
            selector.select(Math.max(1, (end - System.nanoTime()) / 1_000_000));
            selector.selectedKeys().clear();
            sink.clear();
            int n;
            try {
                n = channel.read(sink);
            } catch (IOException e) {
                return true; // reset
            }
            if (n < 0) {
                return true;
            }
        }
        return false;
    }

    /** REGION_READ; the reply payload's data (after the 16-byte access header). */
    byte[] read(int region, long offset, int count) throws IOException {
        Reply r = call(REGION_READ, access(region, offset, count).array());
        if (r.isError()) {
            throw new AssertionError("REGION_READ " + region + "@" + offset + "+" + count + ": errno " + r.error());
        }
        byte[] data = new byte[r.payload().length - 16];
        System.arraycopy(r.payload(), 16, data, 0, data.length);
        return data;
    }

    int readBar32(int offset) throws IOException {
        return ByteBuffer.wrap(read(BAR0, offset, 4))
                .order(ByteOrder.LITTLE_ENDIAN)
                .getInt();
    }

    void write(int region, long offset, byte[] data) throws IOException {
        ByteBuffer b = le(16 + data.length)
                .putLong(offset)
                .putInt(region)
                .putInt(data.length)
                .put(data);
        Reply r = call(REGION_WRITE, b.array());
        if (r.isError()) {
            throw new AssertionError("REGION_WRITE " + region + "@" + offset + ": errno " + r.error());
        }
    }

    void writeBar32(int offset, int value) throws IOException {
        write(BAR0, offset, le(4).putInt(value).array());
    }

    static ByteBuffer access(int region, long offset, int count) {
        return le(16).putLong(offset).putInt(region).putInt(count);
    }

    static ByteBuffer le(int size) {
        return ByteBuffer.allocate(size).order(ByteOrder.LITTLE_ENDIAN);
    }

    private ByteBuffer readFully(int n) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(n);
        long end = System.nanoTime() + budget.waitFor().toNanos();
        while (b.hasRemaining()) {
            int r = channel.read(b);
            if (r < 0) {
                throw new EOFException("the server closed the connection");
            }
            if (r == 0) {
                long left = end - System.nanoTime();
                if (left <= 0) {
                    throw new AssertionError("no reply from the server within " + budget);
                }
                selector.select(Math.max(1, left / 1_000_000));
                selector.selectedKeys().clear();
            }
        }
        return b.flip();
    }

    private static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError("interrupted", e);
        }
    }

    @Override
    public void close() throws IOException {
        selector.close();
        channel.close();
    }
}

package dev.vgpuhil.qemu.device;

import static dev.vgpuhil.protocol.VgpuProtocol.*;

import dev.vgpuhil.protocol.Frame;
import dev.vgpuhil.protocol.FrameException;
import java.io.EOFException;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * A test peer that plays the mediator over a real Unix socket: the test decides, step by step, what it answers
 * (correct replies, wrong ids, garbage, silence, disconnects). Every wait has a deadline, from the test's
 * {@link DeviceBudget}, which its timeout messages name.
 */
final class MediatorPeer implements AutoCloseable {
    private final Path socket;
    private final DeviceBudget budget;
    private ServerSocketChannel server;
    private final List<Connection> connections = new ArrayList<>();

    MediatorPeer(Path socket, DeviceBudget budget) throws IOException {
        this.socket = socket;
        this.budget = budget;
        listen();
    }

    Path socket() {
        return socket;
    }

    /** (Re)creates the listening socket, e.g. to play a restarted mediator. */
    void listen() throws IOException {
        Files.deleteIfExists(socket);
        server = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
        server.bind(UnixDomainSocketAddress.of(socket));
        server.configureBlocking(false);
    }

    /** Stops listening and removes the socket file (a mediator that went away). */
    void stopListening() throws IOException {
        server.close();
        Files.deleteIfExists(socket);
    }

    /** Waits for the device to connect; a reader thread starts decoding its frames at once. */
    Connection accept(Duration deadline) throws IOException, InterruptedException {
        Connection c = acceptUnread(deadline);
        c.startReading();
        return c;
    }

    /**
     * Waits for the device to connect but reads nothing until {@link Connection#startReading()} (or
     * {@link Connection#readFrameNow()}): a mediator that does not take its input, so the socket fills up.
     */
    Connection acceptUnread(Duration deadline) throws IOException, InterruptedException {
        long end = System.nanoTime() + deadline.toNanos();
        SocketChannel ch;
        while ((ch = server.accept()) == null) {
            if (System.nanoTime() > end) {
                throw new AssertionError(
                        "the device did not connect to " + socket + " within " + deadline + " (" + budget + ")");
            }
            Thread.sleep(5);
        }
        ch.configureBlocking(true);
        Connection c = new Connection(ch, budget);
        connections.add(c);
        return c;
    }

    /** A connection the device has made, if one is waiting (never blocks); its reader thread is started. */
    Connection tryAccept() throws IOException {
        SocketChannel ch = server.accept();
        if (ch == null) {
            return null;
        }
        ch.configureBlocking(true);
        Connection c = new Connection(ch, budget);
        connections.add(c);
        c.startReading();
        return c;
    }

    /** Accepts, expects HELLO and answers HELLO_ACK with status 0; returns the connection and its HELLO. */
    Connection acceptAndGreet(Duration deadline) throws Exception {
        Connection c = accept(deadline);
        Frame hello = c.expectFrame(deadline);
        if (hello.msgType() != MSG_HELLO) {
            throw new AssertionError("first frame from the device is not HELLO: " + hello);
        }
        c.hello = hello;
        c.send(hello.reply(MSG_HELLO_ACK, ERR_NONE, null).withRequestId(0));
        return c;
    }

    @Override
    public void close() throws IOException {
        for (Connection c : connections) {
            c.close();
        }
        server.close();
        Files.deleteIfExists(socket);
    }

    /** One accepted device connection; a reader thread decodes frames into a queue. */
    static final class Connection implements AutoCloseable {
        private static final Object EOF_MARK = new Object();
        final SocketChannel channel;
        private final DeviceBudget budget;
        private final BlockingQueue<Object> incoming = new LinkedBlockingQueue<>();
        Frame hello;

        private Thread reader;

        Connection(SocketChannel channel, DeviceBudget budget) {
            this.channel = channel;
            this.budget = budget;
        }

        /** Starts the reader thread (idempotent). */
        synchronized void startReading() {
            if (reader == null) {
                reader = new Thread(this::readLoop, "mediator-peer-reader");
                reader.setDaemon(true);
                reader.start();
            }
        }

        /** Reads one frame synchronously, before the reader thread is started. */
        synchronized Frame readFrameNow() throws IOException, FrameException {
            if (reader != null) {
                throw new IllegalStateException("the reader thread owns the channel");
            }
            return Frame.readFrom(channel);
        }

        private void readLoop() {
            try {
                while (true) {
                    incoming.add(Frame.readFrom(channel));
                }
            } catch (EOFException e) {
                incoming.add(EOF_MARK);
            } catch (FrameException e) {
                incoming.add(e);
            } catch (IOException e) {
                incoming.add(EOF_MARK);
            }
        }

        /** The next frame from the device; AssertionError on EOF, a malformed frame or the deadline. */
        Frame expectFrame(Duration deadline) throws InterruptedException {
            Object o = incoming.poll(deadline.toMillis(), TimeUnit.MILLISECONDS);
            if (o == null) {
                throw new AssertionError("no frame from the device within " + deadline + " (" + budget + ")");
            }
            if (o == EOF_MARK) {
                throw new AssertionError("the device closed the connection");
            }
            if (o instanceof FrameException e) {
                throw new AssertionError("the device sent a malformed frame: " + e.getMessage(), e);
            }
            return (Frame) o;
        }

        /**
         * The next frame if one comes within {@code wait}, else null; null too once the device has closed or sent
         * a malformed frame ({@link #closedByDevice()} then says so). For fuzzers, which must not fail on either.
         */
        Frame pollFrame(Duration wait) throws InterruptedException {
            if (gone) {
                return null;
            }
            Object o = incoming.poll(wait.toNanos(), TimeUnit.NANOSECONDS);
            if (o == EOF_MARK || o instanceof FrameException) {
                gone = true;
                return null;
            }
            return (Frame) o;
        }

        /** True once {@link #pollFrame} met the end of the device's stream. */
        boolean closedByDevice() {
            return gone;
        }

        private boolean gone;

        /** True if the device closed its end within the deadline (frames before the close are skipped). */
        boolean awaitClosedByDevice(Duration deadline) throws InterruptedException {
            long end = System.nanoTime() + deadline.toNanos();
            while (true) {
                long left = end - System.nanoTime();
                if (left <= 0) {
                    return false;
                }
                Object o = incoming.poll(left, TimeUnit.NANOSECONDS);
                if (o == EOF_MARK) {
                    return true;
                }
                if (o == null) {
                    return false;
                }
            }
        }

        void send(Frame f) throws IOException {
            f.writeTo(channel);
        }

        void sendRaw(byte[] bytes) throws IOException {
            ByteBuffer b = ByteBuffer.wrap(bytes);
            while (b.hasRemaining()) {
                channel.write(b);
            }
        }

        @Override
        public void close() throws IOException {
            channel.close();
        }
    }
}

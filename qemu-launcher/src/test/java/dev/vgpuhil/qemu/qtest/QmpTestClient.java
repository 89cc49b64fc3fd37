package dev.vgpuhil.qemu.qtest;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * Just enough QMP for the migration test: greeting, qmp_capabilities, commands whose replies are returned as raw
 * JSON text (events are kept aside for {@link #awaitEvent}). Deadlines on every wait.
 */
public final class QmpTestClient implements AutoCloseable {
    private final SocketChannel channel;
    private final BlockingQueue<String> lines = new LinkedBlockingQueue<>();
    private final List<String> events = new ArrayList<>();

    private QmpTestClient(SocketChannel channel) {
        this.channel = channel;
        Thread t = new Thread(
                () -> {
                    try (BufferedReader in = new BufferedReader(
                            new InputStreamReader(Channels.newInputStream(channel), StandardCharsets.UTF_8))) {
                        for (String l; (l = in.readLine()) != null; ) {
                            lines.add(l);
                        }
                    } catch (IOException ignored) {
                        // closed
                    }
                    lines.add("<eof>");
                },
                "qmp-test-reader");
        t.setDaemon(true);
        t.start();
    }

    public static QmpTestClient connect(Path socket, Duration deadline) throws Exception {
        long end = System.nanoTime() + deadline.toNanos();
        while (true) {
            try {
                SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX);
                ch.connect(UnixDomainSocketAddress.of(socket));
                QmpTestClient c = new QmpTestClient(ch);
                String greeting = c.nextLine(deadline);
                if (!greeting.contains("\"QMP\"")) {
                    throw new AssertionError("not a QMP greeting: " + greeting);
                }
                c.execute("{\"execute\":\"qmp_capabilities\"}", deadline);
                return c;
            } catch (IOException e) {
                if (System.nanoTime() > end) {
                    throw new AssertionError("cannot connect to QMP at " + socket + ": " + e);
                }
                Thread.sleep(20);
            }
        }
    }

    private String nextLine(Duration deadline) throws InterruptedException {
        String l = lines.poll(deadline.toMillis(), TimeUnit.MILLISECONDS);
        if (l == null) {
            throw new AssertionError("no QMP output within " + deadline);
        }
        if (l.equals("<eof>")) {
            throw new AssertionError("QMP connection closed");
        }
        return l;
    }

    /** Sends a JSON command and returns the reply line; AssertionError on an error reply. */
    public String execute(String json, Duration deadline) throws IOException, InterruptedException {
        ByteBuffer b = ByteBuffer.wrap((json + "\n").getBytes(StandardCharsets.UTF_8));
        while (b.hasRemaining()) {
            channel.write(b);
        }
        long end = System.nanoTime() + deadline.toNanos();
        while (true) {
            String l = nextLine(Duration.ofNanos(Math.max(1, end - System.nanoTime())));
            if (l.contains("\"event\"")) {
                events.add(l);
                continue;
            }
            if (l.contains("\"error\"")) {
                throw new AssertionError("QMP " + json + " failed: " + l);
            }
            return l;
        }
    }

    /**
     * Waits for an event named {@code name} (also one that arrived while a command waited for its reply) and
     * returns its JSON line; AssertionError at the deadline.
     */
    public String awaitEvent(String name, Duration deadline) throws InterruptedException {
        String needle = "\"event\": \"" + name + "\"";
        String compact = "\"event\":\"" + name + "\"";
        for (String e : events) {
            if (e.contains(needle) || e.contains(compact)) {
                events.remove(e);
                return e;
            }
        }
        long end = System.nanoTime() + deadline.toNanos();
        while (true) {
            long left = end - System.nanoTime();
            if (left <= 0) {
                throw new AssertionError("no QMP event " + name + " within " + deadline);
            }
            String l = nextLine(Duration.ofNanos(left));
            if (l.contains(needle) || l.contains(compact)) {
                return l;
            }
            if (l.contains("\"event\"")) {
                events.add(l);
            }
        }
    }

    @Override
    public void close() throws IOException {
        channel.close();
    }
}

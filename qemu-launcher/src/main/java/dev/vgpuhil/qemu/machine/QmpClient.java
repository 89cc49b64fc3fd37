package dev.vgpuhil.qemu.machine;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.BufferedReader;
import java.io.BufferedWriter;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;

/**
 * A QMP client over a Unix socket (docs/interop/qmp-spec): greeting, {@code qmp_capabilities}, commands with an
 * {@code id} and a deadline each (a late reply is dropped, never taken for another command's), asynchronous
 * events kept in order and handed to listeners. Every line in both directions is appended to a transcript
 * file ({@code qmp.log} in the machine's run directory) with a timestamp.
 *
 * <p>Thread-safe: commands may be issued from several threads; one reader thread routes replies and events.
 */
public final class QmpClient implements AutoCloseable {
    /** Default deadline of a command. */
    public static final Duration DEFAULT_TIMEOUT = Duration.ofSeconds(10);

    private final SocketChannel channel;
    private final Duration defaultTimeout;
    private final BufferedWriter transcript;
    private final Runnable onActivity;
    private final CompletableFuture<ObjectNode> greeting = new CompletableFuture<>();
    private final Map<String, CompletableFuture<ObjectNode>> pending = new ConcurrentHashMap<>();
    private final List<QmpEvent> events = new ArrayList<>();
    private final List<Consumer<QmpEvent>> listeners = new CopyOnWriteArrayList<>();
    private final AtomicLong ids = new AtomicLong();
    private final Thread reader;
    private final Object writeLock = new Object();
    private final Object transcriptLock = new Object();
    private volatile String closedBecause;

    private QmpClient(
            SocketChannel channel, Path transcriptFile, Duration defaultTimeout, Runnable onActivity, String threadName)
            throws IOException {
        this.channel = channel;
        this.defaultTimeout = defaultTimeout;
        this.onActivity = onActivity == null ? () -> {} : onActivity;
        this.transcript = transcriptFile == null
                ? null
                : Files.newBufferedWriter(
                        transcriptFile, StandardCharsets.UTF_8, StandardOpenOption.CREATE, StandardOpenOption.APPEND);
        this.reader = new Thread(this::readLoop, threadName);
        this.reader.setDaemon(true);
        this.reader.start();
    }

    /**
     * Connects to a QMP server socket, reads the greeting and negotiates capabilities.
     *
     * @param transcriptFile where to append the transcript (null: none)
     * @param onActivity     run after every event and when the connection closes (may be null)
     * @throws QmpException  when the socket refuses, or the greeting/negotiation fails or misses the deadline
     */
    public static QmpClient connect(Path socket, Path transcriptFile, Duration timeout, Runnable onActivity)
            throws IOException {
        SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX);
        try {
            ch.connect(UnixDomainSocketAddress.of(socket));
        } catch (IOException e) {
            ch.close();
            throw e;
        }
        QmpClient c = new QmpClient(ch, transcriptFile, timeout, onActivity, "qmp-reader-" + socket.getFileName());
        try {
            c.handshake(timeout);
        } catch (RuntimeException e) {
            c.close();
            throw e;
        }
        return c;
    }

    private void handshake(Duration timeout) {
        ObjectNode g;
        try {
            g = greeting.get(timeout.toMillis(), TimeUnit.MILLISECONDS);
        } catch (TimeoutException e) {
            throw new QmpException("no QMP greeting within " + timeout, e);
        } catch (ExecutionException e) {
            throw new QmpException("no QMP greeting: " + e.getCause().getMessage(), e.getCause());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new QmpException("interrupted while waiting for the QMP greeting", e);
        }
        if (!g.has("QMP")) {
            throw new QmpException("not a QMP greeting: " + g, null);
        }
        execute("qmp_capabilities", null, timeout);
    }

    // ---- commands

    /** Runs a command without arguments with the default deadline; returns its "return" value. */
    public JsonNode execute(String command) {
        return execute(command, null, defaultTimeout);
    }

    /** Runs a command with the default deadline; returns its "return" value (a Jackson tree). */
    public JsonNode execute(String command, Map<String, ?> arguments) {
        return execute(command, arguments, defaultTimeout);
    }

    /**
     * Runs a command; returns its "return" value.
     *
     * @throws QmpException on an error reply (with {@link QmpException#errorClass()}), when no reply comes
     *                      within {@code timeout}, or when the connection is (or gets) closed
     */
    public JsonNode execute(String command, Map<String, ?> arguments, Duration timeout) {
        String why = closedBecause;
        if (why != null) {
            throw new QmpException("cannot execute " + command + ": QMP connection closed (" + why + ")", null);
        }
        String id = "c" + ids.incrementAndGet();
        Map<String, Object> msg = new LinkedHashMap<>();
        msg.put("execute", command);
        if (arguments != null && !arguments.isEmpty()) {
            msg.put("arguments", arguments);
        }
        msg.put("id", id);
        CompletableFuture<ObjectNode> f = new CompletableFuture<>();
        pending.put(id, f);
        try {
            send(QmpJson.write(msg));
        } catch (IOException e) {
            pending.remove(id);
            throw new QmpException("cannot send " + command + ": " + e.getMessage(), e);
        }
        if (closedBecause != null) {
            // the reader may have failed every pending command just before we registered ours
            f.completeExceptionally(new IOException(closedBecause));
        }
        ObjectNode reply;
        try {
            reply = f.get(timeout.toMillis(), TimeUnit.MILLISECONDS);
        } catch (TimeoutException e) {
            pending.remove(id);
            throw new QmpException("no reply to " + command + " within " + timeout, e);
        } catch (ExecutionException e) {
            throw new QmpException(
                    command + " got no reply: QMP connection closed ("
                            + e.getCause().getMessage() + ")",
                    e.getCause());
        } catch (InterruptedException e) {
            pending.remove(id);
            Thread.currentThread().interrupt();
            throw new QmpException("interrupted while waiting for the reply to " + command, e);
        }
        if (reply.has("error")) {
            JsonNode err = reply.path("error");
            String cls = err.path("class").asText("?");
            String desc = err.path("desc").asText("");
            throw new QmpException(command + " failed: " + cls + ": " + desc, cls, desc, null);
        }
        return reply.path("return");
    }

    /** {@code query-status}. */
    public RunState queryStatus() {
        JsonNode r = execute("query-status");
        if (!r.isObject()) {
            throw new QmpException("query-status returned " + r + " instead of an object", null);
        }
        return new RunState(r.path("status").asText("?"), r.path("running").asBoolean(false));
    }

    /** {@code query-pci}, flattened over buses and bridges. */
    public List<PciDevice> queryPci() {
        return PciDevice.fromQueryPci(execute("query-pci"));
    }

    /** An HMP command through {@code human-monitor-command}; returns its text output (e.g. "info usernet"). */
    public String hmp(String commandLine) {
        JsonNode r = execute("human-monitor-command", Map.of("command-line", commandLine));
        return r.isTextual() ? r.asText() : r.isMissingNode() || r.isNull() ? "" : r.toString();
    }

    /** {@code system_powerdown}: presses the ACPI power button (the guest decides what to do). */
    public void systemPowerdown() {
        execute("system_powerdown");
    }

    /** {@code cont}: resumes a paused machine. */
    public void cont() {
        execute("cont");
    }

    /** {@code stop}: pauses the machine. */
    public void stop() {
        execute("stop");
    }

    /**
     * {@code quit} with the default deadline. QEMU replies and exits; a connection closed instead of the reply
     * counts as success.
     */
    public void quit() {
        quit(defaultTimeout);
    }

    /** {@code quit} with a deadline for the reply. */
    public void quit(Duration timeout) {
        try {
            execute("quit", null, timeout);
        } catch (QmpException e) {
            if (e.errorClass() != null || closedBecause == null) {
                throw e;
            }
        }
    }

    /** The greeting QEMU sent (its "QMP" member: version, capabilities). */
    public JsonNode greeting() {
        ObjectNode g = greeting.getNow(null);
        return g == null ? QmpJson.MAPPER.createObjectNode() : g.path("QMP");
    }

    // ---- events

    /** Every event received so far, oldest first. */
    public List<QmpEvent> events() {
        synchronized (events) {
            return List.copyOf(events);
        }
    }

    /** How many events were received so far (a mark for {@link Waits#forQmpEvent(String, int)}). */
    public int eventCount() {
        synchronized (events) {
            return events.size();
        }
    }

    /**
     * Calls {@code listener} on the reader thread for every later event (keep it short, never block in it).
     * Closing the returned handle removes the listener.
     */
    public AutoCloseable addEventListener(Consumer<QmpEvent> listener) {
        listeners.add(listener);
        return () -> listeners.remove(listener);
    }

    /** True while the connection is open. */
    public boolean isConnected() {
        return closedBecause == null;
    }

    /** Closes the connection (QEMU keeps running). */
    @Override
    public void close() {
        if (closedBecause == null) {
            closedBecause = "closed by the client";
        }
        try {
            channel.close();
        } catch (IOException ignored) {
            // closing anyway
        }
        try {
            reader.join(2_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        synchronized (transcriptLock) {
            if (transcript != null) {
                try {
                    transcript.close();
                } catch (IOException ignored) {
                    // best effort
                }
            }
        }
    }

    /** Waits up to {@code timeout} for the reader to see the end of the stream; true if it did. */
    boolean awaitDisconnect(Duration timeout) {
        try {
            reader.join(Math.max(1, timeout.toMillis()));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        return !reader.isAlive();
    }

    // ---- wire

    private void send(String line) throws IOException {
        synchronized (writeLock) {
            log("->", line);
            ByteBuffer b = ByteBuffer.wrap((line + "\n").getBytes(StandardCharsets.UTF_8));
            while (b.hasRemaining()) {
                channel.write(b);
            }
        }
    }

    private void log(String dir, String line) {
        synchronized (transcriptLock) {
            if (transcript == null) {
                return;
            }
            try {
                transcript.write(Instant.now() + " " + dir + " " + line);
                transcript.newLine();
                transcript.flush();
            } catch (IOException ignored) {
                // the transcript is a diagnostic; never fail a command over it
            }
        }
    }

    private void readLoop() {
        String why = "QEMU closed the QMP connection";
        try (BufferedReader in =
                new BufferedReader(new InputStreamReader(Channels.newInputStream(channel), StandardCharsets.UTF_8))) {
            String line;
            while ((line = in.readLine()) != null) {
                if (line.isBlank()) {
                    continue;
                }
                log("<-", line);
                ObjectNode msg;
                try {
                    msg = QmpJson.parseObject(line);
                } catch (IllegalArgumentException e) {
                    log("!!", "unparsable line ignored: " + e.getMessage());
                    continue;
                }
                dispatch(msg);
            }
        } catch (IOException | RuntimeException e) {
            if (closedBecause == null) {
                why = "QMP connection failed: " + e;
            }
        }
        if (closedBecause == null) {
            closedBecause = why;
        }
        greeting.completeExceptionally(new IOException(closedBecause));
        IOException gone = new IOException(closedBecause);
        for (String id : List.copyOf(pending.keySet())) {
            CompletableFuture<ObjectNode> f = pending.remove(id);
            if (f != null) {
                f.completeExceptionally(gone);
            }
        }
        log("--", "connection closed: " + closedBecause);
        onActivity.run();
    }

    private void dispatch(ObjectNode msg) {
        if (msg.has("QMP")) {
            greeting.complete(msg);
        } else if (msg.has("event")) {
            JsonNode ts = msg.path("timestamp");
            Instant when = Instant.ofEpochSecond(
                    ts.path("seconds").asLong(0), ts.path("microseconds").asLong(0) * 1000);
            QmpEvent ev;
            synchronized (events) {
                ev = new QmpEvent(events.size(), msg.path("event").asText("?"), msg.get("data"), when);
                events.add(ev);
            }
            for (Consumer<QmpEvent> l : listeners) {
                try {
                    l.accept(ev);
                } catch (RuntimeException e) {
                    log("!!", "event listener failed: " + e);
                }
            }
            onActivity.run();
        } else if (msg.has("return") || msg.has("error")) {
            JsonNode id = msg.get("id");
            CompletableFuture<ObjectNode> f = id == null ? null : pending.remove(id.asText());
            if (f != null) {
                f.complete(msg);
            } else {
                log("!!", "reply to no waiting command (late or unknown id) dropped");
            }
        }
    }

    /** The reply of {@code query-status}: e.g. ("running", true), ("paused", false), ("shutdown", false). */
    public record RunState(String status, boolean running) {}
}

package dev.vgpuhil.mediator.bench;

import static dev.vgpuhil.protocol.VgpuProtocol.*;

import dev.vgpuhil.common.MoreFiles;
import dev.vgpuhil.mediator.BackendChoice;
import dev.vgpuhil.mediator.Mediator;
import dev.vgpuhil.protocol.ComputeRequest;
import dev.vgpuhil.protocol.Frame;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicReference;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * The mediator's throughput and latency against a floor, as a command (not a timed test):
 *
 * <pre>
 * java -cp mediator-lite/target/mediator-lite.jar dev.vgpuhil.mediator.bench.MediatorBenchmark [options]
 * java -jar mediator-lite/target/mediator-lite.jar --bench [options]
 * </pre>
 *
 * For each workload (echo of 16 bytes; vector add of 127 float32 pairs = a 1 KiB request, 508-byte result) and
 * each number of concurrent connections (1, 8, 64), closed-loop clients (one blocking thread per connection, one
 * request in flight per connection, as a vgpu-stub has) run against two servers in the same JVM and the same run:
 * <ul>
 * <li>mediator-lite, in-process, CPU backend, the daemon's defaults (one worker per pool; the connections
 *     alternate between pools A and B), the per-request log line off unless {@code --request-log};</li>
 * <li>the floor: a minimal Unix-socket server, a blocking thread per connection that reads a frame and writes
 *     it straight back (no validation, scheduling or compute): what the socket round trip itself costs.</li>
 * </ul>
 * After a JIT warm-up of both servers, each cell alternates mediator and floor in {@value #ROUNDS} rounds (a
 * round: a third of the warm-up, then a third of the window), so a passing disturbance on this noisy machine
 * tends to hit both; requests/s over the windows and p50/p99 of every round trip (send to whole reply
 * received) completed in them. Prints a Markdown table with the ratios; the whole run is bounded (checked up front).
 */
public final class MediatorBenchmark {
    private static final Duration RUN_LIMIT = Duration.ofSeconds(110);
    private static final int ECHO_BYTES = 16;

    private MediatorBenchmark() {}

    enum Workload {
        ECHO("echo 16 B"), VECTOR_ADD("vector add 127 (1 KiB)");

        final String label;

        Workload(String label) {
            this.label = label;
        }

        ComputeRequest request() {
            if (this == ECHO) {
                byte[] b = new byte[ECHO_BYTES];
                Arrays.fill(b, (byte) 0x5A);
                return ComputeRequest.echo(b);
            }
            float[] a = new float[VECTOR_ADD_MAX_ELEMENTS];
            float[] c = new float[VECTOR_ADD_MAX_ELEMENTS];
            for (int i = 0; i < a.length; i++) {
                a[i] = i * 0.5f;
                c[i] = 1000f - i;
            }
            return ComputeRequest.vectorAdd(a, c);
        }
    }

    /** One measured cell (or the merge of its rounds). */
    record Result(long requests, double seconds, long[] sortedNanos, long errors) {
        double perSecond() {
            return requests / seconds;
        }

        long p50Nanos() {
            return rank(sortedNanos, 50);
        }

        long p99Nanos() {
            return rank(sortedNanos, 99);
        }

        static Result merge(List<Result> rounds) {
            long req = 0;
            double sec = 0;
            long err = 0;
            int n = 0;
            for (Result r : rounds) {
                req += r.requests;
                sec += r.seconds;
                err += r.errors;
                n += r.sortedNanos.length;
            }
            long[] all = new long[n];
            int at = 0;
            for (Result r : rounds) {
                System.arraycopy(r.sortedNanos, 0, all, at, r.sortedNanos.length);
                at += r.sortedNanos.length;
            }
            Arrays.sort(all);
            return new Result(req, sec, all, err);
        }
    }

    /** Each cell alternates mediator and floor this many times, so a passing disturbance hits both. */
    private static final int ROUNDS = 3;

    record Options(Duration warmup, Duration measure, int[] connections, boolean requestLog, Path markdown) {}

    private static final String USAGE = String.join("\n",
            "usage: java -cp mediator-lite.jar dev.vgpuhil.mediator.bench.MediatorBenchmark [options]",
            "  --warmup-ms N        warm-up per cell (default 1000)",
            "  --measure-ms N       measured window per cell (default 3000)",
            "  --connections L      comma-separated connection counts (default 1,8,64)",
            "  --request-log        keep the mediator's per-request log line on (default off)",
            "  --markdown FILE      also write the table (with the machine and settings) to FILE",
            "The whole run must fit " + RUN_LIMIT.toSeconds() + " s; the cells are checked against that first.");

    public static void main(String[] args) throws Exception {
        Options o;
        try {
            o = parse(args);
        } catch (IllegalArgumentException e) {
            System.err.println("MediatorBenchmark: " + e.getMessage());
            System.err.println(USAGE);
            System.exit(2);
            return;
        }
        if (o == null) {
            System.out.println(USAGE);
            return;
        }
        // the mediator's own info lines are not the benchmark's; with --request-log they go to stderr as in the daemon
        Logger.getLogger("").setLevel(o.requestLog() ? Level.INFO : Level.WARNING);
        int cells = Workload.values().length * o.connections().length * 2;
        Duration planned = o.warmup().plus(o.measure()).multipliedBy(cells)
                .plus(o.warmup().multipliedBy(Workload.values().length * 2L)); // the global warm-up
        if (planned.compareTo(RUN_LIMIT) > 0) {
            System.err.println("MediatorBenchmark: " + cells + " cells x (warm-up + window) = " + planned.toSeconds()
                    + " s exceeds the " + RUN_LIMIT.toSeconds() + " s bound; shorten --warmup-ms/--measure-ms");
            System.exit(2);
            return;
        }
        System.err.printf(Locale.ROOT, "benchmark: %d cells, about %d s%n", cells, planned.toSeconds());
        long t0 = System.nanoTime();
        Path dir = Files.createTempDirectory("vgpu-bench-");
        List<String[]> rows = new ArrayList<>();
        try (Mediator mediator = Mediator.builder().socketPath(dir.resolve("mediator.sock")).backend(BackendChoice.CPU)
                .requestLog(o.requestLog()).queueCap(64).maxConnections(1024).build();
             EchoFloor floor = new EchoFloor(dir.resolve("floor.sock"))) {
            mediator.start();
            floor.start();
            // JIT warm-up of both servers and the clients before the first measured cell (not reported)
            Options warm = new Options(Duration.ZERO, o.warmup(), new int[] {8}, false, null);
            for (Workload w : Workload.values()) {
                run(mediator.socketPath(), w, 8, warm);
                run(floor.socket, w, 8, warm);
            }
            for (Workload w : Workload.values()) {
                for (int n : o.connections()) {
                    Options round = new Options(o.warmup().dividedBy(ROUNDS), o.measure().dividedBy(ROUNDS),
                            o.connections(), o.requestLog(), null);
                    List<Result> ms = new ArrayList<>();
                    List<Result> fs = new ArrayList<>();
                    for (int r = 0; r < ROUNDS; r++) {
                        ms.add(run(mediator.socketPath(), w, n, round));
                        fs.add(run(floor.socket, w, n, round));
                    }
                    Result m = Result.merge(ms);
                    Result f = Result.merge(fs);
                    if (m.errors() > 0 || f.errors() > 0) {
                        throw new IllegalStateException("errors in " + w + " x " + n + ": mediator " + m.errors()
                                + ", floor " + f.errors());
                    }
                    rows.add(new String[] {w.label, Integer.toString(n),
                        fmt("%,.0f", m.perSecond()), fmt("%,.0f", f.perSecond()), fmt("%.2f", m.perSecond() / f.perSecond()),
                        micros(m.p50Nanos()), micros(f.p50Nanos()), fmt("%.1f", (double) m.p50Nanos() / f.p50Nanos()),
                        micros(m.p99Nanos()), micros(f.p99Nanos()), fmt("%.1f", (double) m.p99Nanos() / f.p99Nanos())});
                    System.err.printf(Locale.ROOT, "  %-24s %3d conns: mediator %,.0f req/s, floor %,.0f req/s%n",
                            w.label, n, m.perSecond(), f.perSecond());
                }
            }
        } finally {
            MoreFiles.deleteTree(dir);
        }
        String table = table(rows);
        Duration took = Duration.ofNanos(System.nanoTime() - t0);
        String machine = machine();
        String text = "Run " + Instant.now().truncatedTo(java.time.temporal.ChronoUnit.SECONDS) + ", " + machine
                + "; warm-up " + o.warmup().toMillis() + " ms + window " + o.measure().toMillis()
                + " ms per cell, whole run " + took.toSeconds() + " s; request log " + (o.requestLog() ? "on" : "off")
                + ".\n\n" + table;
        System.out.println(text);
        if (o.markdown() != null) {
            Files.writeString(o.markdown(), text + "\n", StandardCharsets.UTF_8);
        }
    }

    private static Options parse(String[] args) {
        Duration warmup = Duration.ofMillis(1000);
        Duration measure = Duration.ofMillis(3000);
        int[] conns = {1, 8, 64};
        boolean requestLog = false;
        Path md = null;
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            switch (a) {
                case "-h", "--help" -> {
                    return null;
                }
                case "--request-log" -> requestLog = true;
                case "--warmup-ms", "--measure-ms", "--connections", "--markdown" -> {
                    if (i + 1 >= args.length) {
                        throw new IllegalArgumentException(a + " needs a value");
                    }
                    String v = args[++i];
                    try {
                        switch (a) {
                            case "--warmup-ms" -> warmup = Duration.ofMillis(Long.parseLong(v));
                            case "--measure-ms" -> measure = Duration.ofMillis(Long.parseLong(v));
                            case "--connections" -> conns = Arrays.stream(v.split(",")).map(String::trim)
                                    .mapToInt(Integer::parseInt).toArray();
                            default -> md = Path.of(v);
                        }
                    } catch (NumberFormatException e) {
                        throw new IllegalArgumentException(a + ": not a number list: " + v);
                    }
                }
                default -> throw new IllegalArgumentException("unknown option " + a);
            }
        }
        if (measure.toMillis() < 100 || warmup.isNegative() || conns.length == 0
                || Arrays.stream(conns).anyMatch(c -> c < 1 || c > 512)) {
            throw new IllegalArgumentException("window must be >= 100 ms, connections 1..512");
        }
        return new Options(warmup, measure, conns, requestLog, md);
    }

    /** Closed loop: {@code n} connections, each sends a request, waits for its reply, repeats. */
    static Result run(Path socket, Workload w, int n, Options o) throws Exception {
        ComputeRequest req = w.request();
        final int phaseWarmup = 0;
        final int phaseMeasure = 1;
        final int phaseStop = 2;
        java.util.concurrent.atomic.AtomicInteger phase = new java.util.concurrent.atomic.AtomicInteger(phaseWarmup);
        long[][] samples = new long[n][];
        int[] counts = new int[n];
        long[] errors = new long[n];
        CountDownLatch ready = new CountDownLatch(n);
        CountDownLatch done = new CountDownLatch(n);
        AtomicReference<Throwable> failure = new AtomicReference<>();
        List<Thread> threads = new ArrayList<>();
        for (int k = 0; k < n; k++) {
            int idx = k;
            Thread t = new Thread(() -> {
                long[] mine = new long[1 << 14];
                int count = 0;
                // a plain blocking client (no selector): the cheapest client, so the floor is a real floor
                try (SocketChannel c = SocketChannel.open(StandardProtocolFamily.UNIX)) {
                    c.connect(UnixDomainSocketAddress.of(socket));
                    int vm = 1000 + idx;
                    int pool = idx % 2 == 0 ? POOL_A : POOL_B;
                    ByteBuffer in = ByteBuffer.allocate(SOCKET_HEADER_SIZE + MAX_PAYLOAD).order(ByteOrder.LITTLE_ENDIAN);
                    ByteBuffer hello = ByteBuffer.wrap(Frame.of(MSG_HELLO, vm, pool, PRIORITY_MEDIUM, 0, 0, null).encode());
                    writeAll(c, hello);
                    if (readFrame(c, in) != ERR_NONE) {
                        throw new IOException("HELLO refused");
                    }
                    ByteBuffer frame = ByteBuffer.wrap(Frame.of(MSG_REQUEST, vm, pool, PRIORITY_MEDIUM, idx, 0,
                            req.encode()).encode());
                    ready.countDown();
                    while (true) {
                        int p = phase.get();
                        if (p == phaseStop) {
                            break;
                        }
                        long s = System.nanoTime();
                        frame.rewind();
                        writeAll(c, frame);
                        int status = readFrame(c, in);
                        long e = System.nanoTime();
                        if (status != ERR_NONE) {
                            errors[idx]++;
                        }
                        if (p == phaseMeasure) {
                            if (count == mine.length) {
                                mine = Arrays.copyOf(mine, mine.length * 2);
                            }
                            mine[count++] = e - s;
                        }
                    }
                } catch (Throwable e) {
                    failure.compareAndSet(null, e);
                    ready.countDown();
                } finally {
                    samples[idx] = mine;
                    counts[idx] = count;
                    done.countDown();
                }
            }, "bench-client-" + k);
            t.setDaemon(true);
            threads.add(t);
        }
        threads.forEach(Thread::start);
        ready.await();
        Thread.sleep(o.warmup().toMillis());
        phase.set(phaseMeasure);
        long windowStart = System.nanoTime();
        Thread.sleep(o.measure().toMillis());
        phase.set(phaseStop);
        long windowEnd = System.nanoTime();
        if (!done.await(30, java.util.concurrent.TimeUnit.SECONDS)) {
            throw new IllegalStateException("benchmark clients did not stop");
        }
        if (failure.get() != null) {
            throw new IllegalStateException("a benchmark client failed: " + failure.get(), failure.get());
        }
        int total = 0;
        for (int c : counts) {
            total += c;
        }
        long[] all = new long[total];
        int at = 0;
        long errs = 0;
        for (int k = 0; k < n; k++) {
            System.arraycopy(samples[k], 0, all, at, counts[k]);
            at += counts[k];
            errs += errors[k];
        }
        Arrays.sort(all);
        return new Result(total, (windowEnd - windowStart) / 1e9, all, errs);
    }

    private static void writeAll(SocketChannel c, ByteBuffer b) throws IOException {
        while (b.hasRemaining()) {
            c.write(b);
        }
    }

    /** Reads one whole frame into {@code in}; returns its status field. */
    private static int readFrame(SocketChannel c, ByteBuffer in) throws IOException {
        in.clear().limit(SOCKET_HEADER_SIZE);
        fillOrEof(c, in);
        int len = in.getInt(24);
        if (len < 0 || len > MAX_PAYLOAD) {
            throw new IOException("bad payload_len " + len);
        }
        in.limit(SOCKET_HEADER_SIZE + len);
        fillOrEof(c, in);
        return in.getInt(28);
    }

    private static void fillOrEof(SocketChannel c, ByteBuffer b) throws IOException {
        while (b.hasRemaining()) {
            if (c.read(b) < 0) {
                throw new java.io.EOFException("server closed the connection");
            }
        }
    }

    private static long rank(long[] sorted, int pct) {
        if (sorted.length == 0) {
            return 0;
        }
        int idx = (int) Math.ceil(pct / 100.0 * sorted.length) - 1;
        return sorted[Math.max(0, Math.min(sorted.length - 1, idx))];
    }

    private static String table(List<String[]> rows) {
        String[] head = {"workload", "conns", "mediator req/s", "floor req/s", "req/s ratio",
            "mediator p50 µs", "floor p50 µs", "p50 ×", "mediator p99 µs", "floor p99 µs", "p99 ×"};
        StringBuilder sb = new StringBuilder();
        sb.append("| ").append(String.join(" | ", head)).append(" |\n|");
        for (int i = 0; i < head.length; i++) {
            sb.append(i < 2 ? "---|" : "---:|");
        }
        sb.append('\n');
        for (String[] r : rows) {
            sb.append("| ").append(String.join(" | ", r)).append(" |\n");
        }
        return sb.toString();
    }

    private static String micros(long nanos) {
        return fmt("%.0f", nanos / 1000.0);
    }

    private static String fmt(String f, Object... v) {
        return String.format(Locale.ROOT, f, v);
    }

    private static String machine() {
        String cpu = "?";
        try {
            cpu = Files.readAllLines(Path.of("/proc/cpuinfo")).stream().filter(l -> l.startsWith("model name"))
                    .findFirst().map(l -> l.substring(l.indexOf(':') + 1).trim()).orElse("?");
        } catch (IOException | RuntimeException ignored) {
            // not Linux
        }
        return Runtime.getRuntime().availableProcessors() + " cores (" + cpu + "), Java "
                + System.getProperty("java.version") + ", " + System.getProperty("os.name") + " "
                + System.getProperty("os.version") + "; clients and servers share the machine";
    }

    /**
     * The floor: reads one frame (32-byte header, payload_len bytes) and writes it back as the reply
     * (HELLO → HELLO_ACK, anything else → RESPONSE, status 0), one blocking thread per connection.
     */
    static final class EchoFloor implements AutoCloseable {
        final Path socket;
        private final ServerSocketChannel server;
        private final List<SocketChannel> open = new ArrayList<>();
        private Thread acceptor;

        EchoFloor(Path socket) throws IOException {
            this.socket = socket;
            this.server = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
            server.bind(UnixDomainSocketAddress.of(socket));
        }

        void start() {
            acceptor = new Thread(() -> {
                while (true) {
                    SocketChannel ch;
                    try {
                        ch = server.accept();
                    } catch (IOException e) {
                        return;
                    }
                    synchronized (open) {
                        open.add(ch);
                    }
                    Thread t = new Thread(() -> serve(ch), "floor-conn");
                    t.setDaemon(true);
                    t.start();
                }
            }, "floor-accept");
            acceptor.setDaemon(true);
            acceptor.start();
        }

        private static void serve(SocketChannel ch) {
            ByteBuffer buf = ByteBuffer.allocate(SOCKET_HEADER_SIZE + MAX_PAYLOAD).order(ByteOrder.LITTLE_ENDIAN);
            try (ch) {
                while (true) {
                    buf.clear().limit(SOCKET_HEADER_SIZE);
                    if (!fill(ch, buf)) {
                        return;
                    }
                    int len = buf.getInt(24);
                    if (len < 0 || len > MAX_PAYLOAD) {
                        return;
                    }
                    buf.limit(SOCKET_HEADER_SIZE + len);
                    if (!fill(ch, buf)) {
                        return;
                    }
                    int type = Short.toUnsignedInt(buf.getShort(8));
                    buf.putShort(8, (short) (type == MSG_HELLO ? MSG_HELLO_ACK : MSG_RESPONSE));
                    buf.putInt(28, ERR_NONE);
                    buf.flip();
                    while (buf.hasRemaining()) {
                        ch.write(buf);
                    }
                }
            } catch (IOException e) {
                // client gone
            }
        }

        private static boolean fill(SocketChannel ch, ByteBuffer buf) throws IOException {
            while (buf.hasRemaining()) {
                if (ch.read(buf) < 0) {
                    return false;
                }
            }
            return true;
        }

        @Override
        public void close() throws IOException {
            server.close();
            synchronized (open) {
                for (SocketChannel c : open) {
                    c.close();
                }
            }
            Files.deleteIfExists(socket);
        }
    }
}

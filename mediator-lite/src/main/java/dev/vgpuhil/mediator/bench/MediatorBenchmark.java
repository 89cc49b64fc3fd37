package dev.vgpuhil.mediator.bench;

import static dev.vgpuhil.protocol.VgpuProtocol.*;

import dev.vgpuhil.common.MoreFiles;
import dev.vgpuhil.common.Percentile;
import dev.vgpuhil.mediator.BackendChoice;
import dev.vgpuhil.mediator.Mediator;
import dev.vgpuhil.mediator.MediatorConfig;
import dev.vgpuhil.mediator.MediatorMain;
import dev.vgpuhil.protocol.ComputeRequest;
import dev.vgpuhil.protocol.Frame;
import dev.vgpuhil.protocol.Pool;
import dev.vgpuhil.protocol.Priority;
import dev.vgpuhil.protocol.VgpuProtocol.HeaderOffsets;
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
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicReference;
import java.util.logging.Level;
import java.util.logging.Logger;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

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
@Command(
        name = "MediatorBenchmark",
        separator = " ",
        sortOptions = false,
        synopsisHeading = "",
        usageHelpWidth = 110,
        customSynopsis = "usage: java -cp mediator-lite.jar dev.vgpuhil.mediator.bench.MediatorBenchmark [options]",
        optionListHeading = "%n",
        footer = "The whole run must fit " + MediatorBenchmark.RUN_LIMIT_SECONDS
                + " s; the cells are checked against that first.")
public final class MediatorBenchmark implements Callable<Integer> {
    static final int RUN_LIMIT_SECONDS = 110;
    private static final Duration RUN_LIMIT = Duration.ofSeconds(RUN_LIMIT_SECONDS);
    private static final int ECHO_BYTES = 16;

    @Spec
    private CommandSpec spec;

    @Option(names = "--warmup-ms", paramLabel = "N", description = "warm-up per cell (default 1000)")
    private long warmupMs = 1000;

    @Option(names = "--measure-ms", paramLabel = "N", description = "measured window per cell (default 3000)")
    private long measureMs = 3000;

    @Option(
            names = "--connections",
            paramLabel = "L",
            split = ",",
            description = "comma-separated connection counts (default 1,8,64)")
    private int[] connections = {1, 8, 64};

    @Option(names = "--request-log", description = "keep the mediator's per-request log line on (default off)")
    private boolean requestLog;

    @Option(
            names = "--markdown",
            paramLabel = "FILE",
            description = "also write the table (with the machine and settings) to FILE")
    private Path markdown;

    @Option(
            names = "--history",
            paramLabel = "DIR",
            description =
                    "where runs are remembered (JSON per run, trend and latency SVGs; default reports/bench of the"
                            + " checkout, else ./reports/bench)")
    private Path history;

    @Option(
            names = {"-h", "--help"},
            usageHelp = true,
            description = "this text")
    private boolean help;

    private MediatorBenchmark() {}

    enum Workload {
        ECHO("echo 16 B"),
        VECTOR_ADD("vector add 127 (1 KiB)");

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
            return Percentile.nearestRank(sortedNanos, 50);
        }

        long p99Nanos() {
            return Percentile.nearestRank(sortedNanos, 99);
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

    /** The history directory: {@code --history}, else reports/bench of the checkout, else of the working directory. */
    Path historyDir() {
        if (history != null) {
            return history;
        }
        try {
            return dev.vgpuhil.protocol.SourceTree.path("reports", "bench");
        } catch (IllegalStateException e) {
            return Path.of("reports", "bench");
        }
    }

    public static void main(String[] args) {
        System.exit(MediatorMain.commandLine(new MediatorBenchmark()).execute(args));
    }

    /** The options as checked values; ParameterException (exit 2, with the usage) when out of range. */
    Options options() {
        Duration warmup = Duration.ofMillis(warmupMs);
        Duration measure = Duration.ofMillis(measureMs);
        if (measure.toMillis() < 100
                || warmup.isNegative()
                || connections.length == 0
                || Arrays.stream(connections).anyMatch(c -> c < 1 || c > 512)) {
            throw new ParameterException(spec.commandLine(), "window must be >= 100 ms, connections 1..512");
        }
        return new Options(warmup, measure, connections.clone(), requestLog, markdown);
    }

    @Override
    public Integer call() throws Exception {
        Options o = options();
        // the mediator's own info lines are not the benchmark's; with --request-log they go to stderr as in the daemon
        Logger.getLogger("").setLevel(o.requestLog() ? Level.INFO : Level.WARNING);
        int cells = Workload.values().length * o.connections().length * 2;
        Duration planned = o.warmup()
                .plus(o.measure())
                .multipliedBy(cells)
                .plus(o.warmup().multipliedBy(Workload.values().length * 2L)); // the global warm-up
        if (planned.compareTo(RUN_LIMIT) > 0) {
            throw new ParameterException(
                    spec.commandLine(),
                    cells + " cells x (warm-up + window) = "
                            + planned.toSeconds() + " s exceeds the " + RUN_LIMIT.toSeconds()
                            + " s bound; shorten --warmup-ms/--measure-ms");
        }
        System.err.printf(Locale.ROOT, "benchmark: %d cells, about %d s%n", cells, planned.toSeconds());
        BenchHistory.Machine where = BenchHistory.Machine.describe(); // the load before the run
        long t0 = System.nanoTime();
        Path dir = Files.createTempDirectory("vgpu-bench-");
        List<String[]> rows = new ArrayList<>();
        List<BenchHistory.Ratio> ratios = new ArrayList<>();
        java.util.Map<Workload, List<Svg.Series>> latencies = new java.util.EnumMap<>(Workload.class);
        try (Mediator mediator = new Mediator(MediatorConfig.builder()
                        .socketPath(dir.resolve("mediator.sock"))
                        .backend(BackendChoice.CPU)
                        .requestLog(o.requestLog())
                        .queueCap(64)
                        .maxConnections(1024)
                        .build());
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
                    Options round = new Options(
                            o.warmup().dividedBy(ROUNDS),
                            o.measure().dividedBy(ROUNDS),
                            o.connections(),
                            o.requestLog(),
                            null);
                    List<Result> ms = new ArrayList<>();
                    List<Result> fs = new ArrayList<>();
                    for (int r = 0; r < ROUNDS; r++) {
                        ms.add(run(mediator.socketPath(), w, n, round));
                        fs.add(run(floor.socket, w, n, round));
                    }
                    Result m = Result.merge(ms);
                    Result f = Result.merge(fs);
                    double[] rps = new double[ROUNDS];
                    double[] p99 = new double[ROUNDS];
                    for (int r = 0; r < ROUNDS; r++) {
                        rps[r] = ms.get(r).perSecond() / fs.get(r).perSecond();
                        p99[r] = (double) ms.get(r).p99Nanos()
                                / Math.max(1, fs.get(r).p99Nanos());
                    }
                    String cell = w.label + ", " + n + " conns";
                    ratios.add(BenchHistory.Ratio.of(cell + ": req/s", m.perSecond() / f.perSecond(), rps, true));
                    ratios.add(BenchHistory.Ratio.of(
                            cell + ": p99", (double) m.p99Nanos() / Math.max(1, f.p99Nanos()), p99, false));
                    List<Svg.Series> cdf = latencies.computeIfAbsent(w, k -> new ArrayList<>());
                    cdf.add(new Svg.Series("mediator, " + n + " conns", m.sortedNanos()));
                    cdf.add(new Svg.Series("floor, " + n + " conns", f.sortedNanos()));
                    if (m.errors() > 0 || f.errors() > 0) {
                        throw new IllegalStateException(
                                "errors in " + w + " x " + n + ": mediator " + m.errors() + ", floor " + f.errors());
                    }
                    rows.add(new String[] {
                        w.label,
                        Integer.toString(n),
                        fmt("%,.0f", m.perSecond()),
                        fmt("%,.0f", f.perSecond()),
                        fmt("%.2f", m.perSecond() / f.perSecond()),
                        micros(m.p50Nanos()),
                        micros(f.p50Nanos()),
                        fmt("%.1f", (double) m.p50Nanos() / f.p50Nanos()),
                        micros(m.p99Nanos()),
                        micros(f.p99Nanos()),
                        fmt("%.1f", (double) m.p99Nanos() / f.p99Nanos())
                    });
                    System.err.printf(
                            Locale.ROOT,
                            "  %-24s %3d conns: mediator %,.0f req/s, floor %,.0f req/s%n",
                            w.label,
                            n,
                            m.perSecond(),
                            f.perSecond());
                }
            }
        } finally {
            MoreFiles.deleteTree(dir);
        }
        String table = table(rows);
        Duration took = Duration.ofNanos(System.nanoTime() - t0);
        String machine = machine();
        String text = "Run " + Instant.now().truncatedTo(java.time.temporal.ChronoUnit.SECONDS) + ", " + machine
                + "; warm-up " + o.warmup().toMillis() + " ms + window "
                + o.measure().toMillis()
                + " ms per cell, whole run " + took.toSeconds() + " s; request log " + (o.requestLog() ? "on" : "off")
                + ".\n\n" + table;
        System.out.println(text);
        if (o.markdown() != null) {
            Files.writeString(o.markdown(), text + "\n", StandardCharsets.UTF_8);
        }
        Path hist = historyDir();
        BenchHistory.remember(hist, new BenchHistory.Run(BENCH_NAME, where, text, ratios), System.out);
        for (var e : latencies.entrySet()) {
            Path svg = hist.resolve(BENCH_NAME + "-cdf-" + e.getKey().name().toLowerCase(Locale.ROOT) + ".svg");
            Files.writeString(svg, Svg.cdf("round trip latency, " + e.getKey().label + " (latest run)", e.getValue()));
        }
        return 0;
    }

    /** The name of this benchmark's runs in the history directory. */
    static final String BENCH_NAME = "mediator";

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
            Thread t = new Thread(
                    () -> {
                        long[] mine = new long[1 << 14];
                        int count = 0;
                        // a plain blocking client (no selector): the cheapest client, so the floor is a real floor
                        try (SocketChannel c = SocketChannel.open(StandardProtocolFamily.UNIX)) {
                            c.connect(UnixDomainSocketAddress.of(socket));
                            int vm = 1000 + idx;
                            int pool = (idx % 2 == 0 ? Pool.A : Pool.B).wire();
                            ByteBuffer in = ByteBuffer.allocate(SOCKET_HEADER_SIZE + MAX_PAYLOAD)
                                    .order(ByteOrder.LITTLE_ENDIAN);
                            ByteBuffer hello =
                                    ByteBuffer.wrap(Frame.of(MSG_HELLO, vm, pool, Priority.MEDIUM.wire(), 0, 0, null)
                                            .encode());
                            writeAll(c, hello);
                            if (readFrame(c, in) != ERR_NONE) {
                                throw new IOException("HELLO refused");
                            }
                            ByteBuffer frame = ByteBuffer.wrap(
                                    Frame.of(MSG_REQUEST, vm, pool, Priority.MEDIUM.wire(), idx, 0, req.encode())
                                            .encode());
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
                    },
                    "bench-client-" + k);
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
        Frame header = Frame.parseHeader(in.array());
        int len = header.payloadLen();
        if (len < 0 || len > MAX_PAYLOAD) {
            throw new IOException("bad payload_len " + len);
        }
        in.limit(SOCKET_HEADER_SIZE + len);
        fillOrEof(c, in);
        return header.status();
    }

    private static void fillOrEof(SocketChannel c, ByteBuffer b) throws IOException {
        while (b.hasRemaining()) {
            if (c.read(b) < 0) {
                throw new java.io.EOFException("server closed the connection");
            }
        }
    }

    private static String table(List<String[]> rows) {
        String[] head = {
            "workload",
            "conns",
            "mediator req/s",
            "floor req/s",
            "req/s ratio",
            "mediator p50 µs",
            "floor p50 µs",
            "p50 ×",
            "mediator p99 µs",
            "floor p99 µs",
            "p99 ×"
        };
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
            cpu = Files.readAllLines(Path.of("/proc/cpuinfo")).stream()
                    .filter(l -> l.startsWith("model name"))
                    .findFirst()
                    .map(l -> l.substring(l.indexOf(':') + 1).trim())
                    .orElse("?");
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
            acceptor = new Thread(
                    () -> {
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
                    },
                    "floor-accept");
            acceptor.setDaemon(true);
            acceptor.start();
        }

        private static void serve(SocketChannel ch) {
            ByteBuffer buf =
                    ByteBuffer.allocate(SOCKET_HEADER_SIZE + MAX_PAYLOAD).order(ByteOrder.LITTLE_ENDIAN);
            try (ch) {
                while (true) {
                    buf.clear().limit(SOCKET_HEADER_SIZE);
                    if (!fill(ch, buf)) {
                        return;
                    }
                    Frame header = Frame.parseHeader(buf.array());
                    int len = header.payloadLen();
                    if (len < 0 || len > MAX_PAYLOAD) {
                        return;
                    }
                    buf.limit(SOCKET_HEADER_SIZE + len);
                    if (!fill(ch, buf)) {
                        return;
                    }
                    // the reply is the request with two fields changed in place
                    buf.putShort(HeaderOffsets.MSG_TYPE, (short)
                            (header.msgType() == MSG_HELLO ? MSG_HELLO_ACK : MSG_RESPONSE));
                    buf.putInt(HeaderOffsets.STATUS, ERR_NONE);
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

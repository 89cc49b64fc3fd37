package dev.vgpuhil.mediator.bench;

import static dev.vgpuhil.protocol.VgpuProtocol.*;

import dev.vgpuhil.common.BoundProcesses;
import dev.vgpuhil.common.MoreFiles;
import dev.vgpuhil.mediator.MediatorClient;
import dev.vgpuhil.mediator.MediatorProcess;
import dev.vgpuhil.protocol.ComputeRequest;
import dev.vgpuhil.protocol.Frame;
import dev.vgpuhil.protocol.FrameException;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * The mediator daemon's resident memory while clients flood it, as a benchmark row (not a timed test; issue
 * "reliability": RSS bounded while 64 clients flood). The daemon runs as a child JVM ({@code MediatorMain --backend
 * cpu}), one row per set of JVM options: the JVM's own defaults, and the options {@link MediatorProcess} starts it
 * with ({@link MediatorProcess#JVM_OPTIONS}: the bounded heap); each of {@code --clients} connections pipelines
 * vector-add requests (1 KiB frames) as fast as the socket takes them while a second thread drains the replies, so
 * the per-VM queues stay full, the surplus is answered QUEUE_FULL and a connection at its outstanding cap is not
 * read for a while (backpressure). VmRSS from {@code /proc/PID/status} is sampled every 250 ms: idle before,
 * the peak of each half of the window (a second half far above the first would mean growth without bound), and
 * after the clients have gone.
 *
 * <pre>
 * java -cp mediator-lite/target/mediator-lite.jar dev.vgpuhil.mediator.bench.FloodRss [--clients 64] [--seconds 10]
 *     [--heaps default,shipped,64m,"-Xmx128m -XX:+UseSerialGC"]
 * </pre>
 *
 * ({@code bin/bench.sh} prints this table after the others.)
 */
@Command(
        name = "FloodRss",
        separator = " ",
        sortOptions = false,
        usageHelpWidth = 110,
        customSynopsis = "usage: java -cp mediator-lite.jar dev.vgpuhil.mediator.bench.FloodRss [options]")
public final class FloodRss implements Callable<Integer> {
    private static final Duration SAMPLE = Duration.ofMillis(250);
    private static final Duration READY = Duration.ofSeconds(30);

    @Option(names = "--clients", paramLabel = "N", description = "flooding connections (default 64)")
    private int clients = 64;

    @Option(names = "--seconds", paramLabel = "S", description = "flood window (default 10)")
    private int seconds = 10;

    @Option(
            names = "--heaps",
            paramLabel = "H,H",
            split = ",",
            description = "one row per daemon JVM: 'default' (the JVM's own choices), 'shipped' (the options"
                    + " MediatorProcess starts it with), an -Xmx value (64m) or JVM options (\"-Xmx64m -XX:+UseSerialGC\")"
                    + " (default: default,shipped)")
    private List<String> heaps = List.of("default", "shipped");

    @Option(names = "--markdown", paramLabel = "FILE", description = "also append the table to FILE")
    private Path markdown;

    @Option(
            names = {"-h", "--help"},
            usageHelp = true,
            description = "this text")
    private boolean help;

    private FloodRss() {}

    public static void main(String[] args) {
        System.exit(new CommandLine(new FloodRss()).execute(args));
    }

    /** What one run measured; RSS in KiB. */
    record Result(
            String heap,
            int clients,
            Duration window,
            long idleKib,
            long firstHalfPeakKib,
            long secondHalfPeakKib,
            long afterKib,
            long done,
            long queueFull,
            long otherErrors) {
        static final String HEADER = "| daemon heap | clients | window | RSS idle | peak, 1st half | peak, 2nd half |"
                + " RSS after | DONE/s | QUEUE_FULL/s | other errors |\n|---|---|---|---|---|---|---|---|---|---|\n";

        String markdownRow() {
            double s = window.toMillis() / 1000.0;
            return String.format(
                    Locale.ROOT,
                    "| %s | %d | %.0f s | %s | %s | %s | %s | %,.0f | %,.0f | %d |",
                    label(heap),
                    clients,
                    s,
                    mib(idleKib),
                    mib(firstHalfPeakKib),
                    mib(secondHalfPeakKib),
                    mib(afterKib),
                    done / s,
                    queueFull / s,
                    otherErrors);
        }

        static String label(String heap) {
            return switch (heap) {
                case "default" -> "JVM default";
                case "shipped" -> "shipped: " + String.join(" ", MediatorProcess.JVM_OPTIONS);
                default -> String.join(" ", jvmOptions(heap));
            };
        }

        private static String mib(long kib) {
            return String.format(Locale.ROOT, "%.1f MiB", kib / 1024.0);
        }
    }

    @Override
    public Integer call() throws Exception {
        StringBuilder rows = new StringBuilder(Result.HEADER);
        long errors = 0;
        for (String heap : heaps) {
            Result r = measure(heap, clients, Duration.ofSeconds(seconds));
            rows.append(r.markdownRow()).append('\n');
            errors += r.otherErrors();
        }
        String text = "Mediator RSS under a flood (CPU backend; " + clients
                + " connections pipelining vector-add requests, replies drained; VmRSS every "
                + SAMPLE.toMillis() + " ms).\n\n" + rows.toString().strip();
        System.out.println(text);
        if (markdown != null) {
            Files.writeString(
                    markdown,
                    "\n" + text + "\n",
                    java.nio.file.StandardOpenOption.CREATE,
                    java.nio.file.StandardOpenOption.APPEND);
        }
        return errors == 0 ? 0 : 1;
    }

    static Result measure(String heap, int clients, Duration window) throws Exception {
        Path dir = Files.createTempDirectory("vgpu-flood-");
        Path sock = dir.resolve("mediator.sock");
        List<String> cmd = new ArrayList<>(
                List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString()));
        cmd.addAll(jvmOptions(heap));
        cmd.addAll(List.of(
                "-cp",
                System.getProperty("java.class.path"),
                "dev.vgpuhil.mediator.MediatorMain",
                "--socket",
                sock.toString(),
                "--backend",
                "cpu",
                "--no-request-log",
                "--parent-pid",
                Long.toString(ProcessHandle.current().pid())));
        Process daemon = BoundProcesses.start(new ProcessBuilder(cmd)
                .redirectErrorStream(true)
                .redirectOutput(dir.resolve("mediator.log").toFile()));
        AtomicBoolean stop = new AtomicBoolean();
        AtomicLong done = new AtomicLong();
        AtomicLong queueFull = new AtomicLong();
        AtomicLong other = new AtomicLong();
        List<Thread> threads = new ArrayList<>();
        List<SocketChannel> channels = new ArrayList<>();
        try {
            try (MediatorClient probe = MediatorClient.connect(sock, READY)) {
                probe.hello(1, POOL_A, PRIORITY_LOW, READY);
            }
            Thread.sleep(1000);
            long idle = rssKib(daemon.pid());
            byte[] request = vectorAdd();
            for (int i = 0; i < clients; i++) {
                SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX);
                ch.connect(UnixDomainSocketAddress.of(sock));
                channels.add(ch);
                int vm = 100 + i;
                int pool = i % 2 == 0 ? POOL_A : POOL_B;
                Frame.of(MSG_HELLO, vm, pool, PRIORITY_MEDIUM, 0, 0, null).writeTo(ch);
                Frame ack = readWithin(ch, READY);
                if (ack.status() != ERR_NONE) {
                    throw new IOException("HELLO refused: " + ack);
                }
                threads.add(start("flood-w-" + i, () -> {
                    int id = 0;
                    try {
                        while (!stop.get()) {
                            Frame.of(MSG_REQUEST, vm, pool, PRIORITY_MEDIUM, id++, 0, request)
                                    .writeTo(ch);
                        }
                    } catch (IOException e) {
                        // closed at the end
                    }
                }));
                threads.add(start("flood-r-" + i, () -> {
                    try {
                        while (true) {
                            int s = Frame.readFrom(ch).status();
                            (s == ERR_NONE ? done : s == ERR_QUEUE_FULL ? queueFull : other).incrementAndGet();
                        }
                    } catch (Exception e) {
                        // closed at the end
                    }
                }));
            }
            long half = window.toNanos() / 2;
            long t0 = System.nanoTime();
            long peak1 = 0;
            long peak2 = 0;
            long done0 = done.get();
            long full0 = queueFull.get();
            while (System.nanoTime() - t0 < window.toNanos()) {
                long rss = rssKib(daemon.pid());
                if (System.nanoTime() - t0 < half) {
                    peak1 = Math.max(peak1, rss);
                } else {
                    peak2 = Math.max(peak2, rss);
                }
                Thread.sleep(SAMPLE.toMillis());
            }
            long doneN = done.get() - done0;
            long fullN = queueFull.get() - full0;
            stop.set(true);
            for (SocketChannel ch : channels) {
                ch.close();
            }
            for (Thread t : threads) {
                t.join(5000);
            }
            Thread.sleep(2000);
            long after = rssKib(daemon.pid());
            return new Result(heap, clients, window, idle, peak1, peak2, after, doneN, fullN, other.get());
        } finally {
            stop.set(true);
            for (SocketChannel ch : channels) {
                ch.close();
            }
            BoundProcesses.kill(daemon, Duration.ofSeconds(10));
            MoreFiles.deleteTree(dir);
        }
    }

    /**
     * One frame from a blocking channel, or an IOException at the deadline (the channel is closed then: a daemon
     * that stopped answering, e.g. out of heap, must not hang the bench).
     */
    private static Frame readWithin(SocketChannel ch, Duration deadline) throws IOException, FrameException {
        Thread guard = start("flood-deadline", () -> {
            try {
                Thread.sleep(deadline.toMillis());
                ch.close();
            } catch (InterruptedException | IOException e) {
                // answered in time, or closed anyway
            }
        });
        try {
            return Frame.readFrom(ch);
        } catch (IOException e) {
            throw new IOException("no HELLO_ACK within " + deadline.toSeconds() + " s: " + e, e);
        } finally {
            guard.interrupt();
        }
    }

    /** The daemon JVM's options of one {@code --heaps} entry. */
    static List<String> jvmOptions(String heap) {
        return switch (heap) {
            case "default" -> List.of();
            case "shipped" -> MediatorProcess.JVM_OPTIONS;
            default -> heap.startsWith("-") ? List.of(heap.trim().split("\\s+")) : List.of("-Xmx" + heap);
        };
    }

    private static Thread start(String name, Runnable body) {
        Thread t = new Thread(body, name);
        t.setDaemon(true);
        t.start();
        return t;
    }

    private static byte[] vectorAdd() {
        float[] a = new float[VECTOR_ADD_MAX_ELEMENTS];
        float[] b = new float[VECTOR_ADD_MAX_ELEMENTS];
        for (int i = 0; i < a.length; i++) {
            a[i] = i;
            b[i] = -i / 2f;
        }
        return ComputeRequest.vectorAdd(a, b).encode();
    }

    /** VmRSS of {@code pid} in KiB. */
    static long rssKib(long pid) throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc", Long.toString(pid), "status"))) {
            if (line.startsWith("VmRSS:")) {
                return Long.parseLong(line.replaceAll("\\D", ""));
            }
        }
        throw new IOException("no VmRSS in /proc/" + pid + "/status");
    }
}

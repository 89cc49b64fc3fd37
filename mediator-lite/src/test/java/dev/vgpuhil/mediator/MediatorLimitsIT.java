package dev.vgpuhil.mediator;

import static dev.vgpuhil.protocol.VgpuProtocol.*;
import static org.assertj.core.api.Assertions.assertThat;

import dev.vgpuhil.common.BoundProcesses;
import dev.vgpuhil.protocol.ComputeRequest;
import dev.vgpuhil.protocol.Frame;
import io.qameta.allure.Allure;
import java.io.EOFException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The daemon ({@code java -jar mediator-lite.jar}, a child process) at its limits: a thousand concurrent
 * connections, each with a request in flight, all answered right; and the process out of file descriptors (its
 * RLIMIT_NOFILE lowered with {@code prlimit} while it runs): every client still gets an answer or a close, never a
 * hang, and once the clients go away the mediator serves again.
 */
@DisplayName("mediator-lite at its limits: 1,000 connections, file-descriptor exhaustion")
class MediatorLimitsIT {
    private static final Duration T = Duration.ofSeconds(30);

    @TempDir
    Path dir;

    private final List<AutoCloseable> open = new ArrayList<>();

    @AfterEach
    void closeAll() {
        for (int i = open.size() - 1; i >= 0; i--) {
            try {
                open.get(i).close();
            } catch (Exception e) {
                // a client the mediator already closed
            }
        }
    }

    private MediatorProcess daemon(String... args) throws IOException {
        MediatorProcess p = MediatorProcess.builder()
                .socketPath(dir.resolve("m.sock"))
                .backend(BackendChoice.CPU)
                .logFile(dir.resolve("mediator.log"))
                .args(args)
                .build();
        open.add(p);
        p.start();
        return p;
    }

    private MediatorClient client(MediatorProcess p) throws IOException {
        MediatorClient c = MediatorClient.connect(p.socketPath(), T);
        open.add(c);
        return c;
    }

    @Test
    @DisplayName("1,000 concurrent connections: every HELLO and every request in flight answered with the right bytes")
    void aThousandConcurrentConnections() throws Exception {
        int n = 1000;
        MediatorProcess p = daemon("--max-connections", "1100", "--no-request-log", "--queue-cap", "4");
        List<MediatorClient> clients = new ArrayList<>();
        long t0 = System.nanoTime();
        for (int i = 0; i < n; i++) {
            MediatorClient c = client(p);
            c.send(Frame.of(MSG_HELLO, 10_000 + i, i % 2 == 0 ? POOL_A : POOL_B, i % 3, 0, 0, null));
            clients.add(c);
        }
        for (int i = 0; i < n; i++) {
            assertThat(clients.get(i).receive(T).status())
                    .as("HELLO_ACK of connection %d", i)
                    .isEqualTo(ERR_NONE);
        }
        String stats;
        try (MediatorClient observer = MediatorClient.connect(p.socketPath(), T)) {
            stats = observer.stats(T);
        }
        assertThat(connections(stats))
                .as("STATS connections (with the observer)")
                .isEqualTo(n + 1);
        // every connection has its request in flight before the first answer is read
        for (int i = 0; i < n; i++) {
            MediatorClient c = clients.get(i);
            c.send(Frame.of(
                    MSG_REQUEST,
                    10_000 + i,
                    i % 2 == 0 ? POOL_A : POOL_B,
                    i % 3,
                    i,
                    0,
                    ComputeRequest.echo(payload(i)).encode()));
        }
        for (int i = 0; i < n; i++) {
            Frame r = clients.get(i).receive(T);
            assertThat(r.requestId()).isEqualTo(i);
            assertThat(r.status()).as("request of connection %d", i).isEqualTo(ERR_NONE);
            assertThat(r.payload()).isEqualTo(payload(i));
        }
        String took =
                String.format("%d connections, HELLO + one request each, %.2f s", n, (System.nanoTime() - t0) / 1e9);
        System.out.println("[mediator limits] " + took);
        Allure.addAttachment("1,000 connections", took);
        assertThat(p.isAlive()).isTrue();
    }

    private static byte[] payload(int i) {
        return new byte[] {(byte) i, (byte) (i >> 8), 0x5A, (byte) 0xA5};
    }

    /**
     * RLIMIT_NOFILE is lowered (prlimit, both soft and hard, so the JVM cannot raise it back) to what the daemon has
     * open plus a little headroom; then 200 clients come at once. Each must get an answer - HELLO_ACK, a refusal,
     * or the connection closed - within the deadline; the accept loop must not spin or die. When the clients are
     * gone, a new client is served, and the log names the exhaustion.
     */
    @Test
    @DisplayName("out of file descriptors: every client answered or closed, none left hanging; serving again after")
    void fileDescriptorExhaustion() throws Exception {
        MediatorProcess p = daemon("--max-connections", "10000", "--no-request-log");
        long pid = javaPid(p);
        try (MediatorClient warm = client(p)) { // the JVM opens what a connection needs once, before the count
            assertThat(warm.hello(1, POOL_A, PRIORITY_LOW, T).status()).isEqualTo(ERR_NONE);
            assertThat(warm.request(1, ComputeRequest.echo(new byte[] {1}), T).status())
                    .isEqualTo(ERR_NONE);
        }
        awaitConnections(p, 0);
        int before = openFds(pid);
        int limit = before + 24;
        BoundProcesses.Result r = BoundProcesses.run(
                List.of("prlimit", "--pid", Long.toString(pid), "--nofile=" + limit + ":" + limit), T);
        assertThat(r.exitCode()).as("prlimit: %s", r.stderr()).isZero();

        int clients = 200;
        List<MediatorClient> cs = new ArrayList<>();
        int closedEarly = 0;
        for (int i = 0; i < clients; i++) {
            MediatorClient c = client(p);
            try {
                c.send(Frame.of(MSG_HELLO, 100 + i, POOL_A, PRIORITY_LOW, 0, 0, null));
                cs.add(c);
            } catch (java.io.IOException e) {
                // closed at accept (no fd left for its work): answered by a close, as the rule allows
                closedEarly++;
                c.close();
            }
        }
        int served = 0;
        int refused = 0;
        int closed = closedEarly;
        for (int i = 0; i < cs.size(); i++) {
            MediatorClient c = cs.get(i);
            try {
                Frame f = c.receive(T);
                if (f.msgType() == MSG_HELLO_ACK && f.status() == ERR_NONE) {
                    served++;
                } else {
                    refused++;
                }
            } catch (EOFException e) {
                closed++;
            } catch (IOException e) {
                if (String.valueOf(e.getMessage()).contains("reset")) {
                    closed++; // a close the peer saw as a reset: still a close, not a hang
                    continue;
                }
                throw new AssertionError(
                        "client " + i + " of " + clients + " got no answer and no close within " + T
                                + " (" + e.getMessage() + "); so far served " + served + ", refused " + refused
                                + ", closed "
                                + closed + "; mediator log tail:\n" + p.logTail(20),
                        e);
            }
        }
        String outcome = String.format(
                "RLIMIT_NOFILE %d (had %d open): %d clients -> %d served, %d refused, %d closed",
                limit, before, clients, served, refused, closed);
        System.out.println("[mediator limits] " + outcome);
        Allure.addAttachment("fd exhaustion", outcome);
        assertThat(served).as("some were served within the limit").isPositive();
        assertThat(refused + closed).as("the limit was reached").isPositive();
        assertThat(p.isAlive()).isTrue();

        for (MediatorClient c : cs) {
            c.close();
        }
        awaitConnections(p, 0);
        try (MediatorClient again = client(p)) {
            assertThat(again.hello(2, POOL_B, PRIORITY_HIGH, T).status()).isEqualTo(ERR_NONE);
            Frame f = again.request(9, ComputeRequest.echo(new byte[] {9, 9}), T);
            assertThat(f.status()).isEqualTo(ERR_NONE);
            assertThat(f.payload()).containsExactly(9, 9);
        }
        assertThat(openFds(pid))
                .as("fds back near the start once the clients are gone")
                .isLessThanOrEqualTo(limit);
        assertThat(Files.readString(p.logFile())).containsIgnoringCase("too many open files");
    }

    /**
     * The spare fd on its own: RLIMIT_NOFILE's soft limit is lowered to the daemon's lowest free fd number, so no
     * new fd can be had at all. The first client still gets the fd number its blocked accept() had reserved before
     * the limit (Linux takes it when accept starts waiting) and is refused because its selector cannot be opened;
     * for every later one accept() itself fails (EMFILE) and only the spare fd (closed to accept, taken again after)
     * makes an answer possible - without it they would wait unanswered in the backlog. Each gets one REJECTED frame,
     * then EOF; once the limit is back the daemon serves again and logs the end of the episode.
     */
    @Test
    @DisplayName("no fd left even to accept: the spare fd answers each waiting client REJECTED, then EOF")
    void theSpareFdAnswersClientsWhenAcceptItselfFails() throws Exception {
        MediatorProcess p = daemon("--no-request-log");
        long pid = javaPid(p);
        try (MediatorClient warm = client(p)) {
            assertThat(warm.hello(1, POOL_A, PRIORITY_LOW, T).status()).isEqualTo(ERR_NONE);
        }
        awaitConnections(p, 0);
        int limit = lowestFreeFd(pid);
        String soft = softNofile(pid);
        setSoftNofile(pid, Integer.toString(limit));
        try {
            for (int i = 0; i < 4; i++) {
                try (MediatorClient c = MediatorClient.connect(p.socketPath(), T)) {
                    Frame f = c.receive(T);
                    assertThat(f.status())
                            .as("client %d (RLIMIT_NOFILE %d)", i, limit)
                            .isEqualTo(ERR_REJECTED);
                    assertThat(c.closedByPeer(T)).isTrue();
                }
            }
        } finally {
            setSoftNofile(pid, soft);
        }
        try (MediatorClient again = client(p)) {
            assertThat(again.hello(2, POOL_B, PRIORITY_HIGH, T).status()).isEqualTo(ERR_NONE);
        }
        // the accept thread logs the episode's end after it handed the connection on, so the HELLO_ACK may come first
        awaitLog(p, "serving new connections again");
        assertThat(Files.readString(p.logFile())).contains("out of resources");
    }

    /** Waits (deadline T) until the daemon's log holds {@code text}. */
    private static void awaitLog(MediatorProcess p, String text) throws Exception {
        long end = System.nanoTime() + T.toNanos();
        while (!Files.readString(p.logFile()).contains(text)) {
            if (System.nanoTime() > end) {
                throw new AssertionError(
                        "no \"" + text + "\" in the mediator's log within " + T + "; tail:\n" + p.logTail(20));
            }
            Thread.sleep(20);
        }
    }

    /** The lowest fd number the daemon has free, once its fd table stays the same for a moment (quiet). */
    private static int lowestFreeFd(long pid) throws Exception {
        java.util.Set<Integer> fds = fdNumbers(pid);
        long end = System.nanoTime() + T.toNanos();
        while (true) {
            Thread.sleep(200);
            java.util.Set<Integer> again = fdNumbers(pid);
            if (again.equals(fds)) {
                break;
            }
            assertThat(System.nanoTime() - end).as("the daemon's fds settle").isNegative();
            fds = again;
        }
        int n = 0;
        while (fds.contains(n)) {
            n++;
        }
        return n;
    }

    private static java.util.Set<Integer> fdNumbers(long pid) throws IOException {
        try (Stream<Path> s = Files.list(Path.of("/proc", Long.toString(pid), "fd"))) {
            return s.map(f -> Integer.parseInt(f.getFileName().toString()))
                    .collect(java.util.stream.Collectors.toSet());
        }
    }

    private static String softNofile(long pid) throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc", Long.toString(pid), "limits"))) {
            if (line.startsWith("Max open files")) {
                return line.substring("Max open files".length()).trim().split("\\s+")[0];
            }
        }
        throw new IOException("no Max open files in /proc/" + pid + "/limits");
    }

    /** Only the soft limit: the hard one stays, so it can be raised back without privileges. */
    private static void setSoftNofile(long pid, String soft) throws Exception {
        BoundProcesses.Result r =
                BoundProcesses.run(List.of("prlimit", "--pid", Long.toString(pid), "--nofile=" + soft + ":"), T);
        assertThat(r.exitCode()).as("prlimit: %s", r.stderr()).isZero();
    }

    /** The daemon JVM's pid: the child itself (BoundProcesses' wrapper execs it), checked by its command line. */
    private static long javaPid(MediatorProcess p) throws IOException {
        String cmdline = Files.readString(Path.of("/proc", Long.toString(p.pid()), "cmdline"));
        assertThat(cmdline).contains("java", "mediator-lite");
        return p.pid();
    }

    private static int openFds(long pid) throws IOException {
        try (Stream<Path> s = Files.list(Path.of("/proc", Long.toString(pid), "fd"))) {
            return (int) s.count();
        }
    }

    private static int connections(String statsJson) {
        var m = java.util.regex.Pattern.compile("\"connections\":(\\d+)").matcher(statsJson);
        return m.find() ? Integer.parseInt(m.group(1)) : -1;
    }

    /** Waits until the daemon's STATS say {@code n} connections besides the asking one. */
    private void awaitConnections(MediatorProcess p, int n) throws Exception {
        long end = System.nanoTime() + T.toNanos();
        String stats = "";
        while (System.nanoTime() < end) {
            try (MediatorClient c = MediatorClient.connect(p.socketPath(), T)) {
                stats = c.stats(T);
            } catch (IOException e) {
                stats = e.toString(); // out of fds for a moment: ask again
            }
            if (connections(stats) == n + 1) {
                return;
            }
            Thread.sleep(50);
        }
        throw new AssertionError("connections did not drop to " + n + " within " + T + ": " + stats);
    }
}

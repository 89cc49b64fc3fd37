package dev.vgpuhil.mediator;

import static dev.vgpuhil.mediator.Wire.T;
import static dev.vgpuhil.protocol.VgpuProtocol.*;
import static org.assertj.core.api.Assertions.assertThat;

import dev.vgpuhil.protocol.ComputeRequest;
import dev.vgpuhil.protocol.Frame;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.ServerSocketChannel;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Hostile and unlucky clients over real sockets: slow-loris, silent connections, the connection limit, requests
 * stuck at shutdown, vanished clients; plus the request log line and the socket file's life.
 */
class MediatorRobustnessTest {
    @TempDir
    Path dir;

    MediatorConfig.Builder cpu() {
        return MediatorConfig.builder().socketPath(dir.resolve("m.sock")).backend(BackendChoice.CPU);
    }

    /**
     * A client dripping a header one byte at a time (slow-loris) holds only its own reader: each of the other
     * client's requests is answered between two bytes of the loris's header, i.e. provably while that frame is
     * still incomplete and its connection still open - by ordering, not by a stopwatch. The frame timeout here is
     * far longer than the test, so nothing in it depends on how fast the machine is.
     */
    @Test
    void aSlowLorisMidFrameDoesNotBlockOthers() throws Exception {
        try (Mediator m = new Mediator(
                cpu().frameTimeout(Duration.ofMinutes(10)).requestLog(false).build())) {
            m.start();
            try (MediatorClient good = MediatorClient.connect(m.socketPath(), T);
                    MediatorClient loris = MediatorClient.connect(m.socketPath(), T)) {
                good.hello(1, POOL_A, PRIORITY_LOW, T);
                byte[] hello = Frame.of(MSG_HELLO, 2, POOL_A, PRIORITY_HIGH, 0, 0, null)
                        .encode();
                for (int i = 0; i < hello.length - 1; i++) {
                    loris.sendRaw(new byte[] {hello[i]});
                    assertThat(good.request(i, Wire.echo(i), T).status())
                            .as("request %d, loris at byte %d", i, i + 1)
                            .isEqualTo(ERR_NONE);
                }
                assertThat(m.connectionCount())
                        .as("the loris is still connected, its header one byte short")
                        .isEqualTo(2);
                assertThat(m.boundVms()).containsExactly(1);
                loris.sendRaw(new byte[] {hello[hello.length - 1]});
                assertThat(loris.receive(T).status())
                        .as("the completed HELLO is then served")
                        .isEqualTo(ERR_NONE);
            }
        }
    }

    /**
     * A dripping header (1 byte / 100 ms: 32 bytes would take 3.2 s) is cut once the frame is older than the
     * frame timeout (1 s) even though bytes keep arriving; the deadline fires - only lower bounds on time here.
     */
    @Test
    void aDrippingFrameIsCutAtTheFrameTimeout() throws Exception {
        Duration frameTimeout = Duration.ofMillis(1000);
        try (Mediator m =
                new Mediator(cpu().frameTimeout(frameTimeout).requestLog(false).build())) {
            m.start();
            try (MediatorClient good = MediatorClient.connect(m.socketPath(), T);
                    MediatorClient loris = MediatorClient.connect(m.socketPath(), T)) {
                good.hello(1, POOL_A, PRIORITY_LOW, T);
                byte[] hello = Frame.of(MSG_HELLO, 2, POOL_A, PRIORITY_HIGH, 0, 0, null)
                        .encode();
                AtomicBoolean cut = new AtomicBoolean();
                long t0 = System.nanoTime();
                Thread drip = new Thread(
                        () -> {
                            try {
                                for (byte b : hello) {
                                    loris.sendRaw(new byte[] {b});
                                    Thread.sleep(100);
                                }
                            } catch (Exception e) {
                                cut.set(true);
                            }
                        },
                        "loris");
                drip.start();
                assertThat(loris.closedByPeer(T))
                        .as("the dripping connection is closed")
                        .isTrue();
                assertThat(Duration.ofNanos(System.nanoTime() - t0)).isGreaterThanOrEqualTo(frameTimeout);
                drip.join(T.toMillis());
                assertThat(drip.isAlive()).isFalse();
                assertThat(cut)
                        .as("cut mid-header: the drip's next byte failed")
                        .isTrue();
                assertThat(m.boundVms()).containsExactly(1);
                assertThat(good.request(99, Wire.echo(99), T).status()).isEqualTo(ERR_NONE);
            }
        }
    }

    /** payload_len promising more than is ever sent: no reply can be given; the frame timeout ends it. */
    @Test
    void aPayloadLenLongerThanWhatArrivesIsCutAtTheFrameTimeout() throws Exception {
        try (Mediator m =
                new Mediator(cpu().frameTimeout(Duration.ofMillis(300)).build())) {
            m.start();
            try (MediatorClient c = MediatorClient.connect(m.socketPath(), T)) {
                c.hello(1, POOL_A, PRIORITY_LOW, T);
                byte[] whole = Wire.request(1, POOL_A, 0, 1, ComputeRequest.echo(new byte[500]))
                        .encode();
                c.sendRaw(java.util.Arrays.copyOf(whole, 132)); // header + 100 of 508 payload bytes, then silence
                long t0 = System.nanoTime();
                assertThat(c.closedByPeer(T)).isTrue();
                assertThat(Duration.ofNanos(System.nanoTime() - t0)).isGreaterThanOrEqualTo(Duration.ofMillis(250));
            }
            assertThat(m.stats().completed()).isZero();
        }
    }

    @Test
    void aConnectionWithoutHelloIsClosedWhenIdleButABoundOneMayIdle() throws Exception {
        try (Mediator m =
                new Mediator(cpu().unboundIdleTimeout(Duration.ofMillis(300)).build())) {
            m.start();
            try (MediatorClient silent = MediatorClient.connect(m.socketPath(), T);
                    MediatorClient bound = MediatorClient.connect(m.socketPath(), T)) {
                bound.hello(5, POOL_B, PRIORITY_MEDIUM, T);
                long t0 = System.nanoTime();
                assertThat(silent.closedByPeer(T)).isTrue();
                assertThat(Duration.ofNanos(System.nanoTime() - t0)).isGreaterThanOrEqualTo(Duration.ofMillis(250));
                Thread.sleep(600); // twice the unbound idle timeout
                assertThat(bound.request(1, Wire.echo(1), T).status()).isEqualTo(ERR_NONE);
            }
        }
    }

    @Test
    void connectionsBeyondTheLimitAreRefusedWithRejected() throws Exception {
        try (Mediator m = new Mediator(cpu().maxConnections(2).build())) {
            m.start();
            try (MediatorClient a = MediatorClient.connect(m.socketPath(), T);
                    MediatorClient b = MediatorClient.connect(m.socketPath(), T)) {
                a.hello(1, POOL_A, 0, T);
                b.hello(2, POOL_A, 0, T);
                try (MediatorClient c = MediatorClient.connect(m.socketPath(), T)) {
                    Frame r = c.receive(T);
                    assertThat(r.status()).isEqualTo(ERR_REJECTED);
                    assertThat(c.closedByPeer(T)).isTrue();
                }
                assertThat(a.request(1, Wire.echo(1), T).status()).isEqualTo(ERR_NONE);
                assertThat(b.request(1, Wire.echo(1), T).status()).isEqualTo(ERR_NONE);
            }
        }
    }

    /** A request stuck in the backend at shutdown gets SHUTDOWN once the grace is over; the socket goes away. */
    @Test
    void aRequestStillRunningAfterTheGraceIsAnsweredShutdown() throws Exception {
        GateBackend gate = GateBackend.holdingEchoesStartingWith((byte) 0x5A);
        Path sock = dir.resolve("m.sock");
        Mediator m = new Mediator(MediatorConfig.builder()
                .socketPath(sock)
                .backend(gate)
                .shutdownGrace(Duration.ofMillis(200))
                .build());
        m.start();
        try (MediatorClient c = MediatorClient.connect(sock, T)) {
            c.hello(3, POOL_A, PRIORITY_LOW, T);
            c.send(c.requestFrame(77, ComputeRequest.echo(new byte[] {0x5A, 1})));
            assertThat(gate.awaitEntered(T)).isTrue();
            c.send(c.requestFrame(78, Wire.echo(78))); // queued behind it
            assertThat(m.awaitQueued(1, T)).isTrue();
            m.close();
            List<Integer> shutdownIds = new ArrayList<>();
            for (int i = 0; i < 2; i++) {
                Frame r = c.receive(T);
                assertThat(r.status()).isEqualTo(ERR_SHUTDOWN);
                shutdownIds.add(r.requestId());
            }
            assertThat(shutdownIds).containsExactly(78, 77); // queued ones at once, the running one after the grace
            assertThat(c.closedByPeer(T)).isTrue();
        } finally {
            gate.release();
        }
        assertThat(Files.exists(sock, LinkOption.NOFOLLOW_LINKS)).isFalse();
        assertThat(m.stats().errorCounts()).containsEntry("SHUTDOWN", 2L);
    }

    @Test
    void aRequestFinishingWithinTheGraceGetsItsRealAnswer() throws Exception {
        GateBackend gate = GateBackend.holdingEchoesStartingWith((byte) 0x5A);
        Mediator m = new Mediator(
                cpu().backend(gate).shutdownGrace(Duration.ofSeconds(10)).build());
        m.start();
        try (MediatorClient c = MediatorClient.connect(m.socketPath(), T)) {
            c.hello(3, POOL_A, PRIORITY_LOW, T);
            c.send(c.requestFrame(77, ComputeRequest.echo(new byte[] {0x5A, 1})));
            assertThat(gate.awaitEntered(T)).isTrue();
            Thread closer = new Thread(m::close, "closer");
            closer.start();
            // close() is now waiting for the running request: let it finish
            long deadline = System.nanoTime() + T.toNanos();
            while (m.isRunning() && System.nanoTime() < deadline) {
                Thread.sleep(5);
            }
            gate.release();
            Frame r = c.receive(T);
            assertThat(r.requestId()).isEqualTo(77);
            assertThat(r.status()).isEqualTo(ERR_NONE);
            assertThat(r.payload()).containsExactly(0x5A, 1);
            closer.join(T.toMillis());
        }
        assertThat(gate.closed).isTrue();
    }

    @Test
    void queuedRequestsOfAVanishedClientAreDroppedAndLogged() throws Exception {
        Path log = dir.resolve("mediator.log");
        try (Mediator m = new Mediator(cpu().logFile(log).build())) {
            m.start();
            m.pauseScheduling();
            try (MediatorClient keep = MediatorClient.connect(m.socketPath(), T)) {
                keep.hello(1, POOL_A, 0, T);
                try (MediatorClient c = MediatorClient.connect(m.socketPath(), T)) {
                    c.hello(9, POOL_A, 0, T);
                    for (int i = 0; i < 3; i++) {
                        c.send(c.requestFrame(i, Wire.echo(i)));
                    }
                    assertThat(m.awaitQueued(3, T)).isTrue();
                }
                long deadline = System.nanoTime() + T.toNanos();
                while (m.stats().dropped() < 3 && System.nanoTime() < deadline) {
                    Thread.sleep(5);
                }
                assertThat(m.stats().dropped()).isEqualTo(3);
                assertThat(m.scheduler().depth()).isZero();
                m.resumeScheduling();
                assertThat(keep.request(5, Wire.echo(5), T).status()).isEqualTo(ERR_NONE);
            }
        }
        assertThat(Files.readAllLines(log))
                .filteredOn(l -> l.contains("outcome=DROPPED"))
                .hasSize(3);
    }

    /** One line per request: vm, pool, priority, request id, queue wait, run time, outcome - refused ones too. */
    @Test
    void oneLogLinePerRequestWithEveryField() throws Exception {
        Path log = dir.resolve("mediator.log");
        try (Mediator m = new Mediator(cpu().logFile(log).build())) {
            m.start();
            try (MediatorClient c = MediatorClient.connect(m.socketPath(), T)) {
                c.hello(4242, POOL_B, PRIORITY_MEDIUM, T);
                assertThat(c.request(1001, Wire.echo(1), T).status()).isEqualTo(ERR_NONE);
                assertThat(c.exchange(Wire.request(4242, POOL_B, 1, 1002, Wire.rawPayload(77, 0, 0)), T)
                                .status())
                        .isEqualTo(ERR_BAD_OPCODE);
                assertThat(c.exchange(
                                        Wire.request(
                                                4242,
                                                POOL_A,
                                                0,
                                                1003,
                                                ComputeRequest.vectorAdd(Wire.floats(127, 1f), Wire.floats(127, 2f))),
                                        T)
                                .status())
                        .isEqualTo(ERR_NONE);
            }
        }
        List<String> lines = Files.readAllLines(log).stream()
                .filter(l -> l.contains(" request vm="))
                .toList();
        assertThat(lines).hasSize(3);
        // a worker logs after the reply has left, so the lines of different threads may interleave: by id
        assertThat(lineFor(lines, 1001))
                .matches(".* request vm=4242 pool=B priority=medium request_id=1001 op=ECHO "
                        + "wait_us=\\d+ run_us=\\d+ outcome=DONE.*");
        assertThat(lineFor(lines, 1002))
                .matches(".* request vm=4242 pool=B priority=medium request_id=1002 op=\\S+ "
                        + "wait_us=- run_us=- outcome=BAD_OPCODE .*");
        assertThat(lineFor(lines, 1003))
                .matches(".* request vm=4242 pool=A priority=low request_id=1003 op=VECTOR_ADD "
                        + "wait_us=\\d+ run_us=\\d+ outcome=DONE.*");
    }

    static String lineFor(List<String> lines, int requestId) {
        List<String> found = lines.stream()
                .filter(l -> l.contains(" request_id=" + requestId + " "))
                .toList();
        assertThat(found).as("log lines of request %d", requestId).hasSize(1);
        return found.get(0);
    }

    @Test
    void theSocketFileIsOwnerOnlyFromTheStartAndNoStagingIsLeft() throws Exception {
        try (Mediator m = new Mediator(cpu().build())) {
            m.start();
            Path sock = m.socketPath();
            assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(sock)))
                    .isEqualTo("rw-------");
            try (var entries = Files.list(dir)) {
                assertThat(entries.map(p -> p.getFileName().toString())).containsExactly("m.sock");
            }
        }
    }

    /**
     * The default-path logic (no socketPath given: the default is used, its missing directory created, the socket
     * 0600, removed at close), on a private path through {@link MediatorConfig#DEFAULT_SOCKET_PROPERTY} so that a
     * mediator running on the machine's real default never matters.
     */
    @Test
    void theDefaultPathIsCreatedOwnerOnlyAndRemoved() throws Exception {
        Path def = dir.resolve("run").resolve("vgpu-mediator.sock");
        String before = System.setProperty(MediatorConfig.DEFAULT_SOCKET_PROPERTY, def.toString());
        try (Mediator m =
                new Mediator(MediatorConfig.builder().backend(BackendChoice.CPU).build())) {
            m.start();
            assertThat(m.socketPath()).isEqualTo(def);
            assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(def)))
                    .isEqualTo("rw-------");
            assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(def.getParent())))
                    .isEqualTo("rwx------");
            try (MediatorClient c = MediatorClient.connect(def, T)) {
                assertThat(c.hello(1, POOL_A, 0, T).status()).isEqualTo(ERR_NONE);
            }
        } finally {
            restore(before);
        }
        assertThat(Files.exists(def, LinkOption.NOFOLLOW_LINKS)).isFalse();
    }

    /** Without the property (or with it blank) the default is the protocol's SOCKET_PATH_DEFAULT. */
    @Test
    void theCompiledInDefaultIsTheProtocolsSocketPathDefault() {
        String before = System.clearProperty(MediatorConfig.DEFAULT_SOCKET_PROPERTY);
        try {
            assertThat(MediatorConfig.defaultSocketPath())
                    .isEqualTo(Path.of(SOCKET_PATH_DEFAULT))
                    .isEqualTo(Path.of("/tmp/vgpu-mediator.sock"));
            System.setProperty(MediatorConfig.DEFAULT_SOCKET_PROPERTY, " ");
            assertThat(MediatorConfig.defaultSocketPath()).isEqualTo(Path.of(SOCKET_PATH_DEFAULT));
        } finally {
            restore(before);
        }
    }

    private static void restore(String before) {
        if (before == null) {
            System.clearProperty(MediatorConfig.DEFAULT_SOCKET_PROPERTY);
        } else {
            System.setProperty(MediatorConfig.DEFAULT_SOCKET_PROPERTY, before);
        }
    }

    /**
     * Requests pipelined while the scheduler is paused, then a bad magic: the PROTOCOL reply comes at once, and
     * once scheduling resumes every queued request still gets its real answer, then the end of stream. The shutdown
     * grace (how long the close waits for them) is the test's budget, so only the resume decides when they run.
     */
    @Test
    void requestsAcceptedBeforeAnUnreadableFrameAreAnsweredBeforeTheClose() throws Exception {
        int n = 8;
        try (Mediator m = new Mediator(cpu().shutdownGrace(T).requestLog(false).build())) {
            m.start();
            m.pauseScheduling();
            try (MediatorClient c = MediatorClient.connect(m.socketPath(), T)) {
                c.hello(1, POOL_A, PRIORITY_LOW, T);
                for (int id = 1; id <= n; id++) {
                    c.send(c.requestFrame(id, Wire.echo(id)));
                }
                assertThat(m.awaitQueued(n, T)).isTrue();
                c.send(Wire.request(1, POOL_A, 0, 99, Wire.echo(99)).withMagic(0x12345678));
                Frame protocol = c.receive(T);
                assertThat(protocol.requestId()).isEqualTo(99);
                assertThat(protocol.status()).isEqualTo(ERR_PROTOCOL);
                assertThat(m.connectionCount())
                        .as("still open while its requests wait")
                        .isEqualTo(1);
                m.resumeScheduling();
                List<Integer> answered = new ArrayList<>();
                for (int k = 0; k < n; k++) {
                    Frame r = c.receive(T);
                    assertThat(r.status())
                            .as("answer of request %d", r.requestId())
                            .isEqualTo(ERR_NONE);
                    assertThat(r.payload()).isEqualTo(Wire.echo(r.requestId()).operands());
                    answered.add(r.requestId());
                }
                assertThat(answered).containsExactly(1, 2, 3, 4, 5, 6, 7, 8);
                assertThat(c.closedByPeer(T)).as("closed once all are answered").isTrue();
            }
            assertThat(m.stats().dropped()).isZero();
        }
    }

    /**
     * After an unreadable frame the close waits at most the shutdown grace (here 300 ms) for the accepted requests;
     * what is still queued then (the scheduler stays paused) is answered SHUTDOWN before the end of stream.
     */
    @Test
    void anUnreadableFrameGivesTheAcceptedRequestsTheShutdownGraceThenShutdown() throws Exception {
        Duration grace = Duration.ofMillis(300);
        try (Mediator m =
                new Mediator(cpu().shutdownGrace(grace).requestLog(false).build())) {
            m.start();
            m.pauseScheduling();
            try (MediatorClient c = MediatorClient.connect(m.socketPath(), T);
                    MediatorClient other = MediatorClient.connect(m.socketPath(), T)) {
                c.hello(1, POOL_A, PRIORITY_LOW, T);
                for (int id = 1; id <= 3; id++) {
                    c.send(c.requestFrame(id, Wire.echo(id)));
                }
                assertThat(m.awaitQueued(3, T)).isTrue();
                long t0 = System.nanoTime(); // before the send: the grace starts when the frame is read
                c.send(Wire.request(1, POOL_A, 0, 99, Wire.echo(99)).withPayloadLen(MAX_PAYLOAD + 1));
                assertThat(c.receive(T).status()).isEqualTo(ERR_PROTOCOL);
                for (int id = 1; id <= 3; id++) {
                    Frame r = c.receive(T);
                    assertThat(r.requestId()).isEqualTo(id);
                    assertThat(r.status()).isEqualTo(ERR_SHUTDOWN);
                }
                assertThat(Duration.ofNanos(System.nanoTime() - t0)).isGreaterThanOrEqualTo(grace);
                assertThat(c.closedByPeer(T)).isTrue();
                assertThat(m.scheduler().depth())
                        .as("nothing of it left queued")
                        .isZero();
                other.hello(2, POOL_A, PRIORITY_LOW, T);
                m.resumeScheduling();
                assertThat(other.request(5, Wire.echo(5), T).status()).isEqualTo(ERR_NONE);
            }
        }
    }

    /**
     * Backpressure: with at most 2 requests outstanding per connection, 10 pipelined while the scheduler is paused
     * leave 2 read and queued and the rest unread in the socket - no QUEUE_FULL, no disconnect, and no frame
     * timeout (300 ms, outlived here) although whole frames wait in its buffer; after the resume all 10 are answered
     * in order.
     */
    @Test
    void aConnectionAtItsOutstandingCapStopsReadingUntilItsRepliesGoOut() throws Exception {
        Duration frameTimeout = Duration.ofMillis(300);
        try (Mediator m = new Mediator(cpu().maxOutstanding(2)
                .frameTimeout(frameTimeout)
                .requestLog(false)
                .build())) {
            m.start();
            m.pauseScheduling();
            try (MediatorClient c = MediatorClient.connect(m.socketPath(), T);
                    MediatorClient other = MediatorClient.connect(m.socketPath(), T)) {
                c.hello(1, POOL_A, PRIORITY_LOW, T);
                other.hello(2, POOL_B, PRIORITY_LOW, T);
                for (int id = 1; id <= 10; id++) {
                    c.send(c.requestFrame(id, Wire.echo(id)));
                }
                assertThat(m.awaitQueued(2, T)).isTrue();
                Thread.sleep(3 * frameTimeout.toMillis()); // lower bound only: longer than the frame timeout
                assertThat(other.stats(T)).isNotEmpty(); // another connection is served meanwhile
                assertThat(m.stats().received()).as("requests read").isEqualTo(2);
                assertThat(m.scheduler().depth()).isEqualTo(2);
                assertThat(m.connectionCount()).as("nobody was cut").isEqualTo(2);
                assertThat(c.readable()).as("nothing answered yet").isFalse();
                m.resumeScheduling();
                List<Integer> answered = new ArrayList<>();
                for (int k = 1; k <= 10; k++) {
                    Frame r = c.receive(T);
                    assertThat(r.status()).as("answer of %d", r.requestId()).isEqualTo(ERR_NONE);
                    answered.add(r.requestId());
                }
                // replies of one batch go out after it (Workers), so they may pass each other; starts may not
                assertThat(answered).containsExactlyInAnyOrder(1, 2, 3, 4, 5, 6, 7, 8, 9, 10);
                assertThat(m.executionLog())
                        .filteredOn(e -> e.vmId() == 1)
                        .extracting(Stats.Executed::requestId)
                        .containsExactly(1, 2, 3, 4, 5, 6, 7, 8, 9, 10);
                assertThat(m.stats().received()).isEqualTo(10);
            }
        }
    }

    @Test
    void closeLeavesASocketThatIsNoLongerItsOwnAlone() throws Exception {
        Path sock = dir.resolve("m.sock");
        Mediator m = new Mediator(cpu().build());
        m.start();
        Files.delete(sock); // someone removed ours and another server took the path
        try (ServerSocketChannel other = ServerSocketChannel.open(StandardProtocolFamily.UNIX)) {
            other.bind(UnixDomainSocketAddress.of(sock));
            m.close();
            assertThat(Files.exists(sock, LinkOption.NOFOLLOW_LINKS)).isTrue();
            assertThat(SocketSecurity.someoneListens(sock)).isTrue();
        }
    }

    @Test
    void aWorldWritableNonStickySocketDirectoryIsWarnedAbout() throws Exception {
        Path open = dir.resolve("open");
        Files.createDirectory(open);
        Files.setPosixFilePermissions(open, PosixFilePermissions.fromString("rwxrwxrwx"));
        assertThat(SocketSecurity.directoryWarning(open.resolve("m.sock")))
                .get()
                .asString()
                .contains("mode 0777", "other users may replace the socket");
        assertThat(SocketSecurity.directoryWarning(Path.of("/tmp/x.sock"))).isEmpty(); // sticky
        Path priv = dir.resolve("priv");
        Files.createDirectory(priv);
        Files.setPosixFilePermissions(priv, PosixFilePermissions.fromString("rwx------"));
        assertThat(SocketSecurity.directoryWarning(priv.resolve("m.sock"))).isEmpty();
    }
}

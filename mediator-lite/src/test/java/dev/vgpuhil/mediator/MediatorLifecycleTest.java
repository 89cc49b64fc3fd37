package dev.vgpuhil.mediator;

import static dev.vgpuhil.mediator.Wire.T;
import static dev.vgpuhil.protocol.VgpuProtocol.*;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.vgpuhil.mediator.backend.CudaDriver;
import dev.vgpuhil.protocol.ComputeRequest;
import dev.vgpuhil.protocol.Frame;
import dev.vgpuhil.protocol.Pool;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.ServerSocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Start/stop, socket safety, peer credentials, queue cap, shutdown, backend selection, concurrency. */
class MediatorLifecycleTest {
    @TempDir
    Path dir;

    MediatorConfig.Builder cpu(Path socket) {
        return MediatorConfig.builder().socketPath(socket).backend(BackendChoice.CPU);
    }

    @Test
    void startAndCloseAreIdempotentAndCloseRemovesTheSocket() throws Exception {
        Path sock = dir.resolve("m.sock");
        Mediator m = new Mediator(cpu(sock).build());
        m.close(); // before start: harmless
        Mediator m2 = new Mediator(cpu(sock).build());
        m2.start();
        m2.start();
        assertThat(m2.isRunning()).isTrue();
        assertThat(Files.exists(sock)).isTrue();
        m2.close();
        m2.close();
        assertThat(m2.isRunning()).isFalse();
        assertThat(Files.exists(sock)).isFalse();
    }

    @Test
    void socketIsOwnerOnlyAndACreatedParentIs0700() throws Exception {
        Path sock = dir.resolve("private/sub/m.sock");
        try (Mediator m = new Mediator(cpu(sock).build())) {
            m.start();
            assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(sock)))
                    .isEqualTo("rw-------");
            assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(sock.getParent())))
                    .isEqualTo("rwx------");
        }
    }

    @Test
    void staleSocketIsReplacedButALiveListenerIsNot() throws Exception {
        Path sock = dir.resolve("m.sock");
        try (ServerSocketChannel other = ServerSocketChannel.open(StandardProtocolFamily.UNIX)) {
            other.bind(UnixDomainSocketAddress.of(sock));
            Mediator m = new Mediator(cpu(sock).build());
            assertThatThrownBy(m::start)
                    .isInstanceOf(MediatorStartException.class)
                    .hasMessageContaining("already listening on " + sock);
            m.close();
            assertThat(Files.exists(sock))
                    .as("the other listener's socket is left alone")
                    .isTrue();
        }
        // the listener is gone but its socket file stays behind: stale
        assertThat(Files.exists(sock)).isTrue();
        try (Mediator m = new Mediator(cpu(sock).build())) {
            m.start();
            try (MediatorClient c = MediatorClient.connect(sock, T)) {
                assertThat(c.stats(T))
                        .contains("\"pid\":" + ProcessHandle.current().pid());
            }
        }
    }

    @Test
    void aFileThatIsNotASocketIsNeverDeleted() throws Exception {
        Path sock = dir.resolve("m.sock");
        Files.writeString(sock, "precious");
        Mediator m = new Mediator(cpu(sock).build());
        assertThatThrownBy(m::start).isInstanceOf(MediatorStartException.class).hasMessageContaining("not a socket");
        assertThat(Files.readString(sock)).isEqualTo("precious");
    }

    @Test
    void peerOutsideTheAllowedUidsIsRefused() throws Exception {
        Path sock = dir.resolve("m.sock");
        try (Mediator m = new Mediator(cpu(sock).allowedUids(Set.of(424242)).build())) {
            m.start();
            try (MediatorClient c = MediatorClient.connect(sock, T)) {
                Frame r = c.receive(T);
                assertThat(r.status()).isEqualTo(ERR_NOT_PERMITTED);
                assertThat(c.closedByPeer(T)).isTrue();
            }
            assertThat(m.stats().errorCounts()).containsEntry("NOT_PERMITTED", 1L);
        }
    }

    @Test
    void ownUidIsAllowedByDefault() throws Exception {
        Path sock = dir.resolve("m.sock");
        try (Mediator m = new Mediator(cpu(sock).build())) {
            m.start();
            MediatorClient c = MediatorClient.connect(sock, T);
            assertThat(c.hello(1, POOL_A, 0, T).status()).isEqualTo(ERR_NONE);
            c.close();
        }
    }

    @Test
    void queueCapGivesQueueFullAndQueuedRequestsStillComplete() throws Exception {
        Path sock = dir.resolve("m.sock");
        try (Mediator m = new Mediator(cpu(sock).queueCap(2).build())) {
            m.start();
            m.pauseScheduling();
            try (MediatorClient c = MediatorClient.connect(sock, T)) {
                c.hello(4, POOL_A, 0, T);
                for (int id = 1; id <= 3; id++) {
                    c.send(c.requestFrame(id, Wire.echo(id)));
                }
                Frame full = c.receive(T); // the third is refused at once while the first two wait
                assertThat(full.requestId()).isEqualTo(3);
                assertThat(full.status()).isEqualTo(ERR_QUEUE_FULL);
                assertThat(m.awaitQueued(2, T)).isTrue();
                m.resumeScheduling();
                assertThat(List.of(c.receive(T), c.receive(T)))
                        .extracting(Frame::requestId, Frame::status)
                        .containsExactly(
                                org.assertj.core.groups.Tuple.tuple(1, 0), org.assertj.core.groups.Tuple.tuple(2, 0));
            }
        }
    }

    @Test
    void shutdownAnswersQueuedRequestsWithShutdownAndRemovesTheSocket() throws Exception {
        Path sock = dir.resolve("m.sock");
        Path log = dir.resolve("logs/mediator.log");
        Mediator m = new Mediator(cpu(sock).logFile(log).build());
        m.start();
        m.pauseScheduling();
        try (MediatorClient a = MediatorClient.connect(sock, T);
                MediatorClient b = MediatorClient.connect(sock, T)) {
            a.hello(1, POOL_A, 2, T);
            b.hello(2, POOL_B, 0, T);
            for (int id = 1; id <= 3; id++) {
                a.send(a.requestFrame(id, Wire.echo(id)));
                b.send(b.requestFrame(10 + id, Wire.echo(id)));
            }
            assertThat(m.awaitQueued(6, T)).isTrue();
            m.close();
            for (MediatorClient c : List.of(a, b)) {
                List<Integer> ids = new ArrayList<>();
                for (int i = 0; i < 3; i++) {
                    Frame r = c.receive(T);
                    assertThat(r.status()).isEqualTo(ERR_SHUTDOWN);
                    ids.add(r.requestId());
                }
                assertThat(ids).hasSize(3);
                assertThat(c.closedByPeer(T)).isTrue();
            }
        }
        assertThat(Files.exists(sock)).isFalse();
        String text = Files.readString(log);
        assertThat(text).contains("outcome=SHUTDOWN", "stopped; counters", "\"SHUTDOWN\":6");
    }

    @Test
    void cudaBackendFailsClearlyWithoutAGpu() {
        assumeTrue(CudaDriver.unavailableReason().isPresent(), "a CUDA GPU answers here, so --backend cuda starts");
        Mediator m = new Mediator(MediatorConfig.builder()
                .socketPath(dir.resolve("m.sock"))
                .backend(BackendChoice.CUDA)
                .build());
        assertThatThrownBy(m::start)
                .isInstanceOf(MediatorStartException.class)
                .hasMessageContaining("--backend cuda")
                .hasMessageContaining("CUDA backend unavailable");
        assertThat(Files.exists(dir.resolve("m.sock"))).isFalse();
        m.close();
    }

    @Test
    void autoPicksCpuWhenNoGpuAnswers() throws Exception {
        assumeTrue(CudaDriver.unavailableReason().isPresent(), "a CUDA GPU answers here, so auto picks CUDA");
        try (Mediator m = new Mediator(MediatorConfig.builder()
                .socketPath(dir.resolve("m.sock"))
                .backend(BackendChoice.AUTO)
                .build())) {
            m.start();
            assertThat(m.backendName()).isEqualTo("cpu");
        }
    }

    @Test
    void manyConcurrentClientsEachGetTheirOwnCorrectResults() throws Exception {
        Path sock = dir.resolve("m.sock");
        int clients = 24;
        int perClient = 40;
        try (Mediator m =
                new Mediator(cpu(sock).workersPerPool(2).requestLog(false).build())) {
            m.start();
            ExecutorService pool = Executors.newFixedThreadPool(clients);
            try {
                List<Future<Integer>> results = new ArrayList<>();
                for (int k = 0; k < clients; k++) {
                    int vm = 100 + k;
                    results.add(pool.submit(() -> {
                        try (MediatorClient c = MediatorClient.connect(sock, T)) {
                            c.hello(vm, vm % 2 == 0 ? POOL_A : POOL_B, vm % 3, T);
                            int ok = 0;
                            for (int i = 0; i < perClient; i++) {
                                float[] a = Wire.floats(31, vm);
                                float[] b = Wire.floats(31, i);
                                Frame r = c.request(i, ComputeRequest.vectorAdd(a, b), T);
                                float[] sum = ComputeRequest.toFloats(r.payload());
                                if (r.status() == 0
                                        && r.requestId() == i
                                        && r.vmId() == vm
                                        && sum[30] == a[30] + b[30]
                                        && sum[0] == a[0] + b[0]) {
                                    ok++;
                                }
                            }
                            return ok;
                        }
                    }));
                }
                for (Future<Integer> f : results) {
                    assertThat(f.get(60, java.util.concurrent.TimeUnit.SECONDS)).isEqualTo(perClient);
                }
            } finally {
                pool.shutdownNow();
            }
            assertThat(m.stats().completed()).isEqualTo((long) clients * perClient);
        }
    }

    /**
     * A client that sends and never reads: its replies (results, then QUEUE_FULL once its 64 queued requests are
     * waiting) fill the socket and then the bounded reply queue, and the mediator cuts it; the mediator never
     * holds more than queue cap + reply queue for it. Another client is served throughout.
     */
    @Test
    void aClientThatNeverReadsIsDisconnectedWithoutHurtingOthers() throws Exception {
        Path sock = dir.resolve("m.sock");
        try (Mediator m = new Mediator(cpu(sock).requestLog(false).build())) {
            m.start();
            try (MediatorClient good = MediatorClient.connect(sock, T);
                    MediatorClient greedy = MediatorClient.connect(sock, T)) {
                good.hello(1, POOL_B, 0, T);
                greedy.hello(2, POOL_A, 0, T);
                byte[] frame = greedy.requestFrame(1, ComputeRequest.echo(new byte[1000]))
                        .encode();
                boolean cut = false;
                int sent = 0;
                long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
                while (!cut && System.nanoTime() < deadline) {
                    try {
                        greedy.sendRaw(frame);
                        sent++;
                    } catch (java.io.IOException e) {
                        cut = true;
                    }
                }
                assertThat(cut)
                        .as("the mediator closed the jammed connection (after %d frames)", sent)
                        .isTrue();
                assertThat(good.request(5, Wire.echo(5), T).status()).isEqualTo(ERR_NONE);
                assertThat(m.scheduler().depth(Pool.A)).isLessThanOrEqualTo(64);
            }
        }
    }
}

package dev.vgpuhil.mediator;

import static dev.vgpuhil.mediator.Wire.T;
import static dev.vgpuhil.protocol.VgpuProtocol.*;
import static org.assertj.core.api.Assertions.assertThat;

import dev.vgpuhil.protocol.Frame;
import dev.vgpuhil.protocol.Pool;
import dev.vgpuhil.protocol.Priority;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Scheduling through the whole daemon: the gate (pause) holds the one worker while three VMs enqueue over
 * their own sockets, then the observed execution order is checked. No sleeps decide the order.
 */
class SchedulingOverSocketsTest {
    @TempDir
    Path dir;

    @Test
    void threeVmsAreServedHighMediumLowWithFifoInsideEach() throws Exception {
        try (Mediator m = new Mediator(MediatorConfig.builder()
                .socketPath(dir.resolve("m.sock"))
                .backend(BackendChoice.CPU)
                .aging(Duration.ZERO)
                .build())) {
            m.start();
            m.pauseScheduling();
            try (MediatorClient low = MediatorClient.connect(m.socketPath(), T);
                    MediatorClient med = MediatorClient.connect(m.socketPath(), T);
                    MediatorClient high = MediatorClient.connect(m.socketPath(), T)) {
                low.hello(10, POOL_A, PRIORITY_LOW, T);
                med.hello(20, POOL_A, PRIORITY_MEDIUM, T);
                high.hello(30, POOL_A, PRIORITY_HIGH, T);
                // low first, high last: arrival order is the opposite of the expected execution order
                for (int i = 1; i <= 3; i++) {
                    low.send(low.requestFrame(100 + i, Wire.echo(i)));
                }
                assertThat(m.awaitQueued(3, T)).isTrue();
                for (int i = 1; i <= 3; i++) {
                    med.send(med.requestFrame(200 + i, Wire.echo(i)));
                }
                assertThat(m.awaitQueued(6, T)).isTrue();
                for (int i = 1; i <= 3; i++) {
                    high.send(high.requestFrame(300 + i, Wire.echo(i)));
                }
                assertThat(m.awaitQueued(9, T)).isTrue();
                m.resumeScheduling();
                for (MediatorClient c : List.of(low, med, high)) {
                    for (int i = 0; i < 3; i++) {
                        assertThat(c.receive(T).status()).isEqualTo(ERR_NONE);
                    }
                }
            }
            assertThat(m.executionLog())
                    .extracting(Stats.Executed::requestId)
                    .containsExactly(301, 302, 303, 201, 202, 203, 101, 102, 103);
            assertThat(m.executionLog())
                    .extracting(Stats.Executed::vmId)
                    .containsExactly(30, 30, 30, 20, 20, 20, 10, 10, 10);
        }
    }

    @Test
    void aFloodingVmDoesNotStarveAnotherOfTheSameClass() throws Exception {
        try (Mediator m = new Mediator(MediatorConfig.builder()
                .socketPath(dir.resolve("m.sock"))
                .backend(BackendChoice.CPU)
                .aging(Duration.ZERO)
                .build())) {
            m.start();
            m.pauseScheduling();
            try (MediatorClient flood = MediatorClient.connect(m.socketPath(), T);
                    MediatorClient quiet = MediatorClient.connect(m.socketPath(), T)) {
                flood.hello(1, POOL_B, PRIORITY_MEDIUM, T);
                quiet.hello(2, POOL_B, PRIORITY_MEDIUM, T);
                for (int i = 0; i < 20; i++) {
                    flood.send(flood.requestFrame(i, Wire.echo(i)));
                }
                assertThat(m.awaitQueued(20, T)).isTrue();
                quiet.send(quiet.requestFrame(1000, Wire.echo(1)));
                quiet.send(quiet.requestFrame(1001, Wire.echo(2)));
                assertThat(m.awaitQueued(22, T)).isTrue();
                m.resumeScheduling();
                assertThat(quiet.receive(T).requestId()).isEqualTo(1000);
                assertThat(quiet.receive(T).requestId()).isEqualTo(1001);
                for (int i = 0; i < 20; i++) {
                    assertThat(flood.receive(T).requestId()).isEqualTo(i);
                }
            }
            List<Integer> vms = new ArrayList<>();
            m.executionLog().forEach(e -> vms.add(e.vmId()));
            // vm 1 arrived with 20 requests first, yet vm 2 gets every other turn until it has none left
            assertThat(vms.subList(0, 4)).containsExactly(1, 2, 1, 2);
            assertThat(vms.subList(4, 22)).containsOnly(1);
        }
    }

    @Test
    void agingLetsAnOldLowRequestOvertakeFreshHighOnes() throws Exception {
        AtomicLong clock = new AtomicLong();
        try (Mediator m = new Mediator(MediatorConfig.builder()
                .socketPath(dir.resolve("m.sock"))
                .backend(BackendChoice.CPU)
                .aging(Duration.ofMillis(500))
                .nanoClock(clock::get)
                .build())) {
            m.start();
            m.pauseScheduling();
            try (MediatorClient low = MediatorClient.connect(m.socketPath(), T);
                    MediatorClient high = MediatorClient.connect(m.socketPath(), T)) {
                low.hello(5, POOL_A, PRIORITY_LOW, T);
                high.hello(6, POOL_A, PRIORITY_HIGH, T);
                low.send(low.requestFrame(1, Wire.echo(1)));
                assertThat(m.awaitQueued(1, T)).isTrue();
                clock.addAndGet(Duration.ofMillis(1000).toNanos()); // two aging intervals: low counts as high
                for (int i = 0; i < 3; i++) {
                    high.send(high.requestFrame(10 + i, Wire.echo(i)));
                }
                assertThat(m.awaitQueued(4, T)).isTrue();
                m.resumeScheduling();
                Frame r = low.receive(T);
                assertThat(r.status()).isEqualTo(ERR_NONE);
                for (int i = 0; i < 3; i++) {
                    high.receive(T);
                }
            }
            List<Stats.Executed> log = m.executionLog();
            // in the high class: vm 5 (aged) and vm 6 with equal tags; vm 5 arrived first
            assertThat(log.get(0).requestId()).isEqualTo(1);
            assertThat(log.get(0).effectiveClass()).isEqualTo(Priority.HIGH);
            assertThat(log).extracting(Stats.Executed::requestId).containsExactly(1, 10, 11, 12);
        }
    }

    @Test
    void withoutEnoughAgingTheLowRequestWaitsForAllHighOnes() throws Exception {
        AtomicLong clock = new AtomicLong();
        try (Mediator m = new Mediator(MediatorConfig.builder()
                .socketPath(dir.resolve("m.sock"))
                .backend(BackendChoice.CPU)
                .aging(Duration.ofMillis(500))
                .nanoClock(clock::get)
                .build())) {
            m.start();
            m.pauseScheduling();
            try (MediatorClient low = MediatorClient.connect(m.socketPath(), T);
                    MediatorClient high = MediatorClient.connect(m.socketPath(), T)) {
                low.hello(5, POOL_A, PRIORITY_LOW, T);
                high.hello(6, POOL_A, PRIORITY_HIGH, T);
                low.send(low.requestFrame(1, Wire.echo(1)));
                assertThat(m.awaitQueued(1, T)).isTrue();
                clock.addAndGet(Duration.ofMillis(999).toNanos()); // one interval only: medium
                for (int i = 0; i < 3; i++) {
                    high.send(high.requestFrame(10 + i, Wire.echo(i)));
                }
                assertThat(m.awaitQueued(4, T)).isTrue();
                m.resumeScheduling();
                low.receive(T);
                for (int i = 0; i < 3; i++) {
                    high.receive(T);
                }
            }
            assertThat(m.executionLog()).extracting(Stats.Executed::requestId).containsExactly(10, 11, 12, 1);
            assertThat(m.executionLog().get(3).effectiveClass()).isEqualTo(Priority.MEDIUM);
        }
    }

    @Test
    void poolsAAndBHaveTheirOwnWorkers() throws Exception {
        GateBackend gate = GateBackend.holdingEchoesStartingWith((byte) 0xAA);
        try (Mediator m = new Mediator(MediatorConfig.builder()
                .socketPath(dir.resolve("m.sock"))
                .backend(gate)
                .aging(Duration.ZERO)
                .build())) {
            m.start();
            try (MediatorClient a = MediatorClient.connect(m.socketPath(), T);
                    MediatorClient b = MediatorClient.connect(m.socketPath(), T)) {
                a.hello(1, POOL_A, PRIORITY_HIGH, T);
                b.hello(2, POOL_B, PRIORITY_LOW, T);
                a.send(a.requestFrame(1, dev.vgpuhil.protocol.ComputeRequest.echo(new byte[] {(byte) 0xAA})));
                assertThat(gate.awaitEntered(T))
                        .as("pool A's worker is held in the backend")
                        .isTrue();
                a.send(a.requestFrame(2, Wire.echo(2)));
                assertThat(m.awaitQueued(1, T)).isTrue();
                // pool A's only worker is busy and A has a queue; pool B is served regardless, at low priority
                for (int i = 0; i < 5; i++) {
                    Frame r = b.request(100 + i, Wire.echo(i), T);
                    assertThat(r.status()).isEqualTo(ERR_NONE);
                    assertThat(r.requestId()).isEqualTo(100 + i);
                }
                assertThat(m.scheduler().depth(Pool.A)).isEqualTo(1);
                gate.release();
                assertThat(List.of(a.receive(T).requestId(), a.receive(T).requestId()))
                        .containsExactly(1, 2);
            }
            assertThat(m.executionLog())
                    .extracting(Stats.Executed::requestId)
                    .containsExactly(1, 100, 101, 102, 103, 104, 2);
        }
    }

    @Test
    void fifoAcrossVmsOfOneClassOverSockets() throws Exception {
        try (Mediator m = new Mediator(MediatorConfig.builder()
                .socketPath(dir.resolve("m.sock"))
                .backend(BackendChoice.CPU)
                .aging(Duration.ZERO)
                .build())) {
            m.start();
            m.pauseScheduling();
            List<MediatorClient> clients = new ArrayList<>();
            try {
                int[] vms = {40, 7, 300, 12};
                for (int k = 0; k < vms.length; k++) {
                    MediatorClient c = MediatorClient.connect(m.socketPath(), T);
                    clients.add(c);
                    c.hello(vms[k], POOL_A, PRIORITY_MEDIUM, T);
                    c.send(c.requestFrame(k, Wire.echo(k)));
                    assertThat(m.awaitQueued(k + 1, T)).isTrue();
                }
                m.resumeScheduling();
                for (MediatorClient c : clients) {
                    assertThat(c.receive(T).status()).isEqualTo(ERR_NONE);
                }
            } finally {
                for (MediatorClient c : clients) {
                    c.close();
                }
            }
            assertThat(m.executionLog()).extracting(Stats.Executed::vmId).containsExactly(40, 7, 300, 12);
        }
    }
}

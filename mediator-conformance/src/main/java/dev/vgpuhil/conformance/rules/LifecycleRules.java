package dev.vgpuhil.conformance.rules;

import static dev.vgpuhil.protocol.VgpuProtocol.*;
import static org.assertj.core.api.Assertions.assertThat;

import dev.vgpuhil.conformance.Codes;
import dev.vgpuhil.conformance.Conformance;
import dev.vgpuhil.conformance.MediatorUnderTest;
import dev.vgpuhil.conformance.Peer;
import dev.vgpuhil.protocol.Frame;
import java.nio.file.Files;
import java.util.OptionalInt;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

/**
 * SHUTDOWN and restarts, a fresh mediator per rule. "Stop" is the contract's: SIGTERM for a process or a container,
 * close() in-process (which has no exit status to check).
 */
@Conformance(perRule = true)
@DisplayName("SHUTDOWN and restarts")
public class LifecycleRules {
    private final MediatorUnderTest m;

    public LifecycleRules(MediatorUnderTest m) {
        this.m = m;
    }

    private static void assertExitedZero(OptionalInt status, MediatorUnderTest m) {
        if (m.target().kind() != dev.vgpuhil.conformance.MediatorTarget.Kind.IN_PROCESS) {
            assertThat(status)
                    .as("exit status after SIGTERM (empty: it had to be killed)")
                    .hasValue(0);
        }
    }

    @Test
    @DisplayName("on SIGTERM every queued request is answered SHUTDOWN, the connection is closed and the mediator"
            + " exits 0")
    void queuedRequestsGetShutdown() {
        m.hold();
        Peer a = m.hello(m.freshVmId(), POOL_A, PRIORITY_HIGH);
        Peer b = m.hello(m.freshVmId(), POOL_B, PRIORITY_LOW);
        for (int id = 1; id <= 3; id++) {
            a.send(a.requestFrame(id, SchedulingRules.echo(id)));
            b.send(b.requestFrame(10 + id, SchedulingRules.echo(id)));
        }
        m.awaitQueued(6, a, b);
        OptionalInt status = m.stop();
        for (Peer p : new Peer[] {a, b}) {
            for (int i = 0; i < 3; i++) {
                Frame r = p.reply();
                assertThat(r.status())
                        .as("reply to queued request " + r.requestId())
                        .withRepresentation(Codes.STATUS)
                        .isEqualTo(ERR_SHUTDOWN);
            }
            assertThat(p.closedByPeer(m.timeLeft()))
                    .as("connection closed after SHUTDOWN")
                    .isTrue();
        }
        assertExitedZero(status, m);
    }

    @Test
    @DisplayName("on SIGTERM an idle mediator closes its connections and exits 0")
    void idleStop() {
        Peer a = m.hello(m.freshVmId(), POOL_A, PRIORITY_LOW);
        OptionalInt status = m.stop();
        assertThat(a.closedByPeer(m.timeLeft())).as("connection closed at stop").isTrue();
        assertExitedZero(status, m);
    }

    @Test
    @DisplayName("after a stop and a start on the same socket path, the old connection is closed and the same"
            + " vm_id's HELLO and REQUEST are served")
    void restartOnTheSamePath() {
        int vm = m.freshVmId();
        Peer before = m.hello(vm, POOL_A, PRIORITY_MEDIUM);
        before.assertStillServes("the first start");
        m.stop();
        assertThat(before.closedByPeer(m.timeLeft()))
                .as("the old connection after the stop")
                .isTrue();
        m.start();
        Peer after = m.hello(vm, POOL_A, PRIORITY_MEDIUM);
        after.assertStillServes("a restart");
    }

    @Test
    @DisplayName("a mediator started where a crashed (SIGKILLed) one left its socket file serves")
    void startOverAStaleSocket() {
        m.kill();
        if (!Files.exists(m.launch().socket())) { // a crash leaves it; whatever removed it, put one back
            dev.vgpuhil.conformance.StaleSocket.leaveAt(m.launch().socket());
        }
        m.start();
        m.hello(m.freshVmId(), POOL_A, PRIORITY_LOW).assertStillServes("a start over a stale socket file");
    }
}

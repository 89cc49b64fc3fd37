package dev.vgpuhil.conformance.rules;

import static dev.vgpuhil.protocol.VgpuProtocol.*;
import static org.assertj.core.api.Assertions.assertThat;

import dev.vgpuhil.conformance.Codes;
import dev.vgpuhil.conformance.Conformance;
import dev.vgpuhil.conformance.MediatorUnderTest;
import dev.vgpuhil.conformance.Peer;
import dev.vgpuhil.conformance.RuleNotCheckable;
import dev.vgpuhil.protocol.Frame;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

/** The per-VM queue cap, VGPU_MEDIATOR_QUEUE_CAP = {@value #CAP}; the hold keeps the queue full while it is probed. */
@Conformance(queueCap = QueueCapRules.CAP)
@DisplayName("the queue cap")
public class QueueCapRules {
    static final int CAP = 4;

    private final MediatorUnderTest m;

    public QueueCapRules(MediatorUnderTest m) {
        this.m = m;
    }

    @Test
    @DisplayName("with its queue cap reached a VM's next request is answered QUEUE_FULL at once; the queued ones"
            + " still complete")
    void queueFull() {
        m.hold();
        Peer p = m.hello(m.freshVmId(), POOL_A, PRIORITY_LOW);
        for (int id = 1; id <= CAP; id++) {
            p.send(p.requestFrame(id, SchedulingRules.echo(id)));
        }
        m.awaitQueued(CAP, p);
        Frame full = p.exchange(p.requestFrame(CAP + 1, SchedulingRules.echo(CAP + 1)));
        assertThat(full.requestId()).as("the refused request").isEqualTo(CAP + 1);
        assertThat(full.status())
                .as("request " + (CAP + 1) + " beyond the cap of " + CAP)
                .withRepresentation(Codes.STATUS)
                .isEqualTo(ERR_QUEUE_FULL);
        m.release();
        assertThat(SchedulingRules.answered(p, CAP)).containsExactly(1, 2, 3, 4);
        p.assertStillServes("a drained queue");
    }

    @Test
    @DisplayName("the queue cap counts per VM: with one VM's queue full another VM's request is admitted")
    void capIsPerVm() {
        m.hold();
        Peer full = m.hello(m.freshVmId(), POOL_A, PRIORITY_LOW);
        Peer other = m.hello(m.freshVmId(), POOL_A, PRIORITY_LOW);
        for (int id = 1; id <= CAP; id++) {
            full.send(full.requestFrame(id, SchedulingRules.echo(id)));
        }
        m.awaitQueued(CAP, full, other);
        other.send(other.requestFrame(99, SchedulingRules.echo(99)));
        try {
            m.awaitQueued(CAP + 1, other);
        } catch (RuleNotCheckable e) {
            if (other.answered()) {
                Frame r = other.reply();
                throw new AssertionError(
                        "another VM's request must be admitted while one VM's queue is full, got " + r);
            }
            throw e;
        }
        m.release();
        assertThat(SchedulingRules.answered(other, 1)).containsExactly(99);
        SchedulingRules.answered(full, CAP);
    }
}

package dev.vgpuhil.conformance.rules;

import static dev.vgpuhil.protocol.VgpuProtocol.*;
import static org.assertj.core.api.Assertions.assertThat;

import dev.vgpuhil.conformance.Conformance;
import dev.vgpuhil.conformance.MediatorUnderTest;
import dev.vgpuhil.conformance.MediatorUnderTest.Started;
import dev.vgpuhil.conformance.Peer;
import java.time.Duration;
import java.util.Set;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

/**
 * Aging with VGPU_MEDIATOR_AGING_MS = {@value #AGING_MS}: a waiting request moves up one class per interval waited.
 * Only lower bounds on time are used (the old request waits at least so long, never at most), so a slow machine
 * cannot turn a rule red: whatever extra time passes, the older request has waited longer than the newer ones.
 */
@Conformance(perRule = true, agingMs = AgingRules.AGING_MS)
@DisplayName("aging")
public class AgingRules {
    static final long AGING_MS = 400;

    private final MediatorUnderTest m;

    public AgingRules(MediatorUnderTest m) {
        this.m = m;
    }

    private void agedLowOvertakes(int laterPriority, double intervals) {
        int vLow = m.freshVmId();
        int vLater = m.freshVmId();
        m.hold();
        Peer low = m.hello(vLow, POOL_A, PRIORITY_LOW);
        Peer later = m.hello(vLater, POOL_A, laterPriority);
        low.send(low.requestFrame(1, SchedulingRules.echo(1)));
        m.awaitQueued(1, low, later);
        MediatorUnderTest.sleep(Duration.ofMillis((long) (AGING_MS * intervals)));
        for (int i = 0; i < 3; i++) {
            later.send(later.requestFrame(10 + i, SchedulingRules.echo(i)));
        }
        m.awaitQueued(4, low, later);
        m.release();
        SchedulingRules.answered(low, 1);
        SchedulingRules.answered(later, 3);
        assertThat(m.startOrder(Set.of(vLow, vLater), 4))
                .extracting(Started::requestId)
                .as("start order (STATS last)")
                .containsExactly(1, 10, 11, 12);
    }

    @Test
    @DisplayName("a low request that waited two aging intervals starts before high requests that arrived after it")
    void twoIntervalsMakeLowHigh() {
        agedLowOvertakes(PRIORITY_HIGH, 2.5);
    }

    @Test
    @DisplayName("a low request that waited one aging interval starts before medium requests that arrived after it")
    void oneIntervalMakesLowMedium() {
        agedLowOvertakes(PRIORITY_MEDIUM, 1.25);
    }
}

package dev.vgpuhil.conformance.rules;

import static dev.vgpuhil.protocol.VgpuProtocol.*;
import static org.assertj.core.api.Assertions.assertThat;

import dev.vgpuhil.conformance.Codes;
import dev.vgpuhil.conformance.Conformance;
import dev.vgpuhil.conformance.MediatorUnderTest;
import dev.vgpuhil.conformance.MediatorUnderTest.Started;
import dev.vgpuhil.conformance.Peer;
import dev.vgpuhil.protocol.ComputeRequest;
import dev.vgpuhil.protocol.Frame;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

/**
 * Priority order and per-VM fairness, observed without races: the hold file keeps every request queued until all
 * have arrived (STATS' {@code queued} says when), then the start order is read from STATS' {@code last}. A fresh
 * mediator per rule, so its STATS hold only this rule's requests. Aging is off for the order (10 min).
 */
@Conformance(perRule = true)
@DisplayName("priority order and per-VM fairness")
public class SchedulingRules {
    private final MediatorUnderTest m;

    public SchedulingRules(MediatorUnderTest m) {
        this.m = m;
    }

    static ComputeRequest echo(int id) {
        return ComputeRequest.echo(new byte[] {(byte) id, (byte) (id >> 8)});
    }

    /** Reads {@code n} replies on {@code p}: each must be NONE; their request_ids in arrival order. */
    static List<Integer> answered(Peer p, int n) {
        List<Integer> ids = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            Frame r = p.reply();
            assertThat(r.status())
                    .as("reply to request " + r.requestId())
                    .withRepresentation(Codes.STATUS)
                    .isEqualTo(ERR_NONE);
            ids.add(r.requestId());
        }
        return ids;
    }

    @Test
    @DisplayName("queued requests start high before medium before low, whatever their arrival order")
    void highBeforeMediumBeforeLow() {
        int vLow = m.freshVmId();
        int vMed = m.freshVmId();
        int vHigh = m.freshVmId();
        m.hold();
        Peer low = m.hello(vLow, POOL_A, PRIORITY_LOW);
        Peer med = m.hello(vMed, POOL_A, PRIORITY_MEDIUM);
        Peer high = m.hello(vHigh, POOL_A, PRIORITY_HIGH);
        // low first, high last: arrival is the opposite of the order the rule demands
        Peer[] byArrival = {low, med, high};
        for (int k = 0; k < 3; k++) {
            for (int i = 1; i <= 3; i++) {
                byArrival[k].send(byArrival[k].requestFrame(100 * (k + 1) + i, echo(i)));
            }
            m.awaitQueued(3L * (k + 1), low, med, high);
        }
        m.release();
        for (Peer p : byArrival) {
            answered(p, 3);
        }
        assertThat(m.startOrder(Set.of(vLow, vMed, vHigh), 9))
                .extracting(Started::requestId)
                .as("start order (STATS last)")
                .containsExactly(301, 302, 303, 201, 202, 203, 101, 102, 103);
    }

    @Test
    @DisplayName("within one priority class, requests of different VMs start in arrival order")
    void fifoWithinAClass() {
        int[] vms = {m.freshVmId(), m.freshVmId(), m.freshVmId(), m.freshVmId()};
        m.hold();
        List<Peer> peers = new ArrayList<>();
        for (int k = 0; k < vms.length; k++) {
            Peer p = m.hello(vms[k], POOL_A, PRIORITY_MEDIUM);
            peers.add(p);
            p.send(p.requestFrame(k, echo(k)));
            m.awaitQueued(k + 1, peers.toArray(Peer[]::new));
        }
        m.release();
        for (Peer p : peers) {
            answered(p, 1);
        }
        assertThat(m.startOrder(Set.of(vms[0], vms[1], vms[2], vms[3]), 4))
                .extracting(Started::vmId)
                .as("start order of the four VMs (STATS last)")
                .containsExactly(vms[0], vms[1], vms[2], vms[3]);
    }

    @Test
    @DisplayName("a flooding VM does not starve another VM of its class: each backlogged VM gets a turn before any"
            + " gets a second")
    void perVmFairness() {
        int flood = m.freshVmId();
        int quiet = m.freshVmId();
        m.hold();
        Peer f = m.hello(flood, POOL_B, PRIORITY_MEDIUM);
        Peer q = m.hello(quiet, POOL_B, PRIORITY_MEDIUM);
        for (int i = 0; i < 20; i++) {
            f.send(f.requestFrame(i, echo(i)));
        }
        m.awaitQueued(20, f, q);
        q.send(q.requestFrame(1000, echo(1000)));
        q.send(q.requestFrame(1001, echo(1001)));
        m.awaitQueued(22, f, q);
        m.release();
        assertThat(answered(q, 2)).containsExactly(1000, 1001);
        answered(f, 20);
        List<Integer> vms = m.startOrder(Set.of(flood, quiet), 22).stream()
                .map(Started::vmId)
                .toList();
        assertThat(vms.subList(0, 4))
                .as("the first four starts: the flood arrived first with 20, yet the quiet VM has every other turn")
                .containsExactly(flood, quiet, flood, quiet);
        assertThat(vms.subList(4, 22)).containsOnly(flood);
    }
}

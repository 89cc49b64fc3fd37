package dev.vgpuhil.conformance.rules;

import static dev.vgpuhil.protocol.VgpuProtocol.*;
import static org.assertj.core.api.Assertions.assertThat;

import dev.vgpuhil.conformance.Codes;
import dev.vgpuhil.conformance.Conformance;
import dev.vgpuhil.conformance.MediatorUnderTest;
import dev.vgpuhil.conformance.Peer;
import dev.vgpuhil.protocol.Frame;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

/** VGPU_MEDIATOR_MAX_CONNECTIONS = {@value #LIMIT}: beyond it a connection is answered REJECTED and closed. */
@Conformance(perRule = true, maxConnections = ConnectionLimitRules.LIMIT)
@DisplayName("the connection limit")
public class ConnectionLimitRules {
    static final int LIMIT = 3;

    private final MediatorUnderTest m;

    public ConnectionLimitRules(MediatorUnderTest m) {
        this.m = m;
    }

    @Test
    @DisplayName("a connection beyond the limit is answered REJECTED and closed; the others go on")
    void beyondTheLimitIsRejected() {
        List<Peer> accepted = new ArrayList<>();
        int rejected = 0;
        // LIMIT + 1 attempts: the readiness probe's connection may still count for a moment, so the rule asks
        // that some attempt is rejected and that never more than LIMIT are served, not which attempt it is
        for (int k = 0; k <= LIMIT; k++) {
            Peer p = m.connect();
            try {
                p.sendHello(m.freshVmId(), POOL_A, PRIORITY_LOW);
            } catch (AssertionError e) {
                // the mediator may have closed a refused connection before the HELLO went out; its reply counts
            }
            Frame r = p.reply();
            if (r.status() == ERR_REJECTED) {
                rejected++;
                assertThat(p.closedByPeer(m.timeLeft()))
                        .as("a REJECTED connection is closed")
                        .isTrue();
            } else {
                assertThat(r.msgType())
                        .as("an accepted connection's HELLO reply")
                        .isEqualTo(MSG_HELLO_ACK);
                assertThat(r.status()).withRepresentation(Codes.STATUS).isEqualTo(ERR_NONE);
                accepted.add(p);
            }
        }
        assertThat(accepted.size())
                .as("connections served at once with a limit of " + LIMIT)
                .isLessThanOrEqualTo(LIMIT);
        assertThat(rejected)
                .as("connections answered REJECTED of " + (LIMIT + 1))
                .isPositive();
        for (Peer p : accepted) {
            p.assertStillServes("a rejected connection");
        }
    }
}

package dev.vgpuhil.conformance.rules;

import static dev.vgpuhil.protocol.VgpuProtocol.*;
import static org.assertj.core.api.Assertions.assertThat;

import dev.vgpuhil.conformance.Codes;
import dev.vgpuhil.conformance.Conformance;
import dev.vgpuhil.conformance.MediatorUnderTest;
import dev.vgpuhil.conformance.Peer;
import dev.vgpuhil.protocol.ComputeRequest;
import dev.vgpuhil.protocol.Frame;
import java.io.ByteArrayOutputStream;
import java.util.Arrays;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

@Conformance
@DisplayName("framing")
public class FramingRules {
    private final MediatorUnderTest m;

    public FramingRules(MediatorUnderTest m) {
        this.m = m;
    }

    private Peer bound() {
        return m.hello(m.freshVmId(), POOL_A, PRIORITY_LOW);
    }

    private static Frame echo(Peer p, int requestId) {
        return p.requestFrame(requestId, ComputeRequest.echo(new byte[] {(byte) requestId, 2, 3}));
    }

    /** The same frame with header fields replaced (the codec's with-ers cover only some). */
    private static Frame with(Frame f, int msgType, int flags, int poolId, int priority, int reserved) {
        return new Frame(
                f.magic(),
                f.version(),
                msgType,
                flags,
                f.vmId(),
                poolId,
                priority,
                reserved,
                f.requestId(),
                f.payloadLen(),
                f.status(),
                f.payload());
    }

    @Test
    @DisplayName("a frame with a bad magic is answered PROTOCOL, then that connection is closed; others go on")
    void badMagic() {
        Peer good = bound();
        Peer bad = bound();
        Frame r = bad.exchange(echo(bad, 1).withMagic(0x12345678));
        assertThat(r.status())
                .as("reply to a bad magic")
                .withRepresentation(Codes.STATUS)
                .isEqualTo(ERR_PROTOCOL);
        assertThat(bad.closedByPeer(m.timeLeft()))
                .as("connection closed after a bad magic")
                .isTrue();
        good.assertStillServes("another connection's bad magic");
    }

    @Test
    @DisplayName("requests queued before a bad magic are still answered, with their results, before that connection"
            + " is closed")
    void queuedRequestsAreAnsweredBeforeTheCloseAfterABadMagic() {
        m.hold();
        try {
            Peer bad = bound();
            for (int id = 1; id <= 3; id++) {
                bad.send(echo(bad, id));
            }
            m.awaitQueued(3, bad);
            Frame r = bad.exchange(echo(bad, 99).withMagic(0x12345678));
            assertThat(r.status())
                    .as("reply to a bad magic")
                    .withRepresentation(Codes.STATUS)
                    .isEqualTo(ERR_PROTOCOL);
            m.release();
            assertThat(SchedulingRules.answered(bad, 3))
                    .as("the queued requests, answered before the close")
                    .containsExactlyInAnyOrder(1, 2, 3);
            assertThat(bad.closedByPeer(m.timeLeft()))
                    .as("connection closed after its answers")
                    .isTrue();
        } finally {
            m.release();
        }
    }

    @Test
    @DisplayName("a payload_len above 1024 is answered PROTOCOL, then that connection is closed")
    void oversizedPayloadLen() {
        Peer good = bound();
        Peer bad = bound();
        Frame r = bad.exchange(echo(bad, 1).withPayloadLen(MAX_PAYLOAD + 1));
        assertThat(r.status())
                .as("reply to payload_len " + (MAX_PAYLOAD + 1))
                .withRepresentation(Codes.STATUS)
                .isEqualTo(ERR_PROTOCOL);
        assertThat(bad.closedByPeer(m.timeLeft())).as("connection closed").isTrue();
        good.assertStillServes("another connection's oversized frame");
    }

    @Test
    @DisplayName("a REQUEST with another major version is answered VERSION; the connection goes on")
    void requestWithOtherMajor() {
        Peer p = bound();
        Frame r = p.exchange(echo(p, 3).withVersion((PROTOCOL_MAJOR + 6) << 16));
        assertThat(r.status()).withRepresentation(Codes.STATUS).isEqualTo(ERR_VERSION);
        assertThat(r.requestId()).isEqualTo(3);
        p.assertStillServes("a REQUEST of another major");
    }

    @Test
    @DisplayName("non-zero flags in a client frame are answered PROTOCOL; the connection goes on")
    void nonZeroFlags() {
        Peer p = bound();
        Frame f = echo(p, 4);
        assertThat(p.exchange(with(f, MSG_REQUEST, 1, f.poolId(), f.priority(), 0))
                        .status())
                .withRepresentation(Codes.STATUS)
                .isEqualTo(ERR_PROTOCOL);
        p.assertStillServes("non-zero flags");
    }

    @Test
    @DisplayName("a non-zero reserved field is answered PROTOCOL; the connection goes on")
    void nonZeroReserved() {
        Peer p = bound();
        Frame f = echo(p, 5);
        assertThat(p.exchange(with(f, MSG_REQUEST, 0, f.poolId(), f.priority(), 7))
                        .status())
                .withRepresentation(Codes.STATUS)
                .isEqualTo(ERR_PROTOCOL);
        p.assertStillServes("a non-zero reserved field");
    }

    @Test
    @DisplayName("a non-zero status in a client frame is answered PROTOCOL; the connection goes on")
    void nonZeroStatus() {
        Peer p = bound();
        assertThat(p.exchange(echo(p, 6).withStatus(3)).status())
                .withRepresentation(Codes.STATUS)
                .isEqualTo(ERR_PROTOCOL);
        p.assertStillServes("a non-zero status");
    }

    @Test
    @DisplayName("an unknown msg_type is answered PROTOCOL; the connection goes on")
    void unknownMessageType() {
        Peer p = bound();
        Frame f = echo(p, 7);
        assertThat(p.exchange(with(f, MSG_STATS_REPLY + 3, 0, f.poolId(), f.priority(), 0))
                        .status())
                .withRepresentation(Codes.STATUS)
                .isEqualTo(ERR_PROTOCOL);
        p.assertStillServes("an unknown msg_type");
    }

    @Test
    @DisplayName("a mediator's message type (HELLO_ACK, RESPONSE, STATS_REPLY) from a client is answered"
            + " PROTOCOL; the connection goes on")
    void serverMessageTypesFromAClient() {
        Peer p = bound();
        Frame f = echo(p, 8);
        for (int type : new int[] {MSG_HELLO_ACK, MSG_RESPONSE, MSG_STATS_REPLY}) {
            assertThat(p.exchange(with(f, type, 0, f.poolId(), f.priority(), 0)).status())
                    .as(messageTypeName(type) + " from a client")
                    .withRepresentation(Codes.STATUS)
                    .isEqualTo(ERR_PROTOCOL);
        }
        p.assertStillServes("a client sending a mediator's message type");
    }

    @Test
    @DisplayName("a REQUEST with a pool other than A or B, or a priority above HIGH, is answered PROTOCOL")
    void requestWithBadPoolOrPriority() {
        Peer p = bound();
        Frame f = echo(p, 9);
        assertThat(p.exchange(with(f, MSG_REQUEST, 0, 'C', f.priority(), 0)).status())
                .as("pool 'C'")
                .withRepresentation(Codes.STATUS)
                .isEqualTo(ERR_PROTOCOL);
        assertThat(p.exchange(with(f, MSG_REQUEST, 0, f.poolId(), PRIORITY_HIGH + 1, 0))
                        .status())
                .as("priority " + (PRIORITY_HIGH + 1))
                .withRepresentation(Codes.STATUS)
                .isEqualTo(ERR_PROTOCOL);
        p.assertStillServes("a bad pool or priority");
    }

    @Test
    @DisplayName("a frame written one byte at a time is assembled and answered (the socket is a byte stream)")
    void byteByByte() {
        Peer p = bound();
        byte[] whole = echo(p, 10).encode();
        for (byte b : whole) {
            p.sendRaw(new byte[] {b});
        }
        Frame r = p.reply();
        assertThat(r.status()).withRepresentation(Codes.STATUS).isEqualTo(ERR_NONE);
        assertThat(r.requestId()).isEqualTo(10);
    }

    @Test
    @DisplayName("several frames in one write are each answered, in order, on one connection")
    void pipelined() {
        Peer p = bound();
        ByteArrayOutputStream all = new ByteArrayOutputStream();
        for (int id = 1; id <= 8; id++) {
            all.writeBytes(echo(p, id).encode());
        }
        p.sendRaw(all.toByteArray());
        int[] ids = new int[8];
        for (int i = 0; i < 8; i++) {
            Frame r = p.reply();
            assertThat(r.status()).withRepresentation(Codes.STATUS).isEqualTo(ERR_NONE);
            ids[i] = r.requestId();
        }
        assertThat(ids).as("replies of one connection in request order").containsExactly(1, 2, 3, 4, 5, 6, 7, 8);
    }

    @Test
    @DisplayName("a client vanishing mid-frame (half a header, half a payload) hurts no other connection")
    void vanishingMidFrame() {
        Peer good = bound();
        Peer half = m.connect();
        half.sendRaw(Arrays.copyOf(Frame.of(MSG_HELLO, 1, POOL_A, 0, 0, 0, null).encode(), 20));
        half.close();
        Peer cut = bound();
        byte[] whole = cut.requestFrame(1, ComputeRequest.echo(new byte[500])).encode();
        cut.sendRaw(Arrays.copyOf(whole, 100));
        cut.close();
        good.assertStillServes("other clients vanishing mid-frame");
    }

    @Test
    @DisplayName("a RESPONSE echoes the request's request_id, vm_id, pool and priority; every mediator frame has"
            + " the magic, version 1.x, flags and reserved 0")
    void repliesEchoTheHeader() {
        int vm = m.freshVmId();
        Peer p = m.hello(vm, POOL_B, PRIORITY_MEDIUM);
        Frame req = p.requestFrame(0xCAFEF00D, ComputeRequest.echo(new byte[] {1}));
        Frame r = Peer.checkedResponse(req, p.exchange(req));
        assertThat(r.status()).withRepresentation(Codes.STATUS).isEqualTo(ERR_NONE);
        assertThat(r.version() >>> 16).isEqualTo(PROTOCOL_MAJOR);
    }
}

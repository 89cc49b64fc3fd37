package dev.vgpuhil.conformance.rules;

import static dev.vgpuhil.protocol.VgpuProtocol.*;
import static org.assertj.core.api.Assertions.assertThat;

import dev.vgpuhil.conformance.Codes;
import dev.vgpuhil.conformance.Conformance;
import dev.vgpuhil.conformance.MediatorUnderTest;
import dev.vgpuhil.conformance.Peer;
import dev.vgpuhil.protocol.ComputeRequest;
import dev.vgpuhil.protocol.Frame;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

/**
 * The error codes a REQUEST can earn. PROTOCOL and VERSION are in {@link FramingRules} and {@link HelloRules},
 * QUEUE_FULL in {@link QueueCapRules}, REJECTED in {@link ConnectionLimitRules}, SHUTDOWN in {@link
 * LifecycleRules}. BACKEND (the compute backend failed) cannot be provoked over the socket; MEDIATOR_UNAVAILABLE,
 * BUSY and TIMEOUT are the device's own codes, and {@link Peer#reply} fails any mediator frame that carries one.
 */
@Conformance
@DisplayName("error codes")
public class ErrorCodeRules {
    private final MediatorUnderTest m;

    public ErrorCodeRules(MediatorUnderTest m) {
        this.m = m;
    }

    /** A request payload: opcode, count and {@code operandBytes} zero bytes (count and length may disagree). */
    static byte[] raw(int opcode, int count, int operandBytes) {
        return ByteBuffer.allocate(REQUEST_HEADER_SIZE + operandBytes)
                .order(ByteOrder.LITTLE_ENDIAN)
                .putInt(opcode)
                .putInt(count)
                .array();
    }

    private Frame answer(Peer p, int requestId, byte[] payload) {
        Frame req = p.requestFrame(requestId, payload);
        return Peer.checkedResponse(req, p.exchange(req));
    }

    @Test
    @DisplayName("an empty REQUEST payload is answered INVALID_LENGTH; the connection goes on")
    void emptyPayload() {
        Peer p = m.hello(m.freshVmId(), POOL_A, PRIORITY_LOW);
        assertThat(answer(p, 1, new byte[0]).status())
                .withRepresentation(Codes.STATUS)
                .isEqualTo(ERR_INVALID_LENGTH);
        p.assertStillServes("an empty request");
    }

    @Test
    @DisplayName("a payload shorter than the 8-byte request header is answered BAD_PAYLOAD")
    void shortRequestHeader() {
        Peer p = m.hello(m.freshVmId(), POOL_A, PRIORITY_LOW);
        assertThat(answer(p, 2, new byte[] {1, 0, 0, 0}).status())
                .withRepresentation(Codes.STATUS)
                .isEqualTo(ERR_BAD_PAYLOAD);
        p.assertStillServes("a short request header");
    }

    @Test
    @DisplayName("a count that disagrees with the operand bytes is answered BAD_PAYLOAD, for every opcode")
    void countDisagreesWithLength() {
        Peer p = m.hello(m.freshVmId(), POOL_A, PRIORITY_LOW);
        assertThat(answer(p, 3, raw(OP_ECHO, 10, 4)).status())
                .as("ECHO count 10, 4 bytes")
                .withRepresentation(Codes.STATUS)
                .isEqualTo(ERR_BAD_PAYLOAD);
        assertThat(answer(p, 4, raw(OP_VECTOR_ADD, 10, 16)).status())
                .as("VECTOR_ADD count 10, 16 bytes")
                .withRepresentation(Codes.STATUS)
                .isEqualTo(ERR_BAD_PAYLOAD);
        assertThat(answer(p, 5, raw(OP_SCALE, 2, 8)).status())
                .as("SCALE count 2, 8 bytes")
                .withRepresentation(Codes.STATUS)
                .isEqualTo(ERR_BAD_PAYLOAD);
        assertThat(answer(p, 6, raw(OP_SAXPY, 1, 8)).status())
                .as("SAXPY count 1, 8 bytes")
                .withRepresentation(Codes.STATUS)
                .isEqualTo(ERR_BAD_PAYLOAD);
        assertThat(answer(p, 7, raw(OP_CHECKSUM, 3, 5)).status())
                .as("CHECKSUM count 3, 5 bytes")
                .withRepresentation(Codes.STATUS)
                .isEqualTo(ERR_BAD_PAYLOAD);
        p.assertStillServes("inconsistent counts");
    }

    @Test
    @DisplayName("an unknown opcode is answered BAD_OPCODE; the connection goes on")
    void unknownOpcode() {
        Peer p = m.hello(m.freshVmId(), POOL_A, PRIORITY_LOW);
        assertThat(answer(p, 8, raw(99, 4, 4)).status())
                .as("opcode 99")
                .withRepresentation(Codes.STATUS)
                .isEqualTo(ERR_BAD_OPCODE);
        assertThat(answer(p, 9, raw(OP_CHECKSUM + 1, 0, 0)).status())
                .as("opcode " + (OP_CHECKSUM + 1))
                .withRepresentation(Codes.STATUS)
                .isEqualTo(ERR_BAD_OPCODE);
        p.assertStillServes("an unknown opcode");
    }

    @Test
    @DisplayName("a REQUEST whose vm_id is not the one its connection's HELLO bound is answered NOT_PERMITTED")
    void foreignVmId() {
        Peer p = m.hello(m.freshVmId(), POOL_A, PRIORITY_LOW);
        int other = m.freshVmId();
        Frame req = Frame.of(
                MSG_REQUEST,
                other,
                POOL_A,
                PRIORITY_LOW,
                10,
                0,
                ComputeRequest.echo(new byte[] {1}).encode());
        Frame r = p.exchange(req);
        assertThat(r.msgType()).isEqualTo(MSG_RESPONSE);
        assertThat(r.requestId()).isEqualTo(10);
        assertThat(r.status()).withRepresentation(Codes.STATUS).isEqualTo(ERR_NOT_PERMITTED);
        p.assertStillServes("a request for another vm_id");
    }

    @Test
    @DisplayName("an error RESPONSE carries no result: its payload is empty")
    void errorRepliesCarryNoPayload() {
        Peer p = m.hello(m.freshVmId(), POOL_A, PRIORITY_LOW);
        Frame r = answer(p, 11, raw(99, 0, 0));
        assertThat(r.status()).withRepresentation(Codes.STATUS).isNotEqualTo(ERR_NONE);
        assertThat(r.payloadLen()).as("payload_len of an error reply").isZero();
    }
}

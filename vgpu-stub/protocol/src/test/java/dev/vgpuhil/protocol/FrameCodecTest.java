package dev.vgpuhil.protocol;

import static dev.vgpuhil.protocol.VgpuProtocol.*;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import java.io.ByteArrayInputStream;
import java.io.EOFException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.zip.CRC32;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

@DisplayName("Frame and ComputeRequest codecs")
class FrameCodecTest {

    private static Frame sampleRequest() {
        return Frame.of(
                MSG_REQUEST,
                200,
                POOL_B,
                PRIORITY_HIGH,
                0xCAFEF00D,
                0,
                ComputeRequest.vectorAdd(new float[] {1, 2}, new float[] {3, 4}).encode());
    }

    @Test
    @DisplayName("encode writes the documented little-endian header")
    void encodeLayout() {
        byte[] bytes = sampleRequest().encode();
        assertThat(bytes).hasSize(32 + 8 + 16);
        assertThat(Arrays.copyOfRange(bytes, 0, 4)).containsExactly('V', 'G', 'P', 'U');
        ByteBuffer b = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
        assertThat(b.getInt(4)).isEqualTo(PROTOCOL_VERSION);
        assertThat(b.getShort(8)).isEqualTo((short) MSG_REQUEST);
        assertThat(b.getInt(12)).isEqualTo(200);
        assertThat(bytes[16]).isEqualTo((byte) 'B');
        assertThat(bytes[17]).isEqualTo((byte) PRIORITY_HIGH);
        assertThat(b.getInt(20)).isEqualTo(0xCAFEF00D);
        assertThat(b.getInt(24)).isEqualTo(24);
        assertThat(b.getInt(28)).isZero();
    }

    @Test
    @DisplayName("decode(encode(f)) == f, from byte[], ByteBuffer, stream and channel")
    void roundTrip() throws Exception {
        Frame f = sampleRequest();
        assertThat(Frame.decode(f.encode())).isEqualTo(f);
        ByteBuffer two = ByteBuffer.allocate(200);
        f.encodeTo(two);
        Frame reply = f.reply(MSG_RESPONSE, ERR_NONE, new byte[] {9, 8, 7});
        reply.encodeTo(two);
        two.flip();
        assertThat(Frame.decode(two)).isEqualTo(f);
        assertThat(Frame.decode(two)).isEqualTo(reply);
        assertThat(two.hasRemaining()).isFalse();
        assertThat(reply.requestId()).isEqualTo(0xCAFEF00D);
        assertThat(reply.payloadLen()).isEqualTo(3);
        ByteArrayInputStream in = new ByteArrayInputStream(f.encode());
        assertThat(Frame.readFrom(in)).isEqualTo(f);
        assertThatThrownBy(() -> Frame.readFrom(in)).isInstanceOf(EOFException.class);
        assertThat(Frame.readFrom(java.nio.channels.Channels.newChannel(new ByteArrayInputStream(reply.encode()))))
                .isEqualTo(reply);
    }

    @Test
    @DisplayName("unsigned fields survive: vm_id 0xFFFFFFFF, pool 0xFF, flags 0xFFFF")
    void unsignedFields() throws Exception {
        Frame f = new Frame(
                SOCKET_MAGIC, PROTOCOL_VERSION | 0xFFFF, MSG_HELLO, 0xFFFF, -1, 0xFF, 0xFF, 0xFFFF, -1, 0, -1, null);
        Frame back = Frame.decode(f.encode());
        assertThat(back).isEqualTo(f);
        assertThat(back.flags()).isEqualTo(0xFFFF);
        assertThat(back.poolId()).isEqualTo(0xFF);
    }

    @Test
    @DisplayName("bad magic is rejected with PROTOCOL and the magic in the message")
    void badMagic() {
        FrameException e = catchThrowableOfType(
                FrameException.class,
                () -> Frame.decode(sampleRequest().withMagic(0x12345678).encode()));
        assertThat(e.errorCode()).isEqualTo(ERR_PROTOCOL);
        assertThat(e).hasMessageContaining("0x12345678");
    }

    @Test
    @DisplayName("another major version is rejected with VERSION; another minor is accepted")
    void versionCheck() throws Exception {
        FrameException e = catchThrowableOfType(
                FrameException.class,
                () -> Frame.decode(sampleRequest().withVersion(0x00020000).encode()));
        assertThat(e.errorCode()).isEqualTo(ERR_VERSION);
        assertThat(e).hasMessageContaining("major version 2");
        assertThat(Frame.decode(sampleRequest().withVersion(0x00010007).encode())
                        .version())
                .isEqualTo(0x00010007);
    }

    @Test
    @DisplayName("payload_len 1025 is rejected before any payload is read")
    void oversizedPayloadLen() {
        byte[] header = Arrays.copyOf(sampleRequest().withPayloadLen(1025).encode(), 32);
        FrameException e = catchThrowableOfType(FrameException.class, () -> Frame.decodeHeader(header));
        assertThat(e.errorCode()).isEqualTo(ERR_PROTOCOL);
        assertThat(e).hasMessageContaining("1025");
        FrameException huge = catchThrowableOfType(
                FrameException.class,
                () -> Frame.decodeHeader(
                        Arrays.copyOf(sampleRequest().withPayloadLen(-1).encode(), 32)));
        assertThat(huge).hasMessageContaining("4294967295");
    }

    @Test
    @DisplayName("payload of exactly 1024 bytes is accepted")
    void maxPayload() throws Exception {
        Frame f = Frame.of(MSG_RESPONSE, 1, POOL_A, 0, 1, 0, new byte[MAX_PAYLOAD]);
        assertThat(Frame.decode(f.encode()).payloadLen()).isEqualTo(MAX_PAYLOAD);
    }

    @Test
    @DisplayName("unknown msg_type, truncated and over-long inputs are rejected with PROTOCOL")
    void malformed() {
        Frame bad = new Frame(SOCKET_MAGIC, PROTOCOL_VERSION, 99, 0, 0, 0, 0, 0, 0, 0, 0, null);
        assertThat(catchThrowableOfType(FrameException.class, () -> Frame.decode(bad.encode())))
                .hasMessageContaining("msg_type 99");
        byte[] whole = sampleRequest().encode();
        assertThat(catchThrowableOfType(FrameException.class, () -> Frame.decode(Arrays.copyOf(whole, 20))))
                .hasMessageContaining("truncated header");
        assertThat(catchThrowableOfType(FrameException.class, () -> Frame.decode(Arrays.copyOf(whole, 40))))
                .hasMessageContaining("truncated frame");
        assertThat(catchThrowableOfType(FrameException.class, () -> Frame.decode(Arrays.copyOf(whole, 60))))
                .hasMessageContaining("trailing bytes");
        ByteBuffer partial = ByteBuffer.wrap(Arrays.copyOf(whole, 40));
        assertThat(catchThrowableOfType(FrameException.class, () -> Frame.decode(partial))
                        .errorCode())
                .isEqualTo(ERR_PROTOCOL);
        assertThat(partial.position()).as("a partial frame is not consumed").isZero();
        assertThatThrownBy(() -> Frame.readFrom(new ByteArrayInputStream(Arrays.copyOf(whole, 40))))
                .isInstanceOf(EOFException.class)
                .hasMessageContaining("8 of 24 payload bytes");
    }

    @Test
    @DisplayName("ErrorCode maps codes to names, unknown codes are handled")
    void errorCodes() {
        assertThat(ErrorCode.fromCode(4)).contains(ErrorCode.TIMEOUT);
        assertThat(ErrorCode.fromCode(0x42)).isEmpty();
        assertThat(ErrorCode.nameOf(0x0D)).isEqualTo("SHUTDOWN");
        assertThat(ErrorCode.nameOf(0x42)).isEqualTo("UNKNOWN(0x42)");
    }

    @Test
    @DisplayName("ComputeRequest builders lay out operands as the header comments say")
    void computeRequests() throws Exception {
        ComputeRequest add = ComputeRequest.vectorAdd(new float[] {1f, 2f}, new float[] {10f, 20f});
        assertThat(add.opcode()).isEqualTo(OP_VECTOR_ADD);
        assertThat(add.count()).isEqualTo(2);
        assertThat(ComputeRequest.toFloats(add.operands())).containsExactly(1f, 2f, 10f, 20f);
        add.checkConsistent();
        ComputeRequest saxpy = ComputeRequest.saxpy(2f, new float[] {1f}, new float[] {5f});
        assertThat(ComputeRequest.toFloats(saxpy.operands())).containsExactly(2f, 1f, 5f);
        ComputeRequest scale = ComputeRequest.scale(3f, new float[] {1f, 2f, 3f});
        assertThat(scale.encode()).hasSize(8 + 16);
        ComputeRequest crc = ComputeRequest.checksum("hello".getBytes());
        assertThat(crc.count()).isEqualTo(5);
        assertThat(ComputeRequest.echo(new byte[] {1, 2, 3}).opcode()).isEqualTo(OP_ECHO);
        for (ComputeRequest r : new ComputeRequest[] {add, saxpy, scale, crc}) {
            assertThat(ComputeRequest.decode(r.encode())).isEqualTo(r);
            r.checkConsistent();
        }
        CRC32 c = new CRC32();
        c.update("hello".getBytes());
        assertThat(c.getValue()).isEqualTo(0x3610a686L); // the IEEE CRC-32 the mediator must produce
    }

    @Test
    @DisplayName("ComputeRequest rejects oversize, mismatched and inconsistent requests")
    void computeRequestRejections() throws Exception {
        float[] max = new float[VECTOR_ADD_MAX_ELEMENTS];
        assertThat(ComputeRequest.vectorAdd(max, max).encodedLength()).isLessThanOrEqualTo(REQ_BUFFER_SIZE);
        float[] tooMany = new float[VECTOR_ADD_MAX_ELEMENTS + 1];
        assertThatThrownBy(() -> ComputeRequest.vectorAdd(tooMany, tooMany))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("1032");
        assertThatThrownBy(() -> ComputeRequest.vectorAdd(new float[1], new float[2]))
                .hasMessageContaining("differ in length");
        assertThat(catchThrowableOfType(
                                FrameException.class,
                                () -> new ComputeRequest(OP_VECTOR_ADD, 3, new byte[16]).checkConsistent())
                        .errorCode())
                .isEqualTo(ERR_BAD_PAYLOAD);
        assertThat(catchThrowableOfType(
                                FrameException.class, () -> new ComputeRequest(77, 0, new byte[0]).checkConsistent())
                        .errorCode())
                .isEqualTo(ERR_BAD_OPCODE);
        assertThat(catchThrowableOfType(FrameException.class, () -> ComputeRequest.decode(new byte[7]))
                        .errorCode())
                .isEqualTo(ERR_BAD_PAYLOAD);
    }
}

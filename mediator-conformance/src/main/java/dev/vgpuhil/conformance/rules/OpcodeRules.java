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
import java.nio.charset.StandardCharsets;
import java.util.Random;
import java.util.zip.CRC32;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

/**
 * Every opcode against a reference computed here: f32 arithmetic as Java does it (IEEE 754 binary32, round to
 * nearest even, every operation rounded on its own: no fused multiply-add), CRC-32 as java.util.zip does it.
 */
@Conformance
@DisplayName("opcodes against a reference result")
public class OpcodeRules {
    /** The most operand bytes one request carries. */
    static final int MAX_OPERANDS = REQ_BUFFER_SIZE - REQUEST_HEADER_SIZE;

    private final MediatorUnderTest m;
    private final Random random = new Random(0x5EED);

    public OpcodeRules(MediatorUnderTest m) {
        this.m = m;
    }

    private Frame ok(ComputeRequest request) {
        Peer p = m.hello(m.freshVmId(), POOL_B, PRIORITY_HIGH);
        Frame r = p.request(77, request);
        assertThat(r.status())
                .as(request + " status")
                .withRepresentation(Codes.STATUS)
                .isEqualTo(ERR_NONE);
        return r;
    }

    private float[] floats(int n) {
        float[] f = new float[n];
        for (int i = 0; i < n; i++) {
            f[i] = (random.nextFloat() - 0.5f) * 1000f;
        }
        return f;
    }

    @Test
    @DisplayName("ECHO returns its operand bytes unchanged, up to the 1016 that fit one request")
    void echo() {
        for (int n : new int[] {1, 17, MAX_OPERANDS}) {
            byte[] data = new byte[n];
            random.nextBytes(data);
            assertThat(ok(ComputeRequest.echo(data)).payload())
                    .as("ECHO of " + n + " bytes")
                    .isEqualTo(data);
        }
    }

    @Test
    @DisplayName("VECTOR_ADD returns a[i] + b[i] as f32, for 1 to 127 elements")
    void vectorAdd() {
        for (int n : new int[] {1, 5, VECTOR_ADD_MAX_ELEMENTS}) {
            float[] a = floats(n);
            float[] b = floats(n);
            float[] expected = new float[n];
            for (int i = 0; i < n; i++) {
                expected[i] = a[i] + b[i];
            }
            assertThat(ComputeRequest.toFloats(
                            ok(ComputeRequest.vectorAdd(a, b)).payload()))
                    .as("VECTOR_ADD of " + n)
                    .containsExactly(expected);
        }
    }

    @Test
    @DisplayName("SCALE returns alpha * x[i] as f32")
    void scale() {
        float alpha = -2.75f;
        float[] x = floats(200);
        float[] expected = new float[x.length];
        for (int i = 0; i < x.length; i++) {
            expected[i] = alpha * x[i];
        }
        assertThat(ComputeRequest.toFloats(ok(ComputeRequest.scale(alpha, x)).payload()))
                .containsExactly(expected);
    }

    @Test
    @DisplayName("SAXPY returns alpha * x[i] + y[i] as f32, multiply and add each rounded (no fused multiply-add)")
    void saxpy() {
        float alpha = 3.1f;
        float[] x = floats(100);
        float[] y = floats(100);
        float[] expected = new float[x.length];
        for (int i = 0; i < x.length; i++) {
            float product = alpha * x[i];
            expected[i] = product + y[i];
        }
        assertThat(ComputeRequest.toFloats(ok(ComputeRequest.saxpy(alpha, x, y)).payload()))
                .containsExactly(expected);
    }

    @Test
    @DisplayName("CHECKSUM returns the CRC-32 (IEEE) of its bytes as a little-endian u32")
    void checksum() {
        byte[] check = "123456789".getBytes(StandardCharsets.US_ASCII);
        assertThat(u32(ok(ComputeRequest.checksum(check)).payload()))
                .as("CRC-32 of \"123456789\" (the standard check value)")
                .withRepresentation(HEX)
                .isEqualTo(0xCBF43926);
        byte[] data = new byte[MAX_OPERANDS];
        random.nextBytes(data);
        CRC32 crc = new CRC32();
        crc.update(data);
        assertThat(u32(ok(ComputeRequest.checksum(data)).payload()))
                .as("CRC-32 of 1016 random bytes")
                .withRepresentation(HEX)
                .isEqualTo((int) crc.getValue());
    }

    @Test
    @DisplayName("a result's RESPONSE payload_len is the result's size: count bytes for ECHO, 4 per element for"
            + " the vector opcodes, 4 for CHECKSUM")
    void resultSizes() {
        assertThat(ok(ComputeRequest.echo(new byte[9])).payloadLen())
                .as("ECHO 9")
                .isEqualTo(9);
        assertThat(ok(ComputeRequest.vectorAdd(floats(6), floats(6))).payloadLen())
                .as("VECTOR_ADD 6")
                .isEqualTo(24);
        assertThat(ok(ComputeRequest.scale(2f, floats(7))).payloadLen())
                .as("SCALE 7")
                .isEqualTo(28);
        assertThat(ok(ComputeRequest.saxpy(2f, floats(3), floats(3))).payloadLen())
                .as("SAXPY 3")
                .isEqualTo(12);
        assertThat(ok(ComputeRequest.checksum(new byte[100])).payloadLen())
                .as("CHECKSUM")
                .isEqualTo(4);
    }

    static final org.assertj.core.presentation.Representation HEX =
            new org.assertj.core.presentation.HexadecimalRepresentation();

    private static int u32(byte[] payload) {
        assertThat(payload).as("a CHECKSUM result").hasSize(4);
        return ByteBuffer.wrap(payload).order(ByteOrder.LITTLE_ENDIAN).getInt();
    }
}

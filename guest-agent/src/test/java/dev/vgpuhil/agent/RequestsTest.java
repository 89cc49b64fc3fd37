package dev.vgpuhil.agent;

import static dev.vgpuhil.protocol.VgpuProtocol.*;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.vgpuhil.protocol.ComputeRequest;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

@DisplayName("request encoding (byte for byte vs vgpu-protocol's ComputeRequest) and result verification")
class RequestsTest {
    @TempDir
    Path tmp;

    private static float[] randomFloats(Random r, int n) {
        float[] f = new float[n];
        for (int i = 0; i < n; i++) {
            f[i] = r.nextFloat() * 2000f - 1000f;
        }
        return f;
    }

    @ParameterizedTest(name = "{0} elements")
    @ValueSource(ints = {1, 2, 3, 16, 100, 126, VECTOR_ADD_MAX_ELEMENTS})
    @DisplayName("vector add words, as little-endian bytes, equal ComputeRequest.vectorAdd(a, b).encode()")
    void vectorAddMatchesCodec(int n) {
        Random r = new Random(n);
        float[] a = randomFloats(r, n);
        float[] b = randomFloats(r, n);
        int[] words = Requests.vectorAdd(a, b);
        byte[] expected = ComputeRequest.vectorAdd(a, b).encode();
        assertThat(Requests.vectorAddLength(n)).isEqualTo(expected.length);
        assertThat(Requests.toBytes(words, words.length * 4)).isEqualTo(expected);
    }

    @Test
    @DisplayName("the largest vector add is exactly the 1 KiB request buffer; one more does not fit")
    void maxVectorAdd() {
        assertThat(Requests.vectorAddLength(VECTOR_ADD_MAX_ELEMENTS)).isLessThanOrEqualTo(REQ_BUFFER_SIZE);
        assertThat(Requests.vectorAddLength(VECTOR_ADD_MAX_ELEMENTS + 1)).isGreaterThan(REQ_BUFFER_SIZE);
        float[] big = new float[VECTOR_ADD_MAX_ELEMENTS + 1];
        assertThatThrownBy(() -> Requests.vectorAdd(big, big))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("VGPU_VECTOR_ADD_MAX_ELEMENTS");
    }

    @ParameterizedTest(name = "{0} bytes")
    @ValueSource(ints = {0, 1, 2, 3, 4, 5, 63, 64, 1015, REQ_BUFFER_SIZE - REQUEST_HEADER_SIZE})
    @DisplayName("echo words (last word zero-padded) equal ComputeRequest.echo(data).encode()")
    void echoMatchesCodec(int len) {
        byte[] data = new byte[len];
        new Random(len).nextBytes(data);
        int[] words = Requests.echo(data);
        byte[] expected = ComputeRequest.echo(data).encode();
        byte[] all = Requests.toBytes(words, words.length * 4);
        assertThat(Arrays.copyOf(all, expected.length)).isEqualTo(expected);
        for (int i = expected.length; i < all.length; i++) {
            assertThat(all[i]).as("padding byte %d", i).isZero();
        }
    }

    @Test
    @DisplayName("in the BAR: the request buffer of an mmap'ed file holds exactly the codec's bytes at 0x040")
    void requestLandsInBar() throws Exception {
        Path f = tmp.resolve("resource0");
        Files.write(f, new byte[BAR0_SIZE]);
        float[] a = {1.5f, -0.0f, Float.MIN_VALUE, 3.4e38f, 1e-3f};
        float[] b = {2.25f, 0.0f, Float.MIN_VALUE, 3.4e38f, -1e-3f};
        byte[] expected = ComputeRequest.vectorAdd(a, b).encode();
        try (MappedBar0 bar = MappedBar0.open(f, BAR0_SIZE)) {
            Vgpu v = new Vgpu(bar);
            v.writeRequest(Requests.vectorAdd(a, b));
            v.submit(expected.length, 0xCAFEF00D);
        }
        byte[] file = Files.readAllBytes(f);
        assertThat(Arrays.copyOfRange(file, REQ_BUFFER_OFFSET, REQ_BUFFER_OFFSET + expected.length))
                .isEqualTo(expected);
        assertThat(Arrays.copyOfRange(file, REQ_BUFFER_OFFSET + expected.length, RESP_BUFFER_OFFSET))
                .containsOnly((byte) 0);
        // REQUEST_LEN, REQUEST_ID, DOORBELL as LE words
        assertThat(Arrays.copyOfRange(file, REG_REQUEST_LEN, REG_REQUEST_LEN + 4))
                .containsExactly(expected.length, 0, 0, 0);
        assertThat(Arrays.copyOfRange(file, REG_REQUEST_ID, REG_REQUEST_ID + 4))
                .containsExactly(0x0D, 0xF0, 0xFE, 0xCA);
        assertThat(Arrays.copyOfRange(file, REG_DOORBELL, REG_DOORBELL + 4)).containsExactly(1, 0, 0, 0);
    }

    @Test
    @DisplayName("verification is bit-exact against the host's float add")
    void verification() {
        Random r = new Random(7);
        float[] a = randomFloats(r, 64);
        float[] b = randomFloats(r, 64);
        int[] result = new int[64];
        for (int i = 0; i < 64; i++) {
            result[i] = Float.floatToRawIntBits(a[i] + b[i]);
        }
        assertThat(Requests.firstVectorAddMismatch(a, b, result)).isEqualTo(-1);
        result[17] ^= 1; // one ulp off
        assertThat(Requests.firstVectorAddMismatch(a, b, result)).isEqualTo(17);
        // a short response: the first missing element is the mismatch
        assertThat(Requests.firstVectorAddMismatch(a, b, Arrays.copyOf(result, 10)))
                .isEqualTo(10);
    }

    @Test
    @DisplayName("signed zeros are told apart: 1 + -1 is +0.0, and -0.0 would be wrong")
    void signedZero() {
        float[] a = {1f};
        float[] b = {-1f};
        assertThat(Requests.firstVectorAddMismatch(a, b, new int[] {Float.floatToRawIntBits(0.0f)}))
                .isEqualTo(-1);
        assertThat(Requests.firstVectorAddMismatch(a, b, new int[] {Float.floatToRawIntBits(-0.0f)}))
                .isZero();
    }

    @Test
    @DisplayName("the self-test's buffer pattern is byte i = i ^ 0x5a, little-endian in words")
    void pattern() {
        byte[] b = Requests.toBytes(
                new int[] {SelfTest.patternWord(0), SelfTest.patternWord(1), SelfTest.patternWord(255)}, 12);
        assertThat(b)
                .containsExactly(
                        0x5A,
                        0x5B,
                        0x58,
                        0x59,
                        0x5E,
                        0x5F,
                        0x5C,
                        0x5D,
                        (1020 ^ 0x5A) & 0xFF,
                        (1021 ^ 0x5A) & 0xFF,
                        (1022 ^ 0x5A) & 0xFF,
                        (1023 ^ 0x5A) & 0xFF);
    }
}

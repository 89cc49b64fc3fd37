package dev.vgpuhil.agent;

import static dev.vgpuhil.protocol.VgpuProtocol.OP_ECHO;
import static dev.vgpuhil.protocol.VgpuProtocol.OP_VECTOR_ADD;
import static dev.vgpuhil.protocol.VgpuProtocol.REQUEST_HEADER_SIZE;
import static dev.vgpuhil.protocol.VgpuProtocol.REQ_BUFFER_SIZE;
import static dev.vgpuhil.protocol.VgpuProtocol.VECTOR_ADD_MAX_ELEMENTS;

/**
 * Request payloads ({@code VGPURequest}: opcode, count, operands) built directly as the little-endian 32-bit words
 * that are stored into the request buffer. Byte for byte the same as vgpu-protocol's {@code ComputeRequest.encode()}
 * (tested); built here as words because the agent only ever stores words and runs interpreted.
 */
public final class Requests {
    private Requests() {}

    /** Byte length of a vector add of n elements: 8 + 8n. */
    public static int vectorAddLength(int n) {
        return REQUEST_HEADER_SIZE + 8 * n;
    }

    /** {opcode VECTOR_ADD, n, a[0..n), b[0..n)} as f32 bit patterns. */
    public static int[] vectorAdd(float[] a, float[] b) {
        int n = a.length;
        if (b.length != n) {
            throw new IllegalArgumentException("a has " + n + " elements, b " + b.length);
        }
        if (n > VECTOR_ADD_MAX_ELEMENTS) {
            throw new IllegalArgumentException(
                    n + " elements exceed VGPU_VECTOR_ADD_MAX_ELEMENTS (" + VECTOR_ADD_MAX_ELEMENTS + ")");
        }
        int[] w = new int[2 + 2 * n];
        w[0] = OP_VECTOR_ADD;
        w[1] = n;
        for (int i = 0; i < n; i++) {
            w[2 + i] = Float.floatToRawIntBits(a[i]);
            w[2 + n + i] = Float.floatToRawIntBits(b[i]);
        }
        return w;
    }

    /** {opcode ECHO, data.length, data} with the bytes packed little-endian, the last word zero-padded. */
    public static int[] echo(byte[] data) {
        if (REQUEST_HEADER_SIZE + data.length > REQ_BUFFER_SIZE) {
            throw new IllegalArgumentException(
                    "echo of " + data.length + " bytes does not fit the " + REQ_BUFFER_SIZE + "-byte request buffer");
        }
        int[] w = new int[2 + (data.length + 3) / 4];
        w[0] = OP_ECHO;
        w[1] = data.length;
        packLe(data, w, 2);
        return w;
    }

    /** Packs bytes little-endian into words starting at w[from]; a partial last word is zero-padded. */
    static void packLe(byte[] data, int[] w, int from) {
        for (int i = 0; i < data.length; i++) {
            w[from + (i >> 2)] |= (data[i] & 0xFF) << (8 * (i & 3));
        }
    }

    /** The first len bytes of little-endian words (the inverse of packLe). */
    public static byte[] toBytes(int[] words, int len) {
        byte[] b = new byte[len];
        for (int i = 0; i < len; i++) {
            b[i] = (byte) (words[i >> 2] >>> (8 * (i & 3)));
        }
        return b;
    }

    /**
     * Bit-exact check of a vector-add result: index of the first element whose f32 bits differ from the host's
     * {@code a[i] + b[i]} (IEEE-754 binary32, round to nearest), or -1 when all match.
     */
    public static int firstVectorAddMismatch(float[] a, float[] b, int[] resultBits) {
        if (resultBits.length < a.length) {
            return resultBits.length;
        }
        for (int i = 0; i < a.length; i++) {
            if (Float.floatToRawIntBits(a[i] + b[i]) != resultBits[i]) {
                return i;
            }
        }
        return -1;
    }
}

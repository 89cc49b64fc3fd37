package dev.vgpuhil.protocol;

import static dev.vgpuhil.protocol.VgpuProtocol.*;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;

/**
 * A request payload ({@code VGPURequest}): opcode, element count, operand bytes; little-endian.
 * The builders check sizes so a built request always fits the 1 KiB request buffer.
 */
public record ComputeRequest(int opcode, int count, byte[] operands) {

    public ComputeRequest {
        operands = operands == null ? new byte[0] : operands.clone();
    }

    @Override
    public byte[] operands() {
        return operands.clone();
    }

    public static ComputeRequest echo(byte[] data) {
        return new ComputeRequest(OP_ECHO, data.length, checkedSize(data));
    }

    public static ComputeRequest checksum(byte[] data) {
        return new ComputeRequest(OP_CHECKSUM, data.length, checkedSize(data));
    }

    /** a[i] + b[i]; a and b must have the same length (at most VECTOR_ADD_MAX_ELEMENTS). */
    public static ComputeRequest vectorAdd(float[] a, float[] b) {
        requireSameLength(a, b);
        return new ComputeRequest(OP_VECTOR_ADD, a.length, checkedSize(floatBytes(null, a, b)));
    }

    /** alpha * x[i]. */
    public static ComputeRequest scale(float alpha, float[] x) {
        return new ComputeRequest(OP_SCALE, x.length, checkedSize(floatBytes(alpha, x)));
    }

    /** alpha * x[i] + y[i]. */
    public static ComputeRequest saxpy(float alpha, float[] x, float[] y) {
        requireSameLength(x, y);
        return new ComputeRequest(OP_SAXPY, x.length, checkedSize(floatBytes(alpha, x, y)));
    }

    /** Operand bytes the opcode needs for {@code count}, or -1 for an unknown opcode. */
    public static long expectedOperandBytes(int opcode, int count) {
        long n = Integer.toUnsignedLong(count);
        return switch (opcode) {
            case OP_ECHO, OP_CHECKSUM -> n;
            case OP_VECTOR_ADD -> 8 * n;
            case OP_SCALE -> 4 + 4 * n;
            case OP_SAXPY -> 4 + 8 * n;
            default -> -1;
        };
    }

    /** Throws BAD_OPCODE for an unknown opcode, BAD_PAYLOAD if count disagrees with the operand length. */
    public void checkConsistent() throws FrameException {
        long expected = expectedOperandBytes(opcode, count);
        if (expected < 0) {
            throw new FrameException(ERR_BAD_OPCODE, "unknown opcode " + Integer.toUnsignedString(opcode));
        }
        if (expected != operands.length) {
            throw new FrameException(
                    ERR_BAD_PAYLOAD,
                    opcodeName(opcode) + " with count "
                            + Integer.toUnsignedString(count) + " needs " + expected + " operand bytes, got "
                            + operands.length);
        }
    }

    /** Total encoded size: 8-byte header + operands. */
    public int encodedLength() {
        return REQUEST_HEADER_SIZE + operands.length;
    }

    public byte[] encode() {
        return ByteBuffer.allocate(encodedLength())
                .order(ByteOrder.LITTLE_ENDIAN)
                .putInt(opcode)
                .putInt(count)
                .put(operands)
                .array();
    }

    /** Splits a payload into header and operands; only a payload shorter than 8 bytes is rejected here. */
    public static ComputeRequest decode(byte[] payload) throws FrameException {
        if (payload.length < REQUEST_HEADER_SIZE) {
            throw new FrameException(
                    ERR_BAD_PAYLOAD,
                    "request payload of " + payload.length + " bytes is shorter than the " + REQUEST_HEADER_SIZE
                            + "-byte request header");
        }
        if (payload.length > REQ_BUFFER_SIZE) {
            throw new FrameException(
                    ERR_BAD_PAYLOAD,
                    "request payload of " + payload.length + " bytes exceeds the " + REQ_BUFFER_SIZE
                            + "-byte request buffer");
        }
        ByteBuffer b = ByteBuffer.wrap(payload).order(ByteOrder.LITTLE_ENDIAN);
        return new ComputeRequest(
                b.getInt(), b.getInt(), Arrays.copyOfRange(payload, REQUEST_HEADER_SIZE, payload.length));
    }

    /** Little-endian f32 array to bytes. */
    public static byte[] toBytes(float[] values) {
        ByteBuffer b = ByteBuffer.allocate(values.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        for (float v : values) {
            b.putFloat(v);
        }
        return b.array();
    }

    /** Bytes (length a multiple of 4) to a little-endian f32 array. */
    public static float[] toFloats(byte[] bytes) {
        if (bytes.length % 4 != 0) {
            throw new IllegalArgumentException(bytes.length + " bytes is not a whole number of f32 values");
        }
        ByteBuffer b = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
        float[] out = new float[bytes.length / 4];
        for (int i = 0; i < out.length; i++) {
            out[i] = b.getFloat();
        }
        return out;
    }

    private static byte[] floatBytes(Float alpha, float[]... arrays) {
        int n = alpha == null ? 0 : 1;
        for (float[] a : arrays) {
            n += a.length;
        }
        ByteBuffer b = ByteBuffer.allocate(n * 4).order(ByteOrder.LITTLE_ENDIAN);
        if (alpha != null) {
            b.putFloat(alpha);
        }
        for (float[] a : arrays) {
            for (float v : a) {
                b.putFloat(v);
            }
        }
        return b.array();
    }

    private static void requireSameLength(float[] a, float[] b) {
        if (a.length != b.length) {
            throw new IllegalArgumentException("operand arrays differ in length: " + a.length + " vs " + b.length);
        }
    }

    private static byte[] checkedSize(byte[] operands) {
        if (REQUEST_HEADER_SIZE + operands.length > REQ_BUFFER_SIZE) {
            throw new IllegalArgumentException("request of " + (REQUEST_HEADER_SIZE + operands.length)
                    + " bytes does not fit the " + REQ_BUFFER_SIZE + "-byte request buffer");
        }
        return operands;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof ComputeRequest r
                && opcode == r.opcode
                && count == r.count
                && Arrays.equals(operands, r.operands);
    }

    @Override
    public int hashCode() {
        return 31 * (31 * opcode + count) + Arrays.hashCode(operands);
    }

    @Override
    public String toString() {
        return "ComputeRequest[" + opcodeName(opcode) + " count=" + Integer.toUnsignedString(count) + " operands="
                + operands.length + " bytes]";
    }
}

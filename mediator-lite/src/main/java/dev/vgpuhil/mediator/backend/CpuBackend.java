package dev.vgpuhil.mediator.backend;

import static dev.vgpuhil.protocol.VgpuProtocol.*;

import dev.vgpuhil.protocol.ComputeRequest;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.zip.CRC32;

/** Computes every opcode on the CPU; float results use plain IEEE single precision (no fused multiply-add). */
public final class CpuBackend implements Backend {

    @Override
    public String name() {
        return "cpu";
    }

    /** Sub-microsecond kernels on at most 1 KiB: safe to run on a connection's thread. */
    @Override
    public boolean quick() {
        return true;
    }

    @Override
    public byte[] execute(ComputeRequest request) throws BackendException {
        byte[] ops = request.operands();
        int n = request.count();
        ByteBuffer in = ByteBuffer.wrap(ops).order(ByteOrder.LITTLE_ENDIAN);
        switch (request.opcode()) {
            case OP_ECHO:
                return ops;
            case OP_CHECKSUM: {
                CRC32 crc = new CRC32();
                crc.update(ops);
                return ByteBuffer.allocate(4)
                        .order(ByteOrder.LITTLE_ENDIAN)
                        .putInt((int) crc.getValue())
                        .array();
            }
            case OP_VECTOR_ADD: {
                ByteBuffer out = floats(n);
                for (int i = 0; i < n; i++) {
                    out.putFloat(in.getFloat(4 * i) + in.getFloat(4 * (n + i)));
                }
                return out.array();
            }
            case OP_SCALE: {
                float alpha = in.getFloat(0);
                ByteBuffer out = floats(n);
                for (int i = 0; i < n; i++) {
                    out.putFloat(alpha * in.getFloat(4 + 4 * i));
                }
                return out.array();
            }
            case OP_SAXPY: {
                float alpha = in.getFloat(0);
                ByteBuffer out = floats(n);
                for (int i = 0; i < n; i++) {
                    float ax = alpha * in.getFloat(4 + 4 * i);
                    out.putFloat(ax + in.getFloat(4 + 4 * (n + i)));
                }
                return out.array();
            }
            default:
                throw new BackendException("cpu backend has no kernel for " + opcodeName(request.opcode()));
        }
    }

    private static ByteBuffer floats(int n) {
        return ByteBuffer.allocate(4 * n).order(ByteOrder.LITTLE_ENDIAN);
    }

    @Override
    public void close() {
        // nothing held
    }
}

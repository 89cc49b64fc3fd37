package dev.vgpuhil.mediator;

import static dev.vgpuhil.protocol.VgpuProtocol.*;

import dev.vgpuhil.protocol.ComputeRequest;
import dev.vgpuhil.protocol.Frame;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.time.Duration;

/** Helpers shared by the socket tests. */
final class Wire {
    static final Duration T = Duration.ofSeconds(10);

    private Wire() {}

    static Frame request(int vm, int pool, int prio, int requestId, byte[] payload) {
        return Frame.of(MSG_REQUEST, vm, pool, prio, requestId, 0, payload);
    }

    static Frame request(int vm, int pool, int prio, int requestId, ComputeRequest r) {
        return request(vm, pool, prio, requestId, r.encode());
    }

    static byte[] rawPayload(int opcode, int count, int operandBytes) {
        return ByteBuffer.allocate(8 + operandBytes)
                .order(ByteOrder.LITTLE_ENDIAN)
                .putInt(opcode)
                .putInt(count)
                .array();
    }

    static ComputeRequest echo(int requestId) {
        return ComputeRequest.echo(new byte[] {(byte) requestId, (byte) (requestId >> 8), 1, 2});
    }

    static float[] floats(int n, float base) {
        float[] f = new float[n];
        for (int i = 0; i < n; i++) {
            f[i] = base + i * 0.5f;
        }
        return f;
    }
}

package dev.vgpuhil.protocol;

import java.util.Optional;

/** A GPU pool: {@code pool_id} on the wire and in BAR0 (VGPU_POOL_* of vgpu_protocol.h), the device's property. */
public enum Pool {
    A(VgpuProtocol.POOL_A),
    B(VgpuProtocol.POOL_B);

    private final int wire;

    Pool(int wire) {
        this.wire = wire;
    }

    /** The wire value ('A' = 0x41, 'B' = 0x42). */
    public int wire() {
        return wire;
    }

    /** The pool of a wire value, or empty for one the protocol does not define. */
    public static Optional<Pool> fromWire(int value) {
        for (Pool p : values()) {
            if (p.wire == value) {
                return Optional.of(p);
            }
        }
        return Optional.empty();
    }

    /** "A"/"B" for a known pool, else the value in hex: for log lines about frames that may be malformed. */
    public static String nameOf(int value) {
        return fromWire(value).map(Pool::name).orElse("0x" + Integer.toHexString(value));
    }
}

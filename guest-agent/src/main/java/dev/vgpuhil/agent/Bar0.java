package dev.vgpuhil.agent;

/**
 * BAR0 of a vgpu-stub, seen as 32-bit little-endian words. Every register and buffer access of the agent goes
 * through these two methods, so each is exactly one aligned 32-bit load or store of the mapping.
 * Offsets are byte offsets into BAR0, multiples of 4, below {@code VgpuProtocol.BAR0_SIZE}.
 */
public interface Bar0 extends AutoCloseable {

    /** One aligned 32-bit little-endian load at {@code offset}. */
    int read32(int offset);

    /** One aligned 32-bit little-endian store at {@code offset}. */
    void write32(int offset, int value);

    /** Unmaps; later accesses are illegal. */
    @Override
    void close();
}

package dev.vgpuhil.mediator.backend;

import dev.vgpuhil.protocol.ComputeRequest;

/** A compute backend: runs one validated request and returns the RESPONSE payload. Thread-safe. */
public interface Backend extends AutoCloseable {

    /** "cpu" or "cuda (device name)". */
    String name();

    /**
     * @param request a request that passed {@link ComputeRequest#checkConsistent()}
     * @return the result bytes (f32 little-endian vectors, echoed bytes, or the CRC-32 as u32 LE)
     */
    byte[] execute(ComputeRequest request) throws BackendException;

    /**
     * True when every call finishes in a short, bounded time without blocking (plain CPU work on at most a
     * 1 KiB request): the mediator may then run a request on the connection's own thread while its pool is
     * idle, saving a hand-off to a worker. False (the default) for anything that may wait (a device, a lock).
     */
    default boolean quick() {
        return false;
    }

    @Override
    void close();
}

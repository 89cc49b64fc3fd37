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

    @Override
    void close();
}

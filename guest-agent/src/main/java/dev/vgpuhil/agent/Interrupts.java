package dev.vgpuhil.agent;

/**
 * A source of the device's completion interrupt as seen by a user-space driver: {@link UioInterrupts} (Linux UIO,
 * {@code /dev/uioN} of uio_pci_generic) in the guest, a simulation in the tests.
 *
 * <p>Semantics are UIO's: after an interrupt the line is masked (uio_pci_generic sets the INTx-disable bit in PCI
 * COMMAND from its handler) until {@link #unmask()}; the count is the number of interrupts since the driver was
 * bound, never reset.
 */
public interface Interrupts extends AutoCloseable {
    /** Re-enables delivery of the next interrupt (uio_pci_generic: clear INTx-disable in PCI COMMAND). */
    void unmask() throws AgentException;

    /**
     * Waits for an interrupt not yet seen by this listener, until the deadline ({@link System#nanoTime()}).
     *
     * @return the total interrupt count (unsigned 32-bit), or -1 when the deadline passed first
     */
    long await(long deadlineNanos) throws AgentException;

    /** Human-readable name of the source, e.g. {@code /dev/uio0}. */
    String describe();

    @Override
    void close();
}

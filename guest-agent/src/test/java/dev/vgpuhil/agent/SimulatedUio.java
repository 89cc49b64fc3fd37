package dev.vgpuhil.agent;

/**
 * uio_pci_generic's behaviour over a {@link SimulatedVgpu}, for the agent's interrupt-driven logic: an interrupt is
 * delivered when the line is unmasked and the device's INTx level is high; delivering it masks the line (the
 * driver's handler sets INTx-disable) and increments the count; {@link #unmask()} re-enables it. Waiting lets
 * simulated time pass ({@link SimulatedVgpu#tick()}), so a mediator reply lands without the agent polling.
 */
final class SimulatedUio implements Interrupts {
    final SimulatedVgpu dev;
    /** false: the line is broken, no interrupt ever arrives. */
    boolean deliver = true;
    /** Wake-ups to report before the real one (as a shared line's other device would cause). */
    int spurious;

    boolean masked; // uio_pci_generic leaves INTx enabled after binding
    long count;
    int unmasks;
    int awaits;
    boolean closed;

    SimulatedUio(SimulatedVgpu dev) {
        this.dev = dev;
    }

    @Override
    public void unmask() {
        masked = false;
        unmasks++;
    }

    @Override
    public long await(long deadlineNanos) {
        awaits++;
        while (System.nanoTime() - deadlineNanos < 0) {
            if (!masked && spurious > 0) {
                spurious--;
                masked = true;
                return ++count;
            }
            if (!masked && deliver && dev.intxLevel()) {
                masked = true;
                return ++count;
            }
            dev.tick();
            Thread.onSpinWait();
        }
        return -1;
    }

    @Override
    public String describe() {
        return "simulated uio";
    }

    @Override
    public void close() {
        closed = true;
    }
}

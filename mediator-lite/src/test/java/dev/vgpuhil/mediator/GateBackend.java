package dev.vgpuhil.mediator;

import dev.vgpuhil.mediator.backend.Backend;
import dev.vgpuhil.mediator.backend.BackendException;
import dev.vgpuhil.mediator.backend.CpuBackend;
import dev.vgpuhil.protocol.ComputeRequest;
import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;

/**
 * The CPU backend with a gate: requests matching the filter block inside execute() until {@link #release()}.
 * {@link #awaitEntered} tells a test that a worker is now held inside the backend (no sleeps needed).
 */
final class GateBackend implements Backend {
    private final CpuBackend cpu = new CpuBackend();
    private final Predicate<ComputeRequest> held;
    private final CountDownLatch open = new CountDownLatch(1);
    private final Semaphore entered = new Semaphore(0);
    volatile boolean closed;

    GateBackend(Predicate<ComputeRequest> held) {
        this.held = held;
    }

    /** Holds echo requests whose first operand byte is {@code marker}. */
    static GateBackend holdingEchoesStartingWith(byte marker) {
        return new GateBackend(r -> r.operands().length > 0 && r.operands()[0] == marker);
    }

    boolean awaitEntered(Duration timeout) throws InterruptedException {
        return entered.tryAcquire(timeout.toMillis(), TimeUnit.MILLISECONDS);
    }

    void release() {
        open.countDown();
    }

    @Override
    public String name() {
        return "cpu (gated for a test)";
    }

    @Override
    public byte[] execute(ComputeRequest request) throws BackendException {
        if (held.test(request)) {
            entered.release();
            try {
                if (!open.await(60, TimeUnit.SECONDS)) {
                    throw new BackendException("test gate never opened");
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new BackendException("interrupted at the test gate");
            }
        }
        return cpu.execute(request);
    }

    @Override
    public void close() {
        closed = true;
    }
}

package dev.vgpuhil.mediator.backend;

import dev.vgpuhil.mediator.BackendChoice;
import java.util.function.Consumer;

/** Turns {@code --backend cpu|cuda|auto} into a running backend. */
public final class Backends {
    private Backends() {}

    /**
     * @param log receives one line saying which backend was picked and why
     * @throws BackendException for {@code cuda} when no CUDA device answers (with the driver's reason)
     */
    public static Backend open(BackendChoice choice, Consumer<String> log) throws BackendException {
        switch (choice) {
            case CPU:
                log.accept("backend cpu (requested)");
                return new CpuBackend();
            case CUDA: {
                CudaBackend cuda = CudaBackend.open();
                log.accept("backend " + cuda.name() + " (requested)");
                return cuda;
            }
            case AUTO:
            default: {
                var reason = CudaDriver.unavailableReason();
                if (reason.isPresent()) {
                    log.accept("backend cpu (auto: " + reason.get() + ")");
                    return new CpuBackend();
                }
                try {
                    CudaBackend cuda = CudaBackend.open();
                    log.accept("backend " + cuda.name() + " (auto: a CUDA device answered)");
                    return cuda;
                } catch (BackendException e) {
                    log.accept("backend cpu (auto: CUDA device found but unusable: " + e.getMessage() + ")");
                    return new CpuBackend();
                }
            }
        }
    }
}

package dev.vgpuhil.conformance;

import dev.vgpuhil.mediator.contract.ContractMediator;
import dev.vgpuhil.mediator.contract.MediatorLaunch;
import java.time.Duration;
import java.util.Optional;
import java.util.ServiceLoader;

/**
 * The seam to a container engine: a provider (found by {@link ServiceLoader}, e.g. the Testcontainers module)
 * runs an image under the mediator contract. The kit itself knows no engine: without a provider on the class path
 * the container targets are skipped with a reason saying so.
 */
public interface ContainerMediators {
    /** Why no container can run here (no engine answers, ...), or empty when one can. */
    Optional<String> unavailable();

    /**
     * A mediator in {@code image} for this launch: the launch's directory bind-mounted at the same path, its
     * environment passed, {@code --socket PATH} appended to the image's command, network none.
     */
    ContractMediator image(String image, MediatorLaunch launch, Duration readyTimeout, Duration stopTimeout);

    /** mediator-lite's own image (built here, never pulled). */
    ContractMediator mediatorLite(MediatorLaunch launch, Duration readyTimeout, Duration stopTimeout);

    /** The first provider on the class path. */
    static Optional<ContainerMediators> find() {
        return ServiceLoader.load(ContainerMediators.class).findFirst();
    }
}

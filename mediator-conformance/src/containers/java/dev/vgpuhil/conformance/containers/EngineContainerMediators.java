package dev.vgpuhil.conformance.containers;

import dev.vgpuhil.conformance.ContainerMediators;
import dev.vgpuhil.containers.BuiltImage;
import dev.vgpuhil.containers.ContainerEngine;
import dev.vgpuhil.containers.ContainerMediator;
import dev.vgpuhil.containers.LocalImages;
import dev.vgpuhil.mediator.MediatorProcess;
import dev.vgpuhil.mediator.contract.ContractMediator;
import dev.vgpuhil.mediator.contract.MediatorLaunch;
import java.io.IOException;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.OptionalInt;

/**
 * The kit's container targets on vgpu-containers (Testcontainers on the local engine): a launch becomes a
 * {@link ContainerMediator.Spec} (its directory bind-mounted at the same path, the contract's environment, the log
 * file), mediator-lite's image is built from the daemon jar the lite-process target runs. Compiled only where the
 * containers module is in the build (pom profile {@code containers}); found by ServiceLoader.
 */
public final class EngineContainerMediators implements ContainerMediators {
    @Override
    public Optional<String> unavailable() {
        ContainerEngine.Availability a = ContainerEngine.availability();
        return a.available() ? Optional.empty() : Optional.of("no container engine here: " + a.reason());
    }

    @Override
    public ContractMediator image(String image, MediatorLaunch launch, Duration readyTimeout, Duration stopTimeout) {
        return new InContainer(spec(image, launch, readyTimeout, List.of()), launch, "image: " + image);
    }

    @Override
    public ContractMediator mediatorLite(MediatorLaunch launch, Duration readyTimeout, Duration stopTimeout) {
        BuiltImage image = LocalImages.mediatorLite(MediatorProcess.defaultJar(), MediatorProcess.JVM_OPTIONS);
        // the build's own tag (NAME:h-HASH): the version tag moves whenever a build from another jar shares the engine
        String ref = image.ref().substring(0, image.ref().lastIndexOf(':')) + ":h-" + image.hash();
        return new InContainer(
                spec(ref, launch, readyTimeout, List.of("--backend", "cpu")),
                launch,
                "mediator-lite in its container (" + ref + ")");
    }

    private static ContainerMediator.Spec spec(
            String image, MediatorLaunch launch, Duration readyTimeout, List<String> args) {
        return ContainerMediator.Spec.of(image, launch.dir(), launch.socket())
                .withEnv(launch.environment())
                .withArgs(args)
                .withReadyTimeout(readyTimeout)
                .withLogFile(launch.logFile());
    }

    /** One container mediator seen through the contract's interface. */
    static final class InContainer implements ContractMediator {
        private final ContainerMediator.Spec spec;
        private final MediatorLaunch launch;
        private final String describe;
        private ContainerMediator current;

        InContainer(ContainerMediator.Spec spec, MediatorLaunch launch, String describe) {
            this.spec = spec;
            this.launch = launch;
            this.describe = describe;
        }

        @Override
        public synchronized void start() throws IOException {
            if (current == null) {
                current = new ContainerMediator(spec);
            }
            current.start(); // after a stop or kill: a fresh container on the same socket path
        }

        @Override
        public synchronized OptionalInt stop() {
            if (current == null) {
                return OptionalInt.empty();
            }
            int status = current.stop();
            return status < 0 ? OptionalInt.empty() : OptionalInt.of(status);
        }

        @Override
        public synchronized void kill() {
            if (current != null) {
                current.kill();
            }
        }

        @Override
        public synchronized boolean isAlive() {
            return current != null && current.isAlive();
        }

        @Override
        public MediatorLaunch launch() {
            return launch;
        }

        @Override
        public synchronized String log() {
            return current == null ? "" : current.log();
        }

        @Override
        public String describe() {
            return describe;
        }

        @Override
        public synchronized void close() {
            if (current != null) {
                current.close();
            }
        }
    }
}

package dev.vgpuhil.containers;

import dev.vgpuhil.common.Setting;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import org.testcontainers.dockerclient.DockerClientProviderStrategy;
import org.testcontainers.dockerclient.TransportConfig;

/**
 * The local engine's Unix socket, with {@code localhost} as the host containers are reached on. Testcontainers 2 reads
 * {@code TESTCONTAINERS_HOST_OVERRIDE} from the environment only (not from a classpath {@code
 * testcontainers.properties}); without it, on a machine that has {@code /.dockerenv}, it believes it runs inside a
 * container and pulls {@code alpine} to find a gateway, which fails after minutes where no registry is reachable.
 * Found through {@code META-INF/services}, so a user's project gets it by depending on vgpu-containers. Ranked above
 * Testcontainers' own Unix socket strategy (80) and below {@code DOCKER_HOST} (100), which keeps a remote engine
 * the user's choice; never persisted into the user's {@code ~/.testcontainers.properties}.
 */
public final class LocalEngineStrategy extends DockerClientProviderStrategy {
    static final Path SOCKET = Path.of("/var/run/docker.sock");

    @Override
    public String getDescription() {
        return "local Unix socket " + SOCKET + " (vgpu-hil: containers reached on localhost)";
    }

    @Override
    public TransportConfig getTransportConfig() {
        return TransportConfig.builder()
                .dockerHost(URI.create("unix://" + SOCKET))
                .build();
    }

    @Override
    protected boolean isApplicable() {
        return Setting.DOCKER_HOST.value().isEmpty() && Files.exists(SOCKET);
    }

    @Override
    protected boolean isPersistable() {
        return false;
    }

    @Override
    protected int getPriority() {
        return 90;
    }

    @Override
    public synchronized String getDockerHostIpAddress() {
        return Setting.TESTCONTAINERS_HOST_OVERRIDE
                .value()
                .filter(h -> !h.isBlank())
                .orElse("localhost");
    }
}

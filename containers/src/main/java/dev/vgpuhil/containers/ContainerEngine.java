package dev.vgpuhil.containers;

import com.github.dockerjava.api.DockerClient;
import com.github.dockerjava.api.model.Info;
import dev.vgpuhil.common.Setting;
import java.lang.reflect.Constructor;
import java.lang.reflect.Field;
import java.util.Map;
import org.testcontainers.DockerClientFactory;
import org.testcontainers.utility.ResourceReaper;

/**
 * The container engine this JVM uses, through Testcontainers, configured for machines where no registry is reachable:
 * no Ryuk (its image cannot be pulled; {@link ContainerReaper} reaps instead) and containers reached on localhost
 * ({@link LocalEngineStrategy}). {@link #availability()} is probed once per JVM; on a machine without an engine it
 * says why, for the tests' assumptions.
 */
public final class ContainerEngine {
    /** Availability of the engine, with the reason when it is missing. */
    public record Availability(boolean available, String reason) {}

    private static volatile Availability availability;

    private ContainerEngine() {}

    /** Probed once per JVM (a few milliseconds without an engine: no socket, no strategy applies). */
    public static Availability availability() {
        Availability a = availability;
        if (a == null) {
            synchronized (ContainerEngine.class) {
                if (availability == null) {
                    availability = probe();
                }
                a = availability;
            }
        }
        return a;
    }

    private static Availability probe() {
        try {
            withoutRyuk();
            if (!DockerClientFactory.instance().isDockerAvailable()) {
                return new Availability(
                        false,
                        "no container engine answers (none at " + LocalEngineStrategy.SOCKET + " nor DOCKER_HOST); "
                                + "bin/vgpu-hil setup as root installs docker.io and starts dockerd");
            }
            Info info = DockerClientFactory.instance().client().infoCmd().exec();
            ContainerReaper.sweepStale();
            return new Availability(true, "engine " + info.getServerVersion() + " (" + info.getDriver() + ")");
        } catch (RuntimeException | LinkageError e) {
            return new Availability(false, "the container engine cannot be used: " + e);
        }
    }

    /** The engine's client; IllegalStateException with the reason when there is none. */
    public static DockerClient client() {
        Availability a = availability();
        if (!a.available()) {
            throw new IllegalStateException(a.reason());
        }
        return DockerClientFactory.instance().client();
    }

    /**
     * Empty when the engine has the NVIDIA runtime (containers can get GPUs by a device request); else what is
     * missing, for a CUDA test's skip reason.
     */
    public static java.util.Optional<String> gpuMissing() {
        Availability a = availability();
        if (!a.available()) {
            return java.util.Optional.of(a.reason());
        }
        Map<String, ?> runtimes = client().infoCmd().exec().getRuntimes();
        return runtimes != null && runtimes.containsKey("nvidia")
                ? java.util.Optional.empty()
                : java.util.Optional.of("the container engine has no nvidia runtime (runtimes: "
                        + (runtimes == null ? "none" : runtimes.keySet()) + "; install nvidia-container-toolkit)");
    }

    /**
     * Testcontainers reads {@code TESTCONTAINERS_RYUK_DISABLED} from the environment only; the project's
     * Surefire/Failsafe set it, a user's JVM may not. Installing Testcontainers' own JVM-hook reaper before its first
     * client (which would start Ryuk) has the same effect.
     */
    private static void withoutRyuk() {
        if (Setting.TESTCONTAINERS_RYUK_DISABLED
                .value()
                .map(Boolean::parseBoolean)
                .orElse(false)) {
            return;
        }
        try {
            Field instance = ResourceReaper.class.getDeclaredField("instance");
            instance.setAccessible(true);
            synchronized (ResourceReaper.class) {
                if (instance.get(null) == null) {
                    Constructor<?> c = Class.forName("org.testcontainers.utility.JVMHookResourceReaper")
                            .getDeclaredConstructor();
                    c.setAccessible(true);
                    instance.set(null, c.newInstance());
                }
            }
        } catch (ReflectiveOperationException | RuntimeException e) {
            throw new IllegalStateException("cannot turn Ryuk off (set TESTCONTAINERS_RYUK_DISABLED=true): " + e, e);
        }
    }
}

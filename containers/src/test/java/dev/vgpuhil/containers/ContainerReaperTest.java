package dev.vgpuhil.containers;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.github.dockerjava.api.exception.NotFoundException;
import dev.vgpuhil.common.BoundProcesses;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

/**
 * Without Ryuk the harness reaps its own containers: a SIGKILLed JVM leaves its container behind, and the next JVM's
 * first use of the engine removes it; an orderly exit removes it by the shutdown hook. Real engine, real child JVMs,
 * started without Testcontainers' environment variables, as a user's project's JVM may be.
 */
class ContainerReaperTest {
    /** One budget per child: JVM start, Testcontainers' client, the probe image (cached), one container. */
    private static final Duration CHILD = Duration.ofMinutes(3);

    @BeforeAll
    static void engine() {
        ContainerEngine.Availability a = ContainerEngine.availability();
        assumeTrue(a.available(), "no container engine on this machine: " + a.reason());
    }

    private static Process child(String mode) throws Exception {
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        ProcessBuilder pb = new ProcessBuilder(
                        java, "-cp", System.getProperty("java.class.path"), ReaperProbe.class.getName(), mode)
                .redirectErrorStream(true);
        // as a user's JVM: without the two variables this project's Surefire sets (vgpu-containers copes alone)
        pb.environment().remove("TESTCONTAINERS_RYUK_DISABLED");
        pb.environment().remove("TESTCONTAINERS_HOST_OVERRIDE");
        return BoundProcesses.start(pb);
    }

    /** The first line of the child's output that starts with {@code prefix}, within the child's budget. */
    private static String awaitLine(Process p, String prefix) throws Exception {
        List<String> seen = new ArrayList<>();
        var reader = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8));
        var line = java.util.concurrent.CompletableFuture.supplyAsync(() -> {
            try {
                for (String l; (l = reader.readLine()) != null; ) {
                    seen.add(l);
                    if (l.startsWith(prefix)) {
                        return l.substring(prefix.length()).trim();
                    }
                }
                return null;
            } catch (java.io.IOException e) {
                return null;
            }
        });
        String v;
        try {
            v = line.get(CHILD.toMillis(), TimeUnit.MILLISECONDS);
        } catch (java.util.concurrent.TimeoutException e) {
            v = null;
        }
        assertThat(v)
                .as("child printed %s within %s; its output: %s", prefix, CHILD, seen)
                .isNotNull();
        return v;
    }

    private static boolean exists(String id) {
        try {
            ContainerEngine.client().inspectContainerCmd(id).exec();
            return true;
        } catch (NotFoundException e) {
            return false;
        }
    }

    @Test
    @DisplayName("a SIGKILLed JVM's container is swept by the next JVM's first use of the engine")
    void sigkilledOwnerIsSweptAtNextStart() throws Exception {
        Process owner = child("start");
        String id;
        try {
            id = awaitLine(owner, "CONTAINER ");
            Map<String, String> labels = ContainerEngine.client()
                    .inspectContainerCmd(id)
                    .exec()
                    .getConfig()
                    .getLabels();
            assertThat(labels)
                    .containsEntry(ContainerReaper.MANAGED, "true")
                    .containsEntry(ContainerReaper.OWNER_PID, Long.toString(owner.pid()))
                    .containsKey(ContainerReaper.RUN);
        } finally {
            owner.destroyForcibly(); // SIGKILL: no shutdown hook runs
        }
        assertThat(owner.waitFor(30, TimeUnit.SECONDS)).isTrue();
        assertThat(exists(id))
                .as("the container outlives its SIGKILLed owner (no Ryuk)")
                .isTrue();

        Process next = child("sweep");
        try {
            awaitLine(next, "SWEPT");
        } finally {
            BoundProcesses.kill(next, Duration.ofSeconds(10));
        }
        assertThat(exists(id)).as("container %s swept by the next JVM", id).isFalse();
    }

    @Test
    @DisplayName("an orderly JVM exit removes its containers (shutdown hook)")
    void orderlyExitRemoves() throws Exception {
        Process owner = child("exit");
        String id;
        try {
            id = awaitLine(owner, "CONTAINER ");
            assertThat(owner.waitFor(CHILD.toSeconds(), TimeUnit.SECONDS)).isTrue();
        } finally {
            BoundProcesses.kill(owner, Duration.ofSeconds(10));
        }
        assertThat(exists(id))
                .as("container %s removed by the shutdown hook", id)
                .isFalse();
    }

    @Test
    @DisplayName("a live owner's containers are never swept")
    void liveOwnerIsKept() throws Exception {
        Process owner = child("start");
        try {
            String id = awaitLine(owner, "CONTAINER ");
            assertThat(ContainerReaper.sweepStale()).doesNotContain(id);
            assertThat(exists(id)).isTrue();
        } finally {
            BoundProcesses.kill(owner, Duration.ofSeconds(10));
        }
        ContainerReaper.sweepStale(); // what the owner left, now that it is dead
    }
}

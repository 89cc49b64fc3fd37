package dev.vgpuhil.common;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** {@link BoundProcesses#stop}: SIGTERM first, SIGKILL of the whole tree when the grace runs out. */
class BoundProcessesStopTest {
    static final Duration GRACE = Duration.ofSeconds(2);
    static final Duration KILL_DEADLINE = Duration.ofSeconds(10);

    @Test
    void aChildThatHonoursSigtermEndsWithinTheGrace() throws Exception {
        Process p = BoundProcesses.start(new ProcessBuilder("sleep", "60"));
        assertThat(BoundProcesses.stop(p, GRACE, KILL_DEADLINE)).isTrue();
        assertThat(p.isAlive()).isFalse();
        assertThat(p.exitValue()).as("killed by SIGTERM").isEqualTo(128 + 15);
    }

    @Test
    void aChildThatIgnoresSigtermIsKilledWithItsDescendants() throws Exception {
        // "armed" is printed once the trap is set and the sleep started: before that a SIGTERM would still end bash
        // (the wrapper's own reaper runs a sleep too, so the process tree alone cannot tell)
        Process p = BoundProcesses.start(new ProcessBuilder("bash", "-c", "trap '' TERM; sleep 60 & echo armed; wait"));
        CompletableFuture<String> armed = CompletableFuture.supplyAsync(() -> {
            try (var r = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
                return r.readLine();
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        });
        assertThat(armed.get(KILL_DEADLINE.toMillis(), TimeUnit.MILLISECONDS)).isEqualTo("armed");
        // "armed" may come before the forked child has exec'd sleep (it is still a bash then): wait for the exec
        long deadline = System.nanoTime() + KILL_DEADLINE.toNanos();
        List<ProcessHandle> tree = p.descendants().toList();
        while (tree.stream().noneMatch(BoundProcessesStopTest::isSleep) && System.nanoTime() < deadline) {
            Thread.sleep(10);
            tree = p.descendants().toList();
        }
        assertThat(tree).as("the child's sleep").anyMatch(BoundProcessesStopTest::isSleep);

        assertThat(BoundProcesses.stop(p, Duration.ofMillis(300), KILL_DEADLINE))
                .as("exited within the grace")
                .isFalse();

        assertThat(p.isAlive()).isFalse();
        assertThat(tree).noneMatch(BoundProcesses::running);
    }

    private static boolean isSleep(ProcessHandle h) {
        return h.info().command().orElse("").endsWith("sleep");
    }
}

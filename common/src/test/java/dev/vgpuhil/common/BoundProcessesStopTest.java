package dev.vgpuhil.common;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.List;
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
        Process p = BoundProcesses.start(new ProcessBuilder("bash", "-c", "trap '' TERM; sleep 60 & wait"));
        long deadline = System.nanoTime() + KILL_DEADLINE.toNanos();
        List<ProcessHandle> tree = List.of();
        while (tree.stream().noneMatch(h -> h.info().command().orElse("").endsWith("sleep"))
                && System.nanoTime() < deadline) {
            Thread.sleep(20);
            tree = p.descendants().toList();
        }
        assertThat(tree).as("the child's sleep").anyMatch(h -> h.info().command().orElse("").endsWith("sleep"));

        assertThat(BoundProcesses.stop(p, Duration.ofMillis(300), KILL_DEADLINE)).as("exited within the grace").isFalse();

        assertThat(p.isAlive()).isFalse();
        assertThat(tree).noneMatch(BoundProcesses::running);
    }
}

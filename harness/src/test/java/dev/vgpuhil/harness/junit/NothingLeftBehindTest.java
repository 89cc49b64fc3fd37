package dev.vgpuhil.harness.junit;

import static org.assertj.core.api.Assertions.assertThat;

import dev.vgpuhil.common.BoundProcesses;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A test JVM killed with SIGKILL (no shutdown hook, no close) leaves nothing in /tmp once the next run has started:
 * no private key at any moment, the SSH and mediator socket directories and a captured command's output swept by
 * the next start; the mediator's log stays in the run directories (where a user looks, pruned to a bound).
 */
class NothingLeftBehindTest {
    @TempDir
    Path runs;

    private Process probe(String mode) throws Exception {
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        List<String> cmd = new ArrayList<>(List.of(
                java,
                "-Dvgpu.runs.dir=" + runs,
                "-cp",
                System.getProperty("java.class.path"),
                LeftBehindProbe.class.getName(),
                mode));
        return BoundProcesses.start(new ProcessBuilder(cmd).redirectErrorStream(true));
    }

    private static String[] awaitLine(Process p, String prefix, StringBuilder output) throws Exception {
        BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8));
        String line;
        while ((line = r.readLine()) != null) {
            output.append(line).append('\n');
            if (line.startsWith(prefix)) {
                return line.split(" ");
            }
        }
        throw new AssertionError("the probe ended without '" + prefix + "'; its output:\n" + output);
    }

    /** The /tmp entries whose name carries pid {@code pid} as one of its dash-separated fields. */
    private static List<Path> tmpEntriesOf(long pid) throws Exception {
        try (Stream<Path> s = Files.list(Path.of("/tmp"))) {
            return s.filter(p -> List.of(p.getFileName().toString().split("-")).contains(Long.toString(pid)))
                    .toList();
        }
    }

    @Test
    @DisplayName("after a SIGKILLed run and the next start, /tmp holds nothing of the first run")
    void aKilledRunLeavesNothingAfterTheNextStart() throws Exception {
        Process first = probe("first");
        try {
            String[] ready = awaitLine(first, "READY ", new StringBuilder());
            long pid = Long.parseLong(ready[1]);
            Path keyDir = Path.of(ready[2]);
            Path socket = Path.of(ready[3]);
            Path log = Path.of(ready[4]);
            long sleepPid = Long.parseLong(ready[5]);
            assertThat(sleepPid).as("the captured command runs").isPositive();

            // while it runs: its files are where they belong, and no private key is on disk anywhere of it
            assertThat(keyDir.getParent()).isEqualTo(Path.of("/tmp"));
            assertThat(socket).exists();
            assertThat(log).startsWith(runs).exists();
            List<Path> mine = tmpEntriesOf(pid);
            assertThat(mine).contains(keyDir, socket.getParent());
            assertThat(mine)
                    .anySatisfy(p -> assertThat(p.getFileName().toString()).startsWith("vgpu-hil-cmd-"));
            for (Path p : mine) {
                try (Stream<Path> files = Files.walk(p)) {
                    for (Path f : files.filter(Files::isRegularFile).toList()) {
                        assertThat(Files.readString(f, StandardCharsets.ISO_8859_1))
                                .as("%s", f)
                                .doesNotContain("PRIVATE KEY");
                    }
                }
            }

            first.destroyForcibly(); // SIGKILL: no shutdown hook runs
            assertThat(first.waitFor(10, TimeUnit.SECONDS)).isTrue();
            assertThat(tmpEntriesOf(pid))
                    .as("left by the killed JVM until a next run starts")
                    .isNotEmpty();

            Process next = probe("next");
            StringBuilder out = new StringBuilder();
            awaitLine(next, "NEXT-DONE", out);
            assertThat(next.waitFor(30, TimeUnit.SECONDS)).as(out.toString()).isTrue();

            assertThat(tmpEntriesOf(pid))
                    .as("/tmp entries of the killed JVM %d", pid)
                    .isEmpty();
            assertThat(ProcessHandle.of(sleepPid).map(BoundProcesses::running).orElse(false))
                    .as("the killed JVM's command")
                    .isFalse();
            assertThat(log).as("the mediator log stays in the run directories").exists();
        } finally {
            first.destroyForcibly();
        }
    }
}

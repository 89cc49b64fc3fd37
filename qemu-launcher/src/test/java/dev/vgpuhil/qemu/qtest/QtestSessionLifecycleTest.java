package dev.vgpuhil.qemu.qtest;

import static org.assertj.core.api.Assertions.assertThat;

import dev.vgpuhil.common.BoundProcesses;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

@Tag("qtest")
@DisplayName("QEMU started by a QtestSession does not outlive its JVM")
class QtestSessionLifecycleTest {

    @Test
    @DisplayName(
            "SIGKILL of the JVM kills its qtest QEMU (parent-death signal), although qtest QEMU survives a closed socket")
    void qemuDiesWithJvm() throws Exception {
        assertThat(BoundProcesses.parentDeathSignalAvailable())
                .as("/usr/bin/setpriv (util-linux)")
                .isTrue();
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        Process jvm = BoundProcesses.start(
                new ProcessBuilder(java, "-cp", System.getProperty("java.class.path"), QtestOrphanProbe.class.getName())
                        .redirectErrorStream(true));
        try {
            BufferedReader out = new BufferedReader(new InputStreamReader(jvm.getInputStream()));
            StringBuilder seen = new StringBuilder();
            String line = CompletableFuture.supplyAsync(() -> {
                        try {
                            for (String l; (l = out.readLine()) != null; ) {
                                if (l.startsWith("QEMU_PID ")) {
                                    return l;
                                }
                                synchronized (seen) {
                                    seen.append(l).append('\n');
                                }
                            }
                            return "";
                        } catch (Exception e) {
                            return "";
                        }
                    })
                    .get(60, TimeUnit.SECONDS);
            synchronized (seen) {
                assertThat(line).as("the probe JVM printed instead:%n%s", seen).startsWith("QEMU_PID ");
            }
            String[] words = line.trim().split(" ");
            long pid = Long.parseLong(words[1]);
            Path orphanRunDir = Path.of(words[3]);
            assertThat(orphanRunDir.resolve("owner.pid")).exists();
            ProcessHandle qemu = ProcessHandle.of(pid).orElseThrow();
            assertThat(qemu.info().command().orElse("")).contains("qemu-system");
            jvm.destroyForcibly().waitFor(10, TimeUnit.SECONDS); // SIGKILL: no shutdown hook runs
            assertThat(qemu.onExit()
                            .completeOnTimeout(null, 10, TimeUnit.SECONDS)
                            .get())
                    .as("QEMU %d exited after its JVM was SIGKILLed", pid)
                    .isNotNull();
            assertThat(qemu.isAlive()).isFalse();
            try (QtestSession next = QtestSession.builder(TestQemu.stock()).start()) {
                assertThat(orphanRunDir)
                        .as("the dead JVM's run dir is swept by the next session")
                        .doesNotExist();
                assertThat(next.runDir()).exists();
            }
        } finally {
            BoundProcesses.kill(jvm, Duration.ofSeconds(10));
        }
    }

    @Test
    @DisplayName("the run directory holds QEMU's pidfile, the owner JVM's pid and the command line while open")
    void runDirContents() throws Exception {
        try (QtestSession s = QtestSession.builder(TestQemu.stock()).start()) {
            assertThat(java.nio.file.Files.readString(s.runDir().resolve("qemu.pid"))
                            .trim())
                    .isEqualTo(Long.toString(s.pid()));
            // "pid start-time-millis" (OwnedDirs): a recycled pid does not keep a dead JVM's directory
            assertThat(java.nio.file.Files.readString(s.runDir().resolve("owner.pid"))
                            .trim())
                    .startsWith(ProcessHandle.current().pid() + " ");
            assertThat(s.commandLine()).containsSequence("-machine", "q35");
            assertThat(List.copyOf(s.commandLine())).contains("-nodefaults", "-no-user-config");
        }
    }
}

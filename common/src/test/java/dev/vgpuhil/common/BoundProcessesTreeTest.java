package dev.vgpuhil.common;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Every process the harness starts is reaped — with its descendants, at a deadline and when the JVM dies. */
class BoundProcessesTreeTest {
    @TempDir
    Path tmp;

    /** A script that starts a grandchild {@code sleep 300}, writes its pid to {@code pidFile} and waits for it. */
    private Path grandchildScript(Path pidFile) throws Exception {
        Path script = tmp.resolve("spawn.sh");
        Files.writeString(
                script,
                "sleep 300 &\necho $! > '" + pidFile + ".tmp'\nmv '" + pidFile + ".tmp' '" + pidFile + "'\nwait\n");
        return script;
    }

    private static long awaitPid(Path pidFile, Duration within) throws Exception {
        long until = System.nanoTime() + within.toNanos();
        while (!Files.exists(pidFile)) {
            assertThat(System.nanoTime())
                    .as("%s written within %s", pidFile, within)
                    .isLessThan(until);
            Thread.sleep(20);
        }
        return Long.parseLong(Files.readString(pidFile).trim());
    }

    private static boolean goneWithin(long pid, Duration within) throws InterruptedException {
        long until = System.nanoTime() + within.toNanos();
        while (System.nanoTime() < until) {
            if (ProcessHandle.of(pid).map(h -> !BoundProcesses.running(h)).orElse(true)) {
                return true;
            }
            Thread.sleep(20);
        }
        return false;
    }

    @Test
    @DisplayName("run() past its deadline kills the script and its grandchild")
    void deadlineKillsTheTree() throws Exception {
        assertThat(BoundProcesses.groupReaperAvailable())
                .as("setpriv, setsid (util-linux) and bash")
                .isTrue();
        Path pidFile = tmp.resolve("grandchild.pid");
        Path script = grandchildScript(pidFile);
        long t0 = System.nanoTime();
        assertThatThrownBy(() -> BoundProcesses.run(List.of("bash", script.toString()), Duration.ofSeconds(2)))
                .isInstanceOf(TimeoutException.class);
        assertThat(Duration.ofNanos(System.nanoTime() - t0)).isLessThan(Duration.ofSeconds(15));
        long grandchild = awaitPid(pidFile, Duration.ofSeconds(1));
        assertThat(goneWithin(grandchild, Duration.ofSeconds(1)))
                .as("grandchild sleep %d killed", grandchild)
                .isTrue();
        assertThat(ProcessHandle.current()
                        .descendants()
                        .filter(BoundProcesses::running)
                        .filter(h -> h.info().commandLine().orElse("").contains(tmp.toString())))
                .as("no descendant of the test JVM still runs the script")
                .isEmpty();
    }

    @Test
    @DisplayName("a command that exits normally leaves no process of its group behind")
    void normalExitReapsTheGroup() throws Exception {
        Path pidFile = tmp.resolve("bg.pid");
        BoundProcesses.Result r = BoundProcesses.run(
                List.of("bash", "-c", "sleep 300 >/dev/null 2>&1 & echo $! > '" + pidFile + "'; exit 4"),
                Duration.ofSeconds(10));
        assertThat(r.exitCode()).isEqualTo(4);
        long bg = awaitPid(pidFile, Duration.ofSeconds(1));
        assertThat(goneWithin(bg, Duration.ofSeconds(5)))
                .as("background sleep %d killed", bg)
                .isTrue();
    }

    @Test
    @DisplayName("start() keeps the command's pid, stdin, stdout and exit code")
    void commandKeepsPidAndStdio() throws Exception {
        Process p = BoundProcesses.start(new ProcessBuilder("bash", "-c", "echo $$; read x; echo got $x; exit 3"));
        try {
            p.getOutputStream().write("hello\n".getBytes());
            p.getOutputStream().close();
            String out = new String(p.getInputStream().readAllBytes());
            assertThat(p.waitFor(10, TimeUnit.SECONDS)).isTrue();
            assertThat(out).isEqualTo(p.pid() + "\ngot hello\n");
            assertThat(p.exitValue()).isEqualTo(3);
        } finally {
            BoundProcesses.kill(p, Duration.ofSeconds(5));
        }
    }

    @Test
    @DisplayName("a SIGKILLed JVM takes the script it runs and the script's grandchild with it")
    void jvmSigkillKillsGrandchild() throws Exception {
        assertThat(BoundProcesses.groupReaperAvailable())
                .as("setpriv, setsid (util-linux) and bash")
                .isTrue();
        Path pidFile = tmp.resolve("orphan.pid");
        Path script = grandchildScript(pidFile);
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        Process jvm = BoundProcesses.start(new ProcessBuilder(
                        java,
                        "-cp",
                        System.getProperty("java.class.path"),
                        BoundTreeProbe.class.getName(),
                        script.toString())
                .redirectErrorStream(true)
                .redirectOutput(tmp.resolve("probe.log").toFile()));
        try {
            long grandchild = awaitPid(pidFile, Duration.ofSeconds(60));
            ProcessHandle gc = ProcessHandle.of(grandchild).orElseThrow();
            assertThat(BoundProcesses.running(gc)).isTrue();
            // the pid is written right after bash forks; give the fork a moment to exec sleep
            long execBy = System.nanoTime() + Duration.ofSeconds(2).toNanos();
            while (!gc.info().command().orElse("").endsWith("sleep") && System.nanoTime() < execBy) {
                Thread.sleep(10);
            }
            assertThat(gc.info().command().orElse("")).endsWith("sleep");
            jvm.destroyForcibly().waitFor(10, TimeUnit.SECONDS); // SIGKILL: no shutdown hook runs
            assertThat(goneWithin(grandchild, Duration.ofSeconds(5)))
                    .as(
                            "grandchild sleep %d exited after its JVM was SIGKILLed; probe log:%n%s",
                            grandchild, Files.readString(tmp.resolve("probe.log")))
                    .isTrue();
        } finally {
            BoundProcesses.kill(jvm, Duration.ofSeconds(10));
        }
    }
}

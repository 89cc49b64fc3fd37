package dev.vgpuhil.conformance;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.vgpuhil.mediator.MediatorProcess;
import dev.vgpuhil.mediator.contract.CommandMediator;
import dev.vgpuhil.mediator.contract.MediatorLaunch;
import dev.vgpuhil.protocol.MediatorContract;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** How the contract hands a program its socket and knobs, and that a program under it is reaped like any child. */
class CommandMediatorTest {
    static final Path BROKEN =
            Path.of("src/test/resources/mediators/broken_mediator.py").toAbsolutePath();

    @TempDir
    Path dir;

    @Test
    void theSocketPathIsAppendedOrPutWhereThePlaceholderStands() {
        MediatorLaunch launch = MediatorLaunch.in(dir);
        String sock = dir.resolve("mediator.sock").toString();
        assertThat(launch.command(List.of("my-mediator", "-v"))).containsExactly("my-mediator", "-v", "--socket", sock);
        assertThat(launch.command(List.of("my-mediator", "--listen={socket}")))
                .containsExactly("my-mediator", "--listen=" + sock);
        assertThat(launch.withQueueCap(3).withAging(Duration.ZERO).environment())
                .containsEntry(MediatorContract.ENV_SOCKET, sock)
                .containsEntry(MediatorContract.ENV_QUEUE_CAP, "3")
                .containsEntry(MediatorContract.ENV_AGING_MS, "0")
                .containsEntry(
                        MediatorContract.ENV_HOLD_FILE, dir.resolve("hold").toString())
                .containsKey(MediatorContract.ENV_MAX_CONNECTIONS);
    }

    @Test
    void aCommandIsSplitLikeAShellsWordsWithoutExpansion() {
        assertThat(CommandMediator.split("  a 'b c' \"d $HOME\" e\\ f  "))
                .containsExactly("a", "b c", "d $HOME", "e f");
        assertThatThrownBy(() -> CommandMediator.split("a 'b")).hasMessageContaining("unterminated");
    }

    @Test
    void aProgramThatExitsBeforeItIsReadyFailsTheStartWithItsOutput() {
        CommandMediator m = CommandMediator.of(
                "python3 -c \"print('no socket for you'); raise SystemExit(3)\"",
                MediatorLaunch.in(dir),
                Duration.ofSeconds(60),
                Duration.ofSeconds(10));
        try (m) {
            assertThatThrownBy(m::start)
                    .isInstanceOf(IOException.class)
                    .hasMessageContaining("exited with status 3")
                    .hasMessageContaining("no socket for you");
        }
    }

    @Test
    void aProgramStopsWithStatusZeroOnSigterm() throws Exception {
        CommandMediator m = new CommandMediator(
                List.of("python3", BROKEN.toString()),
                MediatorLaunch.in(dir),
                Duration.ofSeconds(60),
                Duration.ofSeconds(10));
        try (m) {
            m.start();
            assertThat(MediatorContract.answersHello(dir.resolve("mediator.sock"), Duration.ofSeconds(10)))
                    .isTrue();
            assertThat(m.stop()).hasValue(0);
            assertThat(m.log()).contains("listening on " + dir.resolve("mediator.sock"), "stopped by signal 15");
        }
    }

    /** The program goes when the JVM that started it is SIGKILLed (BoundProcesses: parent-death signal). */
    @Test
    void theProgramDiesWithItsSigkilledJvm() throws Exception {
        String classpath = Path.of("target", "test-classes").toAbsolutePath()
                + java.io.File.pathSeparator
                + MediatorProcess.defaultJar();
        Process probe = new ProcessBuilder(
                        Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                        "-cp",
                        classpath,
                        CommandMediatorOrphanProbe.class.getName(),
                        dir.resolve("m").toString(),
                        "python3",
                        BROKEN.toString())
                .redirectError(dir.resolve("probe.err").toFile())
                .start();
        long pid;
        try {
            String line = new BufferedReader(new InputStreamReader(probe.getInputStream(), StandardCharsets.UTF_8))
                    .readLine();
            assertThat(line)
                    .as(
                            "probe stderr: %s",
                            Files.exists(dir.resolve("probe.err")) ? Files.readString(dir.resolve("probe.err")) : "")
                    .startsWith("mediator-pid=");
            pid = Long.parseLong(line.substring("mediator-pid=".length()));
            assertThat(ProcessHandle.of(pid).map(ProcessHandle::isAlive)).contains(true);
        } finally {
            probe.destroyForcibly(); // SIGKILL: no shutdown hook runs in the probe
            probe.waitFor(30, TimeUnit.SECONDS);
        }
        long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
        while (ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false) && System.nanoTime() < deadline) {
            Thread.sleep(20);
        }
        Optional<ProcessHandle> left = ProcessHandle.of(pid).filter(ProcessHandle::isAlive);
        left.ifPresent(ProcessHandle::destroyForcibly);
        assertThat(left).as("mediator pid %d outlived its JVM", pid).isEmpty();
    }
}

package dev.vgpuhil.mediator;

import static dev.vgpuhil.mediator.Wire.T;
import static dev.vgpuhil.protocol.VgpuProtocol.*;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.vgpuhil.mediator.backend.CudaDriver;
import dev.vgpuhil.protocol.ComputeRequest;
import dev.vgpuhil.protocol.Frame;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The real daemon: {@code java -jar mediator-lite.jar} as a child process (runs after package). */
class MediatorProcessIT {
    static final Path JAR = MediatorProcess.defaultJar();
    static final Path JAVA = Path.of(System.getProperty("java.home"), "bin", "java");

    @TempDir
    Path dir;

    record Run(int exit, String stdout, String stderr) {}

    Run runJar(String... args) throws Exception {
        List<String> cmd = new java.util.ArrayList<>(List.of(JAVA.toString(), "-jar", JAR.toString()));
        cmd.addAll(List.of(args));
        Path out = dir.resolve("out.txt");
        Path err = dir.resolve("err.txt");
        Process p = new ProcessBuilder(cmd)
                .redirectOutput(out.toFile())
                .redirectError(err.toFile())
                .start();
        if (!p.waitFor(60, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new AssertionError("mediator-lite " + List.of(args) + " did not finish within 60 s");
        }
        return new Run(p.exitValue(), Files.readString(out), Files.readString(err));
    }

    @Test
    void helpPrintsTheUsageAndExitsZero() throws Exception {
        Run r = runJar("--help");
        assertThat(r.exit()).isZero();
        assertThat(r.stdout())
                .contains(
                        "usage: java -jar mediator-lite.jar",
                        "--socket PATH",
                        "--backend cpu|cuda|auto",
                        "--tenant VM:CEILING",
                        "--allowed-uids",
                        "--aging-ms");
    }

    @Test
    void aBadCommandLineExitsTwoWithTheUsage() throws Exception {
        Run r = runJar("--backend", "tpu");
        assertThat(r.exit()).isEqualTo(MediatorMain.EXIT_USAGE);
        assertThat(r.stderr()).contains("unknown backend 'tpu'", "usage:");
    }

    @Test
    void cudaWithoutAGpuFailsAtStartWithAClearMessage() throws Exception {
        Optional<String> noGpu = CudaDriver.unavailableReason();
        assumeTrue(noGpu.isPresent(), "a CUDA GPU answers on this machine, so --backend cuda starts");
        Path sock = dir.resolve("cuda.sock");
        Run r = runJar("--socket", sock.toString(), "--backend", "cuda");
        assertThat(r.exit()).isEqualTo(MediatorMain.EXIT_START_FAILED);
        assertThat(r.stderr())
                .contains("mediator-lite: cannot start with --backend cuda: CUDA backend unavailable: " + noGpu.get());
        assertThat(Files.exists(sock, LinkOption.NOFOLLOW_LINKS)).isFalse();
        // the Java API reports the same
        MediatorProcess p = MediatorProcess.builder()
                .socketPath(sock)
                .backend(BackendChoice.CUDA)
                .logFile(dir.resolve("cuda.log"))
                .build();
        assertThatThrownBy(p::start)
                .hasMessageContaining("exited with status 3")
                .hasMessageContaining("CUDA backend unavailable");
    }

    @Test
    void autoSaysInItsLogWhichBackendItPicked() throws Exception {
        try (MediatorProcess p = MediatorProcess.builder()
                .socketPath(dir.resolve("auto.sock"))
                .backend(BackendChoice.AUTO)
                .logFile(dir.resolve("auto.log"))
                .build()) {
            p.start();
            String log = Files.readString(p.logFile());
            if (CudaDriver.unavailableReason().isPresent()) {
                assertThat(log)
                        .contains("backend cpu (auto: "
                                + CudaDriver.unavailableReason().get() + ")");
            } else {
                assertThat(log).containsPattern("backend cuda \\(.*\\) \\(auto: a CUDA device answered\\)");
            }
        }
    }

    /** Start, serve over the socket, SIGTERM: counters in the log, socket file gone, pid gone. */
    @Test
    void servesAndStopsGracefully() throws Exception {
        Path sock = dir.resolve("run/m.sock");
        MediatorProcess p = MediatorProcess.builder()
                .socketPath(sock)
                .backend(BackendChoice.CPU)
                .args("--tenant", "7:high", "--aging-ms", "250")
                .logFile(dir.resolve("daemon.log"))
                .build();
        try (p) {
            p.start();
            assertThat(p.isAlive()).isTrue();
            assertThat(p.command()).contains("--socket", sock.toString(), "--backend", "cpu", "--parent-pid");
            if (MediatorProcess.parentDeathSignalAvailable()) {
                assertThat(p.command()).startsWith("/usr/bin/setpriv", "--pdeathsig", "KILL", "--");
            }
            try (MediatorClient c = MediatorClient.connect(sock, T)) {
                assertThat(c.hello(7, POOL_B, PRIORITY_HIGH, T).status()).isEqualTo(ERR_NONE);
                float[] a = Wire.floats(127, 3f);
                float[] b = Wire.floats(127, -1f);
                Frame r = c.request(5, ComputeRequest.vectorAdd(a, b), T);
                assertThat(r.status()).isEqualTo(ERR_NONE);
                assertThat(ComputeRequest.toFloats(r.payload())[126]).isEqualTo(a[126] + b[126]);
                assertThat(c.stats(T)).contains("\"pid\":" + p.pid() + ",", "\"completed\":1");
            }
            try (MediatorClient other = MediatorClient.connect(sock, T)) {
                assertThat(other.hello(8, POOL_A, 0, T).status())
                        .as("only tenant 7 is listed")
                        .isEqualTo(ERR_NOT_PERMITTED);
            }
        }
        assertThat(p.isAlive()).isFalse();
        assertThat(p.exitCode()).isPresent();
        assertThat(Files.exists(sock, LinkOption.NOFOLLOW_LINKS)).isFalse();
        String log = Files.readString(p.logFile());
        assertThat(log)
                .contains(
                        "request vm=7 pool=B priority=high request_id=5 op=VECTOR_ADD",
                        "outcome=DONE",
                        "shutting down",
                        "stopped; counters",
                        "\"completed\":1");
    }

    /** SIGTERM is the normal stop: exit status 0 as --help promises, not the JVM's 128 + 15. */
    @Test
    void aSigtermStopExitsZero() throws Exception {
        MediatorProcess p = MediatorProcess.builder()
                .socketPath(dir.resolve("term.sock"))
                .backend(BackendChoice.CPU)
                .logFile(dir.resolve("term.log"))
                .build();
        try (p) {
            p.start();
        }
        assertThat(p.exitCode()).as("log:%n%s", p.logTail(20)).contains(0);
        assertThat(Files.readString(p.logFile())).contains("shutting down", "stopped; counters");
        assertThat(runJar("--help").stdout()).contains("Exit status: 0 after a normal stop");
    }

    /** The mediator goes when its parent JVM is SIGKILLed (setpriv --pdeathsig, else --parent-pid). */
    @Test
    void theChildDiesWithItsParentJvm() throws Exception {
        Path cp = dir.resolve("unused");
        String classpath = Path.of("target", "test-classes").toAbsolutePath() + java.io.File.pathSeparator + JAR;
        Process probe = new ProcessBuilder(
                        JAVA.toString(),
                        "-cp",
                        classpath,
                        MediatorOrphanProbe.class.getName(),
                        JAR.toString(),
                        dir.resolve("orphan.sock").toString(),
                        dir.resolve("orphan.log").toString())
                .redirectError(dir.resolve("probe.err").toFile())
                .start();
        long mediatorPid;
        try {
            BufferedReader out =
                    new BufferedReader(new InputStreamReader(probe.getInputStream(), StandardCharsets.UTF_8));
            String line = out.readLine();
            assertThat(line)
                    .as(
                            "probe stderr: %s",
                            Files.exists(dir.resolve("probe.err")) ? Files.readString(dir.resolve("probe.err")) : "")
                    .startsWith("mediator-pid=");
            mediatorPid = Long.parseLong(line.substring("mediator-pid=".length()));
            assertThat(ProcessHandle.of(mediatorPid).map(ProcessHandle::isAlive))
                    .contains(true);
        } finally {
            probe.destroyForcibly(); // SIGKILL: no shutdown hook runs in the probe
            probe.waitFor(10, TimeUnit.SECONDS);
        }
        long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
        while (ProcessHandle.of(mediatorPid).map(ProcessHandle::isAlive).orElse(false)
                && System.nanoTime() < deadline) {
            Thread.sleep(20);
        }
        Optional<ProcessHandle> left = ProcessHandle.of(mediatorPid).filter(ProcessHandle::isAlive);
        left.ifPresent(ProcessHandle::destroyForcibly);
        assertThat(left).as("mediator pid %d outlived its parent", mediatorPid).isEmpty();
        assertThat(cp).doesNotExist();
    }
}

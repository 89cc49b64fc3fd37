package dev.vgpuhil.qemu.machine;

import static org.assertj.core.api.Assertions.assertThat;

import dev.vgpuhil.common.BoundProcesses;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** No QEMU outlives its JVM: the parent-death signal, and the pidfile sweep behind it. */
class OrphanTest {
    /** True once {@code pid} no longer runs: gone, or a zombie (dead, waiting for its new parent to reap it). */
    private static boolean goneWithin(long pid, Duration d) throws InterruptedException {
        long deadline = System.nanoTime() + d.toNanos();
        while (System.nanoTime() < deadline) {
            if (!running(pid)) {
                return true;
            }
            Thread.sleep(5);
        }
        return false;
    }

    private static boolean running(long pid) {
        try {
            String stat = Files.readString(Path.of("/proc", Long.toString(pid), "stat"));
            char state = stat.charAt(stat.lastIndexOf(')') + 2);
            return state != 'Z' && state != 'X';
        } catch (java.io.IOException e) {
            return false;
        }
    }

    @Test
    void qemuDiesWithItsKilledJvm(@TempDir Path base) throws Exception {
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        List<String> cmd = new ArrayList<>(List.of(java, "-cp", System.getProperty("java.class.path")));
        for (String prop : List.of("vgpu.repo", "vgpu.qemu", "vgpu.image")) {
            if (System.getProperty(prop) != null) {
                cmd.add("-D" + prop + "=" + System.getProperty(prop));
            }
        }
        cmd.addAll(List.of(OrphanProbeMain.class.getName(), base.toString()));
        Process jvm = BoundProcesses.start(new ProcessBuilder(cmd).redirectErrorStream(true));
        long qemuPid = -1;
        Path runDir = null;
        StringBuilder output = new StringBuilder();
        try (BufferedReader r =
                new BufferedReader(new InputStreamReader(jvm.getInputStream(), StandardCharsets.UTF_8))) {
            String line;
            while ((line = r.readLine()) != null) {
                output.append(line).append('\n');
                if (line.startsWith("QEMU_PID ")) {
                    String[] f = line.split(" ");
                    qemuPid = Long.parseLong(f[1]);
                    runDir = Path.of(f[3]);
                    break;
                }
            }
            assertThat(qemuPid).as("child JVM output:\n%s", output).isPositive();
            assertThat(ProcessHandle.of(qemuPid)).isPresent();
            assertThat(RunDirectory.isQemuWithPidfile(qemuPid, runDir.resolve("qemu.pid")))
                    .isTrue();

            jvm.destroyForcibly(); // SIGKILL: no shutdown hook runs
            assertThat(jvm.waitFor(10, TimeUnit.SECONDS)).isTrue();
            long t0 = System.nanoTime();
            assertThat(goneWithin(qemuPid, Duration.ofSeconds(5)))
                    .as("QEMU %d survived its JVM", qemuPid)
                    .isTrue();
            System.out.println(
                    "[timing] QEMU gone " + (System.nanoTime() - t0) / 1_000_000 + " ms after its JVM was SIGKILLed");
            // its run directory remains (kept), and a sweep finds nothing left to kill
            assertThat(runDir.resolve("serial.log")).content().contains("Linux version");
            assertThat(QemuMachine.sweepOrphans(base)).isEmpty();
        } finally {
            jvm.destroyForcibly();
            if (qemuPid > 0) {
                ProcessHandle.of(qemuPid).ifPresent(ProcessHandle::destroyForcibly);
            }
        }
    }

    @Test
    void theSweepKillsOnlyQemusOfDeadOwnersStartedWithTheirPidfile(@TempDir Path base) throws Exception {
        // a dead owner: a process that has exited
        Process gone = new ProcessBuilder("true").start();
        gone.waitFor();
        ProcessHandle deadOwner = gone.toHandle();

        // 1. an orphan: a QEMU NOT bound to this JVM (plain ProcessBuilder, no parent-death signal) in a run
        //    directory whose owner is dead
        Path orphanDir = RunDirectory.create(base, "orphan");
        Files.writeString(orphanDir.resolve(RunDirectory.OWNER), deadOwner.pid() + " 0\n");
        Process orphan = startQemu(orphanDir);
        // 2. a run directory of a live owner (this JVM)
        Path liveDir = RunDirectory.create(base, "live");
        Process live = startQemu(liveDir);
        // 3. a dead owner whose pidfile names a process that is not that QEMU
        Path strayDir = RunDirectory.create(base, "stray");
        Files.writeString(strayDir.resolve(RunDirectory.OWNER), deadOwner.pid() + " 0\n");
        Process sleeper = new ProcessBuilder("sleep", "60").start();
        Files.writeString(strayDir.resolve(RunDirectory.QEMU_PID), sleeper.pid() + "\n");
        try {
            awaitPidfile(orphanDir);
            awaitPidfile(liveDir);
            List<QemuMachine.Orphan> swept = QemuMachine.sweepOrphans(base);
            assertThat(swept).extracting(QemuMachine.Orphan::qemuPid).containsExactly(orphan.pid());
            assertThat(swept.get(0).runDir()).isEqualTo(orphanDir);
            assertThat(swept.get(0).ownerPid()).isEqualTo(deadOwner.pid());
            assertThat(orphan.waitFor(5, TimeUnit.SECONDS)).isTrue();
            assertThat(orphanDir.resolve(RunDirectory.SWEPT)).content().contains("QEMU pid " + orphan.pid());
            assertThat(live.isAlive()).isTrue();
            assertThat(sleeper.isAlive()).isTrue();
        } finally {
            for (Process p : List.of(orphan, live, sleeper)) {
                BoundProcesses.kill(p, Duration.ofSeconds(5));
            }
        }
    }

    @Test
    void everyStartSweepsItsBaseDirectory(@TempDir Path base) throws Exception {
        Process gone = new ProcessBuilder("true").start();
        gone.waitFor();
        Path orphanDir = RunDirectory.create(base, "old");
        Files.writeString(orphanDir.resolve(RunDirectory.OWNER), gone.pid() + " 0\n");
        Process orphan = startQemu(orphanDir);
        try {
            awaitPidfile(orphanDir);
            try (QemuMachine vm =
                    TestMachines.bareKernel("sweeper").runBaseDir(base).start()) {
                assertThat(orphan.waitFor(5, TimeUnit.SECONDS))
                        .as("orphan swept by start()")
                        .isTrue();
                assertThat(vm.isRunning()).isTrue();
            }
        } finally {
            BoundProcesses.kill(orphan, Duration.ofSeconds(5));
        }
    }

    /** A QEMU as QemuMachine starts it (same binary, -pidfile in the run directory), but unbound to this JVM. */
    private static Process startQemu(Path runDir) throws Exception {
        return new ProcessBuilder(
                        TestMachines.qemu().path().toString(),
                        "-machine",
                        "q35",
                        "-accel",
                        "tcg",
                        "-m",
                        "64",
                        "-nodefaults",
                        "-display",
                        "none",
                        "-S",
                        "-pidfile",
                        runDir.resolve(RunDirectory.QEMU_PID).toString())
                .redirectOutput(runDir.resolve("stdout").toFile())
                .redirectErrorStream(true)
                .start();
    }

    private static void awaitPidfile(Path runDir) throws Exception {
        Path f = runDir.resolve(RunDirectory.QEMU_PID);
        long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
        while (System.nanoTime() < deadline) {
            if (Files.exists(f) && !Files.readString(f).isBlank()) {
                return;
            }
            Thread.sleep(10);
        }
        throw new AssertionError("no pidfile in " + runDir + ": "
                + Optional.of(runDir.resolve("stdout"))
                        .map(p -> {
                            try {
                                return Files.readString(p);
                            } catch (Exception e) {
                                return "";
                            }
                        })
                        .get());
    }
}

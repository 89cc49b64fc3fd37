package dev.vgpuhil.qemu.machine;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import dev.vgpuhil.common.MoreFiles;
import dev.vgpuhil.images.GuestImage;
import dev.vgpuhil.protocol.Pool;
import dev.vgpuhil.protocol.Priority;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Booting, the run directory, serial waits and the ways a boot fails. */
class QemuMachineBootTest {
    @Test
    void bootsToASerialLineAndKeepsEverythingInItsRunDirectory() throws Exception {
        long t0 = System.nanoTime();
        Path runDir;
        try (QemuMachine vm = TestMachines.bareKernel("serial").start()) {
            long started = System.nanoTime();
            SerialMatch m = vm.waits().forSerialLine(Pattern.compile("Linux version (\\S+)"));
            long t1 = System.nanoTime();
            System.out.printf(
                    "[timing] bare kernel, TCG: start() %d ms, 'Linux version' after %d ms%n",
                    (started - t0) / 1_000_000, (t1 - t0) / 1_000_000);
            assertThat(m.group(1)).isEqualTo(TestMachines.image().info().get("kernel_version"));
            assertThat(vm.isRunning()).isTrue();
            assertThat(vm.accelerator().toString()).isEqualTo("tcg (requested)");

            runDir = vm.runDir();
            assertThat(runDir.getParent()).isEqualTo(TestMachines.RUNS);
            assertThat(runDir.getFileName().toString()).matches("serial-\\d{8}-\\d{6}-\\d+");
            assertThat(vm.logFiles())
                    .containsKeys(
                            "qemu.cmdline",
                            "machine.info",
                            "serial.log",
                            "qmp.log",
                            "qemu.stderr.log",
                            "qemu.stdout.log");
            String cmdline = Files.readString(runDir.resolve("qemu.cmdline"));
            assertThat(cmdline)
                    .startsWith(TestMachines.qemu().path().toString())
                    .contains("-bios /usr/share/qemu/qboot.rom")
                    .contains("-accel tcg")
                    .contains("-pidfile ")
                    .contains("-kernel " + TestMachines.image().kernel());
            assertThat(Long.parseLong(
                            Files.readString(runDir.resolve("qemu.pid")).trim()))
                    .isEqualTo(vm.pid());
            assertThat(Files.readString(runDir.resolve("owner.pid")))
                    .startsWith(ProcessHandle.current().pid() + " ");
            assertThat(runDir.resolve("serial.log")).content().contains(m.line());
            assertThat(vm.serial().lines().get(m.index())).isEqualTo(m.line());

            // a mark: only lines after the match; the same line is not found again
            SerialMatch later = vm.waits().forSerialLine(Pattern.compile("Command line:"), m.next());
            assertThat(later.index()).isGreaterThan(m.index());
            assertThatThrownBy(() -> vm.waits(Duration.ofMillis(300))
                            .forSerialLine(Pattern.compile("Linux version"), later.next()))
                    .isInstanceOf(QemuMachineException.class);
        }
        assertThat(runDir).doesNotExist(); // deleted on close
    }

    @Test
    void aWaitTimesOutWithTheLastSerialLines() {
        try (QemuMachine vm =
                TestMachines.bareKernel("timeout").failOnSerial(null).start()) {
            vm.waits().forSerialLine("Linux version");
            long t0 = System.nanoTime();
            WaitTimeoutException e = catchThrowableOfType(
                    () -> vm.waits(Duration.ofSeconds(1)).forSerialLine("this line never comes"),
                    WaitTimeoutException.class);
            assertThat(Duration.ofNanos(System.nanoTime() - t0))
                    .isBetween(Duration.ofMillis(900), Duration.ofSeconds(3));
            assertThat(e)
                    .hasMessageStartingWith(
                            "timed out after 1000 ms waiting for a serial line matching " + "/this line never comes/");
            assertThat(e.getMessage()).contains("--- last serial lines ---").contains("--- QEMU stderr tail ---");
            assertThat(e.serialTail()).isNotBlank();
            assertThat(e.runDir()).isEqualTo(vm.runDir());
        }
    }

    @Test
    void aKernelPanicEndsSerialWaitsAtOnce() {
        try (QemuMachine vm = TestMachines.bareKernel("panic").start()) {
            long t0 = System.nanoTime();
            MachineDiedException e = catchThrowableOfType(
                    () -> vm.waits(Duration.ofSeconds(60)).forSerialLine("vgpu-hil: ready"),
                    MachineDiedException.class);
            assertThat(Duration.ofNanos(System.nanoTime() - t0)).isLessThan(Duration.ofSeconds(20));
            assertThat(e)
                    .hasMessageContaining("the guest printed a fatal line")
                    .hasMessageContaining("Kernel panic - not syncing: VFS: Unable to mount root fs");
            assertThat(vm.isRunning()).isTrue(); // panic=0: the kernel hangs, QEMU runs on
        }
    }

    @Test
    void aBootMarkerThatNeverComesIsABootFailure() {
        QemuMachine vm = TestMachines.bareKernel("no-marker")
                .readyWhen(GuestImage.MARKER_READY)
                .machine();
        long t0 = System.nanoTime();
        MachineBootException e = catchThrowableOfType(vm::start, MachineBootException.class);
        assertThat(Duration.ofNanos(System.nanoTime() - t0)).isLessThan(Duration.ofSeconds(20));
        assertThat(e)
                .hasMessageStartingWith("boot failed before /vgpu-hil: ready/: the guest printed a fatal line")
                .hasMessageContaining("QEMU was still running and was killed")
                .hasMessageContaining("--- command line ---")
                .hasMessageContaining("-kernel ");
        assertThat(e.serialTail()).contains("Kernel panic");
        assertThat(e.runDir()).isDirectory(); // kept for diagnosis
        assertThat(e.runDir().resolve("serial.log")).content().contains("Kernel panic");
        assertThat(vm.isRunning()).isFalse();
        assertThatThrownBy(vm::start).isInstanceOf(IllegalStateException.class).hasMessageContaining("start failed");
        vm.close();
        assertThat(e.runDir()).isDirectory();
        MoreFiles.deleteTree(e.runDir());
    }

    @Test
    void aGarbageKernelIsABootFailureWithExitCodeAndStderr(@TempDir Path tmp) throws Exception {
        Path garbage = tmp.resolve("vmlinuz");
        Files.write(garbage, new byte[4096]);
        // 4 KiB of zeros is no bzImage: QEMU boots it as an ancient kernel, which cannot take a ramdisk
        QemuMachine vm = TestMachines.bareKernel("garbage")
                .kernel(garbage)
                .initrd(TestMachines.image().initramfs())
                .machine();
        MachineBootException e = catchThrowableOfType(vm::start, MachineBootException.class);
        System.out.println("[example] " + e.getMessage());
        assertThat(e.exitStatus()).contains(new ExitStatus(1));
        assertThat(e)
                .hasMessageStartingWith("QEMU exited during start-up with exit code 1")
                .hasMessageContaining(garbage.toString());
        assertThat(e.stderrTail()).contains("linux kernel too old to load a ram disk");
        assertThat(e.getMessage()).contains(e.stderrTail());
        MoreFiles.deleteTree(e.runDir());
    }

    @Test
    void aBadDevicePropertyIsABootFailureNamingIt() {
        QemuMachine vm = TestMachines.bareKernel("bad-prop")
                .extraArgs("-device", "vgpu-stub,pool_id=C")
                .machine();
        MachineBootException e = catchThrowableOfType(vm::start, MachineBootException.class);
        assertThat(e.exitStatus()).contains(new ExitStatus(1));
        assertThat(e.stderrTail()).contains("pool_id");
        assertThat(e)
                .hasMessageStartingWith("QEMU exited during start-up with exit code 1")
                .hasMessageContaining("property 'pool_id' must be A or B")
                .hasMessageContaining("vgpu-stub,pool_id=C");
        MoreFiles.deleteTree(e.runDir());
    }

    @Test
    void aBinaryWithoutVgpuStubIsRefusedForVgpuMachinesOnly() {
        QemuMachine vm = TestMachines.bareKernel("stock")
                .binary(TestMachines.STOCK_QEMU)
                .vgpu(VgpuStubDevice.create())
                .machine();
        assertThatThrownBy(vm::start)
                .isInstanceOf(MachineBootException.class)
                .hasMessageContaining("QEMU binary refused")
                .hasMessageContaining(TestMachines.STOCK_QEMU.toString())
                .hasMessageContaining("lacks the vgpu-stub device");

        // without a vgpu device a stock QEMU is fine
        try (QemuMachine plain = TestMachines.bareKernel("stock-ok")
                .binary(TestMachines.STOCK_QEMU)
                .start()) {
            assertThat(plain.qemu().hasVgpuStub()).isFalse();
            assertThat(plain.waits().forSerialLine("Linux version").line()).contains("Linux version");
        }
    }

    @Test
    void startAndCloseAreIdempotent() {
        QemuMachine vm = TestMachines.bareKernel("twice").machine();
        assertThatThrownBy(vm::pid).isInstanceOf(IllegalStateException.class).hasMessageContaining("not started");
        assertThat(vm.start()).isSameAs(vm);
        long pid = vm.pid();
        assertThat(vm.start()).isSameAs(vm);
        assertThat(vm.pid()).isEqualTo(pid);
        vm.close();
        assertThat(vm.shutdownStep()).contains(QemuMachine.ShutdownStep.QUIT);
        assertThat(ProcessHandle.of(pid)).isEmpty();
        vm.close();
        assertThat(vm.shutdownStep()).contains(QemuMachine.ShutdownStep.QUIT);
        assertThat(vm.exitStatus()).contains(new ExitStatus(0));
        assertThatThrownBy(vm::start).isInstanceOf(IllegalStateException.class).hasMessageContaining("closed");

        QemuMachine never = TestMachines.bareKernel("never").machine();
        never.close();
        never.close();
        assertThat(never.shutdownStep()).contains(QemuMachine.ShutdownStep.NOT_STARTED);
    }

    @Test
    void keepRunDirectoryKeepsTheLogs() {
        Path dir;
        try (QemuMachine vm =
                TestMachines.bareKernel("keep").cleanup(CleanupMode.NEVER).start()) {
            vm.waits().forSerialLine("Linux version");
            dir = vm.runDir();
        }
        assertThat(dir.resolve("serial.log")).content().contains("Linux version");
        assertThat(dir.resolve("qmp.log")).content().contains("\"execute\":\"quit\"");
        assertThat(dir.resolve("machine.info"))
                .content()
                .contains("shutdown.step=QUIT")
                .contains("exit=exit code 0");
        MoreFiles.deleteTree(dir);
    }

    @Test
    void guestImageBootsToItsReadyMarker() {
        long t0 = System.nanoTime();
        try (QemuMachine vm =
                TestMachines.guest("guest").readyWhen(GuestImage.MARKER_READY).start()) {
            long ready = System.nanoTime();
            SerialMatch lv = vm.waits().forSerialLine("Linux version");
            System.out.printf(
                    "[timing] CI guest, TCG, no NIC: start() incl. '%s' %d ms%n",
                    GuestImage.MARKER_READY, (ready - t0) / 1_000_000);
            assertThat(lv.index())
                    .isLessThan(
                            vm.waits().forSerialLine(GuestImage.MARKER_READY).index());
            // the serial console takes input: the init runs a shell on it
            int mark = vm.serial().lineCount();
            vm.serial().send("echo sum=$((40+2))\n");
            assertThat(vm.waits(Duration.ofSeconds(20))
                            .forSerialLine(Pattern.compile("^sum=(\\d+)"), mark)
                            .group(1))
                    .isEqualTo("42");
        }
    }

    @Test
    void runAndPowerOffEndsQemuWithExitZero() {
        String cmdline = TestMachines.image().kernelCommandLineRun(null, "echo hello-from-guest");
        try (QemuMachine vm = TestMachines.guest("run").append(cmdline).start()) {
            assertThat(vm.waits().forSerialLine("^hello-from-guest$").line()).isEqualTo("hello-from-guest");
            QmpEvent shutdown = vm.waits().forQmpEvent("SHUTDOWN");
            assertThat(shutdown.data().path("guest").booleanValue()).isTrue();
            assertThat(vm.waits().forExit()).isEqualTo(new ExitStatus(0));
            assertThat(GuestImage.parseRun(String.join("\n", vm.serial().lines())))
                    .hasValueSatisfying(r -> assertThat(r.exitCode()).isZero());
            // QEMU is gone: a wait for something else fails at once, not at the deadline
            long t0 = System.nanoTime();
            assertThatThrownBy(() -> vm.waits(Duration.ofSeconds(30)).forSerialLine("never"))
                    .isInstanceOf(MachineDiedException.class)
                    .hasMessageContaining("QEMU exited (exit code 0)");
            assertThat(Duration.ofNanos(System.nanoTime() - t0)).isLessThan(Duration.ofSeconds(3));
            vm.close();
            assertThat(vm.shutdownStep()).contains(QemuMachine.ShutdownStep.ALREADY_EXITED);
        }
    }

    @Test
    void rejectsInconsistentConfiguration() {
        assertThatThrownBy(() -> QemuMachine.builder().append("console=ttyS0").build())
                .isInstanceOf(IllegalStateException.class);
        assertThatThrownBy(() -> QemuMachine.builder()
                        .kernel(Path.of("/nonexistent/vmlinuz"))
                        .build())
                .isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> QemuMachine.builder().memoryMb(1)).isInstanceOf(IllegalArgumentException.class);
        assertThat(VgpuStubDevice.of(Pool.B, Priority.HIGH, 200)
                        .id("g0")
                        .timeoutMs(100)
                        .toQemuArg(Path.of("/tmp/a,b.sock")))
                .isEqualTo("vgpu-stub,id=g0,pool_id=B,priority=high,vm_id=200,socket=/tmp/a,,b.sock,timeout_ms=100");
        assertThat(List.of(VgpuStubDevice.create().toQemuArg(null).split(",")))
                .containsExactly("vgpu-stub", "pool_id=A", "priority=low", "vm_id=0");
    }
}

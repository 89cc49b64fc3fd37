package dev.vgpuhil.qemu.machine;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** The shutdown escalation and what waits do when QEMU goes away. */
class ShutdownTest {
    private static void signal(String sig, long pid) throws Exception {
        Process p = new ProcessBuilder("kill", "-" + sig, Long.toString(pid)).start();
        assertThat(p.waitFor(10, TimeUnit.SECONDS)).isTrue();
        assertThat(p.exitValue()).isZero();
    }

    @Test
    void aStoppedQemuIsKilledWithinTheDeadlines() throws Exception {
        QemuMachine vm = TestMachines.bareKernel("sigstop")
                .shutdownTimeouts(Duration.ofSeconds(1), Duration.ofSeconds(1), Duration.ofSeconds(1))
                .start();
        vm.waits().forSerialLine("Linux version");
        long pid = vm.pid();
        signal("STOP", pid); // ignores quit (cannot read QMP) and SIGTERM (pending while stopped)
        long t0 = System.nanoTime();
        vm.close();
        Duration took = Duration.ofNanos(System.nanoTime() - t0);
        System.out.println("[timing] close() of a SIGSTOPped QEMU: " + took.toMillis() + " ms");
        assertThat(vm.shutdownStep()).contains(QemuMachine.ShutdownStep.SIGKILL);
        assertThat(vm.exitStatus()).contains(new ExitStatus(128 + 9));
        assertThat(vm.exitStatus().get()).hasToString("killed by signal 9 (SIGKILL)");
        assertThat(took).isBetween(Duration.ofMillis(1_900), Duration.ofSeconds(6));
        assertThat(ProcessHandle.of(pid)).isEmpty(); // reaped
    }

    @Test
    void sigtermEndsAQemuWhoseMonitorIsGone() throws Exception {
        try (QemuMachine vm = TestMachines.bareKernel("sigterm")
                .shutdownTimeouts(Duration.ofSeconds(1), Duration.ofSeconds(1), Duration.ofSeconds(5))
                .start()) {
            vm.qmp().close(); // no QMP: quit cannot be sent
            assertThat(vm.shutdown()).isEqualTo(QemuMachine.ShutdownStep.SIGTERM);
            assertThat(vm.exitStatus()).isPresent(); // QEMU handles SIGTERM by exiting (code 0)
            assertThat(vm.shutdown()).isEqualTo(QemuMachine.ShutdownStep.SIGTERM); // idempotent
        }
    }

    @Test
    void gracefulShutdownTriesPowerdownFirst() {
        // the bare kernel has panicked and ignores the ACPI button: powerdown times out, quit ends it
        try (QemuMachine vm = TestMachines.bareKernel("graceful")
                .gracefulShutdown(true)
                .shutdownTimeouts(Duration.ofSeconds(1), Duration.ofSeconds(5), Duration.ofSeconds(5))
                .start()) {
            vm.waits().forSerialLine("Linux version");
            long t0 = System.nanoTime();
            assertThat(vm.shutdown()).isEqualTo(QemuMachine.ShutdownStep.QUIT);
            assertThat(Duration.ofNanos(System.nanoTime() - t0))
                    .isBetween(Duration.ofMillis(900), Duration.ofSeconds(5));
            assertThat(vm.qmp().events()).extracting(QmpEvent::name).contains("POWERDOWN", "SHUTDOWN");
        }
    }

    @Test
    void aWaitFailsAsSoonAsQemuDiesNotAtItsDeadline() throws Exception {
        try (QemuMachine vm = TestMachines.bareKernel("dies").failOnSerial(null).start()) {
            vm.waits().forSerialLine("Linux version");
            CompletableFuture.runAsync(() -> {
                try {
                    Thread.sleep(500);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
                vm.kill();
            });
            long t0 = System.nanoTime();
            MachineDiedException e = catchThrowableOfType(
                    () -> vm.waits(Duration.ofSeconds(60)).forSerialLine("never printed"), MachineDiedException.class);
            Duration took = Duration.ofNanos(System.nanoTime() - t0);
            assertThat(took).isLessThan(Duration.ofSeconds(5));
            assertThat(e)
                    .hasMessageStartingWith("QEMU exited (killed by signal 9 (SIGKILL)) while waiting for "
                            + "a serial line matching /never printed/");
            assertThat(e.exitStatus()).contains(new ExitStatus(137));
            assertThat(e.serialTail()).isNotBlank();
        }
    }
}

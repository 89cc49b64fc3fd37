package dev.vgpuhil.qemu.machine;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.vgpuhil.common.BoundProcesses;
import dev.vgpuhil.containers.ContainerEngine;
import dev.vgpuhil.containers.ContainerReaper;
import dev.vgpuhil.protocol.Pool;
import dev.vgpuhil.protocol.Priority;
import dev.vgpuhil.qemu.ContainerQemu;
import dev.vgpuhil.qemu.DeviceHosting;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

/**
 * Debian's unmodified QEMU 11.1 in its image ({@code stock:11.1}): the device is served over vfio-user from this
 * host, serial and QMP work through the bind-mounted run directory, the container carries the reaper's labels and is
 * gone after close. Skipped, saying so, where no container engine answers.
 */
class StockQemuContainerTest {
    private static List<com.github.dockerjava.api.model.Container> ours() {
        return ContainerEngine.client()
                .listContainersCmd()
                .withShowAll(true)
                .withLabelFilter(Map.of(ContainerReaper.RUN, ContainerReaper.runId()))
                .exec()
                .stream()
                .filter(c -> List.of(c.getNames()).stream().anyMatch(n -> n.contains("vgpu-hil-qemu-")))
                .toList();
    }

    /** stock:11.1, TCG, the CI kernel without initramfs (prints "Linux version" and stops), one vgpu-stub. */
    static MachineSpec.Builder stock(String name) {
        return QemuMachine.builder()
                .name(name)
                .binary(Path.of(ContainerQemu.STOCK))
                .accelerator(Accelerator.TCG)
                .memoryMb(256)
                .kernel(TestMachines.image().kernel())
                .append("console=ttyS0")
                .runBaseDir(TestMachines.RUNS)
                .waitTimeout(Duration.ofSeconds(60))
                .vgpu(VgpuStubDevice.of(Pool.B, Priority.HIGH, 200).id("gpu0"));
    }

    private static void assumeEngine() {
        ContainerEngine.Availability a = ContainerEngine.availability();
        assumeTrue(a.available(), "no container engine on this machine: " + a.reason());
    }

    @Test
    @DisplayName("a SIGKILLed JVM's QEMU container dies with it (the watchdog) and is removed (--rm)")
    void sigkilledJvmTakesItsQemuContainer() throws Exception {
        assumeEngine();
        String javaBin = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        Process jvm = BoundProcesses.start(new ProcessBuilder(
                        javaBin, "-cp", System.getProperty("java.class.path"), StockQemuProbe.class.getName())
                .redirectErrorStream(true));
        long qemu;
        String owner = Long.toString(jvm.pid());
        try {
            var out = new java.io.BufferedReader(new java.io.InputStreamReader(jvm.getInputStream()));
            var line = java.util.concurrent.CompletableFuture.supplyAsync(() -> {
                try {
                    for (String l; (l = out.readLine()) != null; ) {
                        if (l.startsWith("QEMU ")) {
                            return l.substring(5).trim();
                        }
                    }
                } catch (java.io.IOException e) {
                    // the child died: null below
                }
                return null;
            });
            String pid = line.get(3, java.util.concurrent.TimeUnit.MINUTES);
            assertThat(pid).as("the child booted QEMU and printed its pid").isNotNull();
            qemu = Long.parseLong(pid);
            assertThat(ProcessHandle.of(qemu)).isPresent();
            assertThat(containersOf(owner)).hasSize(1);
        } finally {
            jvm.destroyForcibly(); // SIGKILL: no shutdown hook, no close
        }
        assertThat(jvm.waitFor(30, java.util.concurrent.TimeUnit.SECONDS)).isTrue();
        long until = System.nanoTime() + Duration.ofSeconds(60).toNanos();
        while ((ProcessHandle.of(qemu).map(BoundProcesses::running).orElse(false)
                        || !containersOf(owner).isEmpty())
                && System.nanoTime() < until) {
            Thread.sleep(100);
        }
        assertThat(ProcessHandle.of(qemu).map(BoundProcesses::running).orElse(false))
                .as("QEMU %d gone after its JVM was SIGKILLed", qemu)
                .isFalse();
        assertThat(containersOf(owner)).as("its container removed").isEmpty();
    }

    private static List<com.github.dockerjava.api.model.Container> containersOf(String ownerPid) {
        return ContainerEngine.client()
                .listContainersCmd()
                .withShowAll(true)
                .withLabelFilter(Map.of(ContainerReaper.OWNER_PID, ownerPid))
                .exec();
    }

    @Test
    @DisplayName("stock:11.1 boots in its container with vgpu-stub over vfio-user, and leaves no container behind")
    void stockQemuInItsContainer() throws Exception {
        assumeEngine();
        Path runDir;
        try (QemuMachine vm = stock("ctr-stock").start()) {
            runDir = vm.runDir();
            assertThat(vm.qemu().image()).isPresent();
            assertThat(vm.qemu().version()).startsWith("11.1");
            assertThat(vm.deviceHosting()).contains(DeviceHosting.VFIO_USER);
            List<PciDevice> vgpus =
                    vm.qmp().queryPci().stream().filter(PciDevice::isVgpuStub).toList();
            assertThat(vgpus).as("the vfio-user device in the guest's PCI tree").hasSize(1);
            assertThat(vm.waits().forSerialLine("Linux version").line()).contains("Linux version");
            assertThat(ours()).as("one labelled QEMU container of this run").hasSize(1);
            assertThat(Files.readString(runDir.resolve(RunDirectory.CMDLINE))).contains("docker run");
        }
        assertThat(ours()).as("no QEMU container left after close").isEmpty();
    }
}

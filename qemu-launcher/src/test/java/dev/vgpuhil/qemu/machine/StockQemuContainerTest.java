package dev.vgpuhil.qemu.machine;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

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

    @Test
    @DisplayName("stock:11.1 boots in its container with vgpu-stub over vfio-user, and leaves no container behind")
    void stockQemuInItsContainer() throws Exception {
        ContainerEngine.Availability a = ContainerEngine.availability();
        assumeTrue(a.available(), "no container engine on this machine: " + a.reason());
        Path runDir;
        try (QemuMachine vm = QemuMachine.builder()
                .name("ctr-stock")
                .binary(Path.of(ContainerQemu.STOCK))
                .accelerator(Accelerator.TCG)
                .memoryMb(256)
                .kernel(TestMachines.image().kernel())
                .append("console=ttyS0")
                .runBaseDir(TestMachines.RUNS)
                .waitTimeout(Duration.ofSeconds(60))
                .vgpu(VgpuStubDevice.of(Pool.B, Priority.HIGH, 200).id("gpu0"))
                .start()) {
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

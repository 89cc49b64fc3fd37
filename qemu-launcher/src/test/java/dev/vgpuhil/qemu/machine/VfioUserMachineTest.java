package dev.vgpuhil.qemu.machine;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.vgpuhil.common.BoundProcesses;
import dev.vgpuhil.common.MoreFiles;
import dev.vgpuhil.protocol.Pool;
import dev.vgpuhil.protocol.Priority;
import dev.vgpuhil.protocol.SourceTree;
import dev.vgpuhil.qemu.DeviceHosting;
import dev.vgpuhil.qemu.QemuBinary;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * QemuMachine on Debian's stock QEMU 11.1 ({@code -Dvgpu.qemu.stock}, else images/build-stock-qemu.sh): the
 * binary is recognised as a vfio-user hosting, one vgpu-stub-vfio-user per device is started before QEMU (log in
 * the run directory, attached through {@link QemuMachine#logFiles()}), QEMU gets {@code vfio-user-pci}, and the
 * servers are gone when the machine is closed. A QEMU with neither way is refused, naming both.
 */
@Tag("qtest")
class VfioUserMachineTest {
    private static final Duration WAIT = Duration.ofSeconds(30);

    static Path stockQemu() throws Exception {
        String p = dev.vgpuhil.common.Setting.QEMU_STOCK.value().orElse("");
        if (!p.isBlank()) {
            return Path.of(p.strip());
        }
        Path script = SourceTree.path("images", "build-stock-qemu.sh");
        BoundProcesses.Result r = BoundProcesses.run(List.of("bash", script.toString()), Duration.ofMinutes(30));
        assertThat(r.exitCode()).as("%s\n%s", script, r.stderrTail(20)).isZero();
        return Path.of(
                r.stdout().strip().lines().reduce((a, b) -> b).orElseThrow().strip());
    }

    @Test
    @DisplayName("stock QEMU 11.1: vfio-user hosting, one server per device, logs attached, servers reaped at close")
    void devicesAsVfioUserServers() throws Exception {
        QemuBinary stock = QemuBinary.probe(stockQemu());
        assertThat(stock.hasVgpuStub()).isFalse();
        assertThat(stock.hasVfioUserPci()).isTrue();
        assertThat(stock.hostings()).containsExactly(DeviceHosting.VFIO_USER);
        assertThat(stock.hosting()).isEqualTo(DeviceHosting.VFIO_USER);
        List<ProcessHandle> servers;
        Path runDir;
        try (QemuMachine vm = TestMachines.bareKernel("vfio-user")
                .binary(stock)
                .vgpu(
                        VgpuStubDevice.of(Pool.B, Priority.HIGH, 200).id("g0"),
                        VgpuStubDevice.of(Pool.A, Priority.LOW, 201).id("g1"))
                .start()) {
            runDir = vm.runDir();
            assertThat(vm.deviceHosting()).contains(DeviceHosting.VFIO_USER);
            assertThat(String.join(" ", vm.commandLine()))
                    .contains("\"driver\":\"vfio-user-pci\",\"id\":\"g0\"", "\"id\":\"g1\"")
                    .doesNotContain("vgpu-stub,");
            Map<String, Path> logs = vm.logFiles();
            assertThat(logs).containsKeys("vfio-user-0.log", "vfio-user-1.log");
            assertThat(Files.readString(logs.get("vfio-user-0.log"))).contains("vm_id 200, pool B", "client connected");
            assertThat(Files.readString(logs.get("vfio-user-1.log"))).contains("vm_id 201, pool A");
            vm.waits().forSerialLine("Linux version");
            String pci = vm.qmp().hmp("info pci");
            assertThat(pci).as("both devices on the guest's PCI bus").containsPattern("(?s)1234.*5647.*1234.*5647");
            // this machine's servers: other test classes run side by side and start servers of their own
            String qemuLine = String.join(" ", vm.commandLine());
            servers = ProcessHandle.current()
                    .descendants()
                    .filter(h -> h.info()
                            .command()
                            .map(c -> c.endsWith("vgpu-stub-vfio-user"))
                            .orElse(false))
                    .filter(h -> socketOf(h).map(qemuLine::contains).orElse(false))
                    .toList();
            assertThat(servers).as("one server per device").hasSize(2);
        }
        for (ProcessHandle h : servers) {
            assertThat(h.isAlive())
                    .as("server %d reaped with the machine", h.pid())
                    .isFalse();
        }
        MoreFiles.deleteTree(runDir);
    }

    @Test
    @DisplayName("a QEMU with neither vgpu-stub nor vfio-user-pci is refused, naming both ways")
    void neitherWayIsRefused() {
        QemuMachine vm = TestMachines.bareKernel("neither")
                .binary(TestMachines.STOCK_QEMU)
                .vgpu(VgpuStubDevice.create())
                .machine();
        assertThatThrownBy(vm::start)
                .isInstanceOf(MachineBootException.class)
                .hasMessageContaining("vgpu-stub")
                .hasMessageContaining("vfio-user-pci");
        assertThatThrownBy(() -> QemuBinary.probe(TestMachines.STOCK_QEMU))
                .isInstanceOf(QemuBinary.QemuBinaryException.class)
                .hasMessageContaining("lacks the vgpu-stub device")
                .hasMessageContaining("lacks vfio-user-pci")
                .hasMessageContaining("stock QEMU >= 10.1");
    }

    /** The {@code --socket} argument of a vfio-user server process, if its arguments can be read. */
    private static java.util.Optional<String> socketOf(ProcessHandle h) {
        List<String> args = List.of(h.info().arguments().orElse(new String[0]));
        int i = args.indexOf("--socket");
        return i >= 0 && i + 1 < args.size() ? java.util.Optional.of(args.get(i + 1)) : java.util.Optional.empty();
    }
}

package dev.vgpuhil.qemu.machine;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.vgpuhil.protocol.Pool;
import dev.vgpuhil.protocol.Priority;
import dev.vgpuhil.protocol.VgpuProtocol;
import java.nio.file.Files;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.Test;

/** QMP: status, PCI, HMP, errors, events, the transcript. */
class QmpTest {
    @Test
    void queryPciShowsOneVgpuStub() {
        try (QemuMachine vm = TestMachines.bareKernel("pci1")
                .vgpu(VgpuStubDevice.of(Pool.B, Priority.HIGH, 200).id("gpu0"))
                .start()) {
            List<PciDevice> vgpus =
                    vm.qmp().queryPci().stream().filter(PciDevice::isVgpuStub).toList();
            assertThat(vgpus).hasSize(1);
            PciDevice d = vgpus.get(0);
            assertThat(d.vendorId()).isEqualTo(VgpuProtocol.PCI_VENDOR_ID);
            assertThat(d.deviceId()).isEqualTo(VgpuProtocol.PCI_DEVICE_ID);
            assertThat(d.classCode()).isEqualTo(VgpuProtocol.PCI_CLASS);
            assertThat(d.qdevId()).isEqualTo("gpu0");
            assertThat(d.bars()).anySatisfy(b -> {
                assertThat(b.bar()).isZero();
                assertThat(b.size()).isEqualTo(VgpuProtocol.BAR0_SIZE);
            });
            assertThat(d.bdf()).matches("0000:00:[0-9a-f]{2}\\.0");
            // the device points at the machine's private mediator socket, not /tmp/vgpu-mediator.sock
            assertThat(String.join(" ", vm.commandLine()))
                    .contains("vgpu-stub,id=gpu0,pool_id=B,priority=high," + "vm_id=200,socket=" + vm.mediatorSocket());
            assertThat(vm.mediatorSocket().getParent()).isEqualTo(vm.runDir());
        }
    }

    @Test
    void queryPciShowsTwoVgpuStubsWhenTwoAreConfigured() {
        try (QemuMachine vm = TestMachines.bareKernel("pci2")
                .vgpu(
                        VgpuStubDevice.of(Pool.A, Priority.LOW, 1).id("ga").addr("05.0"),
                        VgpuStubDevice.of(Pool.B, Priority.MEDIUM, 2).id("gb").addr("06.0"))
                .start()) {
            List<PciDevice> vgpus =
                    vm.qmp().queryPci().stream().filter(PciDevice::isVgpuStub).toList();
            assertThat(vgpus).extracting(PciDevice::qdevId).containsExactly("ga", "gb");
            assertThat(vgpus).extracting(PciDevice::bdf).containsExactly("0000:00:05.0", "0000:00:06.0");
            assertThat(vm.vgpuDevices()).hasSize(2);
        }
    }

    @Test
    void statusHmpErrorsAndTranscript() throws Exception {
        try (QemuMachine vm = TestMachines.bareKernel("qmp").start()) {
            QmpClient qmp = vm.qmp();
            assertThat(qmp.queryStatus()).isEqualTo(new QmpClient.RunState("running", true));
            assertThat(qmp.greeting().path("version").has("qemu")).isTrue();
            assertThat(qmp.hmp("info version")).contains("7.2");
            assertThatThrownBy(() -> qmp.execute("no-such-command"))
                    .isInstanceOf(QmpException.class)
                    .satisfies(e -> assertThat(((QmpException) e).errorClass()).isEqualTo("CommandNotFound"));
            assertThatThrownBy(() -> qmp.execute("human-monitor-command", Map.of("bogus", 1)))
                    .isInstanceOf(QmpException.class)
                    .hasMessageContaining("GenericError");
            qmp.stop();
            assertThat(qmp.queryStatus()).isEqualTo(new QmpClient.RunState("paused", false));
            qmp.cont();
            assertThat(qmp.queryStatus().running()).isTrue();
            String transcript = Files.readString(vm.runDir().resolve("qmp.log"));
            assertThat(transcript)
                    .contains("-> {\"execute\":\"qmp_capabilities\"")
                    .contains("<- {\"QMP\":")
                    .contains("\"execute\":\"no-such-command\"")
                    .contains("CommandNotFound");
        }
    }

    @Test
    void startPausedLeavesTheGuestStopped() {
        try (QemuMachine vm =
                TestMachines.bareKernel("paused").startPaused(true).start()) {
            assertThat(vm.qmp().queryStatus().running()).isFalse();
            assertThat(vm.serial().lineCount()).isZero();
            vm.qmp().cont();
            assertThat(vm.waits().forSerialLine("Linux version").index()).isGreaterThanOrEqualTo(0);
        }
    }

    @Test
    void eventsReachListenersAndWaits() {
        List<QmpEvent> heard = new CopyOnWriteArrayList<>();
        try (QemuMachine vm = TestMachines.bareKernel("events").start()) {
            vm.qmp().addEventListener(heard::add);
            int mark = vm.qmp().eventCount();
            assertThat(vm.qmp().events()).extracting(QmpEvent::name).contains("RESUME"); // from our cont
            vm.qmp().systemPowerdown();
            QmpEvent pd = vm.waits(Duration.ofSeconds(10)).forQmpEvent("POWERDOWN", mark);
            assertThat(pd.index()).isGreaterThanOrEqualTo(mark);
            vm.qmp().quit();
            QmpEvent sd = vm.waits(Duration.ofSeconds(10)).forQmpEvent("SHUTDOWN", mark);
            assertThat(sd.data().path("guest").isBoolean()
                            && !sd.data().path("guest").booleanValue())
                    .isTrue();
            assertThat(sd.dataString("reason")).isEqualTo("host-qmp-quit");
            assertThat(vm.waits(Duration.ofSeconds(10)).forExit()).isEqualTo(new ExitStatus(0));
            assertThat(heard).extracting(QmpEvent::name).containsSubsequence("POWERDOWN", "SHUTDOWN");
            // the connection is gone now: commands fail clearly, waits for more events fail at once
            assertThatThrownBy(() -> vm.qmp().queryStatus())
                    .isInstanceOf(QmpException.class)
                    .hasMessageContaining("QMP connection closed");
            assertThatThrownBy(() -> vm.waits(Duration.ofSeconds(30)).forQmpEvent("RESET"))
                    .isInstanceOf(MachineDiedException.class);
            vm.close();
            assertThat(vm.shutdownStep()).contains(QemuMachine.ShutdownStep.ALREADY_EXITED);
        }
    }
}

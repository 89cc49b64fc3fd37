package dev.vgpuhil.qemu.machine;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.vgpuhil.protocol.Pool;
import dev.vgpuhil.protocol.Priority;
import dev.vgpuhil.qemu.QemuBinary;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The machine's configuration record, the command line made from it, cleanup and readiness composition. */
class MachineSpecTest {
    @TempDir
    Path tmp;

    @Test
    void theSpecIsImmutableAndRoundTripsThroughItsBuilder() throws Exception {
        Path kernel = Files.write(tmp.resolve("vmlinuz"), new byte[16]);
        MachineSpec.Builder b = MachineSpec.builder()
                .name("spec")
                .kernel(kernel)
                .append("console=ttyS0")
                .vgpu(VgpuStubDevice.of(Pool.B, Priority.HIGH, 7))
                .forwardGuestPort(8080);
        MachineSpec spec = b.build();
        b.vgpu(VgpuStubDevice.create()).name("changed");
        assertThat(spec.devices())
                .as("a later builder change does not reach a built spec")
                .hasSize(1);
        assertThat(spec.name()).isEqualTo("spec");
        assertThatThrownBy(() -> spec.devices().add(VgpuStubDevice.create()))
                .isInstanceOf(UnsupportedOperationException.class);
        assertThat(spec.toBuilder().build()).isEqualTo(spec);
        assertThat(spec.userNetworking()).isTrue();
        assertThat(spec.forwardedGuestPorts()).containsExactly(8080);
        assertThat(spec.kernel()).isAbsolute();
        assertThat(spec.cleanup()).isEqualTo(CleanupMode.ON_SUCCESS);
        assertThat(spec.fatalSerialPattern()).isSameAs(MachineSpec.KERNEL_PANIC);
        assertThat(spec.shutdown()).isEqualTo(ShutdownEscalation.Deadlines.DEFAULT);
        assertThat(MachineSpec.builder()
                        .gracefulShutdown(true)
                        .build()
                        .shutdown()
                        .graceful())
                .isTrue();
    }

    @Test
    void theCommandLineComesFromTheSpecInOnePlace() throws Exception {
        Path kernel = Files.write(tmp.resolve("vmlinuz"), new byte[16]);
        Path disk = Files.write(tmp.resolve("a,b.qcow2"), new byte[16]);
        Path mediator = tmp.resolve("mediator.sock");
        MachineSpec spec = MachineSpec.builder()
                .name("cl")
                .memoryMb(256)
                .cpus(2)
                .kernel(kernel)
                .append("quiet")
                .disk(disk)
                .userNetworking(true)
                .forwardGuestPort(8080)
                .vgpu(
                        VgpuStubDevice.of(Pool.A, Priority.LOW, 1).id("g0").addr("10.0"),
                        VgpuStubDevice.of(Pool.B, Priority.HIGH, 2).socket(tmp.resolve("own.sock")))
                .extraArgs("-device", "virtio-rng-pci")
                .build();
        QemuBinary stock = QemuBinary.probeAnyQemu(TestMachines.STOCK_QEMU);
        QemuCommandLine.RunPaths paths = new QemuCommandLine.RunPaths(
                tmp.resolve("serial.sock"), tmp.resolve("qmp.sock"), tmp.resolve("qemu.pid"), mediator);
        List<String> tcg = QemuCommandLine.of(spec, stock, Accelerator.TCG, paths);
        assertThat(tcg.get(0)).isEqualTo(stock.path().toString());
        assertThat(tcg)
                .containsSequence("-name", "cl")
                .containsSequence("-accel", "tcg")
                .containsSequence("-m", "256", "-smp", "2")
                .containsSequence("-kernel", kernel.toString())
                .containsSequence("-append", "quiet")
                .containsSequence("-pidfile", tmp.resolve("qemu.pid").toString())
                .containsSequence("-qmp", "unix:" + tmp.resolve("qmp.sock") + ",server=on,wait=off")
                .contains("-S", "-no-reboot")
                .containsSequence("-cpu", "qemu64,+rdrand");
        assertThat(tcg)
                .containsSequence(
                        "-drive", "file=" + disk.toString().replace(",", ",,") + ",if=virtio,format=qcow2,snapshot=on");
        assertThat(tcg)
                .containsSequence("-netdev", "user,id=net0,hostfwd=tcp:127.0.0.1:0-:22,hostfwd=tcp:127.0.0.1:0-:8080");
        List<String> devices = QemuCommandLine.deviceArgs(spec.devices(), mediator);
        assertThat(devices)
                .containsExactly(
                        "-device", "vgpu-stub,id=g0,addr=10.0,pool_id=A,priority=low,vm_id=1,socket=" + mediator,
                        "-device", "vgpu-stub,pool_id=B,priority=high,vm_id=2,socket=" + tmp.resolve("own.sock"));
        assertThat(tcg).containsSequence(devices.toArray(String[]::new));
        assertThat(tcg.subList(tcg.size() - 2, tcg.size()))
                .as("extra arguments last")
                .containsExactly("-device", "virtio-rng-pci");
        assertThat(QemuCommandLine.of(spec, stock, Accelerator.KVM, paths))
                .containsSequence("-accel", "kvm")
                .containsSequence("-cpu", "host");
    }

    @Test
    void oneCleanupModeDecidesForEveryRunDirectory() {
        assertThat(CleanupMode.parse(null)).isEqualTo(CleanupMode.ON_SUCCESS);
        assertThat(CleanupMode.parse("on-success")).isEqualTo(CleanupMode.ON_SUCCESS);
        assertThat(CleanupMode.parse("NEVER")).isEqualTo(CleanupMode.NEVER);
        assertThat(CleanupMode.parse(" always ")).isEqualTo(CleanupMode.ALWAYS);
        assertThatThrownBy(() -> CleanupMode.parse("keep"))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("vgpu.cleanup")
                .hasMessageContaining("on_success");
        assertThat(CleanupMode.ON_SUCCESS.deletes(false)).isTrue();
        assertThat(CleanupMode.ON_SUCCESS.deletes(true)).isFalse();
        assertThat(CleanupMode.ALWAYS.deletes(true)).isTrue();
        assertThat(CleanupMode.NEVER.deletes(false)).isFalse();
    }

    @Test
    void readinessComposesInOrderAgainstOneDeadline() {
        List<String> ran = new ArrayList<>();
        WaitStrategy a = step("a", ran);
        WaitStrategy b = step("b", ran);
        WaitStrategy c = step("c", ran);
        WaitStrategy all = a.and(b).and(c);
        assertThat(all).isInstanceOf(WaitStrategy.AllOf.class);
        assertThat(((WaitStrategy.AllOf) all).steps()).containsExactly(a, b, c);
        assertThat(all.description()).isEqualTo("a, then b, then c");
        Deadline d = Deadline.after(Duration.ofSeconds(5));
        all.waitUntilReady(null, d);
        assertThat(ran).containsExactly("a", "b", "c");
        assertThat(d.remaining()).isPositive().isLessThanOrEqualTo(Duration.ofSeconds(5));
        assertThat(Deadline.after(Duration.ZERO).expired()).isTrue();
        assertThat(SerialLineWait.forLine("vgpu-hil: ready").description()).isEqualTo("/vgpu-hil: ready/");
    }

    private static WaitStrategy step(String name, List<String> ran) {
        return new WaitStrategy() {
            @Override
            public void waitUntilReady(QemuMachine machine, Deadline deadline) {
                ran.add(name);
            }

            @Override
            public String description() {
                return name;
            }
        };
    }
}

package dev.vgpuhil.qemu;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** What a QEMU in a container sees of this host: the directories its arguments name, never the system's. */
class ContainerQemuTest {
    @TempDir
    Path tmp;

    @Test
    @DisplayName("the arguments' directories are mounted, outermost only; the image's system directories never")
    void mountsFollowTheArguments() throws Exception {
        Path run = Files.createDirectories(tmp.resolve("run"));
        Path sockets = Files.createDirectories(run.resolve("s"));
        Path kernel = Files.writeString(tmp.resolve("vmlinuz"), "k");
        Path disks = Files.createDirectories(tmp.resolve("disks"));
        List<String> args = List.of(
                "qemu-system-x86_64",
                "-kernel",
                kernel.toString(),
                "-bios",
                "/usr/share/qemu/qboot.rom",
                "-chardev",
                "socket,id=s0,path=" + sockets.resolve("serial.sock"),
                "-device",
                "{\"driver\":\"vfio-user-pci\",\"socket\":{\"type\":\"unix\",\"path\":\""
                        + sockets.resolve("vgpu0.sock") + "\"}}",
                "-drive",
                "file=" + disks.resolve("a.qcow2") + ",if=virtio",
                "-pidfile",
                run.resolve("qemu.pid").toString());
        assertThat(ContainerQemu.mounts(args.subList(1, args.size()), run))
                .as("the run directory covers its sockets; the kernel's and the disk's directories; no /usr")
                .containsExactlyInAnyOrder(tmp.toAbsolutePath());
        assertThat(ContainerQemu.mounts(List.of("-bios", "/usr/share/qemu/qboot.rom", "-L", "/usr/share/qemu"), null))
                .isEmpty();
        assertThat(ContainerQemu.mounts(List.of("-kernel", kernel.toString(), "-drive", "file=" + disks + "/x"), run))
                .containsExactly(tmp.toAbsolutePath()); // tmp itself is an argument's parent
    }

    @Test
    @DisplayName("/dev/kvm goes only to a command line that asks for KVM")
    void kvmOnlyWhenAsked() {
        assertThat(ContainerQemu.wantsKvm(List.of("-accel", "kvm", "-cpu", "host")))
                .isTrue();
        assertThat(ContainerQemu.wantsKvm(List.of("-machine", "q35,accel=kvm"))).isTrue();
        assertThat(ContainerQemu.wantsKvm(List.of("-accel", "tcg"))).isFalse();
        assertThat(ContainerQemu.wantsKvm(List.of("-accel", "qtest"))).isFalse();
    }
}

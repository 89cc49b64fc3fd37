package dev.vgpuhil.qemu.machine;

import dev.vgpuhil.qemu.QemuBinary;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * QEMU's argument list for one {@link MachineSpec}: binary, name, machine, accelerator and CPU, memory, firmware,
 * the serial port and QMP sockets, pidfile, direct kernel boot, disks, user networking with its forwards, the
 * vgpu-stub devices ({@link #deviceArgs}) and the spec's extra arguments, in that order. Every path that QEMU parses
 * as an option value has its commas doubled (QEMU's escaping).
 */
public final class QemuCommandLine {
    /** Debian's qboot (qemu-system-data): fast firmware for direct kernel boot. */
    public static final Path QBOOT = Path.of("/usr/share/qemu/qboot.rom");

    /** Where the run's own files are: sockets QEMU connects to or serves, the pidfile, the devices' default socket. */
    public record RunPaths(Path serialSocket, Path qmpSocket, Path pidFile, Path defaultMediatorSocket) {
        public RunPaths {
            Objects.requireNonNull(serialSocket);
            Objects.requireNonNull(qmpSocket);
            Objects.requireNonNull(pidFile);
        }
    }

    private QemuCommandLine() {}

    /**
     * The TCG default: QEMU's own model plus RDRAND, so a guest kernel that trusts the CPU (Debian's) has its CRNG
     * ready at once; without it the CRNG waits ~1 s for jitter entropy under TCG and sshd (dropbear) waits for it.
     */
    static final String TCG_CPU = "qemu64,+rdrand";

    /** The argument list ({@code qemu} resolved, {@code accelerator} decided) to run {@code spec} with. */
    public static List<String> of(MachineSpec spec, QemuBinary qemu, Accelerator accelerator, RunPaths paths) {
        return of(spec, qemu, accelerator, paths, deviceArgs(spec.devices(), paths.defaultMediatorSocket()));
    }

    /**
     * The argument list with the devices' arguments given: {@link #deviceArgs} for the in-QEMU device, or the
     * {@code vfio-user-pci} devices of a vfio-user hosting ({@link HostedDevices}).
     */
    public static List<String> of(
            MachineSpec spec, QemuBinary qemu, Accelerator accelerator, RunPaths paths, List<String> deviceArgs) {
        List<String> c = new ArrayList<>();
        c.add(qemu.path().toString());
        c.addAll(List.of("-name", spec.name()));
        c.addAll(List.of("-machine", spec.machineType()));
        c.addAll(List.of("-accel", accelerator.qemuName()));
        String cpu = spec.cpu() != null
                ? spec.cpu()
                : accelerator == Accelerator.KVM ? "host" : accelerator == Accelerator.TCG ? TCG_CPU : null;
        if (cpu != null) {
            c.addAll(List.of("-cpu", cpu));
        }
        c.addAll(List.of("-m", Integer.toString(spec.memoryMb()), "-smp", Integer.toString(spec.cpus())));
        c.addAll(List.of("-nodefaults", "-no-user-config", "-display", "none"));
        c.addAll(qemu.firmwareArgs());
        Path bios =
                spec.bios() != null ? spec.bios() : spec.kernel() != null && Files.isRegularFile(QBOOT) ? QBOOT : null;
        if (bios != null) {
            c.addAll(List.of("-bios", bios.toString()));
        }
        // QEMU connects to the serial socket the machine listens on, so no byte of the boot is lost
        c.addAll(List.of(
                "-chardev",
                "socket,id=serial0,path=" + opt(paths.serialSocket().toString()),
                "-serial",
                "chardev:serial0"));
        c.addAll(List.of("-qmp", "unix:" + opt(paths.qmpSocket().toString()) + ",server=on,wait=off"));
        c.addAll(List.of("-pidfile", paths.pidFile().toString()));
        c.add("-S"); // paused until QMP is connected: no early event is missed
        if (spec.noReboot()) {
            c.add("-no-reboot");
        }
        if (spec.kernel() != null) {
            c.addAll(List.of("-kernel", spec.kernel().toString()));
            if (spec.initrd() != null) {
                c.addAll(List.of("-initrd", spec.initrd().toString()));
            }
            if (spec.append() != null) {
                c.addAll(List.of("-append", spec.append()));
            }
        }
        if (spec.disk() != null) {
            c.addAll(List.of(
                    "-drive",
                    "file=" + opt(spec.disk().toString()) + ",if=virtio,format=" + spec.diskFormat()
                            + (spec.diskSnapshot() ? ",snapshot=on" : "")));
        }
        if (spec.cloudInitSeed() != null) {
            c.addAll(List.of(
                    "-drive", "file=" + opt(spec.cloudInitSeed().toString()) + ",if=virtio,format=raw,readonly=on"));
        }
        if (spec.userNetworking()) {
            StringBuilder net = new StringBuilder("user,id=net0");
            for (int guestPort : spec.forwardedGuestPorts()) {
                net.append(",hostfwd=tcp:127.0.0.1:0-:").append(guestPort);
            }
            c.addAll(List.of("-netdev", net.toString(), "-device", spec.nicModel() + ",netdev=net0"));
        }
        c.addAll(deviceArgs);
        c.addAll(spec.extraArgs());
        return c;
    }

    /**
     * The {@code -device} arguments of the vgpu-stub devices, in order; a device without its own socket or chardev
     * uses {@code defaultMediatorSocket}. The one place a device becomes QEMU arguments.
     */
    public static List<String> deviceArgs(List<VgpuStubDevice> devices, Path defaultMediatorSocket) {
        List<String> c = new ArrayList<>();
        for (VgpuStubDevice d : devices) {
            c.addAll(List.of("-device", d.toQemuArg(defaultMediatorSocket)));
        }
        return c;
    }

    /** QEMU's option escaping: a comma in a value is written twice. */
    static String opt(String value) {
        return value.replace(",", ",,");
    }
}

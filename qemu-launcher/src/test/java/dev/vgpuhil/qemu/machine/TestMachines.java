package dev.vgpuhil.qemu.machine;

import dev.vgpuhil.images.GuestImage;
import dev.vgpuhil.qemu.QemuBinary;
import java.nio.file.Path;
import java.time.Duration;

/** What the machine tests boot: the QEMU with vgpu-stub and the CI guest image, located once per JVM. */
final class TestMachines {
    /** Debian's qemu-system-x86: no vgpu-stub. */
    static final Path STOCK_QEMU = Path.of("/usr/bin/qemu-system-x86_64");
    /** Run directories of the tests (the module's target directory). */
    static final Path RUNS = Path.of("target", "vgpu-runs").toAbsolutePath();

    private static QemuBinary qemu;
    private static GuestImage image;

    private TestMachines() {}

    static synchronized QemuBinary qemu() {
        if (qemu == null) {
            qemu = QemuBinary.locate();
        }
        return qemu;
    }

    static synchronized GuestImage image() {
        if (image == null) {
            image = GuestImage.locate();
        }
        return image;
    }

    /**
     * TCG, 256 MiB, the image's kernel WITHOUT an initramfs: it prints "Linux version ..." within ~1 s and then
     * panics ("VFS: Unable to mount root fs"), after which it hangs (no panic=) with QEMU still running.
     */
    static MachineSpec.Builder bareKernel(String name) {
        return QemuMachine.builder()
                .name(name)
                .binary(qemu())
                .accelerator(Accelerator.TCG)
                .memoryMb(256)
                .kernel(image().kernel())
                .append("console=ttyS0")
                .runBaseDir(RUNS)
                .waitTimeout(Duration.ofSeconds(30));
    }

    /** TCG, 512 MiB, kernel + initramfs of the CI guest (no SSH key): "vgpu-hil: ready" in ~5 s. */
    static MachineSpec.Builder guest(String name) {
        return QemuMachine.builder()
                .name(name)
                .binary(qemu())
                .accelerator(Accelerator.TCG)
                .memoryMb(512)
                .kernel(image().kernel())
                .initrd(image().initramfs())
                .append(image().kernelCommandLine(null))
                .runBaseDir(RUNS)
                .waitTimeout(Duration.ofSeconds(60));
    }
}

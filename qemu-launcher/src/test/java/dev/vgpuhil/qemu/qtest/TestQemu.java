package dev.vgpuhil.qemu.qtest;

import dev.vgpuhil.qemu.QemuBinary;
import java.nio.file.Path;

/** The QEMU binaries tests use, probed once per JVM. */
public final class TestQemu {
    /** Debian's qemu-system-x86 package: no vgpu-stub, no qtest accelerator; good for client-level tests. */
    public static final Path STOCK_PATH = Path.of("/usr/bin/qemu-system-x86_64");

    private static QemuBinary stock;
    private static QemuBinary vgpu;
    private static RuntimeException vgpuFailure;

    private TestQemu() {}

    /** Debian's stock QEMU (fails with the probe's message if it is not installed). */
    public static synchronized QemuBinary stock() {
        if (stock == null) {
            stock = QemuBinary.probeAnyQemu(STOCK_PATH);
        }
        return stock;
    }

    /** The QEMU with vgpu-stub (QemuBinary.locate: -Dvgpu.qemu, VGPU_QEMU, build-qemu.sh --print-path). */
    public static synchronized QemuBinary vgpu() {
        if (vgpu == null && vgpuFailure == null) {
            try {
                vgpu = QemuBinary.locate();
            } catch (RuntimeException e) {
                vgpuFailure = e;
            }
        }
        if (vgpuFailure != null) {
            throw new IllegalStateException("no QEMU with vgpu-stub: " + vgpuFailure.getMessage(), vgpuFailure);
        }
        return vgpu;
    }
}

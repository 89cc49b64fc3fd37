package dev.vgpuhil.qemu.device;

import dev.vgpuhil.common.BoundProcesses;
import dev.vgpuhil.protocol.SourceTree;
import dev.vgpuhil.qemu.QemuBinary;
import dev.vgpuhil.qemu.VfioUserServer;
import dev.vgpuhil.qemu.qtest.QtestSession;
import dev.vgpuhil.qemu.qtest.VfioUserCompanion;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

/**
 * The vfio-user hosting of the device tests: Debian's unmodified QEMU 11.1 ({@code -Dvgpu.qemu.stock=PATH}, else the
 * wrapper printed by {@code images/build-stock-qemu.sh}, cached) with {@code vgpu-stub-vfio-user} attached as
 * {@code vfio-user-pci}; the server is a {@link VfioUserCompanion} of the qtest session.
 */
final class VfioUserHosting {
    static final String STOCK_PROPERTY = dev.vgpuhil.common.Setting.QEMU_STOCK.property();
    private static QemuBinary stock;

    private VfioUserHosting() {}

    /** Stock QEMU 11.1, probed once; it must have vfio-user-pci and the qtest accelerator. */
    static synchronized QemuBinary stockQemu() {
        if (stock == null) {
            Path p = locate();
            QemuBinary q = QemuBinary.probe(p);
            if (!q.hasVfioUserPci() || !q.hasQtestAccelerator()) {
                throw new IllegalStateException(q + " needs vfio-user-pci and -accel qtest for the vfio-user device"
                        + " tests (accelerators: " + q.accelerators() + ")");
            }
            stock = q;
        }
        return stock;
    }

    private static Path locate() {
        String prop = dev.vgpuhil.common.Setting.QEMU_STOCK.value().orElse("");
        if (!prop.isBlank()) {
            return Path.of(prop.strip());
        }
        Path script = SourceTree.path("images", "build-stock-qemu.sh");
        if (!Files.isRegularFile(script)) {
            throw new IllegalStateException("no stock QEMU 11.1 for the vfio-user hosting: set -D" + STOCK_PROPERTY
                    + "=<qemu-system-x86_64 of images/build-stock-qemu.sh>");
        }
        try {
            BoundProcesses.Result r = BoundProcesses.run(List.of("bash", script.toString()), Duration.ofMinutes(30));
            String last =
                    r.stdout().strip().lines().reduce((a, b) -> b).orElse("").strip();
            if (r.exitCode() != 0 || last.isEmpty()) {
                throw new IllegalStateException(script + " exited " + r.exitCode() + ":\n" + r.stderrTail(20));
            }
            return Path.of(last);
        } catch (Exception e) {
            throw new IllegalStateException(
                    "no stock QEMU 11.1 for the vfio-user hosting (" + script + "): " + e.getMessage(), e);
        }
    }

    /**
     * A qtest session builder whose VM holds the vgpu-stub as a vfio-user server configured by {@code props}
     * (vgpu-stub property names). The session's {@code vfio-user.log} is the server's log.
     */
    static QtestSession.Builder qtest(List<String> props) {
        return QtestSession.builder(stockQemu())
                .companion(new VfioUserCompanion(VfioUserServer.locateBinary(), props, null));
    }

    /**
     * Lets QEMU's main loop run the eventfd handlers that were ready when the last command ran (interrupts from
     * the server arrive that way): after two further round trips every such handler has run.
     */
    static void settle(QtestSession qtest) {
        qtest.readl(0);
        qtest.readl(0);
    }
}

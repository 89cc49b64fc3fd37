package dev.vgpuhil.qemu.qtest;

import dev.vgpuhil.qemu.QemuBinary;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/** The QEMU binaries tests use, probed once per JVM. */
public final class TestQemu {
    /** Debian's qemu-system-x86 package: no vgpu-stub, no qtest accelerator; good for client-level tests. */
    public static final Path STOCK_PATH = Path.of("/usr/bin/qemu-system-x86_64");

    /**
     * The QEMU lines the device suite runs on: {@code NAME=PATH,NAME=PATH,...} in order, e.g.
     * {@code 7.2=/root/.cache/vgpu-hil/qemu/7.2.22-.../qemu-system-x86_64,10.0=...}, each a build with vgpu-stub
     * (bin/vgpu-hil test passes it). Unset: the single {@link #vgpu()}.
     */
    public static final String MATRIX_PROPERTY = dev.vgpuhil.common.Setting.QEMU_MATRIX.property();
    /** Debian's unmodified QEMU 11.1 (the wrapper printed by images/build-stock-qemu.sh), for vfio-user. */
    public static final String STOCK_PROPERTY = dev.vgpuhil.common.Setting.QEMU_STOCK.property();

    /** One QEMU line of the matrix. */
    public record Line(String name, QemuBinary qemu) {}

    private static QemuBinary stock;
    private static QemuBinary vgpu;
    private static RuntimeException vgpuFailure;
    private static List<Line> matrix;

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

    /** The QEMU lines of {@value #MATRIX_PROPERTY}, probed (each must have vgpu-stub); empty when it is unset. */
    public static synchronized List<Line> vgpuMatrix() {
        if (matrix == null) {
            matrix = parseMatrix(dev.vgpuhil.common.Setting.QEMU_MATRIX.value().orElse("")).stream()
                    .map(e -> new Line(e.name(), probeLine(e)))
                    .toList();
        }
        return matrix;
    }

    private static QemuBinary probeLine(MatrixEntry e) {
        try {
            return QemuBinary.probe(e.path());
        } catch (RuntimeException ex) {
            throw new IllegalStateException(
                    "-D" + MATRIX_PROPERTY + " entry " + e.name() + "=" + e.path() + ": " + ex.getMessage(), ex);
        }
    }

    /** One {@code NAME=PATH} of the matrix property, not yet probed. */
    record MatrixEntry(String name, Path path) {}

    /** Parses {@code NAME=PATH,...}; blank means none. Names must be unique, paths absolute. */
    static List<MatrixEntry> parseMatrix(String value) {
        List<MatrixEntry> out = new ArrayList<>();
        if (value.isBlank()) {
            return out;
        }
        for (String item : value.split(",")) {
            String t = item.trim();
            int eq = t.indexOf('=');
            if (eq <= 0 || eq == t.length() - 1) {
                throw new IllegalArgumentException("-D" + MATRIX_PROPERTY + ": '" + t
                        + "' is not NAME=PATH (e.g. 7.2=/path/to/qemu-system-x86_64)");
            }
            String name = t.substring(0, eq).trim();
            Path path = Path.of(t.substring(eq + 1).trim());
            if (!path.isAbsolute()) {
                throw new IllegalArgumentException(
                        "-D" + MATRIX_PROPERTY + ": the path of " + name + " must be absolute, not " + path);
            }
            if (out.stream().anyMatch(e -> e.name().equals(name))) {
                throw new IllegalArgumentException("-D" + MATRIX_PROPERTY + ": " + name + " appears twice");
            }
            out.add(new MatrixEntry(name, path));
        }
        return out;
    }

    /** Debian's stock QEMU 11.1 of {@value #STOCK_PROPERTY}, probed as any QEMU; empty when the property is unset. */
    public static Optional<QemuBinary> stock11() {
        String p = dev.vgpuhil.common.Setting.QEMU_STOCK.value().orElse("");
        return p.isBlank() ? Optional.empty() : Optional.of(QemuBinary.probeAnyQemu(Path.of(p.trim())));
    }
}

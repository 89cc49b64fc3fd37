package dev.vgpuhil.qemu;

import dev.vgpuhil.common.BoundProcesses;
import dev.vgpuhil.common.Setting;
import dev.vgpuhil.common.ShippedScripts;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.TimeoutException;

/**
 * A probed {@code qemu-system-x86_64}: it exists, is executable, answers {@code --version} like QEMU and
 * (unless created with {@link #probeAnyQemu}) can host the vgpu-stub device: it has the {@code vgpu-stub} device
 * compiled in, or QEMU's {@code vfio-user-pci} (stock QEMU ≥ 10.1), which attaches the device run as the
 * {@code vgpu-stub-vfio-user} server ({@link DeviceHosting}, {@link #hosting()}).
 *
 * <p>Where the binary comes from ({@link #locate}): an explicit path, else {@link Setting#QEMU} ({@code -Dvgpu.qemu},
 * {@code VGPU_QEMU}), else the last stdout line of the shipped {@code vgpu-stub/build-qemu.sh --print-path}
 * ({@link ShippedScripts}; it builds and caches QEMU).
 */
public final class QemuBinary {
    public static final String PROPERTY = Setting.QEMU.property();
    public static final String ENV = Setting.QEMU.env();
    public static final String DEVICE = "vgpu-stub";
    /** {@code -Dvgpu.hosting=in-qemu|vfio-user}: which hosting to use when a binary offers both. */
    public static final String HOSTING_PROPERTY = Setting.HOSTING.property();
    /** The accelerator the device tests need for a controllable virtual clock. */
    public static final String QTEST_ACCEL = "qtest";
    /** Firmware directories of Debian's qemu-system-data and seabios packages. */
    public static final List<Path> DEBIAN_FIRMWARE_DIRS =
            List.of(Path.of("/usr/share/qemu"), Path.of("/usr/share/seabios"));

    static final Duration PROBE_DEADLINE = Duration.ofSeconds(30);
    /** Building QEMU from source on 2 cores takes a while; the script caches, so later calls are instant. */
    static Duration buildDeadline() {
        return Setting.QEMU_BUILD_TIMEOUT.duration();
    }

    private final Path path;
    private final String version;
    private final boolean hasVgpuStub;
    private final String vgpuStubProperties;
    private final List<Path> firmwareDirs;
    private final List<String> accelerators;
    private final boolean hasVfioUserPci;
    /** The image it runs in ({@link ContainerQemu}); null for a binary on this host. */
    private final dev.vgpuhil.containers.BuiltImage image;

    private QemuBinary(
            Path path,
            String version,
            boolean hasVgpuStub,
            String vgpuStubProperties,
            List<Path> firmwareDirs,
            List<String> accelerators,
            boolean hasVfioUserPci,
            dev.vgpuhil.containers.BuiltImage image) {
        this.image = image;
        this.path = path;
        this.hasVfioUserPci = hasVfioUserPci;
        this.accelerators = List.copyOf(accelerators);
        this.version = version;
        this.hasVgpuStub = hasVgpuStub;
        this.vgpuStubProperties = vgpuStubProperties;
        this.firmwareDirs = List.copyOf(firmwareDirs);
    }

    /** {@link #locate(Path)} with no explicit path. */
    public static QemuBinary locate() {
        return locate(null);
    }

    /**
     * Finds the QEMU binary (see class comment) and probes it; it must have vgpu-stub.
     *
     * @throws QemuBinaryException naming where the binary came from and what is wrong with it
     */
    public static QemuBinary locate(Path explicit) {
        String origin;
        Path candidate;
        java.util.Optional<String> given = Setting.QEMU.value();
        if (explicit != null) {
            candidate = explicit;
            origin = "explicit path";
        } else if (given.isPresent()) {
            candidate = Path.of(given.get());
            origin = Setting.QEMU.spelled();
        } else {
            candidate = fromBuildScript();
            origin = "vgpu-stub/build-qemu.sh --print-path";
        }
        try {
            return probe(candidate);
        } catch (QemuBinaryException e) {
            throw new QemuBinaryException(e.getMessage() + " (binary from " + origin + ")", e);
        }
    }

    /** Probes {@code binary} and requires a way to host the vgpu-stub device (vgpu-stub or vfio-user-pci). */
    public static QemuBinary probe(Path binary) {
        return probe(binary, PROBE_DEADLINE);
    }

    /** {@link #probe(Path)} with a deadline for each probe run of the binary. */
    public static QemuBinary probe(Path binary, Duration probeDeadline) {
        QemuBinary q = probeAnyQemu(binary, probeDeadline);
        if (q.hostings().isEmpty()) {
            throw new QemuBinaryException(binary + " (" + q.version + ") can host the vgpu-stub device neither way:"
                    + " it lacks the " + DEVICE + " device (`-device " + DEVICE + ",help` does not list it; the QEMU"
                    + " built by vgpu-stub/build-qemu.sh has it) and lacks " + VfioUserServer.QEMU_DEVICE
                    + " (stock QEMU >= 10.1 has it; the device then runs as vgpu-stub-vfio-user). Set -D" + PROPERTY
                    + " or " + ENV + " to a QEMU with either");
        }
        return q;
    }

    /**
     * Probes {@code binary} as a QEMU without requiring vgpu-stub (for tests of the launcher's own protocol
     * handling against a stock QEMU). It must still exist, be executable and answer like QEMU.
     */
    public static QemuBinary probeAnyQemu(Path binary) {
        return probeAnyQemu(binary, PROBE_DEADLINE);
    }

    /** {@link #probeAnyQemu(Path)} with a deadline for each probe run of the binary. */
    public static QemuBinary probeAnyQemu(Path binary, Duration probeDeadline) {
        if (ContainerQemu.isContainerSpec(binary.toString())) {
            dev.vgpuhil.containers.BuiltImage img;
            try {
                img = ContainerQemu.image(binary.toString());
            } catch (RuntimeException e) {
                throw new QemuBinaryException(
                        "QEMU " + binary + " runs in a container image, which is not available: " + e.getMessage(), e);
            }
            return probeAnyQemu(binary, img, probeDeadline);
        }
        Path abs = binary.toAbsolutePath().normalize();
        if (!Files.exists(abs)) {
            throw new QemuBinaryException("QEMU binary " + abs + " does not exist");
        }
        if (!Files.isRegularFile(abs) || !Files.isExecutable(abs)) {
            throw new QemuBinaryException("QEMU binary " + abs + " is not an executable file");
        }
        return probeAnyQemu(abs, null, probeDeadline);
    }

    private static QemuBinary probeAnyQemu(Path abs, dev.vgpuhil.containers.BuiltImage image, Duration probeDeadline) {
        QemuBinary target = new QemuBinary(abs, "", false, "", List.of(), List.of(), false, image);
        BoundProcesses.Result v = runProbe(target, probeDeadline, "--version");
        String first = v.stdout().strip().lines().findFirst().orElse("");
        if (v.exitCode() != 0 || !first.startsWith("QEMU emulator version")) {
            throw new QemuBinaryException(abs + " is not a QEMU binary: `--version` exited " + v.exitCode()
                    + " and printed \"" + first + "\" instead of \"QEMU emulator version ...\"");
        }
        // `-device X,help` exits 0 either way; the device exists iff it prints its option list.
        BoundProcesses.Result d = runProbe(target, probeDeadline, "-machine", "none", "-device", DEVICE + ",help");
        boolean has = d.stdout().startsWith(DEVICE + " options:");
        BoundProcesses.Result vu =
                runProbe(target, probeDeadline, "-machine", "none", "-device", VfioUserServer.QEMU_DEVICE + ",help");
        boolean hasVfioUser = vu.stdout().startsWith(VfioUserServer.QEMU_DEVICE + " options:");
        // a container's firmware is its image's (its entry point passes -L); host directories would not be there
        List<Path> fw = image != null
                ? List.of()
                : DEBIAN_FIRMWARE_DIRS.stream().filter(Files::isDirectory).toList();
        // "Accelerators supported in QEMU binary:" then one name per line
        List<String> accels = new ArrayList<>(runProbe(target, probeDeadline, "-accel", "help")
                .stdout()
                .lines()
                .skip(1)
                .map(String::strip)
                .filter(l -> !l.isEmpty())
                .toList());
        // `-accel help` deliberately omits qtest (softmmu/vl.c: "omit qtest which is used for tests only"), so
        // ask for it by name: QEMU says "invalid accelerator qtest" iff it is not built in (or its module,
        // accel-qtest-*.so, is missing, as in Debian's packages); otherwise it only complains about "help".
        if (!accels.contains(QTEST_ACCEL)) {
            BoundProcesses.Result q =
                    runProbe(target, probeDeadline, "-machine", "none", "-accel", QTEST_ACCEL + ",help");
            String out = q.stdout() + q.stderr();
            if (!out.contains("invalid accelerator") && out.contains(QTEST_ACCEL)) {
                accels.add(QTEST_ACCEL);
            }
        }
        return new QemuBinary(
                abs,
                first.substring("QEMU emulator version".length()).strip(),
                has,
                has ? d.stdout() : "",
                fw,
                accels,
                hasVfioUser,
                image);
    }

    private static BoundProcesses.Result runProbe(QemuBinary binary, Duration deadline, String... args) {
        List<String> cmd = new ArrayList<>();
        cmd.add(binary.path().toString());
        Collections.addAll(cmd, args);
        Launch l = binary.launch(cmd, null);
        try {
            return BoundProcesses.run(l.command(), deadline);
        } catch (IOException e) {
            throw new QemuBinaryException("cannot run " + l.command() + ": " + e.getMessage(), e);
        } catch (TimeoutException e) {
            throw new QemuBinaryException("probe of " + binary.path() + " hung: " + e.getMessage(), e);
        } finally {
            l.reap();
        }
    }

    /**
     * How a command line whose argv[0] is this binary runs: as it is on this host, or as {@code docker run} of the
     * image ({@link ContainerQemu}); {@link Launch#reap()} after the process ended removes a container left behind.
     */
    public Launch launch(List<String> command, Path workDir) {
        if (image == null) {
            return new Launch(List.copyOf(command), null);
        }
        ContainerQemu.Launch c = ContainerQemu.launch(image.ref(), command, workDir);
        return new Launch(c.command(), c.name());
    }

    /** A command to run and, for a QEMU in a container, the container's name. */
    public record Launch(List<String> command, String container) {
        /** Removes the container if its client was killed before QEMU ended; nothing for a host binary. */
        public void reap() {
            if (container != null) {
                ContainerQemu.reap(container);
            }
        }
    }

    /** The image this QEMU runs in; empty for a binary on this host. */
    public java.util.Optional<dev.vgpuhil.containers.BuiltImage> image() {
        return java.util.Optional.ofNullable(image);
    }

    private static Path fromBuildScript() {
        Path script;
        try {
            script = ShippedScripts.script("vgpu-stub/build-qemu.sh");
        } catch (RuntimeException e) {
            throw new QemuBinaryException("no QEMU given (" + Setting.QEMU.spelled() + ") and " + e.getMessage(), e);
        }
        Duration deadline = buildDeadline();
        try {
            return ShippedScripts.announced(
                    "QEMU with vgpu-stub from Debian's source package ("
                            + ShippedScripts.cacheRoot().resolve("qemu") + ")",
                    "5-10 min on 2 cores",
                    () -> ShippedScripts.runForPath(null, deadline, List.of(script.toString(), "--print-path")));
        } catch (Exception e) {
            throw new QemuBinaryException(script + " --print-path: " + e.getMessage(), e);
        }
    }

    public Path path() {
        return path;
    }

    /** e.g. "7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)". */
    public String version() {
        return version;
    }

    public boolean hasVgpuStub() {
        return hasVgpuStub;
    }

    /** Whether the binary has QEMU's vfio-user client device ({@code vfio-user-pci}). */
    public boolean hasVfioUserPci() {
        return hasVfioUserPci;
    }

    /** The hostings this binary offers, preferred first: in-QEMU (if it has vgpu-stub), then vfio-user. */
    public List<DeviceHosting> hostings() {
        List<DeviceHosting> h = new ArrayList<>();
        if (hasVgpuStub) {
            h.add(DeviceHosting.IN_QEMU);
        }
        if (hasVfioUserPci) {
            h.add(DeviceHosting.VFIO_USER);
        }
        return List.copyOf(h);
    }

    /**
     * The hosting devices on this binary get: {@code -Dvgpu.hosting} if set, else the first of {@link #hostings()}.
     *
     * @throws QemuBinaryException if the binary cannot host the device that way (or at all)
     */
    public DeviceHosting hosting() {
        String wanted = Setting.HOSTING.get();
        List<DeviceHosting> offered = hostings();
        if (wanted != null && !wanted.isBlank()) {
            DeviceHosting h;
            try {
                h = DeviceHosting.fromSetting(wanted);
            } catch (IllegalArgumentException e) {
                throw new QemuBinaryException("-D" + HOSTING_PROPERTY + ": " + e.getMessage(), e);
            }
            if (!offered.contains(h)) {
                throw new QemuBinaryException("-D" + HOSTING_PROPERTY + "=" + wanted + " needs " + h.qemuDevice()
                        + ", which " + this + " lacks");
            }
            return h;
        }
        if (offered.isEmpty()) {
            throw new QemuBinaryException(this + " has neither " + DEVICE + " nor " + VfioUserServer.QEMU_DEVICE
                    + ": it cannot host the vgpu-stub device");
        }
        return offered.get(0);
    }

    /** Output of {@code -device vgpu-stub,help} (empty if the device is absent). */
    public String vgpuStubProperties() {
        return vgpuStubProperties;
    }

    /**
     * Accelerators the binary has, e.g. [tcg, kvm, qtest]: those listed by {@code -accel help} plus qtest, which
     * that list never shows and which is probed by name.
     */
    public List<String> accelerators() {
        return accelerators;
    }

    /** Whether {@code -accel qtest} (needed for a controllable virtual clock) is available. */
    public boolean hasQtestAccelerator() {
        return accelerators.contains(QTEST_ACCEL);
    }

    /** Directories passed as {@code -L}, in order. */
    public List<Path> firmwareDirs() {
        return firmwareDirs;
    }

    /** A copy that also searches {@code dir} for firmware (after the existing ones). */
    public QemuBinary withFirmwareDir(Path dir) {
        List<Path> dirs = new ArrayList<>(firmwareDirs);
        dirs.add(dir);
        return new QemuBinary(
                path, version, hasVgpuStub, vgpuStubProperties, dirs, accelerators, hasVfioUserPci, image);
    }

    /** {@code -L dir} for every firmware directory. */
    public List<String> firmwareArgs() {
        List<String> args = new ArrayList<>();
        for (Path d : firmwareDirs) {
            args.add("-L");
            args.add(d.toString());
        }
        return args;
    }

    @Override
    public String toString() {
        return "QEMU " + version + " at " + path + (image == null ? "" : " in " + image.ref()) + " ("
                + (hasVgpuStub ? "with " : "without ") + DEVICE + (hasVfioUserPci ? ", with " : ", without ")
                + VfioUserServer.QEMU_DEVICE + ")";
    }

    /** The binary is missing, unusable or cannot host the vgpu-stub device. */
    public static final class QemuBinaryException extends RuntimeException {
        private static final long serialVersionUID = 1L;

        public QemuBinaryException(String message) {
            super(message);
        }

        public QemuBinaryException(String message, Throwable cause) {
            super(message, cause);
        }
    }
}

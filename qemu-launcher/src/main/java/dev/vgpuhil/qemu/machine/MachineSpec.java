package dev.vgpuhil.qemu.machine;

import dev.vgpuhil.qemu.QemuBinary;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Objects;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * Everything a {@link QemuMachine} is configured with, immutable (as Testcontainers keeps a container's
 * {@code ContainerDef}). Made by {@link #builder()} ({@link Builder#build()}, which checks it); the QEMU command line
 * made from it is {@link QemuCommandLine}'s business, the shutdown {@link ShutdownEscalation}'s, readiness the
 * {@link WaitStrategy}'s.
 *
 * @param binary a probed binary, or null: {@code binaryPath}, else {@link QemuBinary#locate()}
 * @param binaryPath a binary to probe at start (must have vgpu-stub if {@code devices} is not empty), or null
 * @param devices the vgpu-stub devices, in slot order of the command line
 * @param mediatorSocket the socket of devices without their own, or null: {@code mediator.sock} in the run directory
 * @param forwardedGuestPorts guest TCP ports forwarded from free loopback ports (user networking only)
 * @param readiness what {@link QemuMachine#start()} waits for after QEMU runs, within {@code bootTimeout}; null: none
 * @param fatalSerialPattern a serial line that ends serial waits and readiness at once; null: none
 */
public record MachineSpec(
        QemuBinary binary,
        Path binaryPath,
        String name,
        String machineType,
        int memoryMb,
        int cpus,
        String cpu,
        Accelerator accelerator,
        Path bios,
        Path kernel,
        Path initrd,
        String append,
        Path disk,
        String diskFormat,
        boolean diskSnapshot,
        Path cloudInitSeed,
        List<VgpuStubDevice> devices,
        Path mediatorSocket,
        boolean userNetworking,
        List<Integer> forwardedGuestPorts,
        String nicModel,
        List<String> extraArgs,
        Path runBaseDir,
        CleanupMode cleanup,
        Duration waitTimeout,
        Duration startTimeout,
        Duration bootTimeout,
        WaitStrategy readiness,
        Pattern fatalSerialPattern,
        boolean noReboot,
        boolean startPaused,
        ShutdownEscalation.Deadlines shutdown) {
    /** The default fatal serial line: a kernel panic. */
    public static final Pattern KERNEL_PANIC = Pattern.compile("Kernel panic - not syncing");

    public static final Duration DEFAULT_WAIT_TIMEOUT = Duration.ofSeconds(60);
    public static final Duration DEFAULT_START_TIMEOUT = Duration.ofSeconds(30);
    public static final Duration DEFAULT_BOOT_TIMEOUT = Duration.ofSeconds(120);

    public MachineSpec {
        Objects.requireNonNull(name);
        Objects.requireNonNull(machineType);
        Objects.requireNonNull(accelerator);
        Objects.requireNonNull(nicModel);
        Objects.requireNonNull(runBaseDir);
        Objects.requireNonNull(cleanup);
        Objects.requireNonNull(waitTimeout);
        Objects.requireNonNull(startTimeout);
        Objects.requireNonNull(bootTimeout);
        Objects.requireNonNull(shutdown);
        devices = List.copyOf(devices);
        forwardedGuestPorts = List.copyOf(forwardedGuestPorts);
        extraArgs = List.copyOf(extraArgs);
    }

    public static Builder builder() {
        return new Builder();
    }

    /** A builder holding this spec's values, to derive another spec. */
    public Builder toBuilder() {
        return new Builder(this);
    }

    /**
     * Fluent construction of a {@link MachineSpec}: {@link #build()} checks and returns the record,
     * {@link #machine()} an unstarted {@link QemuMachine} of it, {@link #start()} a started one.
     */
    public static final class Builder {
        private QemuBinary binary;
        private Path binaryPath;
        private String name = "vm";
        private String machineType = "q35";
        private int memoryMb = 512;
        private int cpus = 1;
        private String cpu;
        private Accelerator accelerator = Accelerator.AUTO;
        private Path bios;
        private Path kernel;
        private Path initrd;
        private String append;
        private Path disk;
        private String diskFormat;
        private boolean diskSnapshot = true;
        private Path seed;
        private final List<VgpuStubDevice> vgpus = new ArrayList<>();
        private Path mediatorSocket;
        private boolean userNet;
        private final Set<Integer> forwards = new LinkedHashSet<>();
        private String nicModel = "virtio-net-pci";
        private final List<String> extraArgs = new ArrayList<>();
        private Path baseDir = RunDirectory.defaultBase();
        private CleanupMode cleanup = CleanupMode.configured();
        private Duration waitTimeout = DEFAULT_WAIT_TIMEOUT;
        private Duration startTimeout = DEFAULT_START_TIMEOUT;
        private Duration bootTimeout = DEFAULT_BOOT_TIMEOUT;
        private WaitStrategy readiness;
        private Pattern fatalPattern = KERNEL_PANIC;
        private boolean noReboot = true;
        private boolean startPaused;
        private ShutdownEscalation.Deadlines shutdown = ShutdownEscalation.Deadlines.DEFAULT;

        private Builder() {}

        private Builder(MachineSpec s) {
            binary = s.binary;
            binaryPath = s.binaryPath;
            name = s.name;
            machineType = s.machineType;
            memoryMb = s.memoryMb;
            cpus = s.cpus;
            cpu = s.cpu;
            accelerator = s.accelerator;
            bios = s.bios;
            kernel = s.kernel;
            initrd = s.initrd;
            append = s.append;
            disk = s.disk;
            diskFormat = s.diskFormat;
            diskSnapshot = s.diskSnapshot;
            seed = s.cloudInitSeed;
            vgpus.addAll(s.devices);
            mediatorSocket = s.mediatorSocket;
            userNet = s.userNetworking;
            forwards.addAll(s.forwardedGuestPorts);
            nicModel = s.nicModel;
            extraArgs.addAll(s.extraArgs);
            baseDir = s.runBaseDir;
            cleanup = s.cleanup;
            waitTimeout = s.waitTimeout;
            startTimeout = s.startTimeout;
            bootTimeout = s.bootTimeout;
            readiness = s.readiness;
            fatalPattern = s.fatalSerialPattern;
            noReboot = s.noReboot;
            startPaused = s.startPaused;
            shutdown = s.shutdown;
        }

        /**
         * A probed binary. Default: {@link QemuBinary#locate()} (builds/locates the QEMU with vgpu-stub; once per
         * JVM).
         */
        public Builder binary(QemuBinary q) {
            this.binary = Objects.requireNonNull(q);
            this.binaryPath = null;
            return this;
        }

        /**
         * A binary path, probed at start: it must have vgpu-stub if any {@link #vgpu} device is configured, else
         * any QEMU will do (e.g. Debian's stock one).
         */
        public Builder binary(Path path) {
            this.binaryPath = Objects.requireNonNull(path);
            this.binary = null;
            return this;
        }

        /** Name in logs, {@code -name} and the run directory (default "vm"). */
        public Builder name(String n) {
            this.name = Objects.requireNonNull(n);
            return this;
        }

        /** {@code -machine} (default q35). */
        public Builder machineType(String type) {
            this.machineType = Objects.requireNonNull(type);
            return this;
        }

        /** Guest RAM in MiB (default 512). */
        public Builder memoryMb(int mb) {
            if (mb < 16) {
                throw new IllegalArgumentException("memory too small: " + mb + " MiB");
            }
            this.memoryMb = mb;
            return this;
        }

        /** vCPUs (default 1). */
        public Builder cpus(int n) {
            if (n < 1) {
                throw new IllegalArgumentException("cpus must be at least 1: " + n);
            }
            this.cpus = n;
            return this;
        }

        /** {@code -cpu} model (default: "host" under KVM, "qemu64,+rdrand" under TCG: QemuCommandLine). */
        public Builder cpu(String model) {
            this.cpu = model;
            return this;
        }

        /** AUTO (default), KVM or TCG; see {@link Accelerator}. */
        public Builder accelerator(Accelerator a) {
            this.accelerator = Objects.requireNonNull(a);
            return this;
        }

        /**
         * {@code -bios} (default: {@link QemuCommandLine#QBOOT} for direct kernel boot if installed, else QEMU's
         * SeaBIOS).
         */
        public Builder bios(Path firmware) {
            this.bios = firmware;
            return this;
        }

        /** Direct kernel boot: {@code -kernel}. */
        public Builder kernel(Path k) {
            this.kernel = k;
            return this;
        }

        /** {@code -initrd} (needs {@link #kernel}). */
        public Builder initrd(Path i) {
            this.initrd = i;
            return this;
        }

        /** Kernel command line {@code -append} (needs {@link #kernel}); e.g. "console=ttyS0 ...". */
        public Builder append(String cmdline) {
            this.append = cmdline;
            return this;
        }

        /**
         * A disk image on virtio-blk (format from the extension: qcow2 unless .raw/.img). With
         * {@link #diskSnapshot} (default true) writes go to a temporary overlay and the image stays untouched.
         */
        public Builder disk(Path image) {
            this.disk = image;
            return this;
        }

        /** Format of {@link #disk} (default: from its extension). */
        public Builder diskFormat(String format) {
            this.diskFormat = format;
            return this;
        }

        /** {@code snapshot=on} for the disk (default true). */
        public Builder diskSnapshot(boolean snapshot) {
            this.diskSnapshot = snapshot;
            return this;
        }

        /** A NoCloud cloud-init seed image (raw, read-only virtio disk). */
        public Builder cloudInitSeed(Path seedImage) {
            this.seed = seedImage;
            return this;
        }

        /** Adds a vgpu-stub device. */
        public Builder vgpu(VgpuStubDevice device) {
            vgpus.add(Objects.requireNonNull(device));
            return this;
        }

        /** Adds several vgpu-stub devices. */
        public Builder vgpu(VgpuStubDevice... devices) {
            for (VgpuStubDevice d : devices) {
                vgpu(d);
            }
            return this;
        }

        /** The mediator socket for devices without their own (default: {@code mediator.sock} in the run dir). */
        public Builder mediatorSocket(Path socket) {
            this.mediatorSocket = socket == null ? null : socket.toAbsolutePath();
            return this;
        }

        /**
         * User-mode networking with a NIC ({@link #nicModel}) and the guest's SSH port 22 forwarded from a free
         * loopback port ({@code hostfwd=tcp:127.0.0.1:0-:22}), read back through {@code info usernet}:
         * {@link QemuMachine#sshPort()}.
         */
        public Builder userNetworking(boolean on) {
            this.userNet = on;
            if (on) {
                forwards.add(22);
            } else {
                forwards.clear();
            }
            return this;
        }

        /** Also forwards a free loopback port to {@code guestPort} (turns user networking on). */
        public Builder forwardGuestPort(int guestPort) {
            if (guestPort < 1 || guestPort > 65535) {
                throw new IllegalArgumentException("bad port " + guestPort);
            }
            this.userNet = true;
            forwards.add(guestPort);
            return this;
        }

        /** NIC model for user networking (default virtio-net-pci). */
        public Builder nicModel(String model) {
            this.nicModel = Objects.requireNonNull(model);
            return this;
        }

        /** Raw QEMU arguments appended last. */
        public Builder extraArgs(String... args) {
            extraArgs.addAll(List.of(args));
            return this;
        }

        /** Base of the run directories (default {@code -Dvgpu.runs.dir} or {@code ./target/vgpu-runs}). */
        public Builder runBaseDir(Path base) {
            this.baseDir = base.toAbsolutePath();
            return this;
        }

        /** What {@link QemuMachine#close()} does with the run directory (default {@link CleanupMode#configured()}). */
        public Builder cleanup(CleanupMode mode) {
            this.cleanup = Objects.requireNonNull(mode);
            return this;
        }

        /** Default deadline of {@link QemuMachine#waits()} (default 60 s). */
        public Builder waitTimeout(Duration t) {
            this.waitTimeout = Objects.requireNonNull(t);
            return this;
        }

        /** Deadline for QEMU to come up to a negotiated QMP monitor (default 30 s). */
        public Builder startTimeout(Duration t) {
            this.startTimeout = Objects.requireNonNull(t);
            return this;
        }

        /** What {@link QemuMachine#start()} waits for once QEMU runs (within {@link #bootTimeout}); null: nothing. */
        public Builder waitingFor(WaitStrategy strategy) {
            this.readiness = strategy;
            return this;
        }

        /** {@link #waitingFor} a serial line matching {@code marker} ({@link SerialLineWait}); null: nothing. */
        public Builder readyWhen(Pattern marker) {
            return waitingFor(marker == null ? null : SerialLineWait.forLine(marker));
        }

        /** {@link #readyWhen(Pattern)} with a regex. */
        public Builder readyWhen(String markerRegex) {
            return readyWhen(Pattern.compile(markerRegex));
        }

        /** The boot budget: the deadline of the {@link #waitingFor} strategy (default 120 s). */
        public Builder bootTimeout(Duration t) {
            this.bootTimeout = Objects.requireNonNull(t);
            return this;
        }

        /**
         * A serial line that makes serial waits (and the boot) fail at once (default {@link #KERNEL_PANIC}); null
         * disables it.
         */
        public Builder failOnSerial(Pattern fatal) {
            this.fatalPattern = fatal;
            return this;
        }

        /** {@code -no-reboot} (default true): a guest reboot or triple fault ends QEMU instead of looping. */
        public Builder noReboot(boolean on) {
            this.noReboot = on;
            return this;
        }

        /** Leave the guest paused after start (resume with {@code qmp().cont()}); default false. */
        public Builder startPaused(boolean paused) {
            this.startPaused = paused;
            return this;
        }

        /** Try ACPI power-off ({@code system_powerdown}) before quit when shutting down (default false). */
        public Builder gracefulShutdown(boolean on) {
            this.shutdown = shutdown.withGraceful(on);
            return this;
        }

        /** Deadlines of the shutdown steps (defaults: powerdown 20 s, quit 5 s, SIGTERM 5 s). */
        public Builder shutdownTimeouts(Duration powerdown, Duration quit, Duration term) {
            this.shutdown =
                    new ShutdownEscalation.Deadlines(shutdown.graceful(), powerdown, quit, term, shutdown.kill());
            return this;
        }

        /** The checked, immutable spec (paths made absolute, the disk format decided). */
        public MachineSpec build() {
            if (kernel == null && (initrd != null || append != null)) {
                throw new IllegalStateException("initrd/append need a kernel");
            }
            if (kernel != null && !Files.isRegularFile(kernel)) {
                throw new IllegalArgumentException("kernel " + kernel + " is not a file");
            }
            if (initrd != null && !Files.isRegularFile(initrd)) {
                throw new IllegalArgumentException("initrd " + initrd + " is not a file");
            }
            if (disk != null && !Files.isRegularFile(disk)) {
                throw new IllegalArgumentException("disk image " + disk + " is not a file");
            }
            if (seed != null && !Files.isRegularFile(seed)) {
                throw new IllegalArgumentException("seed image " + seed + " is not a file");
            }
            String format = diskFormat;
            if (disk != null && format == null) {
                String f = disk.getFileName().toString();
                format = f.endsWith(".raw") || f.endsWith(".img") ? "raw" : "qcow2";
            }
            return new MachineSpec(
                    binary,
                    binaryPath,
                    name,
                    machineType,
                    memoryMb,
                    cpus,
                    cpu,
                    accelerator,
                    bios,
                    abs(kernel),
                    abs(initrd),
                    append,
                    abs(disk),
                    format,
                    diskSnapshot,
                    abs(seed),
                    vgpus,
                    mediatorSocket,
                    userNet,
                    new ArrayList<>(forwards),
                    nicModel,
                    extraArgs,
                    baseDir,
                    cleanup,
                    waitTimeout,
                    startTimeout,
                    bootTimeout,
                    readiness,
                    fatalPattern,
                    noReboot,
                    startPaused,
                    shutdown);
        }

        /** An unstarted machine of {@link #build()}. */
        public QemuMachine machine() {
            return new QemuMachine(build());
        }

        /** {@link #machine()} and {@link QemuMachine#start()}. */
        public QemuMachine start() {
            return machine().start();
        }

        private static Path abs(Path p) {
            return p == null ? null : p.toAbsolutePath();
        }
    }
}

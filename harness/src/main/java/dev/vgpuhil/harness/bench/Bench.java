package dev.vgpuhil.harness.bench;

import dev.vgpuhil.harness.SshKeys;
import dev.vgpuhil.harness.agent.Agent;
import dev.vgpuhil.harness.agent.BenchResult;
import dev.vgpuhil.harness.agent.Probe;
import dev.vgpuhil.harness.junit.GuestChoice;
import dev.vgpuhil.harness.junit.GuestLauncher;
import dev.vgpuhil.harness.junit.GuestSystem;
import dev.vgpuhil.harness.junit.GuestVm;
import dev.vgpuhil.harness.junit.VmSpec;
import dev.vgpuhil.images.DebianDisk;
import dev.vgpuhil.images.GuestImage;
import dev.vgpuhil.mediator.BackendChoice;
import dev.vgpuhil.mediator.Mediator;
import dev.vgpuhil.mediator.MediatorConfig;
import dev.vgpuhil.mediator.bench.BenchHistory;
import dev.vgpuhil.mediator.bench.Svg;
import dev.vgpuhil.protocol.Pool;
import dev.vgpuhil.protocol.Priority;
import dev.vgpuhil.protocol.SourceTree;
import dev.vgpuhil.qemu.QemuBinary;
import dev.vgpuhil.qemu.machine.Accelerator;
import dev.vgpuhil.qemu.machine.AcceleratorChoice;
import dev.vgpuhil.qemu.machine.KvmProbe;
import dev.vgpuhil.qemu.machine.QemuMachine;
import dev.vgpuhil.qemu.machine.VgpuStubDevice;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/**
 * {@code bin/vgpu-hil bench}: one table, each measurement next to its floor measured in the same run.
 * <ul>
 * <li>boot to agent ready (TCG; KVM when the launcher's probe says it works): QEMU launch → SSH login → agent
 *     uploaded → the agent's {@code probe} answered; floor: the same machine and kernel with a bare init
 *     ({@code rdinit=/sbin/poweroff -f}), launch → QEMU exit;</li>
 * <li>guest doorbell round trip: the agent's {@code bench} (echo op, through MMIO, the device and the mediator);
 *     floor: the same echo straight over the mediator's socket from the host;</li>
 * <li>qtest doorbell round trip: the device driven by qtest from the host (request buffer, doorbell, STATUS polled
 *     back to back, response read); floor: one qtest register read.</li>
 * </ul>
 * Options: {@code --boots N} (3), {@code --count N} round trips (1000), {@code --bytes B} echo payload (64),
 * {@code --vfio-user-qemu PATH} (default {@code -Dvgpu.qemu.stock} / {@code VGPU_QEMU_STOCK}): a stock QEMU with
 * {@code vfio-user-pci}; then both doorbell round trips are also measured over vfio-user in the same run, each row
 * next to the in-QEMU one.
 */
public final class Bench {
    /** The name of this benchmark's runs in reports/bench (see {@link BenchHistory}). */
    static final String BENCH_NAME = "whole-path";

    static final String STOCK_PROPERTY = dev.vgpuhil.common.Setting.QEMU_STOCK.property();

    private Bench() {}

    /** The stock QEMU for the vfio-user rows, if one is given. */
    static QemuBinary vfioUserQemu() {
        String p = dev.vgpuhil.common.Setting.QEMU_STOCK.value().orElse("");
        return p.isBlank() ? null : QemuBinary.probe(Path.of(p.strip()));
    }

    /** The command line (picocli): {@code bin/vgpu-hil bench [--boots N] [--count N] [--bytes B] [--vfio-user-qemu PATH]}. */
    @Command(
            name = "bin/vgpu-hil bench",
            mixinStandardHelpOptions = true,
            description =
                    "Benchmark tables of the whole path, each measurement next to a floor measured in the same run.")
    static final class Options implements Callable<Integer> {
        @Spec
        CommandSpec spec;

        @Option(
                names = "--boots",
                paramLabel = "N",
                defaultValue = "3",
                description = "boots to agent ready (default ${DEFAULT-VALUE})")
        int boots;

        @Option(
                names = "--count",
                paramLabel = "N",
                defaultValue = "1000",
                description = "doorbell round trips (default ${DEFAULT-VALUE})")
        int count;

        @Option(
                names = "--bytes",
                paramLabel = "B",
                defaultValue = "64",
                description = "echo payload bytes (default ${DEFAULT-VALUE})")
        int bytes;

        @Option(
                names = "--vfio-user-qemu",
                paramLabel = "PATH",
                description =
                        "a stock QEMU with vfio-user-pci: the round trips also over vfio-user (default: the setting "
                                + "vgpu.qemu.stock / VGPU_QEMU_STOCK)")
        Path vfioUserQemu;

        @Option(
                names = "--debian-disk",
                description =
                        "also boot the Debian disk guest (images/build-debian-disk.sh --cloud-init, built and cached "
                                + "the first time, as root) to agent ready, next to a bare boot of its own kernel, "
                                + "initrd and root file system")
        boolean debianDisk;

        @Override
        public Integer call() throws Exception {
            for (var o : new Object[][] {{"--boots", boots}, {"--count", count}, {"--bytes", bytes}}) {
                if ((int) o[1] < 1) {
                    throw new ParameterException(spec.commandLine(), o[0] + " must be at least 1, not " + o[1]);
                }
            }
            if (vfioUserQemu != null) {
                System.setProperty(STOCK_PROPERTY, vfioUserQemu.toString());
            }
            return run(boots, count, bytes, debianDisk);
        }
    }

    public static void main(String[] args) {
        System.exit(new CommandLine(new Options()).execute(args));
    }

    static void say(String s) {
        System.err.println("[bench] " + s);
    }

    /** The in-process mediator logs nowhere here (its counters are not what is measured). */
    private static final java.util.logging.Logger QUIET = quiet();

    private static java.util.logging.Logger quiet() {
        java.util.logging.Logger l = java.util.logging.Logger.getLogger("dev.vgpuhil.mediator");
        l.setUseParentHandlers(false);
        return l;
    }

    static int run(int boots, int count, int bytes, boolean debianDisk) throws Exception {
        QemuBinary qemu = QemuBinary.locate();
        GuestImage image = GuestImage.locate();
        say(qemu + "; image " + image.cacheKey() + " (kernel " + image.info().get("kernel_version") + ")");
        DebianDisk disk = debianDisk ? DebianDisk.locate() : null;
        AcceleratorChoice auto = KvmProbe.decide(qemu);
        say("accelerator AUTO: " + auto);
        Path work = dev.vgpuhil.common.OwnedDirs.temp("bench");
        SshKeys keys = SshKeys.generate(work.resolve("ssh"));
        Path jar = Agent.localJar();
        BenchHistory.Machine where = BenchHistory.Machine.describe(); // the load before the run
        List<String[]> rows = new ArrayList<>();
        List<BenchHistory.Ratio> ratios = new ArrayList<>();
        List<Svg.Series> latencies = new ArrayList<>();
        try (Mediator mediator = new Mediator(MediatorConfig.builder()
                .socketPath(work.resolve("m.sock"))
                .backend(BackendChoice.CPU)
                .requestLog(false)
                .aging(Duration.ZERO)
                .build())) {
            mediator.start();
            Path sock = work.resolve("m.sock");

            // boots: floor first, then the real thing, per accelerator
            List<Accelerator> accels = new ArrayList<>(List.of(Accelerator.TCG));
            String kvmNote = null;
            if (auto.accelerator() == Accelerator.KVM) {
                accels.add(Accelerator.KVM);
            } else {
                String why = auto.reason();
                int cut = why.indexOf(';');
                kvmNote = "not measured: " + (cut > 0 ? why.substring(0, cut) : why) + " (AUTO fell back to TCG)";
            }
            BenchResult guest = null;
            for (Accelerator a : accels) {
                long[] floor = new long[boots];
                long[] ready = new long[boots];
                for (int i = 0; i < boots; i++) {
                    floor[i] = bareInitBoot(qemu, image, a, sock);
                    say(a.qemuName() + " bare-init boot " + (i + 1) + "/" + boots + ": " + floor[i] / 1_000_000
                            + " ms");
                }
                for (int i = 0; i < boots; i++) {
                    long t0 = System.nanoTime();
                    try (GuestVm vm = GuestLauncher.boot(
                            VmSpec.simple("bench-" + a.qemuName() + "-" + i, 'B', "high", 200, true),
                            sock,
                            image,
                            keys,
                            jar,
                            a)) {
                        Probe p = vm.agent().probe();
                        ready[i] = System.nanoTime() - t0;
                        say(a.qemuName() + " boot to agent ready " + (i + 1) + "/" + boots + ": " + ready[i] / 1_000_000
                                + " ms (SSH login " + vm.bootTime().toMillis() + " ms, device " + p.bdf() + ")");
                        if (a == Accelerator.TCG && i == boots - 1) {
                            guest = vm.agent()
                                    .withDeadline(Duration.ofMinutes(5))
                                    .bench(count, "echo", bytes);
                            say("guest doorbell round trips: " + guest.raw());
                        }
                    }
                }
                addBootRow(
                        "boot to agent ready, " + a.qemuName().toUpperCase(Locale.ROOT),
                        "bare-init boot of the same kernel and machine to power-off",
                        "boot to agent ready / bare-init boot, " + a.qemuName(),
                        ready,
                        floor,
                        rows,
                        ratios);
            }
            if (kvmNote != null) {
                rows.add(new String[] {"boot to agent ready, KVM", kvmNote, "-", "-"});
            }
            if (disk != null) {
                diskBoots(qemu, disk, boots, sock, keys, jar, rows, ratios);
            }

            Percentiles direct = RoundTrips.mediatorEcho(sock, count, bytes, Math.min(200, count));
            say("mediator echo direct: p50 " + direct.p50Micros() + " us, p99 " + direct.p99Micros() + " us");
            latencies.add(new Svg.Series("mediator echo over its socket", direct.sorted()));
            if (guest != null) {
                // the agent reports percentiles only: one round per row, so no spread to flag against
                ratios.add(new BenchHistory.Ratio(
                        "guest doorbell p50 / mediator echo p50",
                        guest.p50Micros() / Math.max(1e-9, direct.p50Micros()),
                        Double.NaN,
                        false));
            }
            rows.add(new String[] {
                "guest doorbell round trip, echo " + bytes + " B (agent bench, " + count + ")",
                guest == null
                        ? "(no guest)"
                        : String.format(
                                "p50 %s / p99 %s%s",
                                us(guest.p50Micros()),
                                us(guest.p99Micros()),
                                guest.errors() == 0 ? "" : ", " + guest.errors() + " errors"),
                "mediator echo over its socket from the host (" + count + ")",
                String.format("p50 %s / p99 %s", us(direct.p50Micros()), us(direct.p99Micros()))
            });

            RoundTrips.QtestResult q = RoundTrips.qtestEcho(qemu, sock, count, bytes, Math.min(100, count));
            say("qtest: doorbell p50 " + q.doorbell().p50Micros() + " us, read p50 "
                    + q.registerRead().p50Micros() + " us");
            latencies.add(
                    new Svg.Series("qtest doorbell round trip", q.doorbell().sorted()));
            latencies.add(new Svg.Series("qtest register read", q.registerRead().sorted()));
            ratios.add(new BenchHistory.Ratio(
                    "qtest doorbell p50 / register read p50",
                    q.doorbell().p50Micros() / Math.max(1e-9, q.registerRead().p50Micros()),
                    Double.NaN,
                    false));
            rows.add(new String[] {
                "qtest doorbell round trip, echo " + bytes + " B (" + count + ")",
                String.format(
                        "p50 %s / p99 %s%s",
                        us(q.doorbell().p50Micros()),
                        us(q.doorbell().p99Micros()),
                        q.errors() == 0 ? "" : ", " + q.errors() + " errors"),
                "one qtest register read (readl SCRATCH)",
                String.format(
                        "p50 %s / p99 %s",
                        us(q.registerRead().p50Micros()), us(q.registerRead().p99Micros()))
            });

            QemuBinary vu = vfioUserQemu();
            if (vu != null) { // the same two round trips with the device as vgpu-stub-vfio-user, same run
                String tag = " over vfio-user (QEMU " + vu.version().split(" ")[0] + ")";
                BenchResult g;
                try (GuestVm vm = GuestLauncher.boot(
                        VmSpec.simple("bench-vfio-user", 'B', "high", 200, true)
                                .withQemu(vu.path().toString()),
                        sock,
                        image,
                        keys,
                        jar,
                        Accelerator.TCG)) {
                    g = vm.agent().withDeadline(Duration.ofMinutes(5)).bench(count, "echo", bytes);
                    say("guest doorbell round trips" + tag + ": " + g.raw());
                }
                rows.add(new String[] {
                    "guest doorbell round trip" + tag + ", echo " + bytes + " B (" + count + ")",
                    String.format(
                            "p50 %s / p99 %s%s",
                            us(g.p50Micros()), us(g.p99Micros()), g.errors() == 0 ? "" : ", " + g.errors() + " errors"),
                    "the in-QEMU row above (ratio p50)",
                    guest == null ? "-" : String.format("%.1f x", g.p50Micros() / Math.max(1e-9, guest.p50Micros()))
                });
                RoundTrips.QtestResult qv = RoundTrips.qtestEcho(vu, sock, count, bytes, Math.min(100, count));
                say("qtest" + tag + ": doorbell p50 " + qv.doorbell().p50Micros() + " us");
                rows.add(new String[] {
                    "qtest doorbell round trip" + tag + ", echo " + bytes + " B (" + count + ")",
                    String.format(
                            "p50 %s / p99 %s%s",
                            us(qv.doorbell().p50Micros()),
                            us(qv.doorbell().p99Micros()),
                            qv.errors() == 0 ? "" : ", " + qv.errors() + " errors"),
                    "the in-QEMU row above (ratio p50)",
                    String.format(
                            "%.1f x",
                            qv.doorbell().p50Micros()
                                    / Math.max(1e-9, q.doorbell().p50Micros()))
                });
            }
        } finally {
            dev.vgpuhil.common.OwnedDirs.delete(work);
        }

        String table = table(rows, qemu, image, auto) + "\nKVM probe: " + auto + "\n";
        System.out.println(table);
        Path out = SourceTree.path(
                "reports",
                "runs",
                "bench-" + LocalDateTime.now().format(DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss")) + ".md");
        Files.createDirectories(out.getParent());
        Files.writeString(out, table + "\n");
        say("table written to " + out);
        Path history = SourceTree.path("reports", "bench");
        BenchHistory.remember(history, new BenchHistory.Run(BENCH_NAME, where, table, ratios), System.out);
        Files.writeString(
                history.resolve(BENCH_NAME + "-cdf.svg"),
                Svg.cdf("host-side round trip latency, echo " + bytes + " B (latest run)", latencies));
        return 0;
    }

    /**
     * The Debian disk guest booted directly (its kernel and initrd, the qcow2 in snapshot mode) to agent ready (SSH
     * login, agent uploaded, probe answered), TCG; floor: the same kernel, initrd and root file system with init
     * replaced by busybox's {@code poweroff -f} (what systemd, sshd and the upload add).
     */
    static void diskBoots(
            QemuBinary qemu,
            DebianDisk disk,
            int boots,
            Path sock,
            SshKeys keys,
            Path jar,
            List<String[]> rows,
            List<BenchHistory.Ratio> ratios) {
        long[] floor = new long[boots];
        long[] ready = new long[boots];
        for (int i = 0; i < boots; i++) {
            floor[i] = bareDiskBoot(qemu, disk, sock);
            say("debian-disk bare-init boot " + (i + 1) + "/" + boots + ": " + floor[i] / 1_000_000 + " ms");
        }
        GuestSystem guest =
                GuestSystem.debianDisk(disk, GuestChoice.debianDisk().defaultBootDeadline());
        for (int i = 0; i < boots; i++) {
            long t0 = System.nanoTime();
            try (GuestVm vm = GuestLauncher.boot(
                    VmSpec.simple("bench-disk-" + i, 'B', "high", 200, true),
                    sock,
                    guest,
                    keys,
                    jar,
                    Accelerator.TCG)) {
                Probe p = vm.agent().probe();
                ready[i] = System.nanoTime() - t0;
                say("debian-disk boot to agent ready " + (i + 1) + "/" + boots + ": " + ready[i] / 1_000_000
                        + " ms (SSH login " + vm.bootTime().toMillis() + " ms, device " + p.bdf() + ")");
            }
        }
        addBootRow(
                "boot to agent ready, Debian disk, TCG",
                "bare-init boot of the disk's kernel, initrd and root to power-off",
                "boot to agent ready / bare-init boot, debian-disk tcg",
                ready,
                floor,
                rows,
                ratios);
    }

    /** A boot row (median, min, max against the floor's median and min) and its ratio, with each boot's ratio. */
    static void addBootRow(
            String what,
            String floorWhat,
            String ratioName,
            long[] ready,
            long[] floor,
            List<String[]> rows,
            List<BenchHistory.Ratio> ratios) {
        double[] perBoot = new double[ready.length];
        for (int i = 0; i < ready.length; i++) {
            perBoot[i] = (double) ready[i] / median(floor);
        }
        ratios.add(BenchHistory.Ratio.of(ratioName, (double) median(ready) / median(floor), perBoot, false));
        rows.add(new String[] {
            what + " (median of " + ready.length + ")",
            seconds(median(ready)) + " (min " + seconds(min(ready)) + ", max " + seconds(max(ready)) + ")",
            floorWhat,
            seconds(median(floor)) + " (min " + seconds(min(floor)) + ")"
        });
    }

    /** Launch → QEMU exit of the disk guest with init replaced by busybox's {@code poweroff -f}. */
    static long bareDiskBoot(QemuBinary qemu, DebianDisk disk, Path socket) {
        long t0 = System.nanoTime();
        try (QemuMachine m = QemuMachine.builder()
                .binary(qemu)
                .name("bench-bare-disk")
                .accelerator(Accelerator.TCG)
                .kernel(disk.kernel())
                .initrd(disk.initrd())
                .append(disk.kernelCommandLine(null) + " init=/bin/busybox -- poweroff -f")
                .disk(disk.disk())
                .diskFormat("qcow2")
                .diskSnapshot(true)
                .vgpu(VgpuStubDevice.of(Pool.B, Priority.HIGH, 200))
                .mediatorSocket(socket)
                .userNetworking(true)
                .noReboot(true)
                .start()) {
            m.waits(GuestChoice.debianDisk().defaultBootDeadline()).forExit();
            return System.nanoTime() - t0;
        }
    }

    /** Launch → QEMU exit of the same machine with init replaced by {@code /sbin/poweroff -f}. */
    static long bareInitBoot(QemuBinary qemu, GuestImage image, Accelerator a, Path socket) {
        long t0 = System.nanoTime();
        try (QemuMachine m = QemuMachine.builder()
                .binary(qemu)
                .name("bench-bare-" + a.qemuName())
                .accelerator(a)
                .kernel(image.kernel())
                .initrd(image.initramfs())
                .append(GuestImage.BASE_COMMAND_LINE + " rdinit=/sbin/poweroff -- -f")
                .vgpu(VgpuStubDevice.of(Pool.B, Priority.HIGH, 200))
                .mediatorSocket(socket)
                .userNetworking(true)
                .noReboot(true)
                .start()) {
            m.waits(Duration.ofSeconds(120)).forExit();
            return System.nanoTime() - t0;
        }
    }

    static String table(List<String[]> rows, QemuBinary qemu, GuestImage image, AcceleratorChoice auto) {
        StringBuilder b = new StringBuilder();
        b.append("vgpu-hil benchmark, ")
                .append(LocalDateTime.now().withNano(0))
                .append(", QEMU ")
                .append(qemu.version())
                .append(", guest kernel ")
                .append(image.info().get("kernel_version"))
                .append(", ")
                .append(Runtime.getRuntime().availableProcessors())
                .append(" cpus; accelerator AUTO chose ")
                .append(auto.accelerator().qemuName())
                .append("\n\n");
        String[] head = {"measurement", "result", "floor (same run)", "floor result"};
        int[] w = new int[4];
        for (int i = 0; i < 4; i++) {
            w[i] = head[i].length();
            for (String[] r : rows) {
                w[i] = Math.max(w[i], r[i].length());
            }
        }
        b.append(row(head, w)).append('\n');
        String[] dash = new String[4];
        for (int i = 0; i < 4; i++) {
            dash[i] = "-".repeat(w[i]);
        }
        b.append(row(dash, w)).append('\n');
        for (String[] r : rows) {
            b.append(row(r, w)).append('\n');
        }
        return b.toString();
    }

    static String row(String[] cells, int[] w) {
        StringBuilder b = new StringBuilder("|");
        for (int i = 0; i < cells.length; i++) {
            b.append(' ')
                    .append(cells[i])
                    .append(" ".repeat(w[i] - cells[i].length()))
                    .append(" |");
        }
        return b.toString();
    }

    static String seconds(long nanos) {
        return String.format("%.2f s", nanos / 1e9);
    }

    static String us(double micros) {
        return micros >= 1000 ? String.format("%.2f ms", micros / 1000) : String.format("%.0f us", micros);
    }

    static long median(long[] v) {
        long[] s = v.clone();
        Arrays.sort(s);
        return s[s.length / 2];
    }

    static long min(long[] v) {
        return Arrays.stream(v).min().orElse(0);
    }

    static long max(long[] v) {
        return Arrays.stream(v).max().orElse(0);
    }
}

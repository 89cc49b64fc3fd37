package dev.vgpuhil.qemu.machine;

import dev.vgpuhil.common.BoundProcesses;
import dev.vgpuhil.common.OwnedDirs;
import dev.vgpuhil.common.Setting;
import dev.vgpuhil.qemu.QemuBinary;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HexFormat;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.stream.Collectors;

/**
 * Decides whether KVM really works here, within seconds.
 *
 * <p>Opening {@code /dev/kvm} is not enough: on hosts with the {@code kvm_pvm} module (paravirtual, nested KVM)
 * QEMU opens it, but the CPU cannot run real-mode firmware — {@code -cpu host} may abort, other models crawl
 * through SeaBIOS for a minute and die with "KVM internal error". So the probe boots a 64 KiB firmware of its
 * own ({@code kvm-probe.S}, embedded below) under {@code -accel kvm -cpu host}: from the reset vector it prints
 * {@code R} (real mode), {@code P} (protected mode), {@code L} (long mode, paging on), runs a busy loop of 2^26
 * iterations (a few ms natively, minutes if emulated) and prints {@code K}. KVM is usable iff "RPLK" arrives
 * before the deadline (default 3 s, {@code -Dvgpu.kvm.probeTimeout}). The probe QEMU is always killed and
 * reaped, its temporary directory removed.
 *
 * <p>{@link #decide} caches the decision per JVM and binary. {@code -Dvgpu.accel=tcg|kvm} forces it.
 */
public final class KvmProbe {
    /** Forces the AUTO decision: "tcg" or "kvm" (kvm is still probed and refused if unusable). */
    public static final String FORCE_PROPERTY = Setting.ACCEL.property();

    public static final Duration DEFAULT_TIMEOUT =
            Setting.parseDuration(Setting.KVM_PROBE_TIMEOUT.defaultText(), Setting.KVM_PROBE_TIMEOUT.spelled());
    static final String EXPECTED = "RPLK";

    /** kvm-probe.S assembled: bytes at offset 0 of the image. */
    static final String CODE_HEX = "fabaf803b052ee31c08ed82e660f0116d0000f20c06683c8010f22c066ea24000f000800"
            + "66b810008ed88ec08ed066baf803b050eebf00100000b9000c000031c0f3abc7050010000003200000c70500200000"
            + "03300000c70500300000830000000f20e083c8200f22e0b8001000000f22d8b9800000c00f320d000100000f300f20"
            + "c00d000000800f22c0ea92000f00180066baf803b04cee48c7c10000000448ffc975fbb04beeb00aeefaf4ebfc9000"
            + "00000000000000ffff0000009acf00ffff00000092cf00ffff0000009aaf001f00b0000f";
    /** kvm-probe.S assembled: the reset vector at 0xFFF0, {@code ljmp $0xf000,$0}. */
    static final String RESET_HEX = "ea000000f0";

    static final int IMAGE_SIZE = 0x10000;

    private static final Map<Path, AcceleratorChoice> CACHE = new ConcurrentHashMap<>();

    private KvmProbe() {}

    /** The outcome of one probe run. */
    public record Result(boolean usable, String finding, Duration elapsed) {}

    /** The probe firmware image (64 KiB). */
    public static byte[] firmware() {
        byte[] img = new byte[IMAGE_SIZE];
        byte[] code = HexFormat.of().parseHex(CODE_HEX);
        byte[] reset = HexFormat.of().parseHex(RESET_HEX);
        System.arraycopy(code, 0, img, 0, code.length);
        System.arraycopy(reset, 0, img, 0xFFF0, reset.length);
        return img;
    }

    /**
     * The accelerator {@link Accelerator#AUTO} means for {@code qemu}: KVM if the probe passes, else TCG with the
     * probe's finding as the reason. Probed once per JVM and binary (concurrent callers wait for one probe).
     */
    public static AcceleratorChoice decide(QemuBinary qemu) {
        String forced = Setting.ACCEL.get().toLowerCase(Locale.ROOT);
        if (forced.equals("tcg")) {
            return new AcceleratorChoice(Accelerator.TCG, "forced by -D" + FORCE_PROPERTY + "=tcg", Duration.ZERO);
        }
        return CACHE.computeIfAbsent(qemu.path(), p -> {
            Result r = probe(qemu, timeout());
            return r.usable()
                    ? new AcceleratorChoice(Accelerator.KVM, "kvm works: " + r.finding(), r.elapsed())
                    : new AcceleratorChoice(Accelerator.TCG, "kvm unusable: " + r.finding(), r.elapsed());
        });
    }

    /** True when {@code -Dvgpu.accel=kvm} asks AUTO machines to use (probed) KVM. */
    static boolean kvmForced() {
        return Setting.ACCEL.get().equalsIgnoreCase("kvm");
    }

    static Duration timeout() {
        return Setting.KVM_PROBE_TIMEOUT.duration();
    }

    /** Runs the probe now (no cache). */
    public static Result probe(QemuBinary qemu, Duration timeout) {
        long t0 = System.nanoTime();
        String host = hostKvmModules();
        String prefix = host.isEmpty() ? "" : host + "; ";
        if (!qemu.accelerators().contains("kvm")) {
            return new Result(
                    false,
                    prefix + qemu.path() + " has no KVM accelerator (-accel help: " + qemu.accelerators() + ")",
                    since(t0));
        }
        Path dev = Path.of("/dev/kvm");
        if (!Files.exists(dev)) {
            return new Result(false, prefix + "/dev/kvm does not exist", since(t0));
        }
        if (!Files.isReadable(dev) || !Files.isWritable(dev)) {
            return new Result(false, prefix + "no read/write access to /dev/kvm", since(t0));
        }
        Path dir = null;
        Process p = null;
        dev.vgpuhil.qemu.QemuBinary.Launch launch = null;
        try {
            dir = OwnedDirs.temp("kvmprobe");
            Path fw = dir.resolve("kvm-probe.bin");
            Files.write(fw, firmware());
            Path err = dir.resolve("stderr");
            List<String> cmd = List.of(
                    qemu.path().toString(),
                    "-machine",
                    "q35",
                    "-accel",
                    "kvm",
                    "-cpu",
                    "host",
                    "-m",
                    "16",
                    "-bios",
                    fw.toString(),
                    "-nodefaults",
                    "-no-user-config",
                    "-display",
                    "none",
                    "-monitor",
                    "none",
                    "-serial",
                    "stdio",
                    "-no-reboot");
            launch = qemu.launch(cmd, dir); // a QEMU in a container gets /dev/kvm there (-accel kvm)
            p = BoundProcesses.start(new ProcessBuilder(launch.command())
                    .directory(dir.toFile())
                    .redirectInput(
                            ProcessBuilder.Redirect.from(Path.of("/dev/null").toFile()))
                    .redirectError(err.toFile()));
            StringBuilder out = new StringBuilder();
            Thread reader = startReader(p.getInputStream(), out);
            long deadline = t0 + timeout.toNanos();
            String seen;
            boolean exited = false;
            while (true) {
                synchronized (out) {
                    seen = out.toString();
                    if (seen.contains(EXPECTED)) {
                        break;
                    }
                    if (!p.isAlive() && !reader.isAlive()) {
                        exited = true;
                        break;
                    }
                    long left = deadline - System.nanoTime();
                    if (left <= 0) {
                        break;
                    }
                    out.wait(Math.max(1, Math.min(50, left / 1_000_000)));
                }
            }
            Integer code = exited ? p.exitValue() : null;
            BoundProcesses.kill(p, Duration.ofSeconds(5));
            reader.join(1_000);
            String stages = seen.strip();
            Duration took = since(t0);
            if (stages.contains(EXPECTED)) {
                return new Result(
                        true,
                        "probe firmware reached long mode and ran natively under -accel kvm " + "-cpu host in "
                                + took.toMillis() + " ms",
                        took);
            }
            String stderr = oneLine(BoundProcesses.tail(readQuietly(err), 4));
            String how = exited
                    ? "QEMU exited (" + new ExitStatus(code) + ")"
                    : "no progress within " + timeout.toMillis() + " ms (probe QEMU killed)";
            return new Result(
                    false,
                    prefix + "probe: -accel kvm -cpu host " + stageText(stages) + "; " + how
                            + (stderr.isEmpty() ? "" : "; stderr: " + stderr),
                    took);
        } catch (IOException e) {
            return new Result(false, prefix + "probe could not run: " + e.getMessage(), since(t0));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return new Result(false, prefix + "probe interrupted", since(t0));
        } finally {
            if (launch != null) {
                launch.reap();
            }
            if (p != null && p.isAlive()) {
                BoundProcesses.kill(p, Duration.ofSeconds(5));
            }
            if (dir != null) {
                OwnedDirs.delete(dir);
            }
        }
    }

    private static String stageText(String seen) {
        String s = seen.replaceAll("[^RPLK]", "");
        if (s.isEmpty()) {
            return "printed nothing: the firmware never ran";
        }
        if (s.equals("R")) {
            return "ran the probe firmware only in real mode (serial \"R\", want \"RPLK\"): entering protected"
                    + " mode did not complete";
        }
        if (s.equals("RP")) {
            return "reached protected mode but not long mode (serial \"RP\", want \"RPLK\")";
        }
        if (s.equals("RPL")) {
            return "reached long mode but the busy loop did not finish: code is emulated, not run natively"
                    + " (serial \"RPL\", want \"RPLK\")";
        }
        return "printed \"" + s + "\" instead of \"RPLK\"";
    }

    private static Thread startReader(InputStream in, StringBuilder out) {
        Thread t = new Thread(
                () -> {
                    byte[] buf = new byte[256];
                    try (in) {
                        int n;
                        while ((n = in.read(buf)) > 0) {
                            synchronized (out) {
                                out.append(new String(buf, 0, n, StandardCharsets.ISO_8859_1));
                                out.notifyAll();
                            }
                        }
                    } catch (IOException ignored) {
                        // the probe QEMU was killed
                    }
                    synchronized (out) {
                        out.notifyAll();
                    }
                },
                "kvm-probe-reader");
        t.setDaemon(true);
        t.start();
        return t;
    }

    /** e.g. "kvm_pvm paravirtual KVM" or "kvm_intel"; empty when nothing is known. */
    static String hostKvmModules() {
        Path mods = Path.of("/sys/module");
        if (Files.isDirectory(mods.resolve("kvm_pvm"))) {
            return "kvm_pvm paravirtual KVM";
        }
        return List.of("kvm_intel", "kvm_amd").stream()
                .filter(m -> Files.isDirectory(mods.resolve(m)))
                .collect(Collectors.joining(", "));
    }

    private static String readQuietly(Path p) {
        try {
            return Files.readString(p, StandardCharsets.UTF_8);
        } catch (IOException e) {
            return "";
        }
    }

    private static String oneLine(String s) {
        return s.strip().replaceAll("\\s*\\n\\s*", " | ");
    }

    private static Duration since(long t0) {
        return Duration.ofNanos(System.nanoTime() - t0);
    }
}

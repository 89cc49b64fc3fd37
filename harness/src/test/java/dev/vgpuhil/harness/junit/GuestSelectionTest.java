package dev.vgpuhil.harness.junit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.vgpuhil.harness.SshKeys;
import dev.vgpuhil.images.DebianDisk;
import dev.vgpuhil.images.GuestImage;
import dev.vgpuhil.protocol.Pool;
import dev.vgpuhil.protocol.Priority;
import dev.vgpuhil.qemu.machine.Accelerator;
import dev.vgpuhil.qemu.machine.MachineSpec;
import dev.vgpuhil.qemu.machine.QemuMachine;
import dev.vgpuhil.qemu.machine.VgpuStubDevice;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.time.Duration;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Picking the guest per run (ci / debian-disk / qcow2:...), the boot deadlines, the Java version check's parser, and
 * what a user's image is booted with: the per-run NoCloud seed and the QEMU command line (read from a QEMU started
 * paused: the guest never runs).
 */
class GuestSelectionTest {
    private static final Function<String, Optional<String>> NO_CONFIG = k -> Optional.empty();
    private static final Function<String, String> NO_ENV = k -> null;

    @TempDir
    Path tmp;

    @Test
    void parsesTheThreeKinds() {
        assertThat(GuestChoice.parse("ci", "t").kind()).isEqualTo(GuestChoice.Kind.CI);
        assertThat(GuestChoice.parse("  ", "t").kind()).isEqualTo(GuestChoice.Kind.CI);
        assertThat(GuestChoice.parse(null, "t").kind()).isEqualTo(GuestChoice.Kind.CI);
        assertThat(GuestChoice.parse("Debian-Disk", "t").kind()).isEqualTo(GuestChoice.Kind.DEBIAN_DISK);

        GuestChoice user = GuestChoice.parse("qcow2:/images/my.qcow2", "t");
        assertThat(user.kind()).isEqualTo(GuestChoice.Kind.QCOW2);
        assertThat(user.image()).isEqualTo(Path.of("/images/my.qcow2"));
        assertThat(user.kernel()).isNull();
        assertThat(user.append()).isNull();
        assertThat(user.bootsFromDisk()).isTrue();
        assertThat(user.spelled()).isEqualTo("qcow2:/images/my.qcow2");
        assertThat(user.toString()).isEqualTo("qcow2:/images/my.qcow2 (from t)");
    }

    @Test
    void userImageWithAnExplicitKernel() {
        GuestChoice c = GuestChoice.parse("qcow2:/i/x.img;kernel=/k/vmlinuz; initrd=/k/initrd.img;", "t");
        assertThat(c.image()).isEqualTo(Path.of("/i/x.img"));
        assertThat(c.kernel()).isEqualTo(Path.of("/k/vmlinuz"));
        assertThat(c.initrd()).isEqualTo(Path.of("/k/initrd.img"));
        assertThat(c.append()).isEqualTo(GuestChoice.DEFAULT_USER_APPEND);
        assertThat(c.bootsFromDisk()).isFalse();
        assertThat(c.spelled()).isEqualTo("qcow2:/i/x.img;kernel=/k/vmlinuz;initrd=/k/initrd.img");

        GuestChoice a =
                GuestChoice.parse("qcow2:/i/x.qcow2;kernel=/k/vmlinuz;append=root=/dev/vda2 ro console=ttyS0", "t");
        assertThat(a.append()).isEqualTo("root=/dev/vda2 ro console=ttyS0");
        assertThat(a.initrd()).isNull();
        assertThat(GuestChoice.parse(a.spelled(), "again"))
                .isEqualTo(new GuestChoice(a.kind(), a.image(), a.kernel(), a.initrd(), a.append(), "again"));
    }

    @Test
    void refusesWhatIsNotAGuestWithAMessageSayingWhatIs() {
        assertThatThrownBy(() -> GuestChoice.parse("initramfs", "vgpu.guest"))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageStartingWith(
                        "vgpu.guest='initramfs' is not a guest: use ci (default), debian-disk or qcow2:");
        assertThatThrownBy(() -> GuestChoice.parse("qcow2:", "t")).hasMessageContaining("no image path");
        assertThatThrownBy(() -> GuestChoice.parse("qcow2:images/my.qcow2", "t"))
                .hasMessageContaining("must be an absolute path, not 'images/my.qcow2'");
        assertThatThrownBy(() -> GuestChoice.parse("qcow2:/x.qcow2;kernal=/k", "t"))
                .hasMessageContaining("unknown option 'kernal' (known: kernel=, initrd=, append=)");
        assertThatThrownBy(() -> GuestChoice.parse("qcow2:/x.qcow2;initrd=/i", "t"))
                .hasMessageContaining("initrd= and append= need kernel=");
        assertThatThrownBy(() -> GuestChoice.parse("qcow2:/x.qcow2;kernel=", "t"))
                .hasMessageContaining("has no value");
        assertThatThrownBy(() -> GuestChoice.parse("qcow2:/x.qcow2;kernel=k", "t"))
                .hasMessageContaining("kernel= must be an absolute path");
    }

    @Test
    void annotationThenConfigurationParameterThenEnvironmentThenCi() {
        Function<String, Optional<String>> config = k ->
                Optional.ofNullable(Map.of(GuestChoice.PROPERTY, "debian-disk").get(k));
        Function<String, String> env = Map.of(GuestChoice.ENV, "qcow2:/env.qcow2")::get;

        assertThat(GuestChoice.resolve("qcow2:/ann.qcow2", config, env).image()).isEqualTo(Path.of("/ann.qcow2"));
        assertThat(GuestChoice.resolve("qcow2:/ann.qcow2", config, env).source())
                .isEqualTo("@VgpuVm(guest)");
        assertThat(GuestChoice.resolve("", config, env).kind()).isEqualTo(GuestChoice.Kind.DEBIAN_DISK);
        assertThat(GuestChoice.resolve("", config, env).source()).isEqualTo(GuestChoice.PROPERTY);
        assertThat(GuestChoice.resolve("", NO_CONFIG, env).image()).isEqualTo(Path.of("/env.qcow2"));
        assertThat(GuestChoice.resolve("", NO_CONFIG, env).source()).isEqualTo(GuestChoice.ENV);
        assertThat(GuestChoice.resolve("", NO_CONFIG, NO_ENV)).isEqualTo(GuestChoice.ci());
        assertThat(GuestChoice.resolve("", k -> Optional.of(" "), NO_ENV).kind())
                .isEqualTo(GuestChoice.Kind.CI);
        assertThatThrownBy(() -> GuestChoice.resolve("", k -> Optional.of("qcow2:rel.qcow2"), NO_ENV))
                .hasMessageStartingWith("vgpu.guest='qcow2:rel.qcow2'");
    }

    @Test
    void bootDeadlines() {
        GuestChoice ci = GuestChoice.ci();
        GuestChoice disk = GuestChoice.parse("debian-disk", "t");
        GuestChoice user = GuestChoice.parse("qcow2:/u.qcow2", "t");
        assertThat(ci.bootDeadline(0, NO_CONFIG, NO_ENV)).isEqualTo(Duration.ofSeconds(120));
        assertThat(disk.bootDeadline(0, NO_CONFIG, NO_ENV)).isEqualTo(Duration.ofMinutes(5));
        assertThat(user.bootDeadline(0, NO_CONFIG, NO_ENV)).isEqualTo(Duration.ofMinutes(5));
        assertThat(user.bootDeadline(42, k -> Optional.of("10m"), NO_ENV)).isEqualTo(Duration.ofSeconds(42));
        assertThat(user.bootDeadline(0, k -> Optional.of("10m"), NO_ENV)).isEqualTo(Duration.ofMinutes(10));
        assertThat(user.bootDeadline(0, NO_CONFIG, Map.of(GuestChoice.BOOT_TIMEOUT_ENV, "900")::get))
                .isEqualTo(Duration.ofSeconds(900));
        for (String[] c : new String[][] {{"90", "PT1M30S"}, {"90s", "PT1M30S"}, {"2h", "PT2H"}, {"pt7m", "PT7M"}}) {
            assertThat(GuestChoice.parseDuration(c[0], "t")).isEqualTo(Duration.parse(c[1]));
        }
        assertThatThrownBy(() -> GuestChoice.parseDuration("soon", GuestChoice.BOOT_TIMEOUT_PROPERTY))
                .hasMessageStartingWith("vgpu.guest.bootTimeout='soon' is not a duration");
        assertThatThrownBy(() -> GuestChoice.parseDuration("0", "t")).hasMessageContaining("must be positive");
    }

    @Test
    void javaVersionOfTheGuest() {
        assertThat(GuestSystem.javaMajor("java=/usr/bin/java\nJAVA_VERSION=\"17.0.13\""))
                .isEqualTo(17);
        assertThat(GuestSystem.javaMajor("openjdk version \"21.0.1\" 2023-10-17\nOpenJDK Runtime"))
                .isEqualTo(21);
        assertThat(GuestSystem.javaMajor("java version \"1.8.0_392\"")).isEqualTo(8);
        assertThat(GuestSystem.javaMajor("openjdk version \"11\" 2018-09-25")).isEqualTo(11);
        assertThat(GuestSystem.javaMajor("java=/usr/bin/java\n")).isEqualTo(-1);
    }

    @Test
    void debianDiskIsBootedDirectlyWithTheKeyOnTheCommandLine() throws Exception {
        Path dir = Files.createDirectories(tmp.resolve("disk"));
        for (String f : List.of("disk.qcow2", "vmlinuz", "initrd.img")) {
            Files.writeString(dir.resolve(f), "x");
        }
        Files.writeString(
                dir.resolve("DISK-INFO"),
                "cache_key=abc\nappend_prefix=root=LABEL=vgpu-root rw\n"
                        + "boot_loader=grub-pc\nkernel_version=6.1.0-x\n");
        SshKeys keys = SshKeys.generate(tmp.resolve("keys"));
        GuestSystem g = GuestSystem.debianDisk(DebianDisk.fromDirectory(dir), Duration.ofMinutes(5));
        GuestSystem.BootPlan p = g.plan(keys);
        assertThat(p.kernel()).isEqualTo(dir.resolve("vmlinuz"));
        assertThat(p.initrd()).isEqualTo(dir.resolve("initrd.img"));
        assertThat(p.disk()).isEqualTo(dir.resolve("disk.qcow2"));
        assertThat(p.diskFormat()).isEqualTo("qcow2");
        assertThat(p.seed()).isNull();
        assertThat(p.append())
                .isEqualTo("root=LABEL=vgpu-root rw " + GuestImage.BASE_COMMAND_LINE + " vgpuhil.authkey="
                        + Base64.getEncoder()
                                .encodeToString(keys.publicKeyLine().getBytes(StandardCharsets.UTF_8)));
        assertThat(p.readyBySsh()).isFalse();
        assertThat(p.readyMarker().pattern()).isEqualTo(Pattern.quote(GuestImage.MARKER_SSH_READY));
        assertThat(p.bootDeadline()).isEqualTo(Duration.ofMinutes(5));
        assertThat(g.checksJava()).isTrue();
        assertThat(g.environment()).containsEntry("guest", "debian-disk").containsEntry("guest.kernel", "6.1.0-x");
    }

    @Test
    void userImageWithAnExplicitKernelStillGetsTheSeed() throws Exception {
        Path img = Files.writeString(tmp.resolve("u.qcow2"), "x");
        Path k = Files.writeString(tmp.resolve("vmlinuz"), "x");
        SshKeys keys = SshKeys.generate(tmp.resolve("keys"));
        GuestSystem g =
                GuestSystem.resolve(GuestChoice.parse("qcow2:" + img + ";kernel=" + k, "t"), Duration.ofMinutes(5));
        GuestSystem.BootPlan p = g.plan(keys);
        assertThat(p.kernel()).isEqualTo(k);
        assertThat(p.initrd()).isNull();
        assertThat(p.append()).isEqualTo(GuestChoice.DEFAULT_USER_APPEND);
        assertThat(p.disk()).isEqualTo(img);
        assertThat(p.seed())
                .isEqualTo(keys.publicKey().resolveSibling(GuestSystem.SEED_FILE))
                .isRegularFile();
        assertThat(p.readyBySsh()).isTrue();
        assertThatThrownBy(() -> GuestSystem.resolve(
                        GuestChoice.parse("qcow2:" + tmp.resolve("missing.qcow2"), "t"), Duration.ofMinutes(5)))
                .hasMessageContaining("missing.qcow2")
                .hasMessageContaining("is not a file");
    }

    /**
     * A user's image: one seed per run key (root's key in its user-data), and QEMU gets the image in snapshot mode, the
     * seed read-only, no -kernel and no -bios (SeaBIOS, QEMU's default, runs the image's own boot loader). QEMU is
     * started paused: the command line is QEMU's real one and QEMU accepts it, but no guest code runs.
     */
    @Test
    void userImageCommandLineAndSeed() throws Exception {
        Path img = tmp.resolve("user image,1.qcow2"); // a comma and a space: QEMU option quoting
        run("qemu-img", "create", "-q", "-f", "qcow2", img.toString(), "64M");
        FileTime before = Files.getLastModifiedTime(img);
        long sizeBefore = Files.size(img);
        SshKeys keys = SshKeys.generate(tmp.resolve("keys"));
        GuestSystem g = GuestSystem.resolve(GuestChoice.parse("qcow2:" + img, "t"), Duration.ofMinutes(5));
        GuestSystem.BootPlan p = g.plan(keys);

        Path seed = p.seed();
        assertThat(seed)
                .isEqualTo(keys.publicKey().resolveSibling("nocloud-seed.img"))
                .isRegularFile();
        assertThat(g.plan(keys).seed()).as("one seed per run key").isEqualTo(seed);
        String userData = run("mtype", "-i", seed.toString(), "::user-data");
        assertThat(userData)
                .contains("disable_root: false")
                .contains("- name: root")
                .contains(keys.publicKeyLine());
        assertThat(p.kernel()).isNull();
        assertThat(p.readyBySsh()).isTrue();
        assertThat(g.checksJava()).isTrue();

        MachineSpec.Builder b = QemuMachine.builder()
                .name("cmdline")
                .accelerator(Accelerator.TCG)
                .startPaused(true)
                .userNetworking(true)
                .runBaseDir(tmp.resolve("runs"))
                .vgpu(VgpuStubDevice.of(Pool.B, Priority.HIGH, 200));
        p.applyTo(b);
        List<String> cmd;
        try (QemuMachine m = b.start()) {
            cmd = m.commandLine();
            assertThat(m.qmp().queryStatus().running())
                    .as("the guest never ran")
                    .isFalse();
        }
        String img2 = img.toString().replace(",", ",,");
        assertThat(cmd)
                .containsSequence("-drive", "file=" + img2 + ",if=virtio,format=qcow2,snapshot=on")
                .containsSequence("-drive", "file=" + seed + ",if=virtio,format=raw,readonly=on")
                .doesNotContain("-kernel", "-initrd", "-append", "-bios");
        assertThat(Files.getLastModifiedTime(img))
                .as("the user's image is never written")
                .isEqualTo(before);
        assertThat(Files.size(img)).isEqualTo(sizeBefore);
    }

    private static String run(String... cmd) throws Exception {
        Path out = Files.createTempFile("guest-selection", ".out");
        try {
            ProcessBuilder pb =
                    new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(out.toFile());
            pb.environment().put("MTOOLS_SKIP_CHECK", "1");
            Process pr = pb.start();
            assertThat(pr.waitFor(60, TimeUnit.SECONDS))
                    .as("%s finished", List.of(cmd))
                    .isTrue();
            String text = Files.readString(out);
            assertThat(pr.exitValue()).as("%s: %s", List.of(cmd), text).isZero();
            return text;
        } finally {
            Files.deleteIfExists(out);
        }
    }
}

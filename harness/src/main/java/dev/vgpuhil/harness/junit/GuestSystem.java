package dev.vgpuhil.harness.junit;

import dev.vgpuhil.harness.SshKeys;
import dev.vgpuhil.harness.agent.Agent;
import dev.vgpuhil.harness.agent.ResidentAgentWait;
import dev.vgpuhil.images.DebianDisk;
import dev.vgpuhil.images.GuestImage;
import dev.vgpuhil.images.InitramfsOverlay;
import dev.vgpuhil.images.NoCloudSeed;
import dev.vgpuhil.qemu.machine.MachineSpec;
import dev.vgpuhil.qemu.machine.SerialLineWait;
import dev.vgpuhil.qemu.machine.WaitStrategy;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A {@link GuestChoice} made ready to boot: the CI image or the Debian disk located (built or taken from their
 * caches), a user's image checked to exist, and the boot deadline fixed. {@link #plan} turns it into the QEMU
 * settings of one VM ({@link BootPlan}).
 */
public final class GuestSystem {
    /** The seed's file name, next to the run's key (so it goes when the run's key directory goes). */
    static final String SEED_FILE = "nocloud-seed.img";

    private static final Map<Path, Path> SEEDS = new ConcurrentHashMap<>();
    private static final Pattern JAVA_VERSION = Pattern.compile("(?:JAVA_VERSION=|version )\"(\\d+)(?:\\.(\\d+))?");

    private final GuestChoice choice;
    private final Duration bootDeadline;
    private final GuestImage ciImage;
    private final DebianDisk disk;

    private GuestSystem(GuestChoice choice, Duration bootDeadline, GuestImage ciImage, DebianDisk disk) {
        this.choice = Objects.requireNonNull(choice);
        this.bootDeadline = Objects.requireNonNull(bootDeadline);
        this.ciImage = ciImage;
        this.disk = disk;
    }

    /** The CI initramfs, default deadline. */
    public static GuestSystem ci(GuestImage image) {
        return new GuestSystem(GuestChoice.ci(), GuestChoice.CI_BOOT_DEADLINE, Objects.requireNonNull(image), null);
    }

    /** The Debian disk booted directly. */
    public static GuestSystem debianDisk(DebianDisk disk, Duration bootDeadline) {
        return new GuestSystem(GuestChoice.debianDisk(), bootDeadline, null, Objects.requireNonNull(disk));
    }

    /**
     * Locates what the choice needs: {@link GuestImage#locate()} (ci), {@link DebianDisk#locate()} (debian-disk;
     * builds it the first time, a few minutes), or checks the user's files exist (qcow2).
     */
    public static GuestSystem resolve(GuestChoice choice, Duration bootDeadline) {
        switch (choice.kind()) {
            case CI:
                return new GuestSystem(choice, bootDeadline, GuestImage.locate(), null);
            case DEBIAN_DISK:
                return new GuestSystem(choice, bootDeadline, null, DebianDisk.locate());
            default:
                requireFile(choice.image(), "the qcow2 image", choice);
                if (choice.kernel() != null) {
                    requireFile(choice.kernel(), "kernel=", choice);
                }
                if (choice.initrd() != null) {
                    requireFile(choice.initrd(), "initrd=", choice);
                }
                return new GuestSystem(choice, bootDeadline, null, null);
        }
    }

    /** A user's image (no lookup beyond what {@link #resolve} checks). */
    public static GuestSystem userImage(GuestChoice choice, Duration bootDeadline) {
        if (choice.kind() != GuestChoice.Kind.QCOW2) {
            throw new IllegalArgumentException("not a user image: " + choice);
        }
        return resolve(choice, bootDeadline);
    }

    private static void requireFile(Path p, String what, GuestChoice choice) {
        if (!Files.isRegularFile(p)) {
            throw new IllegalArgumentException(what + " " + p + " (guest " + choice + ") is not a file");
        }
    }

    public GuestChoice choice() {
        return choice;
    }

    public Duration bootDeadline() {
        return bootDeadline;
    }

    /** The same guest with another boot deadline (a VM's budget, {@link dev.vgpuhil.harness.agent.RequestDeadlines}). */
    public GuestSystem withBootDeadline(Duration deadline) {
        return new GuestSystem(choice, deadline, ciImage, disk);
    }

    /** What a VM of this guest is told (kernel or disk, key delivery, readiness). */
    public record BootPlan(
            Path kernel,
            Path initrd,
            String append,
            Path disk,
            String diskFormat,
            Path seed,
            Pattern readyMarker,
            Duration bootDeadline,
            String agentInGuest) {
        /** Sets the plan on a machine builder (kernel/initrd/append, disk in snapshot mode, seed, marker, deadline). */
        public MachineSpec.Builder applyTo(MachineSpec.Builder b) {
            if (kernel != null) {
                b.kernel(kernel).initrd(initrd).append(append);
            }
            if (disk != null) {
                b.disk(disk).diskFormat(diskFormat).diskSnapshot(true);
            }
            if (seed != null) {
                b.cloudInitSeed(seed);
            }
            if (readyMarker != null) {
                b.readyWhen(readyMarker);
            }
            return b.bootTimeout(bootDeadline);
        }

        /**
         * What the VM is ready at: the serial marker (if the guest prints one), then {@code login}, then, in a guest
         * whose initramfs carries the agent, the resident agent's line ({@link ResidentAgentWait}).
         */
        public WaitStrategy readiness(WaitStrategy login) {
            WaitStrategy ready = readyMarker == null
                    ? login
                    : SerialLineWait.forLine(readyMarker).and(login);
            return agentInGuest == null ? ready : ready.and(new ResidentAgentWait());
        }

        /**
         * Where the guest has the agent's jar from its initramfs (its init starts it resident), or empty: it must be
         * uploaded after login.
         */
        public java.util.Optional<String> agentJarInGuest() {
            return java.util.Optional.ofNullable(agentInGuest);
        }

        /** No serial marker to wait for: readiness is an SSH login with the run's key. */
        public boolean readyBySsh() {
            return readyMarker == null;
        }
    }

    /**
     * The QEMU settings for one VM whose root trusts {@code keys}: ci and debian-disk get the key on the kernel command
     * line and signal readiness with "vgpu-hil: ssh ready"; a user's image gets the run's NoCloud seed (made once per
     * key, next to it) and is ready when SSH lets root in.
     */
    public BootPlan plan(SshKeys keys) {
        return plan(keys, null);
    }

    /**
     * As {@link #plan(SshKeys)}; with {@code agentJar} the CI guest boots with it in its initramfs at {@link
     * dev.vgpuhil.harness.agent.Agent#IMAGE_JAR} (no upload after login; {@link InitramfsOverlay}). Other guests
     * switch to their disk's root, so theirs is uploaded.
     */
    public BootPlan plan(SshKeys keys, Path agentJar) {
        Pattern sshReady = Pattern.compile(Pattern.quote(GuestImage.MARKER_SSH_READY));
        switch (choice.kind()) {
            case CI:
                boolean withAgent = agentJar != null;
                return new BootPlan(
                        ciImage.kernel(),
                        withAgent
                                ? InitramfsOverlay.withFiles(ciImage, Agent.imageFiles(agentJar))
                                : ciImage.initramfs(),
                        ciImage.kernelCommandLine(keys.publicKeyLine()),
                        null,
                        null,
                        null,
                        sshReady,
                        bootDeadline,
                        withAgent ? Agent.IMAGE_JAR : null);
            case DEBIAN_DISK:
                return new BootPlan(
                        disk.kernel(),
                        disk.initrd(),
                        disk.kernelCommandLine(keys.publicKeyLine()),
                        disk.disk(),
                        "qcow2",
                        null,
                        sshReady,
                        bootDeadline,
                        null);
            default:
                return new BootPlan(
                        choice.kernel(),
                        choice.initrd(),
                        choice.append(),
                        choice.image(),
                        "qcow2",
                        seedFor(keys),
                        null,
                        bootDeadline,
                        null);
        }
    }

    /** The run's NoCloud seed (root's authorized key = the run's public key), made on first use. */
    static Path seedFor(SshKeys keys) {
        Path pub = keys.publicKey().toAbsolutePath();
        return SEEDS.computeIfAbsent(pub, p -> NoCloudSeed.create(keys.publicKeyLine(), p.resolveSibling(SEED_FILE)));
    }

    /** Whether the guest must be checked for a Java 17+ runtime before the agent is used (all but the CI image). */
    public boolean checksJava() {
        return choice.kind() != GuestChoice.Kind.CI;
    }

    /** The shell command that prints how the guest's {@code java} says its version (exit 3: no java on the PATH). */
    static final String JAVA_CHECK = "j=$(command -v java) || exit 3; echo \"java=$j\"; "
            + "h=$(readlink -f \"$j\"); h=${h%/bin/java}; "
            + "if [ -f \"$h/release\" ]; then grep '^JAVA_VERSION=' \"$h/release\"; else \"$j\" -Xint -version 2>&1; fi";

    /**
     * The feature release in the output of {@link #JAVA_CHECK} ({@code JAVA_VERSION="17.0.9"}, {@code openjdk version
     * "21.0.1"}, {@code java version "1.8.0_392"} → 17, 21, 8), or -1.
     */
    static int javaMajor(String output) {
        Matcher m = JAVA_VERSION.matcher(output == null ? "" : output);
        if (!m.find()) {
            return -1;
        }
        int first = Integer.parseInt(m.group(1));
        return first == 1 && m.group(2) != null ? Integer.parseInt(m.group(2)) : first;
    }

    /** For the report's environment. */
    public Map<String, String> environment() {
        Map<String, String> env = new LinkedHashMap<>();
        env.put("guest", choice.spelled());
        env.put("guest.bootDeadline", bootDeadline.toSeconds() + " s");
        switch (choice.kind()) {
            case CI -> {
                env.put("guest.kernel", ciImage.info().getOrDefault("kernel_version", "?"));
                env.put("guest.java", ciImage.info().getOrDefault("java_version", "?"));
                env.put("guest.image", ciImage.cacheKey() + " (" + ciImage.directory() + ")");
            }
            case DEBIAN_DISK -> {
                env.put("guest.kernel", disk.info().getOrDefault("kernel_version", "?"));
                env.put("guest.java", disk.info().getOrDefault("java_version", "?"));
                env.put("guest.image", disk.cacheKey() + " (" + disk.directory() + ")");
            }
            default ->
                env.put(
                        "guest.image",
                        choice.image()
                                + (choice.kernel() != null
                                        ? " (kernel " + choice.kernel() + ")"
                                        : " (own boot loader, SeaBIOS)")
                                + ", NoCloud seed");
        }
        return env;
    }

    /** One line for progress and reports. */
    public String describe() {
        return switch (choice.kind()) {
            case CI -> "CI initramfs " + ciImage.cacheKey();
            case DEBIAN_DISK -> "Debian disk " + disk.cacheKey() + " (direct kernel boot)";
            default ->
                "user image " + choice.image()
                        + (choice.kernel() != null ? " (kernel " + choice.kernel() + ")" : " (own boot loader)");
        };
    }

    @Override
    public String toString() {
        return "GuestSystem[" + describe() + ", from " + choice.source() + ", boot deadline " + bootDeadline + "]";
    }
}

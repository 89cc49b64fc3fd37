package dev.vgpuhil.images;

import dev.vgpuhil.common.Setting;
import dev.vgpuhil.common.ShippedScripts;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Function;

/**
 * The nightly guest made by {@code images/build-debian-disk.sh --cloud-init}: a bootable qcow2 (MBR, GRUB, one ext4
 * partition labelled {@code vgpu-root}) with systemd, OpenSSH, OpenJDK 17 and cloud-init (NoCloud only), plus the
 * disk's own kernel and initrd for direct boot. Booted directly it reads the key from the kernel command line and
 * prints the same serial markers as the CI initramfs; booted through its boot loader with a {@link NoCloudSeed} it
 * behaves like any user's cloud image.
 */
public final class DebianDisk {
    /** debootstrap, apt and mkfs: ~2-3 min with a fast mirror; the deadline leaves room for a slow one. */
    public static final Duration DEFAULT_BUILD_TIMEOUT = Duration.ofMinutes(20);

    public static final String DEFAULT_APPEND_PREFIX = "root=LABEL=vgpu-root rw";
    static final String SCRIPT = "images/build-debian-disk.sh";
    /** Always with cloud-init: one cached disk serves both the direct boot and the user-image (seed) boot. */
    static final List<String> SCRIPT_ARGS = List.of("--cloud-init");

    private static final Map<Path, DebianDisk> BUILT = new ConcurrentHashMap<>();

    private final Path directory;
    private final Map<String, String> info;

    private DebianDisk(Path directory, Map<String, String> info) {
        this.directory = directory;
        this.info = Collections.unmodifiableMap(info);
    }

    /**
     * The disk to use: the directory named by {@link Setting#DISK} if set, else the one the shipped {@code
     * images/build-debian-disk.sh --cloud-init} builds or finds in its cache (once per JVM and repository). Needs root.
     */
    public static DebianDisk locate() {
        return locate(System::getProperty, System::getenv, DEFAULT_BUILD_TIMEOUT);
    }

    static DebianDisk locate(Function<String, String> properties, Function<String, String> env, Duration timeout) {
        java.util.Optional<String> override = Setting.DISK.value(properties, env);
        if (override.isPresent()) {
            return fromDirectory(Paths.get(override.get()), Setting.DISK.spelled());
        }
        Path repo = GuestImage.repoRoot();
        return BUILT.computeIfAbsent(repo, r -> build(r, timeout));
    }

    /** Runs the recipe (its own cache makes a repeated call cheap) and opens the directory it prints last. */
    public static DebianDisk build(Path repoRoot, Duration timeout) {
        Path script = repoRoot.resolve(SCRIPT);
        if (!Files.isRegularFile(script)) {
            throw new GuestImageException(
                    "no disk recipe at " + script + " (is " + repoRoot + " the vgpu-hil repository?)");
        }
        List<String> cmd = new ArrayList<>();
        cmd.add(script.toString());
        cmd.addAll(SCRIPT_ARGS);
        Path dir = GuestImage.announced(
                "the Debian disk guest (debootstrap, GRUB, OpenJDK; "
                        + ShippedScripts.cacheRoot().resolve("disks") + ")",
                "1.5-3 min",
                () -> GuestImage.runScript(repoRoot, timeout, cmd.toArray(String[]::new)));
        return fromDirectory(dir, SCRIPT);
    }

    /** Opens a ready disk directory ({@code disk.qcow2}, {@code vmlinuz}, {@code initrd.img}, {@code DISK-INFO}). */
    public static DebianDisk fromDirectory(Path directory) {
        return fromDirectory(directory, "the given directory");
    }

    private static DebianDisk fromDirectory(Path directory, String source) {
        Path dir = directory.toAbsolutePath().normalize();
        if (!Files.isDirectory(dir)) {
            throw new GuestImageException("disk directory " + dir + " (from " + source
                    + ") does not exist - unset it or" + " point it at the output of " + SCRIPT);
        }
        List<String> missing = new ArrayList<>();
        for (String name : List.of("disk.qcow2", "vmlinuz", "initrd.img", "DISK-INFO")) {
            if (!Files.isRegularFile(dir.resolve(name))) {
                missing.add(name);
            }
        }
        if (!missing.isEmpty()) {
            throw new GuestImageException("disk directory " + dir + " (from " + source + ") lacks "
                    + String.join(", ", missing) + " - it must be an output directory of " + SCRIPT);
        }
        try {
            return new DebianDisk(
                    dir, GuestImage.parseInfo(Files.readAllLines(dir.resolve("DISK-INFO"), StandardCharsets.UTF_8)));
        } catch (IOException e) {
            throw new GuestImageException("cannot read " + dir.resolve("DISK-INFO") + ": " + e.getMessage(), e);
        }
    }

    public Path directory() {
        return directory;
    }

    /** The bootable qcow2 (boot it with {@code snapshot=on}: the cached disk must stay as built). */
    public Path disk() {
        return directory.resolve("disk.qcow2");
    }

    public Path kernel() {
        return directory.resolve("vmlinuz");
    }

    public Path initrd() {
        return directory.resolve("initrd.img");
    }

    public Map<String, String> info() {
        return info;
    }

    public String cacheKey() {
        return info.getOrDefault("cache_key", directory.getFileName().toString());
    }

    /** True when the disk carries its own boot loader (disks of older recipes only boot directly). */
    public boolean bootable() {
        return info.containsKey("boot_loader");
    }

    /**
     * The kernel command line for direct boot: DISK-INFO's {@code append_prefix} (the root file system) followed by
     * {@link GuestImage#kernelCommandLine(String)}'s arguments (console, panic, the key).
     */
    public String kernelCommandLine(String authorizedKeyLine) {
        String prefix =
                info.getOrDefault("append_prefix", DEFAULT_APPEND_PREFIX).strip();
        String line = prefix + " " + GuestImage.commandLine(authorizedKeyLine, null);
        if (line.length() > GuestImage.MAX_COMMAND_LINE) {
            throw new IllegalArgumentException("kernel command line of " + line.length() + " characters is too long");
        }
        return line;
    }

    @Override
    public String toString() {
        return "DebianDisk[" + directory + ", kernel " + info.getOrDefault("kernel_version", "?") + ", java "
                + info.getOrDefault("java_version", "?") + "]";
    }
}

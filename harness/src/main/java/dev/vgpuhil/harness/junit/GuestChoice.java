package dev.vgpuhil.harness.junit;

import dev.vgpuhil.common.Setting;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Locale;
import java.util.Objects;
import java.util.Optional;
import java.util.function.Function;

/**
 * Which guest a {@link VgpuVm} boots, picked per run without code changes:
 * <ul>
 *   <li>{@code ci} (default): the CI initramfs ({@code images/build-initramfs.sh}), direct kernel boot, qboot;</li>
 *   <li>{@code debian-disk}: the nightly disk ({@code images/build-debian-disk.sh --cloud-init}, cached), booted with
 *       its own kernel and initrd, the key on the kernel command line, snapshot mode;</li>
 *   <li>{@code qcow2:/abs/path/user.qcow2}: a user's own image, booted by its own boot loader with SeaBIOS, the run's
 *       key in a cloud-init NoCloud seed made per run, snapshot mode (the image is never written). Options after
 *       {@code ;}: {@code kernel=/abs/vmlinuz}, {@code initrd=/abs/initrd}, {@code append=...} for an image without a
 *       boot loader (direct kernel boot; append defaults to {@value #DEFAULT_USER_APPEND}).</li>
 * </ul>
 * Where the choice comes from, first found wins: the annotation's {@link VgpuVm#guest()}, the JUnit configuration
 * parameter {@value #PROPERTY} (a {@code -D} system property, or a launcher/{@code junit-platform.properties}
 * parameter), the environment variable {@value #ENV}, else {@code ci}. The boot deadline likewise: {@link
 * VgpuVm#bootTimeoutSeconds()}, {@value #BOOT_TIMEOUT_PROPERTY}, {@value #BOOT_TIMEOUT_ENV}, else the guest's
 * default ({@link #defaultBootDeadline()}).
 */
public record GuestChoice(Kind kind, Path image, Path kernel, Path initrd, String append, String source) {
    public static final String PROPERTY = "vgpu.guest";
    public static final String ENV = "VGPU_GUEST";
    public static final String BOOT_TIMEOUT_PROPERTY = "vgpu.guest.bootTimeout";
    public static final String BOOT_TIMEOUT_ENV = "VGPU_GUEST_BOOT_TIMEOUT";

    static {
        // the names are compile-time constants for the javadoc's {@value}; Setting is where they are declared
        if (!PROPERTY.equals(Setting.GUEST.property())
                || !ENV.equals(Setting.GUEST.env())
                || !BOOT_TIMEOUT_PROPERTY.equals(Setting.GUEST_BOOT_TIMEOUT.property())
                || !BOOT_TIMEOUT_ENV.equals(Setting.GUEST_BOOT_TIMEOUT.env())) {
            throw new IllegalStateException("GuestChoice's setting names disagree with dev.vgpuhil.common.Setting");
        }
    }

    public static final String DEFAULT_USER_APPEND = "root=/dev/vda1 rw console=ttyS0";
    static final Duration CI_BOOT_DEADLINE = Duration.ofSeconds(120);
    static final Duration DISK_BOOT_DEADLINE = Duration.ofMinutes(5);
    private static final String QCOW2 = "qcow2:";

    public enum Kind {
        /** The CI initramfs. */
        CI("ci"),
        /** The nightly Debian disk, direct kernel boot. */
        DEBIAN_DISK("debian-disk"),
        /** A user's qcow2 with a NoCloud seed. */
        QCOW2("qcow2");

        private final String word;

        Kind(String word) {
            this.word = word;
        }

        public String word() {
            return word;
        }
    }

    public GuestChoice {
        Objects.requireNonNull(kind, "kind");
        source = source == null ? "?" : source;
        if (kind == Kind.QCOW2) {
            Objects.requireNonNull(image, "image");
        } else if (image != null || kernel != null || initrd != null || append != null) {
            throw new IllegalArgumentException(kind.word() + " takes no image, kernel, initrd or append");
        }
        if (kernel == null && (initrd != null || append != null)) {
            throw new IllegalArgumentException("initrd= and append= need kernel=");
        }
    }

    public static GuestChoice ci() {
        return new GuestChoice(Kind.CI, null, null, null, null, "default");
    }

    public static GuestChoice debianDisk() {
        return new GuestChoice(Kind.DEBIAN_DISK, null, null, null, null, "code");
    }

    /** A user's image booted by its own boot loader. */
    public static GuestChoice userImage(Path qcow2) {
        return new GuestChoice(Kind.QCOW2, absolute(qcow2, "the image"), null, null, null, "code");
    }

    /**
     * Parses {@code ci}, {@code debian-disk} or {@code qcow2:/path[;kernel=..][;initrd=..][;append=..]} (case of the
     * keywords ignored; blank = ci); {@code source} says where the text came from, for messages.
     *
     * @throws IllegalArgumentException saying what is wrong and what is accepted
     */
    public static GuestChoice parse(String text, String source) {
        String t = text == null ? "" : text.strip();
        String lower = t.toLowerCase(Locale.ROOT);
        if (t.isEmpty() || lower.equals("ci")) {
            return new GuestChoice(Kind.CI, null, null, null, null, source);
        }
        if (lower.equals("debian-disk")) {
            return new GuestChoice(Kind.DEBIAN_DISK, null, null, null, null, source);
        }
        if (lower.startsWith(QCOW2)) {
            String[] parts = t.substring(QCOW2.length()).split(";", -1);
            try {
                Path image = absolute(path(parts[0]), "the image");
                Path kernel = null;
                Path initrd = null;
                String append = null;
                for (int i = 1; i < parts.length; i++) {
                    String opt = parts[i].strip();
                    if (opt.isEmpty()) {
                        continue;
                    }
                    int eq = opt.indexOf('=');
                    String key = eq < 0 ? opt : opt.substring(0, eq).strip().toLowerCase(Locale.ROOT);
                    String value = eq < 0 ? "" : opt.substring(eq + 1).strip();
                    if (value.isEmpty()) {
                        throw new IllegalArgumentException("option '" + opt + "' has no value");
                    }
                    switch (key) {
                        case "kernel" -> kernel = absolute(path(value), "kernel=");
                        case "initrd" -> initrd = absolute(path(value), "initrd=");
                        case "append" -> append = value;
                        default ->
                            throw new IllegalArgumentException(
                                    "unknown option '" + key + "' (known: kernel=, initrd=, append=)");
                    }
                }
                if (kernel != null && append == null) {
                    append = DEFAULT_USER_APPEND;
                }
                return new GuestChoice(Kind.QCOW2, image, kernel, initrd, append, source);
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException(bad(t, source) + ": " + e.getMessage(), e);
            }
        }
        throw new IllegalArgumentException(bad(t, source));
    }

    /**
     * The choice for one VM: the annotation's value if not blank, else {@value #PROPERTY} from {@code config} (JUnit
     * configuration parameters, which include system properties), else {@value #ENV} from {@code env}, else ci.
     */
    public static GuestChoice resolve(
            String annotationValue, Function<String, Optional<String>> config, Function<String, String> env) {
        if (annotationValue != null && !annotationValue.isBlank()) {
            return parse(annotationValue, "@VgpuVm(guest)");
        }
        Optional<String> p = config.apply(PROPERTY).filter(s -> !s.isBlank());
        if (p.isPresent()) {
            return parse(p.get(), PROPERTY);
        }
        String e = env.apply(ENV);
        if (e != null && !e.isBlank()) {
            return parse(e, ENV);
        }
        return ci();
    }

    /**
     * The boot deadline: {@code annotationSeconds} if positive, else {@value #BOOT_TIMEOUT_PROPERTY}, else {@value
     * #BOOT_TIMEOUT_ENV} (seconds, or a duration like {@code 5m}, {@code 90s}, {@code PT10M}), else the guest's default.
     */
    public Duration bootDeadline(
            int annotationSeconds, Function<String, Optional<String>> config, Function<String, String> env) {
        if (annotationSeconds > 0) {
            return Duration.ofSeconds(annotationSeconds);
        }
        Optional<String> p = config.apply(BOOT_TIMEOUT_PROPERTY).filter(s -> !s.isBlank());
        if (p.isPresent()) {
            return parseDuration(p.get(), BOOT_TIMEOUT_PROPERTY);
        }
        String e = env.apply(BOOT_TIMEOUT_ENV);
        if (e != null && !e.isBlank()) {
            return parseDuration(e, BOOT_TIMEOUT_ENV);
        }
        return defaultBootDeadline();
    }

    /** 120 s for the CI initramfs, 5 min for disks (systemd, cloud-init, firmware and boot loader under TCG). */
    public Duration defaultBootDeadline() {
        return kind == Kind.CI ? CI_BOOT_DEADLINE : DISK_BOOT_DEADLINE;
    }

    /** {@code 300}, {@code 300s}, {@code 5m}, {@code 1h} or ISO-8601 ({@code PT5M}); positive. */
    static Duration parseDuration(String text, String source) {
        return Setting.parseDuration(text, source);
    }

    /** True for a user's image booted by its own boot loader (SeaBIOS, no -kernel). */
    public boolean bootsFromDisk() {
        return kind == Kind.QCOW2 && kernel == null;
    }

    /** How it was given back as text, e.g. {@code qcow2:/img/x.qcow2;kernel=/k}. */
    public String spelled() {
        if (kind != Kind.QCOW2) {
            return kind.word();
        }
        StringBuilder b = new StringBuilder(QCOW2).append(image);
        if (kernel != null) {
            b.append(";kernel=").append(kernel);
        }
        if (initrd != null) {
            b.append(";initrd=").append(initrd);
        }
        if (kernel != null && !DEFAULT_USER_APPEND.equals(append)) {
            b.append(";append=").append(append);
        }
        return b.toString();
    }

    @Override
    public String toString() {
        return spelled() + " (from " + source + ")";
    }

    private static Path path(String s) {
        String t = s.strip();
        if (t.isEmpty()) {
            throw new IllegalArgumentException("no image path after 'qcow2:'");
        }
        return Path.of(t);
    }

    private static Path absolute(Path p, String what) {
        Objects.requireNonNull(p, what);
        if (!p.isAbsolute()) {
            throw new IllegalArgumentException(
                    what + " must be an absolute path, not '" + p + "' (tests run in the" + " module's directory)");
        }
        return p.normalize();
    }

    private static String bad(String text, String source) {
        return source + "='" + text + "' is not a guest: use ci (default), debian-disk or "
                + "qcow2:/abs/path/image.qcow2[;kernel=/abs/vmlinuz;initrd=/abs/initrd.img;append=...]";
    }
}

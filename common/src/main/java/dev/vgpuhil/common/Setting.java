package dev.vgpuhil.common;

import java.nio.file.Path;
import java.time.Duration;
import java.time.format.DateTimeParseException;
import java.util.Locale;
import java.util.Optional;
import java.util.function.Function;

/**
 * Every system property and environment variable vgpu-hil reads, declared once: its name, its environment variable
 * (if any), its default and what it means. Code reads settings only through these constants; the README's settings
 * table is checked against this enum by a test (every constant has a row, every row a constant), so the two cannot
 * drift. A new setting is one constant here and one README row (the test's failure message prints the row).
 *
 * <p>Look-up order: the system property (also a {@code -D} given to Maven and passed on by Surefire/Failsafe), then
 * the environment variable; blank values count as unset.
 */
public enum Setting {
    REPO(
            "vgpu.repo",
            null,
            null,
            "a vgpu-hil checkout whose scripts (build-qemu.sh, images/*.sh) and jars are used instead of the ones"
                    + " shipped in the artifacts; for developers of vgpu-hil, never needed otherwise"),
    CACHE_HOME(
            null,
            "XDG_CACHE_HOME",
            "~/.cache",
            "the cache root: QEMU builds, guest images, disks and the extracted scripts live under its vgpu-hil/"),
    QEMU(
            "vgpu.qemu",
            "VGPU_QEMU",
            null,
            "the qemu-system-x86_64 to run (it must have the vgpu-stub device); unset: the shipped"
                    + " vgpu-stub/build-qemu.sh builds it from Debian's sources, cached"),
    QEMU_BUILD_TIMEOUT(
            "vgpu.qemu.buildTimeout", null, "90m", "deadline for building QEMU (seconds, or 90s, 5m, 1h, PT90M)"),
    QEMU_MATRIX(
            "vgpu.qemu.matrix",
            null,
            null,
            "the QEMUs with vgpu-stub the qtest device suite runs on, NAME=PATH,... (bin/vgpu-hil test sets 7.2 and"
                    + " 10.0); unset: the one vgpu.qemu"),
    QEMU_STOCK(
            "vgpu.qemu.stock",
            "VGPU_QEMU_STOCK",
            null,
            "a stock QEMU >= 10.1 with vfio-user-pci (images/build-stock-qemu.sh makes Debian's 11.1): the device"
                    + " suite and the benchmark also run over the vfio-user hosting with it"),
    HOSTING(
            "vgpu.hosting",
            null,
            null,
            "in-qemu or vfio-user: how devices are hosted when the QEMU offers both; unset: in-qemu if it has"
                    + " vgpu-stub, else vfio-user"),
    VFIO_USER_SERVER(
            "vgpu.vfioUser.server",
            "VGPU_VFIO_USER_SERVER",
            null,
            "the vgpu-stub-vfio-user server binary; unset: the shipped vgpu-stub/vfio-user/build.sh builds it, cached"),
    VFIO_USER_VERBOSE(
            "vgpu.vfioUser.verbose",
            null,
            "false",
            "vgpu-stub-vfio-user logs every vfio-user message (in its log in the run directory)"),
    IMAGE(
            "vgpu.image",
            "VGPU_IMAGE",
            null,
            "a ready CI guest image directory (vmlinuz, initramfs.img, IMAGE-INFO); unset: the shipped"
                    + " images/build-initramfs.sh builds it, cached"),
    DISK(
            "vgpu.disk",
            "VGPU_DISK",
            null,
            "a ready Debian disk directory (disk.qcow2, vmlinuz, initrd.img, DISK-INFO); unset: the shipped"
                    + " images/build-debian-disk.sh builds it (root), cached"),
    GUEST(
            "vgpu.guest",
            "VGPU_GUEST",
            "ci",
            "the guest of every @VgpuVm without guest=: ci, debian-disk or qcow2:/abs/image.qcow2[;kernel=..;initrd=..;append=..]"),
    GUEST_BOOT_TIMEOUT(
            "vgpu.guest.bootTimeout",
            "VGPU_GUEST_BOOT_TIMEOUT",
            null,
            "launch-to-SSH deadline of every @VgpuVm without bootTimeoutSeconds= (seconds, or 90s, 5m, PT5M);"
                    + " unset: 120 s for ci, 5 min for disks"),
    AGENT_JAR(
            "vgpu.agent.jar",
            null,
            null,
            "the guest agent jar put into the guest (in the CI guest's initramfs, uploaded into others); unset: the one"
                    + " shipped in the harness artifact"),
    MEDIATOR_JAR(
            "vgpu.mediator.jar",
            null,
            null,
            "the mediator-lite daemon jar for @WithMediator(childProcess = true); unset: the one shipped in the"
                    + " harness artifact"),
    MEDIATOR_DEFAULT_SOCKET(
            Names.MEDIATOR_DEFAULT_SOCKET,
            null,
            "/tmp/vgpu-mediator.sock",
            "the socket path a mediator-lite started without --socket listens on"),
    ACCEL(
            "vgpu.accel",
            null,
            "auto",
            "auto (KVM if a probe boots a guest with it, else TCG), tcg, or kvm (still probed, refused if unusable)"),
    KVM_PROBE_TIMEOUT(
            "vgpu.kvm.probeTimeout", null, "3s", "how long the KVM probe may take before KVM counts as unusable"),
    RUNS_DIR(
            "vgpu.runs.dir",
            null,
            "target/vgpu-runs",
            "where each VM's run directory goes (QEMU command line, serial log, stderr, QMP transcript);"
                    + " relative to the test JVM's working directory, i.e. the running project"),
    CLEANUP(
            "vgpu.cleanup",
            null,
            "on_success",
            "what happens to a run directory when its machine closes: always (deleted), on_success (kept when the"
                    + " boot or a test failed, its path printed) or never (every one kept)"),
    PROGRESS(
            "vgpu.progress",
            null,
            "phases",
            "console output: quiet, phases (one line per phase with times) or serial (also every serial console"
                    + " line while a VM boots; true = serial)"),
    ALLURE_RESULTS(
            "allure.results.directory",
            null,
            "allure-results",
            "Allure's own setting (system property or allure.properties): where results, environment.properties"
                    + " and categories.json go; the example's pom sets target/allure-results"),
    // reliability (issue 9): retention, soak
    RUNS_KEEP(
            "vgpu.runs.keep",
            null,
            "20",
            "how many runs are kept: run directories per base directory (vgpu.runs.dir, reports/runs; the oldest of"
                    + " finished runs go first) and test runs in the Allure results directory (its history/ is kept"
                    + " for trends)"),
    SOAK_DURATION(
            "vgpu.soak.duration",
            null,
            "20s",
            "how long SoakIT keeps its three VMs busy (seconds, or 90s, 5m, 1h); bin/vgpu-hil nightly sets 1h"),
    // ---- containers (vgpu-containers): Testcontainers' and the engine's own variables, read where they decide
    DOCKER_HOST(
            null,
            "DOCKER_HOST",
            null,
            "the container engine's own setting; unset: the local engine's /var/run/docker.sock (vgpu-containers'"
                    + " strategy, containers reached on localhost)"),
    TESTCONTAINERS_HOST_OVERRIDE(
            null,
            "TESTCONTAINERS_HOST_OVERRIDE",
            "localhost",
            "Testcontainers' own setting (environment only): the host containers are reached on; the project's"
                    + " Surefire/Failsafe set it, vgpu-containers uses localhost without it"),
    TESTCONTAINERS_RYUK_DISABLED(
            null,
            "TESTCONTAINERS_RYUK_DISABLED",
            "true",
            "Testcontainers' own setting (environment only): no Ryuk (its image cannot be pulled); the project's"
                    + " Surefire/Failsafe set it, and vgpu-containers turns Ryuk off without it (its ContainerReaper"
                    + " labels and reaps every container)"),
    // ---- the mediator conformance kit (vgpu-mediator-conformance)
    CONFORMANCE_MEDIATOR(
            "vgpu.conformance.mediator",
            "VGPU_CONFORMANCE_MEDIATOR",
            "lite",
            "the mediator the conformance kit tests: lite (mediator-lite in-process), lite-process, lite-container,"
                    + " command:PROGRAM ARGS... (a program run under docs/MEDIATOR-CONTRACT.md) or image:NAME:TAG"),
    TIME_SCALE(
            "vgpu.timeScale",
            "VGPU_TIME_SCALE",
            null,
            "factor on every test's wait budget (device tests' peer waits and host-clock reply deadlines, a"
                    + " @VgpuVm's boot, agent, device and hold deadlines), >= 1; unset: the load average per core at"
                    + " the test's start, at least 1, at most 20"),
    FUZZ_DURATION(
            "vgpu.fuzz.duration",
            "VGPU_FUZZ_DURATION",
            null,
            "how long each fuzz test runs new seeds (per hosting; seconds, or 90s, 30m, PT30M); unset: the short CI"
                    + " run (device 6 s per hosting, vfio-user server and mediator 5 s); bin/vgpu-hil nightly: 30m"),
    FUZZ_SEED(
            "vgpu.fuzz.seed",
            null,
            null,
            "replay one fuzz case: each fuzz test runs only this seed (a failing case prints its seed and this"
                    + " command line), once");

    private final String property;
    private final String env;
    private final String defaultValue;
    private final String meaning;

    Setting(String property, String env, String defaultValue, String meaning) {
        this.property = property;
        this.env = env;
        this.defaultValue = defaultValue;
        this.meaning = meaning;
    }

    /** The system property, or null for an environment-only setting. */
    public String property() {
        return property;
    }

    /** The environment variable, or null for a property-only setting. */
    public String env() {
        return env;
    }

    /** The default as written in the README ("" when there is none). */
    public String defaultText() {
        return defaultValue == null ? "" : defaultValue;
    }

    public String meaning() {
        return meaning;
    }

    /** How messages name it, e.g. {@code -Dvgpu.qemu / VGPU_QEMU}. */
    public String spelled() {
        if (property == null) {
            return env;
        }
        return "-D" + property + (env == null ? "" : " / " + env);
    }

    /** The setting whose system property is {@code name}. */
    public static Optional<Setting> byProperty(String name) {
        for (Setting s : values()) {
            if (name.equals(s.property)) {
                return Optional.of(s);
            }
        }
        return Optional.empty();
    }

    /** The value given by the user (property, then environment), trimmed; empty when unset or blank. */
    public Optional<String> value() {
        return value(System::getProperty, System::getenv);
    }

    /** As {@link #value()} with other sources (JUnit configuration parameters, tests). */
    public Optional<String> value(Function<String, String> properties, Function<String, String> environment) {
        if (property != null) {
            String p = properties.apply(property);
            if (p != null && !p.isBlank()) {
                return Optional.of(p.strip());
            }
        }
        if (env != null) {
            String e = environment.apply(env);
            if (e != null && !e.isBlank()) {
                return Optional.of(e.strip());
            }
        }
        return Optional.empty();
    }

    /** The value, else the default (null when there is neither). */
    public String get() {
        return value().orElse(defaultValue);
    }

    /** The value as a boolean ({@code true}/{@code false}, case ignored); else the default. */
    public boolean enabled() {
        return Boolean.parseBoolean(get());
    }

    /** The value as a non-negative integer; else the default. */
    public int integer() {
        String v = get();
        try {
            int n = Integer.parseInt(v == null ? "" : v.strip());
            if (n < 0) {
                throw new NumberFormatException("negative");
            }
            return n;
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(spelled() + "='" + v + "' is not a non-negative integer", e);
        }
    }

    /** The value as a path; empty when unset and without default. */
    public Optional<Path> path() {
        return Optional.ofNullable(get()).map(Path::of);
    }

    /** The value as a duration (see {@link #parseDuration}); else the default. */
    public Duration duration() {
        String v = get();
        if (v == null) {
            throw new IllegalStateException(spelled() + " has no value and no default");
        }
        return parseDuration(v, spelled());
    }

    /** {@code 300}, {@code 300s}, {@code 500ms}, {@code 5m}, {@code 1h} or ISO-8601 ({@code PT5M}); positive. */
    public static Duration parseDuration(String text, String source) {
        String t = text.strip().toLowerCase(Locale.ROOT);
        Duration d;
        try {
            if (t.startsWith("pt")) {
                d = Duration.parse(t.toUpperCase(Locale.ROOT));
            } else if (t.matches("\\d+s?")) {
                d = Duration.ofSeconds(Long.parseLong(t.replace("s", "")));
            } else if (t.matches("\\d+ms")) {
                d = Duration.ofMillis(Long.parseLong(t.substring(0, t.length() - 2)));
            } else if (t.matches("\\d+m")) {
                d = Duration.ofMinutes(Long.parseLong(t.substring(0, t.length() - 1)));
            } else if (t.matches("\\d+h")) {
                d = Duration.ofHours(Long.parseLong(t.substring(0, t.length() - 1)));
            } else {
                throw new IllegalArgumentException("not a duration");
            }
        } catch (DateTimeParseException | IllegalArgumentException e) {
            throw new IllegalArgumentException(
                    source + "='" + text + "' is not a duration (seconds, or 500ms, 90s," + " 5m, 1h, PT5M)", e);
        }
        if (d.isZero() || d.isNegative()) {
            throw new IllegalArgumentException(source + "='" + text + "' must be positive");
        }
        return d;
    }

    /** This setting's row of the README's settings table. */
    public String markdownRow() {
        return "| " + code(property) + " | " + code(env) + " | " + code(defaultValue) + " | " + meaning + " |";
    }

    /** The README's settings table, header included. */
    public static String markdownTable() {
        StringBuilder b = new StringBuilder("| property | environment | default | meaning |\n|---|---|---|---|\n");
        for (Setting s : values()) {
            b.append(s.markdownRow()).append('\n');
        }
        return b.toString();
    }

    private static String code(String s) {
        return s == null ? "–" : "`" + s + "`";
    }

    /** The names that annotations (picocli help texts) need as compile-time constants; each is used above. */
    public static final class Names {
        public static final String MEDIATOR_DEFAULT_SOCKET = "vgpu.mediator.defaultSocket";

        private Names() {}
    }
}

package dev.vgpuhil.images;

import dev.vgpuhil.common.BoundProcesses;
import dev.vgpuhil.common.Setting;
import dev.vgpuhil.common.ShippedScripts;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Function;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The CI guest: Debian's cloud kernel plus an lz4 initramfs (busybox, dropbear, jlinked Java, the guide's C test
 * program), built by {@code images/build-initramfs.sh} and cached by the hash of its inputs.
 *
 * <p>Contract (docs/CONTRACTS.md, "Guest image"): boot it with {@code -kernel kernel() -initrd initramfs() -append
 * kernelCommandLine(key)}; the init prints the {@code MARKER_*} lines on the serial console; root logs in over SSH
 * (port 22 in the guest, key only) when a virtio NIC is present. With {@link #kernelCommandLineRun} the guest runs one
 * shell command, prints its output between {@link #MARKER_RUN_BEGIN} and {@code vgpu-hil: run end rc=<n>} and powers
 * off; {@link #parseRun(CharSequence)} reads that back from the console text.
 */
public final class GuestImage {
    /** Deadline for the build script: a cold build downloads ~35 MB of packages and takes ~10 s here. */
    public static final Duration DEFAULT_BUILD_TIMEOUT = Duration.ofMinutes(15);

    public static final String MARKER_INIT_STARTED = "vgpu-hil: init started";
    public static final String MARKER_NETWORK_UP = "vgpu-hil: network up";
    public static final String MARKER_SSH_READY = "vgpu-hil: ssh ready";
    public static final String MARKER_READY = "vgpu-hil: ready";
    public static final String MARKER_RUN_BEGIN = "vgpu-hil: run begin";
    /** Prefix of the line {@code vgpu-hil: run end rc=<n>}. */
    public static final String MARKER_RUN_END = "vgpu-hil: run end rc=";
    /**
     * Prefix of the line {@code vgpu-hil: agent server exited rc=<n>}: the resident guest agent the init started
     * (when the initramfs carries its {@code /opt/vgpu-hil/agent.args}) ended; while it serves, it prints its own line.
     */
    public static final String MARKER_AGENT_EXITED = "vgpu-hil: agent server exited rc=";

    /** The guest's fixed facts. */
    public static final int GUEST_SSH_PORT = 22;

    public static final String GUEST_USER = "root";
    public static final String GUEST_JAVA = "/opt/java/bin/java";
    public static final String GUEST_TEST_PROGRAM = "/usr/local/bin/test_vgpu_enhanced";
    /** QEMU user networking as configured by the init (static, no DHCP). */
    public static final String GUEST_IP = "10.0.2.15";

    /**
     * The fixed part of every kernel command line: kernel messages on the serial console, reboot at once on a panic
     * (with QEMU's {@code -no-reboot} that ends QEMU). Measured here: quiet, loglevel, mitigations=off and i8042/8250
     * tuning change the time to a result by less than the noise (~2.4 s for {@code java -Xint -version}), so none is used.
     */
    public static final String BASE_COMMAND_LINE = "console=ttyS0 panic=-1";
    /** x86 COMMAND_LINE_SIZE is 2048 bytes including the terminating NUL. */
    public static final int MAX_COMMAND_LINE = 2047;

    static final String SCRIPT = "images/build-initramfs.sh";
    static final String REPO_MARKER = "vgpu-stub/vgpu_protocol.h";
    private static final Pattern RUN_END = Pattern.compile(Pattern.quote(MARKER_RUN_END) + "(-?\\d+)");
    private static final Map<Path, GuestImage> BUILT = new ConcurrentHashMap<>();

    private final Path directory;
    private final Map<String, String> info;

    private GuestImage(Path directory, Map<String, String> info) {
        this.directory = directory;
        this.info = Collections.unmodifiableMap(info);
    }

    // ------------------------------------------------------------------------------------------------ lookup

    /**
     * The image to use: the directory named by {@link Setting#IMAGE} if set, else the one the shipped {@code
     * images/build-initramfs.sh} builds or finds in its cache (run once per JVM and script tree, with {@link
     * #DEFAULT_BUILD_TIMEOUT}).
     *
     * @throws GuestImageException when the override names no valid image or the script fails or times out
     */
    public static GuestImage locate() {
        return locate(System::getProperty, System::getenv, DEFAULT_BUILD_TIMEOUT);
    }

    /** As {@link #locate()} with another deadline for the build script. */
    public static GuestImage locate(Duration buildTimeout) {
        return locate(System::getProperty, System::getenv, buildTimeout);
    }

    static GuestImage locate(Function<String, String> properties, Function<String, String> env, Duration timeout) {
        Optional<String> override = Setting.IMAGE.value(properties, env);
        if (override.isPresent()) {
            return fromDirectory(Paths.get(override.get()), Setting.IMAGE.spelled());
        }
        Path repo = repoRoot();
        return BUILT.computeIfAbsent(repo, r -> build(r, timeout));
    }

    /**
     * Runs {@code images/build-initramfs.sh} of the given script tree ({@link #repoRoot()}; always, no per-JVM memo:
     * the script's own cache makes a repeated call cheap) and opens the directory it prints last.
     */
    public static GuestImage build(Path repoRoot, Duration timeout) {
        Path script = repoRoot.resolve(SCRIPT);
        if (!Files.isRegularFile(script)) {
            throw new GuestImageException(
                    "no build script at " + script + " (is " + repoRoot + " the vgpu-hil repository?)");
        }
        Path dir = announced(
                "the CI guest image (Debian kernel, busybox, dropbear, jlink'ed Java; "
                        + ShippedScripts.cacheRoot().resolve("images") + ")",
                "10-60 s",
                () -> runScript(script, repoRoot, timeout));
        return fromDirectory(dir, SCRIPT);
    }

    /** Opens a ready image directory ({@code vmlinuz}, {@code initramfs.img}, {@code IMAGE-INFO}). */
    public static GuestImage fromDirectory(Path directory) {
        return fromDirectory(directory, "the given directory");
    }

    private static GuestImage fromDirectory(Path directory, String source) {
        Path dir = directory.toAbsolutePath().normalize();
        if (!Files.isDirectory(dir)) {
            throw new GuestImageException("guest image directory " + dir + " (from " + source + ") does not exist"
                    + " - unset it or point it at the output of " + SCRIPT);
        }
        List<String> missing = new ArrayList<>();
        for (String name : List.of("vmlinuz", "initramfs.img", "IMAGE-INFO")) {
            if (!Files.isRegularFile(dir.resolve(name))) {
                missing.add(name);
            }
        }
        if (!missing.isEmpty()) {
            throw new GuestImageException("guest image directory " + dir + " (from " + source + ") lacks "
                    + String.join(", ", missing) + " - it must be an output directory of " + SCRIPT);
        }
        try {
            return new GuestImage(
                    dir, parseInfo(Files.readAllLines(dir.resolve("IMAGE-INFO"), StandardCharsets.UTF_8)));
        } catch (IOException e) {
            throw new GuestImageException("cannot read " + dir.resolve("IMAGE-INFO") + ": " + e.getMessage(), e);
        }
    }

    static Map<String, String> parseInfo(List<String> lines) {
        Map<String, String> info = new LinkedHashMap<>();
        for (String line : lines) {
            int eq = line.indexOf('=');
            if (eq > 0 && !line.startsWith("#")) {
                info.put(line.substring(0, eq).trim(), line.substring(eq + 1).trim());
            }
        }
        return info;
    }

    /**
     * Runs the build script with a deadline; stdout and stderr go to files (no pipe can fill up). Returns the
     * directory named by the last non-empty stdout line.
     */
    static Path runScript(Path script, Path workDir, Duration timeout) {
        return runScript(workDir, timeout, script.toString());
    }

    /**
     * Runs {@code bash scriptAndArgs...} in workDir as {@link #runScript(Path, Path, Duration)} does, through
     * {@link BoundProcesses}: the script and everything it starts (apt-get, debootstrap, jlink, lz4) die at the
     * deadline and with the JVM, also when the JVM is SIGKILLed.
     */
    static Path runScript(Path workDir, Duration timeout, String... scriptAndArgs) {
        try {
            return ShippedScripts.runForPath(workDir, timeout, List.of(scriptAndArgs));
        } catch (IOException e) {
            throw new GuestImageException(e.getMessage(), e);
        }
    }

    /**
     * The script tree: the shipped scripts extracted into the cache, or the checkout named by {@link Setting#REPO}
     * ({@link ShippedScripts#root()}).
     */
    public static Path repoRoot() {
        try {
            return ShippedScripts.root();
        } catch (RuntimeException e) {
            throw new GuestImageException(e.getMessage(), e);
        }
    }

    /** Runs a script body, saying so on the console when it is slow (a first build on this machine). */
    static <T> T announced(String what, String usually, java.util.concurrent.Callable<T> body) {
        try {
            return ShippedScripts.announced(what, usually, body);
        } catch (RuntimeException e) {
            throw e;
        } catch (Exception e) {
            throw new GuestImageException(what + ": " + e.getMessage(), e);
        }
    }

    // ------------------------------------------------------------------------------------------------ accessors

    public Path directory() {
        return directory;
    }

    /** {@code vmlinuz}: for QEMU's {@code -kernel}. */
    public Path kernel() {
        return directory.resolve("vmlinuz");
    }

    /** {@code initramfs.img}: for QEMU's {@code -initrd}. */
    public Path initramfs() {
        return directory.resolve("initramfs.img");
    }

    /** IMAGE-INFO as an ordered, unmodifiable map (cache_key, kernel_version, java_version, package.*, ssh_host_*...). */
    public Map<String, String> info() {
        return info;
    }

    public String cacheKey() {
        return info.getOrDefault("cache_key", directory.getFileName().toString());
    }

    /** The guest's SSH host public keys ({@code "ssh-ed25519 AAAA..."} etc.) for strict host key checking. */
    public List<String> hostKeys() {
        List<String> keys = new ArrayList<>();
        info.forEach((k, v) -> {
            if (k.startsWith("ssh_host_") && k.endsWith("_key") && !v.isBlank()) {
                keys.add(v);
            }
        });
        return keys;
    }

    // ------------------------------------------------------------------------------------------------ command lines

    /**
     * The kernel command line for a guest that stays up: {@code console=ttyS0 panic=-1
     * vgpuhil.authkey=<base64 of the line>}. With {@code null} no key is installed (no SSH login possible).
     */
    public String kernelCommandLine(String authorizedKeyLine) {
        return commandLine(authorizedKeyLine, null);
    }

    /**
     * The kernel command line for a run-and-power-off guest: as {@link #kernelCommandLine(String)} plus {@code
     * vgpuhil.run=<base64 of shellCommand>}. The guest prints the command's output (stdout and stderr) between {@link
     * #MARKER_RUN_BEGIN} and {@code vgpu-hil: run end rc=<n>}, then powers off (use QEMU's {@code -no-reboot}).
     * {@code authorizedKeyLine} may be {@code null}.
     *
     * @throws IllegalArgumentException if the line would exceed {@link #MAX_COMMAND_LINE}
     */
    public String kernelCommandLineRun(String authorizedKeyLine, String shellCommand) {
        Objects.requireNonNull(shellCommand, "shellCommand");
        if (shellCommand.isBlank()) {
            throw new IllegalArgumentException("empty shell command");
        }
        return commandLine(authorizedKeyLine, shellCommand);
    }

    static String commandLine(String authorizedKeyLine, String shellCommand) {
        StringBuilder sb = new StringBuilder(BASE_COMMAND_LINE);
        if (authorizedKeyLine != null) {
            String key = authorizedKeyLine.strip();
            if (key.isEmpty() || key.contains("\n") || key.contains("\r")) {
                throw new IllegalArgumentException("authorizedKeyLine must be ONE non-empty authorized_keys line");
            }
            sb.append(" vgpuhil.authkey=").append(base64(key));
        }
        if (shellCommand != null) {
            sb.append(" vgpuhil.run=").append(base64(shellCommand));
        }
        if (sb.length() > MAX_COMMAND_LINE) {
            throw new IllegalArgumentException(
                    "kernel command line of " + sb.length() + " characters exceeds the x86 limit of " + MAX_COMMAND_LINE
                            + " (shorten the command or put it in a script in the guest)");
        }
        return sb.toString();
    }

    private static String base64(String s) {
        return Base64.getEncoder().encodeToString(s.getBytes(StandardCharsets.UTF_8));
    }

    // ------------------------------------------------------------------------------------------------ console parsing

    /** The output and exit code of a {@code vgpuhil.run} command, read from the console text. */
    public record RunOutput(String output, int exitCode) {}

    /**
     * Reads a finished run from serial console text: the lines between {@link #MARKER_RUN_BEGIN} and {@code vgpu-hil:
     * run end rc=<n>} (carriage returns removed) and {@code n}. Empty while the end marker has not appeared.
     */
    public static Optional<RunOutput> parseRun(CharSequence console) {
        String text = console.toString().replace("\r", "");
        int begin = text.indexOf(MARKER_RUN_BEGIN + "\n");
        if (begin < 0) {
            return Optional.empty();
        }
        int from = begin + MARKER_RUN_BEGIN.length() + 1;
        Matcher m = RUN_END.matcher(text);
        if (!m.find(from)) {
            return Optional.empty();
        }
        return Optional.of(new RunOutput(text.substring(from, m.start()), Integer.parseInt(m.group(1))));
    }

    @Override
    public String toString() {
        return "GuestImage[" + directory + ", kernel " + info.getOrDefault("kernel_version", "?") + ", java "
                + info.getOrDefault("java_version", "?") + "]";
    }
}

package dev.vgpuhil.containers;

import com.github.dockerjava.api.command.InspectImageResponse;
import dev.vgpuhil.common.BoundProcesses;
import dev.vgpuhil.common.ShippedScripts;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeoutException;

/**
 * The project's images, built here and never pulled, by the shipped {@code images/build-container-image.sh} (which
 * rebuilds only when the hash of the inputs changed); once per JVM each.
 */
public final class LocalImages {
    public static final String QEMU_STOCK = "vgpu-hil/qemu-stock:11.1";
    /** jlink plus an import: well under a minute; the stock root's first debootstrap takes a few. */
    private static final Duration BUILD_DEADLINE = Duration.ofMinutes(20);

    private static final Map<String, BuiltImage> BUILT = new ConcurrentHashMap<>();

    private LocalImages() {}

    /** The version the mediator-lite image is tagged with: this artifact's. */
    public static String version() {
        try (InputStream in = LocalImages.class.getResourceAsStream("version.properties")) {
            Properties p = new Properties();
            if (in != null) {
                p.load(in);
            }
            return p.getProperty("version", "dev");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * {@code vgpu-hil/mediator-lite:<version>} from the shaded daemon jar {@code jar}, its JVM started with {@code
     * jvmOptions} (mediator-lite's {@code MediatorProcess.JVM_OPTIONS}: this module cannot see mediator-lite).
     */
    public static BuiltImage mediatorLite(Path jar, List<String> jvmOptions) {
        return BUILT.computeIfAbsent("mediator-lite " + jar.toAbsolutePath() + " " + jvmOptions, k -> {
            List<String> args = new ArrayList<>(
                    List.of("mediator-lite", "--jar", jar.toAbsolutePath().toString(), "--version", version()));
            for (String o : jvmOptions) {
                args.add("--jvm-option");
                args.add(o);
            }
            return build(args);
        });
    }

    /** {@value #QEMU_STOCK}: Debian's unmodified QEMU 11.1 root (images/build-stock-qemu.sh) imported. */
    public static BuiltImage qemuStock() {
        return BUILT.computeIfAbsent("qemu-stock", k -> build(List.of("qemu-stock")));
    }

    /** {@code vgpu-hil/probe:1}: FROM scratch with a static busybox ({@code sh}, {@code sleep}), for engine tests. */
    public static BuiltImage probe() {
        return BUILT.computeIfAbsent("probe", k -> build(List.of("probe")));
    }

    private static BuiltImage build(List<String> args) {
        ContainerEngine.client(); // the reason, when there is no engine
        List<String> cmd = new ArrayList<>(List.of(
                "bash", ShippedScripts.script("images/build-container-image.sh").toString()));
        cmd.addAll(args);
        BoundProcesses.Result r;
        try {
            r = ShippedScripts.announced(
                    "the container image " + args.get(0),
                    "under a minute",
                    () -> BoundProcesses.run(cmd, BUILD_DEADLINE));
        } catch (TimeoutException e) {
            throw new IllegalStateException(
                    "building the image " + args.get(0) + " took too long: " + e.getMessage(), e);
        } catch (Exception e) {
            throw new IllegalStateException("cannot run " + cmd + ": " + e, e);
        }
        if (r.exitCode() != 0) {
            throw new IllegalStateException("images/build-container-image.sh " + args.get(0) + " failed ("
                    + r.exitCode() + "):\n" + r.stderrTail(30));
        }
        String ref = r.stdout().strip().lines().reduce((a, b) -> b).orElse("");
        return inspect(ref);
    }

    /** The local image {@code ref} with its hash and inputs labels. */
    public static BuiltImage inspect(String ref) {
        InspectImageResponse i = ContainerEngine.client().inspectImageCmd(ref).exec();
        Map<String, String> labels = i.getConfig() == null || i.getConfig().getLabels() == null
                ? Map.of()
                : i.getConfig().getLabels();
        return new BuiltImage(
                ref,
                i.getId(),
                labels.getOrDefault("dev.vgpuhil.hash", ""),
                labels.getOrDefault("dev.vgpuhil.inputs", ""));
    }
}

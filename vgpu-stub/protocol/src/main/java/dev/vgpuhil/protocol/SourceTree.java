package dev.vgpuhil.protocol;

import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Locates the vgpu-hil repository root: system property {@code vgpu.repo} if set, else the nearest
 * directory at or above the working directory that contains {@code vgpu-stub/vgpu_protocol.h}.
 */
public final class SourceTree {
    public static final String REPO_PROPERTY = "vgpu.repo";
    private static final String HEADER = "vgpu-stub/vgpu_protocol.h";

    private SourceTree() {}

    /** The repository root; IllegalStateException with the places looked at when there is none. */
    public static Path root() {
        String prop = System.getProperty(REPO_PROPERTY);
        if (prop != null && !prop.isBlank()) {
            Path p = Path.of(prop).toAbsolutePath().normalize();
            if (!Files.isRegularFile(p.resolve(HEADER))) {
                throw new IllegalStateException("system property " + REPO_PROPERTY + "=" + prop
                        + " does not point at a vgpu-hil checkout (no " + HEADER + " there)");
            }
            return p;
        }
        Path start = Path.of("").toAbsolutePath().normalize();
        for (Path dir = start; dir != null; dir = dir.getParent()) {
            if (Files.isRegularFile(dir.resolve(HEADER))) {
                return dir;
            }
        }
        throw new IllegalStateException("cannot find the vgpu-hil repository: no " + HEADER + " at or above "
                + start + "; set -D" + REPO_PROPERTY + "=<repo root>");
    }

    /** {@code <root>/vgpu-stub/vgpu_protocol.h}. */
    public static Path protocolHeader() {
        return root().resolve(HEADER);
    }

    /** A path inside the repository, e.g. {@code path("vgpu-stub", "build-qemu.sh")}. */
    public static Path path(String... parts) {
        Path p = root();
        for (String part : parts) {
            p = p.resolve(part);
        }
        return p;
    }
}

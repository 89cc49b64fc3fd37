package dev.vgpuhil.protocol;

import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Locates the vgpu-hil checkout for the project's own tests and tools, which run inside it: the nearest directory at
 * or above the working directory that contains {@code vgpu-stub/vgpu_protocol.h}. The harness itself never needs a
 * checkout (dev.vgpuhil.common.ShippedScripts carries the scripts; its {@code vgpu.repo} setting points it at one).
 */
public final class SourceTree {
    private static final String HEADER = "vgpu-stub/vgpu_protocol.h";

    private SourceTree() {}

    /** The repository root; IllegalStateException with the places looked at when there is none. */
    public static Path root() {
        Path start = Path.of("").toAbsolutePath().normalize();
        for (Path dir = start; dir != null; dir = dir.getParent()) {
            if (Files.isRegularFile(dir.resolve(HEADER))) {
                return dir;
            }
        }
        throw new IllegalStateException("cannot find the vgpu-hil repository: no " + HEADER + " at or above " + start
                + " (run it inside a vgpu-hil checkout)");
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

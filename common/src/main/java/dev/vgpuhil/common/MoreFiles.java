package dev.vgpuhil.common;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.stream.Stream;

/** File helpers every module needs once. */
public final class MoreFiles {
    private MoreFiles() {}

    /**
     * Deletes {@code dir} and everything below it, best effort: a file that cannot be deleted (or vanishes while
     * walking) is left and the rest still goes, since callers sweep run directories on close, where an exception
     * would hide the real failure. A null or missing path is a no-op; a plain file is deleted. Symbolic links are
     * deleted, never followed.
     */
    public static void deleteTree(Path dir) {
        if (dir == null || !Files.exists(dir, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
            return;
        }
        try (Stream<Path> s = Files.walk(dir)) {
            s.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (IOException | UncheckedIOException ignored) {
            // best effort: a leftover is swept by the next run's stale-directory sweep
        }
    }
}

package dev.vgpuhil.images;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;

/**
 * cloud-init NoCloud seeds (a 1 MiB FAT image labelled {@code cidata} with user-data and meta-data) made by {@code
 * images/make-nocloud-seed.sh}: boot a user's own cloud qcow2 with {@code -drive file=<seed>,if=virtio,format=raw} and
 * root logs in with the given key.
 */
public final class NoCloudSeed {
    static final String SCRIPT = "images/make-nocloud-seed.sh";

    private NoCloudSeed() {}

    /** Writes the seed for ONE authorized_keys line to {@code out} (replacing it) and returns its absolute path. */
    public static Path create(String authorizedKeyLine, Path out) {
        return create(GuestImage.repoRoot(), authorizedKeyLine, out, Duration.ofMinutes(5));
    }

    public static Path create(Path repoRoot, String authorizedKeyLine, Path out, Duration timeout) {
        if (authorizedKeyLine == null
                || authorizedKeyLine.isBlank()
                || authorizedKeyLine.strip().contains("\n")) {
            throw new IllegalArgumentException("authorizedKeyLine must be ONE non-empty authorized_keys line");
        }
        Path script = repoRoot.resolve(SCRIPT);
        if (!Files.isRegularFile(script)) {
            throw new GuestImageException("no seed script at " + script);
        }
        Path written = GuestImage.runScript(
                repoRoot,
                timeout,
                script.toString(),
                authorizedKeyLine.strip(),
                out.toAbsolutePath().toString());
        if (!Files.isRegularFile(written)) {
            throw new GuestImageException(script + " reported " + written + " but wrote no such file");
        }
        return written;
    }
}

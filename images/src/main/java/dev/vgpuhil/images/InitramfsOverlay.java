package dev.vgpuhil.images;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.FileTime;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.time.Instant;
import java.util.HashSet;
import java.util.HexFormat;
import java.util.Map;
import java.util.Set;
import java.util.SortedMap;
import java.util.TreeMap;
import org.apache.commons.compress.archivers.cpio.CpioArchiveEntry;
import org.apache.commons.compress.archivers.cpio.CpioArchiveOutputStream;
import org.apache.commons.compress.archivers.cpio.CpioConstants;

/**
 * A guest image's initramfs with more files in it, without rebuilding the image: an uncompressed newc archive of
 * the files (and their parent directories) followed by the image's own lz4 archive. The kernel unpacks every archive of a
 * concatenated initrd in order (zero padding between them is skipped), so the file is in the guest's root file system
 * at boot: the harness puts the guest agent there instead of uploading it over SSH after login (~1 s under TCG), and
 * JNA's native library unpacked beside it (a first JVM start in the guest that unpacks it itself takes ~1 s longer).
 *
 * <p>The result is cached in the image's {@code overlays/} directory under the hash of the file's bytes, its guest
 * paths and the image, written to a temporary name and moved into place (concurrent JVMs agree); overlays unused for
 * {@link #UNUSED_KEPT} are removed when another is made, so a developer rebuilding the agent does not fill the cache.
 */
public final class InitramfsOverlay {
    /** An overlay not used for this long is removed (QEMU reads an initrd only at its start). */
    static final Duration UNUSED_KEPT = Duration.ofHours(6);

    private static final String DIR = "overlays";

    private InitramfsOverlay() {}

    /**
     * The image's initramfs with {@code file} at {@code guestPath} (absolute, e.g. {@code /opt/vgpu-hil/agent.jar};
     * not under a path the init mounts over, such as /tmp or /run).
     *
     * @throws GuestImageException when the file cannot be read or the overlay cannot be written
     */
    public static Path withFile(GuestImage image, String guestPath, Path file) {
        byte[] bytes;
        try {
            bytes = Files.readAllBytes(file);
        } catch (IOException e) {
            throw new GuestImageException(
                    "cannot put " + file + " at " + guestPath + " into the initramfs of " + image.directory() + ": "
                            + e.getMessage(),
                    e);
        }
        return withFiles(image, Map.of(guestPath, bytes));
    }

    /** The image's initramfs with each guest path (see {@link #withFile}) holding its bytes. */
    public static Path withFiles(GuestImage image, Map<String, byte[]> files) {
        SortedMap<String, byte[]> byName = new TreeMap<>();
        files.forEach((path, bytes) -> byName.put(archiveName(path), bytes));
        if (byName.isEmpty()) {
            throw new IllegalArgumentException("no files");
        }
        try {
            Path dir = image.directory().resolve(DIR);
            Path out = dir.resolve("initramfs-" + key(image, byName) + ".img");
            if (Files.isRegularFile(out)) {
                Files.setLastModifiedTime(out, FileTime.from(Instant.now())); // in use: not swept
                return out;
            }
            Files.createDirectories(dir);
            Path tmp = Files.createTempFile(dir, ".initramfs-", ".tmp");
            try {
                try (OutputStream os = Files.newOutputStream(tmp)) {
                    writeArchive(os, byName);
                    try (InputStream base = Files.newInputStream(image.initramfs())) {
                        base.transferTo(os);
                    }
                }
                try {
                    Files.move(tmp, out, StandardCopyOption.ATOMIC_MOVE);
                } catch (AtomicMoveNotSupportedException e) {
                    Files.move(tmp, out, StandardCopyOption.REPLACE_EXISTING);
                }
            } finally {
                Files.deleteIfExists(tmp);
            }
            sweep(dir, out);
            return out;
        } catch (IOException | UncheckedIOException e) {
            throw new GuestImageException(
                    "cannot put " + byName.keySet() + " into the initramfs of " + image.directory() + ": "
                            + e.getMessage(),
                    e);
        }
    }

    /** "opt/vgpu-hil/agent.jar" for "/opt/vgpu-hil/agent.jar": a newc name is relative to the root. */
    static String archiveName(String guestPath) {
        if (guestPath == null
                || !guestPath.startsWith("/")
                || guestPath.endsWith("/")
                || guestPath.contains("/../")
                || guestPath.contains("//")) {
            throw new IllegalArgumentException("not an absolute file path: " + guestPath);
        }
        return guestPath.substring(1);
    }

    /**
     * The newc archive: each parent directory (0755) before its first file, the files (0644) in name order, owned by
     * root, then the trailer. The base image's archive comes after it, so its own entries for the same directories
     * decide their modes.
     */
    static void writeArchive(OutputStream os, SortedMap<String, byte[]> files) throws IOException {
        long mtime = Instant.now().getEpochSecond();
        CpioArchiveOutputStream cpio = new CpioArchiveOutputStream(os, CpioConstants.FORMAT_NEW);
        long inode = 1;
        Set<String> dirs = new HashSet<>();
        for (Map.Entry<String, byte[]> f : files.entrySet()) {
            String name = f.getKey();
            for (int i = name.indexOf('/'); i > 0; i = name.indexOf('/', i + 1)) {
                if (dirs.add(name.substring(0, i))) {
                    cpio.putArchiveEntry(entry(name.substring(0, i), CpioConstants.C_ISDIR | 0755, 0, inode++, mtime));
                    cpio.closeArchiveEntry();
                }
            }
            cpio.putArchiveEntry(entry(name, CpioConstants.C_ISREG | 0644, f.getValue().length, inode++, mtime));
            cpio.write(f.getValue());
            cpio.closeArchiveEntry();
        }
        cpio.finish(); // the trailer; the stream underneath stays open for the base archive
    }

    private static CpioArchiveEntry entry(String name, long mode, long size, long inode, long mtime) {
        CpioArchiveEntry e = new CpioArchiveEntry(CpioConstants.FORMAT_NEW, name, size);
        e.setMode(mode);
        e.setInode(inode);
        e.setNumberOfLinks((mode & CpioConstants.S_IFMT) == CpioConstants.C_ISDIR ? 2 : 1);
        e.setTime(mtime);
        return e;
    }

    private static String key(GuestImage image, SortedMap<String, byte[]> files) {
        try {
            MessageDigest sha = MessageDigest.getInstance("SHA-256");
            sha.update(image.cacheKey().getBytes(java.nio.charset.StandardCharsets.UTF_8));
            sha.update((byte) 0);
            sha.update(Long.toString(Files.size(image.initramfs())).getBytes(java.nio.charset.StandardCharsets.UTF_8));
            sha.update((byte) 0);
            for (Map.Entry<String, byte[]> f : files.entrySet()) {
                sha.update((byte) 0);
                sha.update(f.getKey().getBytes(java.nio.charset.StandardCharsets.UTF_8));
                sha.update((byte) 0);
                sha.update(Integer.toString(f.getValue().length).getBytes(java.nio.charset.StandardCharsets.UTF_8));
                sha.update((byte) 0);
                sha.update(f.getValue());
            }
            return HexFormat.of().formatHex(sha.digest(), 0, 8);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static void sweep(Path dir, Path keep) throws IOException {
        Instant cutoff = Instant.now().minus(UNUSED_KEPT);
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(dir, "initramfs-*.img")) {
            for (Path p : ds) {
                try {
                    if (!p.equals(keep)
                            && Files.getLastModifiedTime(p).toInstant().isBefore(cutoff)) {
                        Files.deleteIfExists(p);
                    }
                } catch (IOException e) {
                    // another JVM swept it first, or it is not ours to remove: not this call's business
                }
            }
        }
    }
}

package dev.vgpuhil.images;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.apache.commons.compress.archivers.cpio.CpioArchiveEntry;
import org.apache.commons.compress.archivers.cpio.CpioArchiveInputStream;
import org.apache.commons.compress.archivers.cpio.CpioConstants;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The overlay's bytes as the kernel reads them: a newc archive (parents, then the file, then the trailer, padded),
 * then the image's own initramfs unchanged; cached by content; bad paths refused. (That Linux unpacks both archives is
 * shown by every harness boot of the CI guest: its agent runs from the overlay.)
 */
class InitramfsOverlayTest {
    @TempDir
    Path tmp;

    private GuestImage image() throws IOException {
        Path dir = Files.createDirectories(tmp.resolve("img"));
        Files.write(dir.resolve("vmlinuz"), new byte[] {1});
        // an lz4 legacy frame's magic, as the real image starts with
        Files.write(dir.resolve("initramfs.img"), new byte[] {0x02, 0x21, 0x4c, 0x18, 9, 8, 7});
        Files.writeString(dir.resolve("IMAGE-INFO"), "cache_key=k1\n");
        return GuestImage.locate(
                Map.of(dev.vgpuhil.common.Setting.IMAGE.property(), dir.toString())::get,
                k -> null,
                Duration.ofSeconds(1));
    }

    @Test
    void newcArchiveOfTheFileThenTheImageUnchanged() throws IOException {
        GuestImage img = image();
        Path jar = Files.write(tmp.resolve("agent.jar"), "PK-agent-bytes".getBytes());
        Path out = InitramfsOverlay.withFile(img, "/opt/vgpu-hil/guest-agent.jar", jar);
        byte[] all = Files.readAllBytes(out);
        byte[] base = Files.readAllBytes(img.initramfs());
        assertThat(new String(all, 0, 6)).as("newc magic").isEqualTo("070701");

        List<String> names = new ArrayList<>();
        byte[] content = null;
        try (CpioArchiveInputStream in = new CpioArchiveInputStream(new ByteArrayInputStream(all))) {
            CpioArchiveEntry e;
            while ((e = in.getNextEntry()) != null) {
                names.add(e.getName() + ":" + Long.toOctalString(e.getMode()));
                if (e.isRegularFile()) {
                    content = in.readAllBytes();
                }
            }
        }
        assertThat(names)
                .containsExactly(
                        "opt:" + Long.toOctalString(CpioConstants.C_ISDIR | 0755),
                        "opt/vgpu-hil:" + Long.toOctalString(CpioConstants.C_ISDIR | 0755),
                        "opt/vgpu-hil/guest-agent.jar:" + Long.toOctalString(CpioConstants.C_ISREG | 0644));
        assertThat(content).isEqualTo(Files.readAllBytes(jar));

        // after the trailer only zero padding, then the image's archive byte for byte
        byte[] tail = Arrays.copyOfRange(all, all.length - base.length, all.length);
        assertThat(tail).isEqualTo(base);
        int trailer = indexOf(all, "TRAILER!!!".getBytes());
        assertThat(trailer).isPositive();
        for (int i = trailer + "TRAILER!!!".length() + 1; i < all.length - base.length; i++) {
            assertThat(all[i]).as("padding byte %d", i).isZero();
        }
        assertThat((all.length - base.length) % 4)
                .as("the next archive starts 4-byte aligned")
                .isZero();
    }

    @Test
    void severalFilesShareTheirDirectoryEntries() throws IOException {
        GuestImage img = image();
        Path out = InitramfsOverlay.withFiles(
                img, Map.of("/opt/x/b.so", new byte[] {2}, "/opt/x/a.jar", new byte[] {1}, "/etc/y", new byte[0]));
        List<String> names = new ArrayList<>();
        try (CpioArchiveInputStream in = new CpioArchiveInputStream(Files.newInputStream(out))) {
            for (CpioArchiveEntry e; (e = in.getNextEntry()) != null; ) {
                names.add(e.getName());
            }
        }
        assertThat(names).containsExactly("etc", "etc/y", "opt", "opt/x", "opt/x/a.jar", "opt/x/b.so");
    }

    @Test
    void cachedByContentAndOldOnesSwept() throws IOException {
        GuestImage img = image();
        Path jar = Files.write(tmp.resolve("agent.jar"), new byte[] {1, 2, 3});
        Path first = InitramfsOverlay.withFile(img, "/opt/a.jar", jar);
        assertThat(InitramfsOverlay.withFile(img, "/opt/a.jar", jar)).isEqualTo(first);
        assertThat(InitramfsOverlay.withFile(img, "/opt/b.jar", jar))
                .as("another path")
                .isNotEqualTo(first);

        Files.setLastModifiedTime(
                first,
                FileTime.from(Instant.now().minus(InitramfsOverlay.UNUSED_KEPT).minusSeconds(60)));
        Files.write(jar, new byte[] {4, 5, 6}); // a rebuilt agent
        Path second = InitramfsOverlay.withFile(img, "/opt/a.jar", jar);
        assertThat(second).isNotEqualTo(first).isRegularFile();
        assertThat(first).as("unused for longer than kept: swept").doesNotExist();
        try (var ds = Files.newDirectoryStream(second.getParent(), ".initramfs-*")) {
            assertThat(ds.iterator().hasNext()).as("no temporary file left").isFalse();
        }
    }

    @Test
    void refusesPathsThatAreNotAbsoluteFiles() throws IOException {
        GuestImage img = image();
        Path jar = Files.write(tmp.resolve("agent.jar"), new byte[] {1});
        for (String bad : new String[] {"opt/a.jar", "/opt/", "/opt/../etc/passwd", "//a"}) {
            assertThatThrownBy(() -> InitramfsOverlay.withFile(img, bad, jar))
                    .as(bad)
                    .isInstanceOf(IllegalArgumentException.class);
        }
        assertThatThrownBy(() -> InitramfsOverlay.withFile(img, "/opt/a.jar", tmp.resolve("missing.jar")))
                .isInstanceOf(GuestImageException.class)
                .hasMessageContaining("missing.jar");
    }

    private static int indexOf(byte[] hay, byte[] needle) {
        outer:
        for (int i = 0; i + needle.length <= hay.length; i++) {
            for (int j = 0; j < needle.length; j++) {
                if (hay[i + j] != needle[j]) {
                    continue outer;
                }
            }
            return i;
        }
        return -1;
    }
}

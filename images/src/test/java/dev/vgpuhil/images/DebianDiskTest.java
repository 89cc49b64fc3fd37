package dev.vgpuhil.images;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Opening a disk directory of images/build-debian-disk.sh (no build: that is the nightly IT's job). */
class DebianDiskTest {
    private static final String KEY =
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIt2WYVSKVY8BMJLBC7c42rwZtZZkezMlKHoCg3ShN5T x@y";

    @TempDir
    Path tmp;

    @Test
    void opensADiskDirectoryAndBuildsTheDirectBootCommandLine() throws Exception {
        for (String f : List.of("disk.qcow2", "vmlinuz", "initrd.img")) {
            Files.writeString(tmp.resolve(f), "x");
        }
        Files.writeString(
                tmp.resolve("DISK-INFO"),
                "cache_key=0123\nappend_prefix=root=LABEL=vgpu-root rw\n"
                        + "boot_loader=grub-pc (MBR)\njava_version=17.0.9\n");
        DebianDisk d = DebianDisk.locate(
                Map.of(dev.vgpuhil.common.Setting.DISK.property(), tmp.toString())::get,
                k -> null,
                Duration.ofSeconds(1));
        assertThat(d.disk()).isEqualTo(tmp.resolve("disk.qcow2"));
        assertThat(d.kernel()).isEqualTo(tmp.resolve("vmlinuz"));
        assertThat(d.initrd()).isEqualTo(tmp.resolve("initrd.img"));
        assertThat(d.cacheKey()).isEqualTo("0123");
        assertThat(d.bootable()).isTrue();
        assertThat(d.kernelCommandLine(KEY))
                .isEqualTo("root=LABEL=vgpu-root rw " + GuestImage.commandLine(KEY, null))
                .contains(" vgpuhil.authkey=");
        Files.writeString(tmp.resolve("DISK-INFO"), "cache_key=0123\n");
        assertThat(DebianDisk.fromDirectory(tmp).bootable())
                .as("a disk of the old recipe")
                .isFalse();
        assertThat(DebianDisk.fromDirectory(tmp).kernelCommandLine(null))
                .startsWith(DebianDisk.DEFAULT_APPEND_PREFIX + " ");
    }

    @Test
    void saysWhatIsMissing() throws Exception {
        Files.writeString(tmp.resolve("vmlinuz"), "x");
        assertThatThrownBy(() -> DebianDisk.locate(
                        k -> null,
                        Map.of(dev.vgpuhil.common.Setting.DISK.env(), tmp.toString())::get,
                        Duration.ofSeconds(1)))
                .isInstanceOf(GuestImageException.class)
                .hasMessageContaining("(from -Dvgpu.disk / VGPU_DISK) lacks disk.qcow2, initrd.img, DISK-INFO");
        assertThatThrownBy(() -> DebianDisk.fromDirectory(tmp.resolve("nope"))).hasMessageContaining("does not exist");
    }
}

package dev.vgpuhil.agent;

import static dev.vgpuhil.protocol.VgpuProtocol.BAR0_SIZE;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The real mmap path (JNA open + mmap MAP_SHARED + munmap) against a regular 4 KiB file - no mock. */
@DisplayName("MappedBar0 on a real mmap'ed file: 32-bit little-endian words, byte for byte")
class MappedBar0Test {
    @TempDir
    Path tmp;

    private Path file() throws Exception {
        Path f = tmp.resolve("resource0");
        Files.write(f, new byte[BAR0_SIZE]);
        return f;
    }

    @Test
    @DisplayName("write32 lands in the file as 4 little-endian bytes at the offset, nothing else changes")
    void writeLayout() throws Exception {
        Path f = file();
        try (MappedBar0 bar = MappedBar0.open(f, BAR0_SIZE)) {
            bar.write32(0x03C, 0xDEADBEEF);
            bar.write32(0x000, 0x01020304);
            bar.write32(BAR0_SIZE - 4, 0x80000001);
        }
        byte[] b = Files.readAllBytes(f);
        byte[] expected = new byte[BAR0_SIZE];
        expected[0x03C] = (byte) 0xEF;
        expected[0x03D] = (byte) 0xBE;
        expected[0x03E] = (byte) 0xAD;
        expected[0x03F] = (byte) 0xDE;
        expected[0] = 4;
        expected[1] = 3;
        expected[2] = 2;
        expected[3] = 1;
        expected[BAR0_SIZE - 4] = 1;
        expected[BAR0_SIZE - 1] = (byte) 0x80;
        assertThat(b).isEqualTo(expected);
    }

    @Test
    @DisplayName("read32 sees bytes written through the file (shared mapping), assembled little-endian")
    void readLayout() throws Exception {
        Path f = file();
        try (MappedBar0 bar = MappedBar0.open(f, BAR0_SIZE);
                RandomAccessFile raf = new RandomAccessFile(f.toFile(), "rw")) {
            raf.seek(0x440);
            raf.write(new byte[] {0x78, 0x56, 0x34, 0x12, (byte) 0xFF, 0, 0, 0});
            raf.getFD().sync();
            assertThat(bar.read32(0x440)).isEqualTo(0x12345678);
            assertThat(bar.read32(0x444)).isEqualTo(0xFF);
            assertThat(bar.read32(0x448)).isZero();
        }
    }

    @Test
    @DisplayName("a write is visible to a read of the same mapping and to a second mapping (MAP_SHARED)")
    void shared() throws Exception {
        Path f = file();
        try (MappedBar0 a = MappedBar0.open(f, BAR0_SIZE);
                MappedBar0 b = MappedBar0.open(f, BAR0_SIZE)) {
            assertThat(a.address()).isNotEqualTo(b.address());
            for (int off = 0; off < BAR0_SIZE; off += 4) {
                a.write32(off, off * 0x01010101 ^ 0xA5A5A5A5);
            }
            for (int off = 0; off < BAR0_SIZE; off += 4) {
                assertThat(b.read32(off)).isEqualTo(off * 0x01010101 ^ 0xA5A5A5A5);
            }
        }
    }

    @Test
    @DisplayName("only 4-aligned offsets inside the mapping: no split or straddling access is possible")
    void offsetsChecked() throws Exception {
        try (MappedBar0 bar = MappedBar0.open(file(), BAR0_SIZE)) {
            assertThatThrownBy(() -> bar.read32(2)).isInstanceOf(IllegalArgumentException.class);
            assertThatThrownBy(() -> bar.write32(0x41, 0)).isInstanceOf(IllegalArgumentException.class);
            assertThatThrownBy(() -> bar.read32(BAR0_SIZE)).isInstanceOf(IllegalArgumentException.class);
            assertThatThrownBy(() -> bar.read32(-4)).isInstanceOf(IllegalArgumentException.class);
            bar.close();
            assertThatThrownBy(() -> bar.read32(0)).hasMessageContaining("unmapped");
        }
    }

    @Test
    @DisplayName("a missing file is an AgentException")
    void missing() {
        assertThatThrownBy(() -> MappedBar0.open(tmp.resolve("nope"), BAR0_SIZE))
                .isInstanceOf(AgentException.class)
                .hasMessageContaining("cannot open")
                .hasMessageContaining("nope");
    }

    @Test
    @DisplayName("a file shorter than BAR0 is refused (touching the mapping past its end would be SIGBUS)")
    void tooShort() throws Exception {
        Path f = tmp.resolve("short");
        Files.write(f, new byte[100]);
        assertThatThrownBy(() -> MappedBar0.open(f, BAR0_SIZE))
                .isInstanceOf(AgentException.class)
                .hasMessageContaining("is 100 bytes, less than the 4096 to map");
    }

    @Test
    @DisplayName("open(2) failures carry errno and its text: a directory cannot be opened O_RDWR (EISDIR)")
    void openFailure() throws Exception {
        Path dir = Files.createDirectories(tmp.resolve("d"));
        // the size check comes first, so the directory must report st_size >= 4096: it does at once on ext4, and
        // grows with its entries on tmpfs (20 bytes each), btrfs, xfs - fill it until it does, on any file system
        for (int i = 0; Files.size(dir) < BAR0_SIZE; i++) {
            assertThat(i)
                    .as("directory %s still reports %d bytes after %d entries", dir, Files.size(dir), i)
                    .isLessThan(100_000);
            Files.createFile(dir.resolve(String.format("entry-%05d-%s", i, "x".repeat(64))));
        }
        assertThatThrownBy(() -> MappedBar0.open(dir, BAR0_SIZE))
                .isInstanceOf(AgentException.class)
                .hasMessageContaining("cannot open " + dir)
                .hasMessageContaining("errno 21");
    }

    /**
     * A real EACCES: a 0600 file of another user. Root bypasses file permissions, so as root (CI) the open runs in
     * a child JVM as nobody ({@code setpriv --reuid=65534 --regid=65534 --clear-groups}) on a root-owned 0600 file;
     * as any other user it runs in-process on a 0000 file.
     */
    @Test
    @DisplayName("no permission: errno 13 and a hint to run as root (as root: in a child process as nobody)")
    void noPermission() throws Exception {
        Path f = file();
        if (((Integer) Files.getAttribute(Path.of("/proc/self"), "unix:uid")) != 0) {
            Files.setPosixFilePermissions(f, PosixFilePermissions.fromString("---------"));
            assertThatThrownBy(() -> MappedBar0.open(f, BAR0_SIZE))
                    .isInstanceOf(AgentException.class)
                    .hasMessageContaining("errno 13")
                    .hasMessageContaining("run as root");
            return;
        }
        Files.setPosixFilePermissions(f, PosixFilePermissions.fromString("rw-------"));
        String out = MappedBar0PermissionProbe.runAsNobody(tmp, f, BAR0_SIZE);
        assertThat(out)
                .startsWith("AgentException: cannot open " + f + ": errno 13")
                .contains("run as root");
    }
}

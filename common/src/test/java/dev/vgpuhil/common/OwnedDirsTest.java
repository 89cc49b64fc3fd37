package dev.vgpuhil.common;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Instant;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Owned directories: made private, swept when their owner is dead, run directories pruned to a bound. */
class OwnedDirsTest {
    @TempDir
    Path root;

    /** The pid of a process that has exited. */
    private static long deadPid() throws Exception {
        Process gone = new ProcessBuilder("true").start();
        gone.waitFor();
        return gone.pid();
    }

    @Test
    void tempDirectoriesArePrivateNamedByTheirOwnerAndSweptOnlyWhenItIsGone() throws Exception {
        Path mine = OwnedDirs.temp(root, "probe");
        assertThat(mine.getFileName().toString())
                .startsWith("vgpu-hil-probe-" + ProcessHandle.current().pid() + "-");
        assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(mine)))
                .isEqualTo("rwx------");
        assertThat(OwnedDirs.readOwner(mine))
                .get()
                .satisfies(
                        o -> assertThat(o[0]).isEqualTo(ProcessHandle.current().pid()));
        Files.writeString(mine.resolve("data"), "x");

        long dead = deadPid();
        Path orphan = Files.createDirectory(root.resolve("vgpu-hil-ssh-" + dead + "-00ff"));
        Files.writeString(orphan.resolve("id.pub"), "key");
        // a live pid in the name but another start time in the owner file: a recycled pid, so the owner is gone
        Path recycled = Files.createDirectory(
                root.resolve("vgpu-hil-med-" + ProcessHandle.current().pid() + "-abcd"));
        Files.writeString(
                recycled.resolve(OwnedDirs.OWNER), ProcessHandle.current().pid() + " 12345\n");
        // not ours: other names are never touched, even with a dead pid in them
        Path foreign = Files.createDirectory(root.resolve("other-" + dead + "-00ff"));

        assertThat(OwnedDirs.sweepTemp(root)).containsExactlyInAnyOrder(orphan, recycled);
        assertThat(mine.resolve("data")).exists();
        assertThat(foreign).exists();
        assertThat(orphan).doesNotExist();

        OwnedDirs.delete(mine);
        assertThat(mine).doesNotExist();
    }

    @Test
    void pruneKeepsTheNewestRunDirectoriesAndNeverOneOfALiveOwner() throws Exception {
        long dead = deadPid();
        Path[] dirs = new Path[5];
        for (int i = 0; i < dirs.length; i++) {
            dirs[i] = OwnedDirs.createRunDir(root, "vm");
            Files.writeString(dirs[i].resolve(OwnedDirs.OWNER), dead + " 0\n");
            Files.setLastModifiedTime(
                    dirs[i].resolve(OwnedDirs.OWNER),
                    FileTime.from(Instant.now().minusSeconds(100 - i)));
        }
        // the oldest belongs to a live JVM (this one): kept whatever its age
        OwnedDirs.writeOwner(dirs[0], ProcessHandle.current());
        Files.setLastModifiedTime(
                dirs[0].resolve(OwnedDirs.OWNER), FileTime.from(Instant.now().minusSeconds(500)));
        Path notARunDir = Files.createDirectory(root.resolve("bench-results"));

        assertThat(OwnedDirs.prune(root, 2)).containsExactlyInAnyOrder(dirs[1], dirs[2]);
        assertThat(dirs[0]).exists();
        assertThat(dirs[3]).exists();
        assertThat(dirs[4]).exists();
        assertThat(notARunDir).exists();
        assertThat(dirs[4].getFileName().toString()).matches("vm-\\d{8}-\\d{6}-\\d+");
    }
}

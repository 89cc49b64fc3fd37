package dev.vgpuhil.common;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class MoreFilesTest {
    @TempDir
    Path tmp;

    @Test
    void deletesANestedTreeAndLeavesItsSiblings() throws Exception {
        Path dir = Files.createDirectories(tmp.resolve("run/a/b"));
        Files.writeString(dir.resolve("f"), "x");
        Files.writeString(tmp.resolve("run/top"), "y");
        Path sibling = Files.writeString(tmp.resolve("keep"), "z");

        MoreFiles.deleteTree(tmp.resolve("run"));

        assertThat(tmp.resolve("run")).doesNotExist();
        assertThat(sibling).hasContent("z");
    }

    @Test
    void doesNotFollowALinkOutOfTheTree() throws Exception {
        Path outside = Files.createDirectories(tmp.resolve("outside"));
        Path victim = Files.writeString(outside.resolve("victim"), "v");
        Path dir = Files.createDirectories(tmp.resolve("run"));
        Files.createSymbolicLink(dir.resolve("link"), outside);

        MoreFiles.deleteTree(dir);

        assertThat(dir).doesNotExist();
        assertThat(victim).hasContent("v");
    }

    @Test
    void nullAndMissingPathsAreNoOps() {
        MoreFiles.deleteTree(null);
        MoreFiles.deleteTree(tmp.resolve("never-made"));
        assertThat(tmp).isDirectory();
    }
}

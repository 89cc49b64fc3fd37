package dev.vgpuhil.common;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ShippedScriptsTest {
    /** The repository root, from this module's directory (tests run in common/). */
    private static final Path REPO = Path.of("").toAbsolutePath().getParent();

    @Test
    void theShippedTreeHoldsEveryFileOfTheScriptFoldersByGlob() throws Exception {
        Map<String, byte[]> files = ShippedScripts.shippedFiles();
        assertThat(files)
                .containsKeys(
                        "vgpu-stub/build-qemu.sh",
                        "vgpu-stub/vgpu_protocol.h",
                        "vgpu-stub/vgpu-stub.c",
                        "images/build-initramfs.sh",
                        "images/build-debian-disk.sh",
                        "images/make-nocloud-seed.sh",
                        "images/initramfs/init",
                        "vgpu-stub/guest-test/test_vgpu_enhanced.c");
        // every file of the folders travels (new ones included), nothing of the Maven modules
        try (Stream<Path> s =
                Stream.concat(Files.walk(REPO.resolve("vgpu-stub")), Files.walk(REPO.resolve("images")))) {
            s.filter(Files::isRegularFile)
                    .map(p -> REPO.relativize(p).toString())
                    .filter(p -> !p.startsWith("vgpu-stub/protocol/")
                            && !p.startsWith("images/src/")
                            && !p.contains("/target/")
                            && !p.equals("images/pom.xml"))
                    .forEach(p -> assertThat(files).as(p).containsKey(p));
        }
        assertThat(files.keySet()).noneMatch(k -> k.startsWith("vgpu-stub/protocol/") || k.startsWith("images/src/"));
        assertThat(files.get("vgpu-stub/build-qemu.sh"))
                .isEqualTo(Files.readAllBytes(REPO.resolve("vgpu-stub/build-qemu.sh")));
    }

    @Test
    void extractsOnceByContentHashWithScriptsExecutable(@TempDir Path base) throws Exception {
        Path dir = ShippedScripts.extract(base);
        assertThat(dir.getFileName().toString()).isEqualTo(ShippedScripts.hash(ShippedScripts.shippedFiles()));
        assertThat(dir.resolve("vgpu-stub/build-qemu.sh")).isExecutable();
        assertThat(dir.resolve("vgpu-stub/qemu-integration/integrate.sh")).isExecutable();
        assertThat(dir.resolve("images/initramfs/init")).isExecutable();
        assertThat(Files.isExecutable(dir.resolve("vgpu-stub/vgpu-stub.c"))).isFalse();
        assertThat(dir.resolve("vgpu-stub/vgpu_protocol.h"))
                .hasSameBinaryContentAs(REPO.resolve("vgpu-stub/vgpu_protocol.h"));
        long mtime = Files.getLastModifiedTime(dir.resolve("images/build-initramfs.sh"))
                .toMillis();
        Thread.sleep(20);
        assertThat(ShippedScripts.extract(base)).isEqualTo(dir);
        assertThat(Files.getLastModifiedTime(dir.resolve("images/build-initramfs.sh"))
                        .toMillis())
                .isEqualTo(mtime);
        try (Stream<Path> s = Files.list(base)) {
            assertThat(s.map(p -> p.getFileName().toString()))
                    .containsExactly(dir.getFileName().toString());
        }
    }

    @Test
    void oldTreesGoOnlyBeyondTheNewestAndAfterTheGraceTime(@TempDir Path base) throws Exception {
        long now = System.currentTimeMillis();
        for (int i = 0; i < ShippedScripts.KEEP + 3; i++) {
            Path d = Files.createDirectories(base.resolve(String.format("%016x", i)));
            // i = 0 newest; the last two are old enough, the one before them is not
            long age = i >= ShippedScripts.KEEP + 1 ? ShippedScripts.PRUNE_AFTER.toMillis() + 60_000 : i * 1000L;
            Files.setLastModifiedTime(d, java.nio.file.attribute.FileTime.fromMillis(now - age));
        }
        Files.createDirectories(base.resolve("not-a-tree"));
        ShippedScripts.prune(base);
        try (Stream<Path> s = Files.list(base)) {
            assertThat(s.map(p -> p.getFileName().toString()))
                    .hasSize(ShippedScripts.KEEP + 2)
                    .contains("not-a-tree", String.format("%016x", ShippedScripts.KEEP))
                    .doesNotContain(
                            String.format("%016x", ShippedScripts.KEEP + 1),
                            String.format("%016x", ShippedScripts.KEEP + 2));
        }
    }

    @Test
    void theHashChangesWithAnyContentOrName() {
        byte[] a = {1, 2, 3};
        assertThat(ShippedScripts.hash(Map.of("x", a)))
                .isNotEqualTo(ShippedScripts.hash(Map.of("y", a)))
                .isNotEqualTo(ShippedScripts.hash(Map.of("x", new byte[] {1, 2, 4})))
                .isEqualTo(ShippedScripts.hash(Map.of("x", new byte[] {1, 2, 3})));
    }

    @Test
    void aResourceBecomesAFileOncePerContent(@TempDir Path cache) {
        String before = System.setProperty("user.home", cache.toString());
        try {
            if (Setting.CACHE_HOME.value().isPresent()) {
                return; // XDG_CACHE_HOME set: cacheRoot() is not under user.home; resource() is covered by the example
            }
            Path f = ShippedScripts.resource(ShippedScripts.RESOURCE_ROOT + "/" + ShippedScripts.MARKER, "h.txt");
            assertThat(f)
                    .startsWith(cache.resolve(".cache/vgpu-hil/jars"))
                    .hasFileName("h.txt")
                    .hasSameBinaryContentAs(REPO.resolve("vgpu-stub/vgpu_protocol.h"));
            assertThat(ShippedScripts.resource(ShippedScripts.RESOURCE_ROOT + "/" + ShippedScripts.MARKER, "h.txt"))
                    .isEqualTo(f);
        } finally {
            System.setProperty("user.home", before);
        }
    }

    @Test
    void aSlowBodyIsAnnouncedAndAFastOneIsNot() throws Exception {
        var out = System.out;
        var buf = new java.io.ByteArrayOutputStream();
        System.setOut(new java.io.PrintStream(buf, true));
        try {
            java.time.Duration after = java.time.Duration.ofMillis(300);
            assertThat(ShippedScripts.announced("fast thing", "1 s", after, () -> 1))
                    .isEqualTo(1);
            assertThat(buf.toString()).isEmpty();
            ShippedScripts.announced("slow thing", "3 s", after, () -> {
                Thread.sleep(1200);
                return null;
            });
        } finally {
            System.setOut(out);
        }
        assertThat(buf.toString().lines()).hasSize(2);
        assertThat(buf.toString())
                .contains("building slow thing (first use on this machine, cached afterwards; usually 3 s)")
                .contains("built slow thing in 1 s");
    }
}

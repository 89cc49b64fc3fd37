package dev.vgpuhil.protocol;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

/**
 * vgpu_compat.h is the one home of QEMU version differences (so a port to another QEMU, e.g. XCP-ng's 4.2.1, is
 * a reading of one header): no other C file of the device tests QEMU_VERSION, and every version test in the
 * header sits under a comment naming the release that changed the API.
 */
@DisplayName("vgpu_compat.h holds every QEMU version test")
class VgpuCompatHeaderTest {
    static final Path STUB = SourceTree.path("vgpu-stub");
    static final Path COMPAT = STUB.resolve("vgpu_compat.h");
    static final Pattern AT_LEAST = Pattern.compile("VGPU_QEMU_AT_LEAST\\((\\d+),\\s*(\\d+)\\)");

    @Test
    @DisplayName("no C source or header outside vgpu_compat.h mentions QEMU_VERSION")
    void noVersionTestElsewhere() throws IOException {
        List<Path> sources;
        try (Stream<Path> walk = Files.walk(STUB)) {
            sources = walk.filter(p -> p.toString().matches(".*\\.[ch]$"))
                    .filter(p -> !p.startsWith(STUB.resolve("protocol")) && !p.equals(COMPAT))
                    .toList();
        }
        assertThat(sources)
                .contains(STUB.resolve("vgpu-stub.c"), STUB.resolve("core").resolve("vgpu_core.c"));
        List<String> offenders = new ArrayList<>();
        for (Path p : sources) {
            if (Files.readString(p).contains("QEMU_VERSION")) {
                offenders.add(STUB.relativize(p).toString());
            }
        }
        assertThat(offenders).as("files with their own QEMU_VERSION test").isEmpty();
        assertThat(Files.readString(STUB.resolve("vgpu-stub.c"))).contains("#include \"vgpu_compat.h\"");
    }

    @Test
    @DisplayName("every VGPU_QEMU_AT_LEAST(M, m) test sits under a comment naming release M.m")
    void everyTestNamesItsRelease() throws IOException {
        String text = Files.readString(COMPAT);
        Matcher m = AT_LEAST.matcher(text);
        int tests = 0;
        List<String> unexplained = new ArrayList<>();
        while (m.find()) {
            int lineStart = text.lastIndexOf('\n', m.start()) + 1;
            if (!text.startsWith("#if", lineStart)) {
                continue; // the macro's own definition
            }
            tests++;
            int commentEnd = text.lastIndexOf("*/", m.start());
            int commentStart = text.lastIndexOf("/*", commentEnd);
            String release = m.group(1) + "." + m.group(2);
            if (commentStart < 0 || !text.substring(commentStart, commentEnd).contains(release)) {
                unexplained.add(text.substring(lineStart, text.indexOf('\n', m.start())));
            }
        }
        assertThat(tests).as("version tests in vgpu_compat.h").isGreaterThanOrEqualTo(10);
        assertThat(unexplained)
                .as("tests whose preceding comment does not name their release")
                .isEmpty();
        // the releases the issue names, each present
        assertThat(text)
                .contains(
                        "VGPU_QEMU_AT_LEAST(5, 0)",
                        "VGPU_QEMU_AT_LEAST(5, 2)",
                        "VGPU_QEMU_AT_LEAST(8, 0)",
                        "VGPU_QEMU_AT_LEAST(9, 2)",
                        "VGPU_QEMU_AT_LEAST(10, 0)",
                        "VGPU_QEMU_AT_LEAST(10, 1)",
                        "Makefile.objs");
        String[] lines = text.split("\n");
        for (String line : lines) {
            if (line.contains("QEMU_VERSION_MAJOR") || line.contains("QEMU_VERSION_MINOR")) {
                assertThat(line)
                        .as("raw QEMU_VERSION use outside VGPU_QEMU_AT_LEAST's definition")
                        .matches(".*(define VGPU_QEMU_AT_LEAST|QEMU_VERSION_MAJOR [>=]+ \\(major\\)|"
                                + "QEMU_VERSION_MINOR >= \\(minor\\)|QEMU_VERSION_MAJOR/MINOR).*");
            }
        }
    }
}

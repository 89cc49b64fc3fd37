package dev.vgpuhil.protocol;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;

import io.qameta.allure.Allure;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.io.TempDir;

/**
 * The device core (vgpu-stub/core/vgpu_core.c) without QEMU: compiles it with plain gcc, warnings as errors and no
 * include path but vgpu-stub/ and core/, together with core/test/test_vgpu_core.c (a fake platform that records
 * every byte, deadline, interrupt and log line), runs it, and reports each of its checks as a test.
 */
@DisplayName("vgpu core: QEMU-independent, driven by a fake platform")
class VgpuCoreUnitTest {
    static final Path CORE = SourceTree.path("vgpu-stub", "core");
    /** What the core may include: libc and the protocol header, nothing of QEMU or glib. */
    static final Set<String> ALLOWED_INCLUDES = Set.of(
            "vgpu_core.h", "vgpu_protocol.h", "stdarg.h", "stdbool.h", "stddef.h", "stdint.h", "stdio.h", "string.h");

    static final Pattern INCLUDE = Pattern.compile("^\\s*#\\s*include\\s*[<\"]([^>\"]+)[>\"]", Pattern.MULTILINE);
    static final Pattern RESULT = Pattern.compile("^(ok|not ok) (\\w+)(?:: (.*))?$");

    record Check(String name, boolean ok, String why) {}

    static final List<Check> checks = new ArrayList<>();
    static String summary;
    static int exitCode;

    @BeforeAll
    static void compileAndRun(@TempDir Path dir) throws Exception {
        Path exe = dir.resolve("test_vgpu_core");
        run(
                List.of(
                        "gcc",
                        "-std=gnu11",
                        "-Wall",
                        "-Wextra",
                        "-Werror",
                        "-I",
                        SourceTree.path("vgpu-stub").toString(),
                        "-I",
                        CORE.toString(),
                        "-o",
                        exe.toString(),
                        CORE.resolve("vgpu_core.c").toString(),
                        CORE.resolve("test").resolve("test_vgpu_core.c").toString()),
                true);
        String out = run(List.of(exe.toString()), false);
        Allure.addAttachment("test_vgpu_core output", "text/plain", out);
        for (String line : out.split("\n")) {
            Matcher m = RESULT.matcher(line);
            if (m.matches()) {
                checks.add(new Check(m.group(2), m.group(1).equals("ok"), m.group(3)));
            } else if (line.endsWith(" failed")) {
                summary = line;
            }
        }
    }

    static String run(List<String> cmd, boolean mustSucceed) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        p.getOutputStream().close();
        byte[] out = p.getInputStream().readAllBytes();
        if (!p.waitFor(60, TimeUnit.SECONDS)) {
            p.destroyForcibly().waitFor();
            fail("timed out: " + cmd);
        }
        String text = new String(out, StandardCharsets.UTF_8);
        if (mustSucceed) {
            assertThat(p.exitValue())
                    .as("exit code of %s; output:%n%s", cmd, text)
                    .isZero();
        } else {
            exitCode = p.exitValue();
        }
        return text;
    }

    @TestFactory
    @DisplayName("each check of test_vgpu_core.c")
    Stream<DynamicTest> eachCheck() {
        assertThat(checks).as("checks reported by test_vgpu_core").hasSizeGreaterThanOrEqualTo(20);
        return checks.stream()
                .map(c -> DynamicTest.dynamicTest(
                        c.name(),
                        () -> assertThat(c.ok()).as("%s: %s", c.name(), c.why()).isTrue()));
    }

    @Test
    @DisplayName("the program ran every check to the end and its exit code agrees")
    void ranToTheEnd() {
        long failed = checks.stream().filter(c -> !c.ok()).count();
        assertThat(summary).as("summary line").isEqualTo(failed + " failed");
        assertThat(exitCode).isEqualTo(failed == 0 ? 0 : 1);
        assertThat(checks)
                .extracting(Check::name)
                .contains(
                        "doorbell_sends_frame",
                        "reply_completes",
                        "deadline",
                        "bad_header",
                        "backpressure",
                        "register_names");
    }

    @Test
    @DisplayName("vgpu_core.c and vgpu_core.h include only libc and vgpu_protocol.h")
    void includesNoQemuOrGlib() throws IOException {
        for (String file : List.of("vgpu_core.c", "vgpu_core.h")) {
            Matcher m = INCLUDE.matcher(Files.readString(CORE.resolve(file)));
            List<String> includes = new ArrayList<>();
            while (m.find()) {
                includes.add(m.group(1));
            }
            assertThat(includes).as("includes of %s", file).isNotEmpty().allMatch(ALLOWED_INCLUDES::contains);
        }
    }
}

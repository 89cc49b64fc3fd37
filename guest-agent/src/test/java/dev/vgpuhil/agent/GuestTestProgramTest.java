package dev.vgpuhil.agent;

import static dev.vgpuhil.protocol.VgpuProtocol.*;
import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * vgpu-stub/guest-test/test_vgpu_enhanced.c: builds warning-free exactly as the image build compiles it, and - run
 * against the same fake sysfs tree (resource0 = a plain file) - reports the same checks as the agent's selftest:
 * same order, test numbers, names, pass/fail, expected and actual texts, and exit code.
 */
@DisplayName("guide's C test program: warning-free build, and check-by-check agreement with the agent")
class GuestTestProgramTest {
    static final Pattern C_LINE =
            Pattern.compile("\\[(PASS|FAIL)\\] test (\\d+): (\\w+): .* \\(expected (.*); actual (.*)\\)");
    static final Pattern JAVA_LINE = Pattern.compile("\\{\"type\":\"check\",\"test\":(\\d+),\"name\":\"(\\w+)\","
            + "\"check\":\"\\w+\",\"pass\":(true|false),\"description\":\"[^\"]*\",\"expected\":\"([^\"]*)\","
            + "\"actual\":\"([^\"]*)\"\\}");

    @TempDir
    static Path bin;

    static Path program;

    static Path repo() {
        String p = System.getProperty("vgpu.repo");
        Path dir = p != null ? Paths.get(p) : Paths.get("").toAbsolutePath();
        while (dir != null && !Files.exists(dir.resolve("vgpu-stub/vgpu_protocol.h"))) {
            dir = dir.getParent();
        }
        if (dir == null) {
            throw new IllegalStateException("repository root (with vgpu-stub/vgpu_protocol.h) not found");
        }
        return dir;
    }

    static Result exec(List<String> cmd, Path cwd) throws Exception {
        Process p;
        try {
            p = new ProcessBuilder(cmd)
                    .directory(cwd.toFile())
                    .redirectErrorStream(true)
                    .start();
        } catch (IOException e) {
            throw new AssertionError(cmd.get(0) + " not available (build-essential is part of the set-up)", e);
        }
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor(120, TimeUnit.SECONDS)).as("%s finished", cmd).isTrue();
        return new Result(p.exitValue(), out);
    }

    record Result(int rc, String out) {}

    @BeforeAll
    static void compile() throws Exception {
        program = bin.resolve("test_vgpu_enhanced");
        Result r = exec(
                List.of(
                        "gcc",
                        "-static",
                        "-O2",
                        "-Wall",
                        "-Wextra",
                        "-I",
                        "vgpu-stub",
                        "-o",
                        program.toString(),
                        "vgpu-stub/guest-test/test_vgpu_enhanced.c"),
                repo());
        assertThat(r.out()).as("gcc output (warnings)").isEmpty();
        assertThat(r.rc()).isZero();
    }

    @Test
    @DisplayName("gcc -static -O2 -Wall -Wextra -I vgpu-stub: no warnings (also none with -Werror -Wshadow -pedantic)")
    void warningFree() throws Exception {
        assertThat(program).isExecutable();
        Result strict = exec(
                List.of(
                        "gcc",
                        "-O2",
                        "-Wall",
                        "-Wextra",
                        "-Werror",
                        "-Wshadow",
                        "-Wpedantic",
                        "-Wno-variadic-macros",
                        "-fsyntax-only",
                        "-I",
                        "vgpu-stub",
                        "vgpu-stub/guest-test/test_vgpu_enhanced.c"),
                repo());
        assertThat(strict.out()).isEmpty();
        assertThat(strict.rc()).isZero();
    }

    @Test
    @DisplayName("no device: a clear message, RESULT line, exit 2; bad arguments: exit 2")
    void errors(@TempDir Path tmp) throws Exception {
        Result r = exec(List.of(program.toString(), "--sysfs", tmp.toString()), tmp);
        assertThat(r.rc()).isEqualTo(2);
        assertThat(r.out()).contains("ERROR: vgpu-stub device not found").contains("RESULT: 0 passed, 1 failed");
        r = exec(List.of(program.toString(), "--expect-pool", "Z"), tmp);
        assertThat(r.rc()).isEqualTo(2);
        assertThat(r.out()).contains("--expect-pool must be A or B");
    }

    record Check(int test, String name, boolean pass, String expected, String actual) {}

    @ParameterizedTest(name = "[{index}] C: {1} | Java: {2}")
    @CsvSource(
            delimiter = '|',
            value = {
                "true  | ''                                                   | ''",
                "true  | --expect-pool B --expect-priority high --expect-vm 200 | --expect-pool B --expect-priority high --expect-vm 200",
                "true  | --expect-pool A --expect-priority 1 --expect-vm 0x10   | --expect-pool A --expect-priority 1 --expect-vm 0x10",
                "true  | --mediator                                           | --mediator present",
                "false | ''                                                   | ''",
                "false | --mediator                                           | --mediator",
                "true  | --mediator present                                   | --mediator present",
                "true  | --mediator absent                                    | --mediator absent",
            })
    @DisplayName("same checks, same texts, same verdicts, same exit code")
    void agreesWithAgent(boolean identity, String cArgs, String javaArgs, @TempDir Path tmp) throws Exception {
        List<Check> c = runC(tree(tmp.resolve("c"), identity), cArgs, tmp);
        List<Check> j = runJava(tree(tmp.resolve("j"), identity), javaArgs);
        assertThat(c).hasSize(22);
        assertThat(j).containsExactlyElementsOf(c);
    }

    private static Path tree(Path root, boolean identity) {
        FakeSysfs fs = new FakeSysfs(root);
        fs.addDevice("0000:00:02.0", 0x1234, 0x1111, 0x02);
        Path dev = fs.addVgpu("0000:00:03.0");
        if (identity) {
            FakeSysfs.writeIdentity(dev);
            FakeSysfs.writeReg(dev, REG_IRQ_STATUS, IRQ_STATUS_COMPLETE);
            FakeSysfs.writeReg(dev, RESP_BUFFER_OFFSET + 8, 0x01020304);
        }
        return root;
    }

    private static List<String> argv(String args) {
        List<String> l = new ArrayList<>();
        for (String s : args.trim().split("\\s+")) {
            if (!s.isEmpty()) {
                l.add(s);
            }
        }
        return l;
    }

    private List<Check> runC(Path root, String args, Path cwd) throws Exception {
        List<String> cmd =
                new ArrayList<>(List.of(program.toString(), "--sysfs", root.toString(), "--timeout-ms", "100"));
        cmd.addAll(argv(args));
        Result r = exec(cmd, cwd);
        List<Check> checks = new ArrayList<>();
        int passed = 0;
        int failed = 0;
        for (String l : r.out().split("\n")) {
            Matcher m = C_LINE.matcher(l);
            if (m.matches()) {
                boolean pass = m.group(1).equals("PASS");
                checks.add(new Check(Integer.parseInt(m.group(2)), m.group(3), pass, m.group(4), m.group(5)));
                if (pass) {
                    passed++;
                } else {
                    failed++;
                }
            } else {
                assertThat(l)
                        .as("C output line")
                        .matches("vgpu-stub v2 guest test .*|device: .*|\\d+ checks, \\d+ "
                                + "failures|RESULT: \\d+ passed, \\d+ failed");
            }
        }
        assertThat(r.out()).endsWith("RESULT: " + passed + " passed, " + failed + " failed\n");
        assertThat(r.rc()).isEqualTo(failed == 0 ? 0 : 1);
        return checks;
    }

    private List<Check> runJava(Path root, String args) {
        List<String> cmd = new ArrayList<>(List.of("selftest", "--sysfs", root.toString(), "--timeout-ms", "100"));
        cmd.addAll(argv(args));
        AgentRun run = AgentRun.of(cmd.toArray(new String[0]));
        List<Check> checks = new ArrayList<>();
        int failed = 0;
        for (String l : run.lines) {
            Matcher m = JAVA_LINE.matcher(l);
            if (m.matches()) {
                boolean pass = m.group(3).equals("true");
                checks.add(new Check(Integer.parseInt(m.group(1)), m.group(2), pass, m.group(4), m.group(5)));
                failed += pass ? 0 : 1;
            } else {
                assertThat(l).startsWith("{\"type\":\"summary\"");
            }
        }
        assertThat(run.exitCode).isEqualTo(failed == 0 ? 0 : 1);
        return checks;
    }
}

package dev.vgpuhil.harness.agent;

import dev.vgpuhil.harness.GuestShell;
import dev.vgpuhil.harness.report.ProtocolFailure;
import dev.vgpuhil.harness.report.Reporting;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The guide's own C test program, baked into the image as {@code /usr/local/bin/test_vgpu_enhanced}: the second,
 * independent client. Its lines {@code [PASS] test N: name: description (expected E; actual A)} and
 * {@code RESULT: P passed, F failed} become a {@link Selftest} comparable check by check with the agent's.
 */
public final class GuideTestProgram {
    public static final String PATH = "/usr/local/bin/test_vgpu_enhanced";
    private static final Pattern CHECK =
            Pattern.compile("^\\[(PASS|FAIL)] test (\\d+): ([A-Za-z0-9_]+): (.*) \\(expected (.*); actual (.*)\\)$");
    private static final Pattern RESULT = Pattern.compile("^RESULT: (\\d+) passed, (\\d+) failed$");

    private GuideTestProgram() {}

    /** Runs it (args e.g. "--bdf", "0000:00:05.0", "--expect-pool", "B"); does not assert. */
    public static Selftest run(GuestShell shell, String label, String... args) {
        String cmd = PATH + (args.length == 0 ? "" : " " + String.join(" ", args));
        return Reporting.step("guide's C test program on " + label + ": " + cmd, () -> {
            GuestShell.Result r = shell.exec(cmd, Duration.ofSeconds(60));
            Reporting.attachText(
                    "test_vgpu_enhanced on " + label + " (stdout)",
                    r.stdout() + (r.stderr().isBlank() ? "" : "\n--- stderr ---\n" + r.stderr()) + "\n--- exit "
                            + r.exitCode());
            Selftest s = parse(r.stdout());
            if (s.checks().isEmpty()) {
                throw new ProtocolFailure("the guide's C test program on " + label + " printed no checks (exit "
                        + r.exitCode() + "): " + tail(r.stdout() + r.stderr()));
            }
            for (Selftest.Check c : s.checks()) {
                Reporting.result(c.toString(), c.pass());
            }
            if ((r.exitCode() == 0) != (s.failed() == 0 && s.failures().isEmpty())) {
                throw new ProtocolFailure("the guide's C test program on " + label + " exited " + r.exitCode()
                        + " but reported " + s.failed() + " failures");
            }
            return s;
        });
    }

    public static Selftest parse(String stdout) {
        List<Selftest.Check> checks = new ArrayList<>();
        Integer passed = null;
        Integer failed = null;
        for (String line : stdout.split("\n")) {
            String t = line.strip();
            Matcher m = CHECK.matcher(t);
            if (m.matches()) {
                checks.add(new Selftest.Check(
                        Integer.parseInt(m.group(2)), m.group(3), m.group(1).equals("PASS"), m.group(5), m.group(6)));
                continue;
            }
            Matcher r = RESULT.matcher(t);
            if (r.matches()) {
                passed = Integer.parseInt(r.group(1));
                failed = Integer.parseInt(r.group(2));
            }
        }
        if (passed == null) {
            int p = (int) checks.stream().filter(Selftest.Check::pass).count();
            return new Selftest("C program", List.copyOf(checks), p, checks.size() - p, false);
        }
        return new Selftest("C program", List.copyOf(checks), passed, failed, true);
    }

    /**
     * Both clients saw the same thing: the same checks (test number and name) in the same order with the same
     * outcome. Expected/actual texts are compared too, except where they carry a value that legitimately differs
     * between two runs (timestamps).
     */
    public static void requireAgreement(Selftest agent, Selftest c) {
        List<String> problems = new ArrayList<>();
        Map<String, Selftest.Check> byName = new LinkedHashMap<>();
        c.checks().forEach(x -> byName.put(x.name(), x));
        for (Selftest.Check a : agent.checks()) {
            Selftest.Check x = byName.remove(a.name());
            if (x == null) {
                problems.add(a.name() + ": only the agent has it");
                continue;
            }
            if (a.test() != 0 && a.test() != x.test()) {
                problems.add(a.name() + ": agent says test " + a.test() + ", C program test " + x.test());
            }
            if (a.pass() != x.pass()) {
                problems.add(a.name() + ": agent " + (a.pass() ? "PASS" : "FAIL") + ", C program "
                        + (x.pass() ? "PASS" : "FAIL") + " (agent actual " + a.actual() + "; C actual " + x.actual()
                        + ")");
            }
            if (a.expected() != null && x.expected() != null && !a.expected().equals(x.expected())) {
                problems.add(a.name() + ": expected differs: agent '" + a.expected() + "', C '" + x.expected() + "'");
            }
            if (!a.name().equals("timestamp_set")
                    && a.actual() != null
                    && x.actual() != null
                    && !a.actual().equals(x.actual())) {
                problems.add(a.name() + ": actual differs: agent '" + a.actual() + "', C '" + x.actual() + "'");
            }
        }
        byName.keySet().forEach(n -> problems.add(n + ": only the C program has it"));
        if (!agent.names().equals(c.names()) && problems.isEmpty()) {
            problems.add("same checks in a different order: agent " + agent.names() + ", C " + c.names());
        }
        if (!problems.isEmpty()) {
            throw new ProtocolFailure("the agent and the guide's C program disagree on " + problems.size()
                    + " check(s): " + String.join("; ", problems));
        }
    }

    private static String tail(String s) {
        return s.length() <= 800 ? s : "..." + s.substring(s.length() - 800);
    }
}

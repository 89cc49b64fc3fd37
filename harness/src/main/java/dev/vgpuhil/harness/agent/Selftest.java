package dev.vgpuhil.harness.agent;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.vgpuhil.harness.report.ProtocolFailure;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/** The checks of one self-test run (the agent's, or the guide's C program's) and its summary line. */
public record Selftest(String client, List<Check> checks, int passed, int failed, boolean summaryPresent) {

    /** One check: the guide's test number (0 if unknown), DEVICE.md's check name, outcome, expected/actual. */
    public record Check(int test, String name, boolean pass, String expected, String actual) {
        @Override
        public String toString() {
            return (test > 0 ? "test " + test + " " : "")
                    + name
                    + (pass ? " PASS" : " FAIL")
                    + (expected == null ? "" : " expected=" + expected)
                    + (actual == null ? "" : " actual=" + actual);
        }
    }

    /** From the agent's JSON lines: type=check (name or check as the name) and type=summary. */
    public static Selftest fromAgent(AgentRun run) {
        List<Check> checks = new ArrayList<>();
        for (ObjectNode o : run.ofType("check")) {
            String name = o.path("name").textValue();
            if (name == null) {
                name = o.path("check").textValue();
            }
            checks.add(new Check(
                    o.path("test").asInt(0),
                    name,
                    o.path("pass").booleanValue(),
                    o.path("expected").textValue(),
                    o.path("actual").textValue()));
        }
        List<ObjectNode> summary = run.ofType("summary");
        if (summary.isEmpty()) {
            int p = (int) checks.stream().filter(Check::pass).count();
            return new Selftest("agent", List.copyOf(checks), p, checks.size() - p, false);
        }
        ObjectNode s = summary.get(summary.size() - 1);
        return new Selftest(
                "agent",
                List.copyOf(checks),
                s.required("passed").asInt(),
                s.required("failed").asInt(),
                true);
    }

    public Optional<Check> check(String name) {
        return checks.stream().filter(c -> name.equals(c.name())).findFirst();
    }

    public Check require(String name) {
        return check(name)
                .orElseThrow(() ->
                        new ProtocolFailure(client + " self-test has no check '" + name + "'; its checks: " + names()));
    }

    public List<String> names() {
        return checks.stream().map(Check::name).toList();
    }

    public List<Check> failures() {
        return checks.stream().filter(c -> !c.pass()).toList();
    }

    /** Name → pass, in report order. */
    public Map<String, Boolean> outcomes() {
        Map<String, Boolean> m = new LinkedHashMap<>();
        checks.forEach(c -> m.put(c.name(), c.pass()));
        return m;
    }

    /** At least {@code minChecks} checks, none failed, and the summary agrees with the lines. */
    public Selftest requireAllPassed(int minChecks) {
        if (checks.size() < minChecks) {
            throw new ProtocolFailure(client + " self-test reported " + checks.size() + " checks, expected at least "
                    + minChecks + ": " + names());
        }
        if (!failures().isEmpty() || failed != 0) {
            throw new ProtocolFailure(
                    client + " self-test: " + failed + " of " + (passed + failed) + " checks failed: " + failures());
        }
        if (summaryPresent && passed != checks.size()) {
            throw new ProtocolFailure(client + " self-test summary says " + passed + " passed but printed "
                    + checks.size() + " check lines");
        }
        return this;
    }
}

package dev.vgpuhil.harness.agent;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.vgpuhil.harness.JsonObjects;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * One run of the agent in the guest: the command line, exit code, the JSON objects it printed (one per stdout
 * line), stdout lines that were not JSON (kept, reported), stderr and the wall time seen from the host.
 */
public record AgentRun(
        String command,
        int exitCode,
        List<ObjectNode> objects,
        List<String> otherLines,
        String stdout,
        String stderr,
        Duration took) {

    /** Splits stdout into JSON lines; lines that do not start with '{' or do not parse go to otherLines. */
    public static AgentRun parse(String command, int exitCode, String stdout, String stderr, Duration took) {
        List<ObjectNode> objects = new ArrayList<>();
        List<String> other = new ArrayList<>();
        for (String line : stdout.split("\n")) {
            String t = line.strip();
            if (t.isEmpty()) {
                continue;
            }
            if (t.startsWith("{")) {
                try {
                    objects.add(JsonObjects.object(t));
                    continue;
                } catch (IllegalArgumentException e) {
                    // falls through: reported as a non-JSON line
                }
            }
            other.add(line);
        }
        return new AgentRun(command, exitCode, List.copyOf(objects), List.copyOf(other), stdout, stderr, took);
    }

    /** Objects with {@code "type":type}. */
    public List<ObjectNode> ofType(String type) {
        return objects.stream()
                .filter(o -> type.equals(o.path("type").textValue()))
                .toList();
    }

    public boolean ok() {
        return exitCode == 0;
    }

    /** For failure messages: exit code, the non-JSON lines and the stderr tail. */
    public String diagnostics() {
        StringBuilder b =
                new StringBuilder("`" + command + "` exited " + exitCode + " after " + took.toMillis() + " ms");
        for (ObjectNode e : ofType("error")) {
            b.append("; agent error: ").append(e.path("message").asText());
        }
        if (!otherLines.isEmpty()) {
            b.append("; non-JSON output: ")
                    .append(String.join(" | ", otherLines.subList(0, Math.min(5, otherLines.size()))));
        }
        String err = stderr.strip();
        if (!err.isEmpty()) {
            b.append("; stderr: ").append(err.length() > 600 ? "..." + err.substring(err.length() - 600) : err);
        }
        return b.toString();
    }
}

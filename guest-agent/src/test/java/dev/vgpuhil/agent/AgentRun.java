package dev.vgpuhil.agent;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.List;

/** Runs {@link Main#run} in-process and captures its stdout lines and exit code. */
final class AgentRun {
    final int exitCode;
    final List<String> lines;

    private AgentRun(int exitCode, List<String> lines) {
        this.exitCode = exitCode;
        this.lines = lines;
    }

    static AgentRun of(String... argv) {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        PrintStream out = new PrintStream(bytes, true, StandardCharsets.UTF_8);
        int rc = Main.run(argv, out);
        String text = bytes.toString(StandardCharsets.UTF_8);
        return new AgentRun(rc, text.isEmpty() ? List.of() : List.of(text.split("\n")));
    }

    String single() {
        if (lines.size() != 1) {
            throw new AssertionError("expected one line, got " + lines);
        }
        return lines.get(0);
    }
}

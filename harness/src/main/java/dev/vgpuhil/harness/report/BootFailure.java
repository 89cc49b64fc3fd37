package dev.vgpuhil.harness.report;

import dev.vgpuhil.qemu.machine.QemuMachineException;

/**
 * A guest did not come up: QEMU refused to start, exited, or a boot marker / the SSH login / the agent did not
 * appear before its deadline. The message starts with "boot failure" (reports/categories.json: Boot failure);
 * the launcher's exception is the cause, the logs are attached to the test.
 */
public class BootFailure extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public BootFailure(String what, Throwable cause) {
        super("boot failure: " + what + (cause == null ? "" : ": " + firstLine(cause)) + tails(cause), cause);
    }

    /**
     * QEMU's own words: the stderr tail of the launcher's exception in the cause chain, if any (the serial tail stays
     * in the cause: guest output such as "STATUS=" must not pull a boot failure into another Allure category).
     */
    static String tails(Throwable cause) {
        for (Throwable t = cause; t != null; t = t.getCause()) {
            if (t instanceof QemuMachineException q) {
                StringBuilder b = new StringBuilder();
                if (!q.stderrTail().isBlank()) {
                    b.append("\n--- QEMU stderr tail ---\n").append(lastLines(q.stderrTail(), 10));
                }
                return b.toString();
            }
        }
        return "";
    }

    private static String lastLines(String s, int n) {
        String[] lines = s.strip().split("\n");
        return String.join("\n", java.util.Arrays.copyOfRange(lines, Math.max(0, lines.length - n), lines.length));
    }

    static String firstLine(Throwable t) {
        String m =
                t.getMessage() == null ? t.getClass().getName() : t.getClass().getSimpleName() + ": " + t.getMessage();
        int nl = m.indexOf('\n');
        return nl < 0 ? m : m.substring(0, nl) + " ...";
    }
}

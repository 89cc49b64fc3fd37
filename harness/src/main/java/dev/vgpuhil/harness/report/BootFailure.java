package dev.vgpuhil.harness.report;

/**
 * A guest did not come up: QEMU refused to start, exited, or a boot marker / the SSH login / the agent did not
 * appear before its deadline. The message starts with "boot failure" (reports/categories.json: Boot failure);
 * the launcher's exception is the cause, the logs are attached to the test.
 */
public class BootFailure extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public BootFailure(String what, Throwable cause) {
        super("boot failure: " + what + (cause == null ? "" : ": " + firstLine(cause)), cause);
    }

    static String firstLine(Throwable t) {
        String m = t.getMessage() == null ? t.getClass().getName() : t.getClass().getSimpleName() + ": " + t.getMessage();
        int nl = m.indexOf('\n');
        return nl < 0 ? m : m.substring(0, nl) + " ...";
    }
}

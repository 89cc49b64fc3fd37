package dev.vgpuhil.qemu.qtest;

/**
 * A qtest command failed: QEMU answered FAIL/ERR, did not answer in time, or died. When QEMU died,
 * {@link #exitCode()} and {@link #stderrTail()} say how.
 */
public class QtestException extends RuntimeException {
    private static final long serialVersionUID = 1L;
    private final Integer exitCode;
    private final String stderrTail;

    public QtestException(String message) {
        this(message, null, null, null);
    }

    public QtestException(String message, Integer exitCode, String stderrTail, Throwable cause) {
        super(
                message
                        + (exitCode != null ? "; QEMU exit code " + exitCode : "")
                        + (stderrTail != null && !stderrTail.isBlank() ? "; QEMU stderr:\n" + stderrTail : ""),
                cause);
        this.exitCode = exitCode;
        this.stderrTail = stderrTail == null ? "" : stderrTail;
    }

    /** QEMU's exit code if it has exited, else null. */
    public Integer exitCode() {
        return exitCode;
    }

    /** The last lines QEMU wrote to stderr (may be empty). */
    public String stderrTail() {
        return stderrTail;
    }
}

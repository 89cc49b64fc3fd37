package dev.vgpuhil.qemu.machine;

/**
 * A QMP command failed: QEMU replied with an error ({@link #errorClass()}, e.g. "GenericError",
 * "CommandNotFound"), did not reply before the deadline, or the connection is gone.
 */
public class QmpException extends QemuMachineException {
    private static final long serialVersionUID = 1L;
    private final String errorClass;
    private final String errorDescription;

    public QmpException(String message, String errorClass, String errorDescription, Throwable cause) {
        super(message, null, cause);
        this.errorClass = errorClass;
        this.errorDescription = errorDescription;
    }

    public QmpException(String message, Throwable cause) {
        this(message, null, null, cause);
    }

    /** QMP's error class when QEMU answered with an error, else null. */
    public String errorClass() {
        return errorClass;
    }

    /** QMP's error description when QEMU answered with an error, else null. */
    public String errorDescription() {
        return errorDescription;
    }
}

package dev.vgpuhil.protocol;

/** A socket frame (or request payload) that must be rejected; {@link #errorCode()} is the VGPU_ERR_* to report. */
public class FrameException extends Exception {
    private static final long serialVersionUID = 1L;
    private final int errorCode;

    public FrameException(int errorCode, String message) {
        super(message + " [" + VgpuProtocol.ErrorCode.nameOf(errorCode) + "]");
        this.errorCode = errorCode;
    }

    /** The VGPU_ERR_* code that describes the problem (PROTOCOL, VERSION, BAD_OPCODE, BAD_PAYLOAD, ...). */
    public int errorCode() {
        return errorCode;
    }
}

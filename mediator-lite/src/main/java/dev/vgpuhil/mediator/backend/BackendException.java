package dev.vgpuhil.mediator.backend;

/** The backend could not compute a request (answered with VGPU_ERR_BACKEND), or could not start. */
public class BackendException extends Exception {
    private static final long serialVersionUID = 1L;

    public BackendException(String message) {
        super(message);
    }

    public BackendException(String message, Throwable cause) {
        super(message, cause);
    }
}

package dev.vgpuhil.mediator;

import java.io.IOException;

/** The mediator could not start: socket in use, bad path, no CUDA device for --backend cuda, ... */
public class MediatorStartException extends IOException {
    private static final long serialVersionUID = 1L;

    public MediatorStartException(String message) {
        super(message);
    }

    public MediatorStartException(String message, Throwable cause) {
        super(message, cause);
    }
}

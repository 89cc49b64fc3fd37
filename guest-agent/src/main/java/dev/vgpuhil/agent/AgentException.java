package dev.vgpuhil.agent;

/** A failure that makes the agent print {@code {"type":"error",...}} and exit 2 (no device, no permission, bad args). */
public final class AgentException extends Exception {
    private static final long serialVersionUID = 1L;

    public AgentException(String message) {
        super(message);
    }

    public AgentException(String message, Throwable cause) {
        super(message, cause);
    }
}

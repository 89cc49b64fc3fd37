package dev.vgpuhil.harness.report;

/**
 * The mediator did not start, stopped, or misbehaved (wrong stats, lost requests). The message starts with
 * "Mediator failure" (reports/categories.json: Mediator failure).
 */
public class MediatorFailure extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public MediatorFailure(String what) {
        super("Mediator failure: " + what);
    }

    public MediatorFailure(String what, Throwable cause) {
        super("Mediator failure: " + what + (cause == null ? "" : ": " + BootFailure.firstLine(cause)), cause);
    }
}

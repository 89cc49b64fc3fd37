package dev.vgpuhil.harness.report;

/**
 * Something around the product failed, not the product: a mediator or QEMU killed or stopped from outside, a
 * guest that panicked, a vfio-user server gone, or a request that timed out while the harness itself held the
 * scheduler. A RuntimeException (Allure: broken) whose message starts with "infrastructure failure"
 * (reports/categories.json: Infrastructure failure), so a report never files it as a product fault.
 */
public class InfrastructureFailure extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public InfrastructureFailure(String what) {
        super("infrastructure failure: " + what);
    }

    public InfrastructureFailure(String what, Throwable cause) {
        super("infrastructure failure: " + what + (cause == null ? "" : ": " + BootFailure.firstLine(cause)), cause);
    }
}

package dev.vgpuhil.harness.report;

/**
 * The device or a client broke the protocol: a register held a wrong value, STATUS/ERROR_CODE disagree with
 * DEVICE.md, a result was wrong, the two guest clients disagree. An AssertionError (Allure: failed) whose
 * message starts with "protocol failure" (reports/categories.json: Protocol failure).
 */
public class ProtocolFailure extends AssertionError {
    private static final long serialVersionUID = 1L;

    public ProtocolFailure(String what) {
        super("protocol failure: " + what);
    }
}

package dev.vgpuhil.conformance;

/**
 * A rule could not be checked because the mediator does not offer what the check needs (the hold file, STATS):
 * not an AssertionError, so the report counts it as broken, never as passed, and its message names what is missing.
 */
public final class RuleNotCheckable extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public RuleNotCheckable(String message) {
        super("rule not checkable: " + message);
    }
}

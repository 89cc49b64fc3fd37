package dev.vgpuhil.conformance;

/** How the mediator under test runs. */
public enum MediatorRuntime {
    /** mediator-lite in the test JVM. */
    IN_PROCESS,
    /** mediator-lite as a child process ({@code java -jar mediator-lite.jar}, MediatorProcess). */
    PROCESS,
    /** mediator-lite in its container image (a {@link ContainerMediators} provider runs it). */
    CONTAINER,
    /** a user's program under the contract (CommandMediator). */
    COMMAND,
    /** a user's image under the contract (a {@link ContainerMediators} provider runs it). */
    IMAGE
}

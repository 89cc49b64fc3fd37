package dev.vgpuhil.harness.junit;

/** Where {@link WithMediator}'s mediator runs. */
public enum MediatorRuntime {
    /** In this JVM ({@code Mediator}); or a child process when {@link WithMediator#childProcess()} is set. */
    IN_PROCESS,
    /** A child process, {@code java -jar mediator-lite.jar} (same as {@code childProcess = true}). */
    CHILD_PROCESS,
    /**
     * In a container: {@code vgpu-hil/mediator-lite:<version>} (built here from the jar), or the user's {@link
     * WithMediator#image()}; skipped, with the reason, where no container engine answers.
     */
    CONTAINER
}

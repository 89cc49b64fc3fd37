package dev.vgpuhil.mediator.contract;

import java.io.IOException;
import java.nio.file.Path;
import java.util.OptionalInt;

/**
 * One mediator run under the mediator contract (docs/MEDIATOR-CONTRACT.md), whatever runs it: mediator-lite in
 * this JVM, a program ({@link CommandMediator}), a container. Started with a {@link MediatorLaunch}; the
 * conformance kit and {@code @WithMediator(command = ...)} only talk to it over its socket.
 */
public interface ContractMediator extends AutoCloseable {
    /** Starts it and returns once its socket answers a HELLO; IOException with the log's tail otherwise. */
    void start() throws IOException;

    /**
     * Stops it the contract's way (SIGTERM, or close() in-process) and waits within the stop deadline; the exit
     * status (0 expected), or empty when there is no process (in-process) or it had to be killed.
     */
    OptionalInt stop();

    /** Ends it abruptly (SIGKILL): a crash; its socket file may stay behind. */
    void kill();

    boolean isAlive();

    MediatorLaunch launch();

    default Path socketPath() {
        return launch().socket();
    }

    /** Everything it logged so far (stdout and stderr of a program, the log file of mediator-lite). */
    String log();

    /** What runs, for reports: "mediator-lite in-process", "command: ...", "image: ...". */
    String describe();

    /** Stops it if it runs; safe to call twice. */
    @Override
    void close();
}

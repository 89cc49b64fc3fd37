package dev.vgpuhil.conformance;

import dev.vgpuhil.mediator.BackendChoice;
import dev.vgpuhil.mediator.Mediator;
import dev.vgpuhil.mediator.MediatorConfig;
import dev.vgpuhil.mediator.contract.ContractMediator;
import dev.vgpuhil.mediator.contract.MediatorLaunch;
import java.io.IOException;
import java.nio.file.Files;
import java.util.OptionalInt;

/** mediator-lite in this JVM, configured from the launch as its command line would be from the contract. */
final class LiteInProcess implements ContractMediator {
    private final MediatorLaunch launch;
    private Mediator mediator;

    LiteInProcess(MediatorLaunch launch) {
        this.launch = launch;
    }

    @Override
    public synchronized void start() throws IOException {
        if (isAlive()) {
            return;
        }
        Files.createDirectories(launch.dir());
        mediator = new Mediator(MediatorConfig.builder()
                .socketPath(launch.socket())
                .backend(BackendChoice.CPU)
                .queueCap(launch.queueCap())
                .aging(launch.aging())
                .maxConnections(launch.maxConnections())
                .holdFile(launch.holdFile())
                .logFile(launch.logFile())
                .build());
        try {
            mediator.start();
        } catch (RuntimeException e) {
            throw new IOException("mediator-lite did not start in-process on " + launch.socket() + ": " + e, e);
        }
    }

    /** close() is the in-process SIGTERM: queued requests answered SHUTDOWN, socket removed; no exit status. */
    @Override
    public synchronized OptionalInt stop() {
        if (mediator != null) {
            mediator.close();
            mediator = null;
        }
        return OptionalInt.empty();
    }

    /** In-process there is no SIGKILL; close() and then a stale socket file left where it was, as a crash leaves. */
    @Override
    public synchronized void kill() {
        stop();
        StaleSocket.leaveAt(launch.socket());
    }

    @Override
    public synchronized boolean isAlive() {
        return mediator != null && mediator.isRunning();
    }

    @Override
    public MediatorLaunch launch() {
        return launch;
    }

    @Override
    public String log() {
        return launch.readLog();
    }

    @Override
    public String describe() {
        return "mediator-lite in-process";
    }

    @Override
    public void close() {
        stop();
    }
}

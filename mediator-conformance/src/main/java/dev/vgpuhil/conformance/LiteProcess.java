package dev.vgpuhil.conformance;

import dev.vgpuhil.mediator.BackendChoice;
import dev.vgpuhil.mediator.MediatorProcess;
import dev.vgpuhil.mediator.contract.ContractMediator;
import dev.vgpuhil.mediator.contract.MediatorLaunch;
import java.io.IOException;
import java.nio.file.Files;
import java.time.Duration;
import java.util.OptionalInt;

/**
 * mediator-lite as a child process through {@link MediatorProcess} ({@code java -jar mediator-lite.jar}, the jar of
 * {@code -Dvgpu.mediator.jar} or the checkout's build), the knobs given as its options; a new child per start.
 */
final class LiteProcess implements ContractMediator {
    private final MediatorLaunch launch;
    private final Duration readyTimeout;
    private final Duration stopTimeout;
    private MediatorProcess process;

    LiteProcess(MediatorLaunch launch, Duration readyTimeout, Duration stopTimeout) {
        this.launch = launch;
        this.readyTimeout = readyTimeout;
        this.stopTimeout = stopTimeout;
    }

    @Override
    public synchronized void start() throws IOException {
        if (isAlive()) {
            return;
        }
        Files.createDirectories(launch.dir());
        process = MediatorProcess.builder()
                .socketPath(launch.socket())
                .backend(BackendChoice.CPU)
                .logFile(launch.logFile())
                .readyTimeout(readyTimeout)
                .stopTimeout(stopTimeout)
                .args(
                        "--queue-cap",
                        Integer.toString(launch.queueCap()),
                        "--aging-ms",
                        Long.toString(launch.aging().toMillis()),
                        "--max-connections",
                        Integer.toString(launch.maxConnections()),
                        "--hold-file",
                        launch.holdFile().toString())
                .build();
        process.start();
    }

    @Override
    public synchronized OptionalInt stop() {
        if (process == null) {
            return OptionalInt.empty();
        }
        process.close(); // SIGTERM, then SIGKILL after the deadline
        return process.exitCode().map(OptionalInt::of).orElse(OptionalInt.empty());
    }

    @Override
    public synchronized void kill() {
        if (process != null && process.isAlive()) {
            ProcessHandle.of(process.pid()).ifPresent(ProcessHandle::destroyForcibly);
            process.close(); // waits for the end (the kill is already done)
        }
    }

    @Override
    public synchronized boolean isAlive() {
        return process != null && process.isAlive();
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
        return "mediator-lite process (java -jar " + MediatorProcess.defaultJar() + ")";
    }

    @Override
    public void close() {
        stop();
    }
}

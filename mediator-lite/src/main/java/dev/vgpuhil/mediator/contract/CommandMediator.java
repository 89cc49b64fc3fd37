package dev.vgpuhil.mediator.contract;

import dev.vgpuhil.common.BoundProcesses;
import dev.vgpuhil.protocol.MediatorContract;
import java.io.IOException;
import java.nio.file.Files;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.OptionalInt;
import java.util.concurrent.TimeUnit;

/**
 * A user's mediator program run under the contract: the command with the socket path ({@link
 * MediatorLaunch#command}), the contract's environment added to this JVM's, stdout and stderr appended to the
 * launch's log file, started and reaped through {@link BoundProcesses} (it and its process group die with the
 * JVM, also on SIGKILL). Ready when the socket answers a HELLO; stopped by SIGTERM, then SIGKILL.
 */
public final class CommandMediator implements ContractMediator {
    private final List<String> command;
    private final MediatorLaunch launch;
    private final Duration readyTimeout;
    private final Duration stopTimeout;
    private Process process;
    private boolean closed;

    /**
     * @param command      the program and its arguments, without the socket path (see {@link MediatorLaunch#command})
     * @param readyTimeout how long it may take until its socket answers a HELLO
     * @param stopTimeout  how long it may take to exit after SIGTERM (and then to die after SIGKILL)
     */
    public CommandMediator(List<String> command, MediatorLaunch launch, Duration readyTimeout, Duration stopTimeout) {
        if (command.isEmpty()) {
            throw new IllegalArgumentException("empty mediator command");
        }
        this.command = List.copyOf(command);
        this.launch = launch;
        this.readyTimeout = readyTimeout;
        this.stopTimeout = stopTimeout;
    }

    /** {@code commandLine} split like a shell's words (single and double quotes, backslash), nothing expanded. */
    public static CommandMediator of(String commandLine, MediatorLaunch launch, Duration ready, Duration stop) {
        return new CommandMediator(split(commandLine), launch, ready, stop);
    }

    /** The command as it is run (with the socket path), without BoundProcesses' wrapper. */
    public List<String> command() {
        return launch.command(command);
    }

    @Override
    public synchronized void start() throws IOException {
        if (process != null && process.isAlive()) {
            return;
        }
        if (closed) {
            throw new IllegalStateException("closed");
        }
        Files.createDirectories(launch.dir());
        // the JVM's working directory, so that relative paths in a user's command mean what they do in the project
        ProcessBuilder pb = new ProcessBuilder(command())
                .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")))
                .redirectErrorStream(true)
                .redirectOutput(
                        ProcessBuilder.Redirect.appendTo(launch.logFile().toFile()));
        pb.environment().putAll(launch.environment());
        try {
            process = BoundProcesses.start(pb);
        } catch (IOException e) {
            throw new IOException("cannot start mediator " + command() + ": " + e.getMessage(), e);
        }
        awaitReady();
    }

    private void awaitReady() throws IOException {
        try {
            MediatorContract.awaitReady(
                    "mediator " + command(),
                    launch.socket(),
                    readyTimeout,
                    () -> process.isAlive() ? OptionalInt.empty() : OptionalInt.of(process.exitValue()));
        } catch (IOException e) {
            kill();
            throw new IOException(e.getMessage() + "; its output:\n" + logTail(30), e);
        }
    }

    @Override
    public synchronized OptionalInt stop() {
        if (process == null) {
            return OptionalInt.empty();
        }
        boolean exited = BoundProcesses.stop(process, stopTimeout, stopTimeout);
        return exited ? OptionalInt.of(process.exitValue()) : OptionalInt.empty();
    }

    @Override
    public synchronized void kill() {
        if (process != null) {
            BoundProcesses.kill(process, stopTimeout);
            try {
                process.waitFor(stopTimeout.toMillis(), TimeUnit.MILLISECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    @Override
    public synchronized boolean isAlive() {
        return process != null && process.isAlive();
    }

    public synchronized long pid() {
        if (process == null) {
            throw new IllegalStateException("not started");
        }
        return process.pid();
    }

    @Override
    public MediatorLaunch launch() {
        return launch;
    }

    @Override
    public String log() {
        return launch.readLog();
    }

    private String logTail(int lines) {
        return BoundProcesses.tail(log(), lines);
    }

    @Override
    public String describe() {
        return "command: " + String.join(" ", command);
    }

    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        if (isAlive()) {
            stop();
        }
    }

    /** Shell-like words: whitespace separates, '...' is literal, "..." and \ quote; no expansion of any kind. */
    public static List<String> split(String line) {
        List<String> words = new ArrayList<>();
        StringBuilder w = new StringBuilder();
        boolean inWord = false;
        char quote = 0;
        for (int i = 0; i < line.length(); i++) {
            char ch = line.charAt(i);
            if (quote == '\'') {
                if (ch == '\'') {
                    quote = 0;
                } else {
                    w.append(ch);
                }
            } else if (ch == '\\' && i + 1 < line.length()) {
                w.append(line.charAt(++i));
                inWord = true;
            } else if (quote == '"') {
                if (ch == '"') {
                    quote = 0;
                } else {
                    w.append(ch);
                }
            } else if (ch == '\'' || ch == '"') {
                quote = ch;
                inWord = true;
            } else if (Character.isWhitespace(ch)) {
                if (inWord) {
                    words.add(w.toString());
                    w.setLength(0);
                    inWord = false;
                }
            } else {
                w.append(ch);
                inWord = true;
            }
        }
        if (quote != 0) {
            throw new IllegalArgumentException("unterminated " + quote + " in mediator command: " + line);
        }
        if (inWord) {
            words.add(w.toString());
        }
        return words;
    }
}

package dev.vgpuhil.mediator.contract;

import dev.vgpuhil.protocol.MediatorContract;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * What the contract hands a mediator: its directory (a container gets it bind-mounted at the same path), the socket
 * path in it, the hold file's path in it and the knob values. {@link #environment()} and {@link #command} are the
 * one place they become environment variables and arguments.
 *
 * @param dir            the mediator's own directory (socket, hold file, log); short, since socket paths are limited
 * @param queueCap       queued requests per vm_id before QUEUE_FULL
 * @param aging          wait before a waiting request moves up a class; zero = no aging
 * @param maxConnections connections beyond this many are answered REJECTED
 */
public record MediatorLaunch(Path dir, int queueCap, Duration aging, int maxConnections) {
    /** The kit's default knobs: aging far longer than any rule runs, so priorities alone decide the order. */
    public static final int DEFAULT_QUEUE_CAP = 64;

    public static final Duration DEFAULT_AGING = Duration.ofMinutes(10);
    public static final int DEFAULT_MAX_CONNECTIONS = 64;

    public MediatorLaunch {
        dir = dir.toAbsolutePath();
        if (queueCap < 1 || maxConnections < 1 || aging.isNegative()) {
            throw new IllegalArgumentException("queue cap and max connections >= 1, aging >= 0");
        }
    }

    /** Defaults in {@code dir}. */
    public static MediatorLaunch in(Path dir) {
        return new MediatorLaunch(dir, DEFAULT_QUEUE_CAP, DEFAULT_AGING, DEFAULT_MAX_CONNECTIONS);
    }

    public MediatorLaunch withQueueCap(int n) {
        return new MediatorLaunch(dir, n, aging, maxConnections);
    }

    public MediatorLaunch withAging(Duration d) {
        return new MediatorLaunch(dir, queueCap, d, maxConnections);
    }

    public MediatorLaunch withMaxConnections(int n) {
        return new MediatorLaunch(dir, queueCap, aging, n);
    }

    public Path socket() {
        return dir.resolve("mediator.sock");
    }

    /** Exists while the client wants the mediator to start no request. */
    public Path holdFile() {
        return dir.resolve("hold");
    }

    /** The file a program's stdout and stderr are appended to. */
    public Path logFile() {
        return dir.resolve("mediator.log");
    }

    /** Everything written to {@link #logFile} so far ("" before anything was; a note when it cannot be read). */
    public String readLog() {
        try {
            return java.nio.file.Files.exists(logFile())
                    ? java.nio.file.Files.readString(logFile(), java.nio.charset.StandardCharsets.UTF_8)
                    : "";
        } catch (java.io.IOException e) {
            return "(cannot read " + logFile() + ": " + e.getMessage() + ")";
        }
    }

    /** The contract's environment variables for this launch. */
    public Map<String, String> environment() {
        Map<String, String> env = new LinkedHashMap<>();
        env.put(MediatorContract.ENV_SOCKET, socket().toString());
        env.put(MediatorContract.ENV_QUEUE_CAP, Integer.toString(queueCap));
        env.put(MediatorContract.ENV_AGING_MS, Long.toString(aging.toMillis()));
        env.put(MediatorContract.ENV_HOLD_FILE, holdFile().toString());
        env.put(MediatorContract.ENV_MAX_CONNECTIONS, Integer.toString(maxConnections));
        return env;
    }

    /**
     * The user's command with the socket path: each {@value MediatorContract#SOCKET_PLACEHOLDER} replaced, or, when
     * there is none, {@code --socket PATH} appended.
     */
    public List<String> command(List<String> userCommand) {
        List<String> out = new ArrayList<>();
        boolean placed = false;
        for (String arg : userCommand) {
            if (arg.contains(MediatorContract.SOCKET_PLACEHOLDER)) {
                placed = true;
                out.add(arg.replace(MediatorContract.SOCKET_PLACEHOLDER, socket().toString()));
            } else {
                out.add(arg);
            }
        }
        if (!placed) {
            out.add(MediatorContract.ARG_SOCKET);
            out.add(socket().toString());
        }
        return out;
    }
}

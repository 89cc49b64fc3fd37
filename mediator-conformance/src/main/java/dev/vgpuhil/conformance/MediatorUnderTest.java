package dev.vgpuhil.conformance;

import static dev.vgpuhil.protocol.VgpuProtocol.*;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.vgpuhil.common.BoundProcesses;
import dev.vgpuhil.common.MoreFiles;
import dev.vgpuhil.mediator.MediatorClient;
import dev.vgpuhil.mediator.contract.ContractMediator;
import dev.vgpuhil.mediator.contract.MediatorLaunch;
import dev.vgpuhil.protocol.Frame;
import dev.vgpuhil.protocol.MediatorContract;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.OptionalInt;
import java.util.Set;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BooleanSupplier;
import java.util.function.Function;

/**
 * The mediator a rule class talks to, and the rule's means of observing it through the contract only: fresh
 * connections ({@link #connect}, {@link #hello}), the hold file ({@link #hold}/{@link #release}), STATS ({@link
 * #awaitQueued}, {@link #startOrder}) and the lifecycle ({@link #stop}, {@link #start}, {@link #kill}). Every wait
 * ends at the running rule's deadline ({@link #timeLeft}). Connections a rule opened are closed after it.
 */
public final class MediatorUnderTest {
    /** One rule's budget: every wait in it ends by then; a slow machine makes rules slower, never red. */
    public static final Duration RULE_BUDGET = Duration.ofSeconds(90);

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final AtomicInteger VM_IDS = new AtomicInteger(1000);

    private final MediatorTarget target;
    private final Function<Path, MediatorLaunch> launches;
    private final List<Peer> peers = new ArrayList<>();
    private volatile ContractMediator mediator;
    private volatile long deadlineNanos = System.nanoTime() + RULE_BUDGET.toNanos();

    /** @param launches the launch (knobs) for a fresh directory */
    MediatorUnderTest(MediatorTarget target, Function<Path, MediatorLaunch> launches) {
        this.target = target;
        this.launches = launches;
    }

    /** A fresh mediator in a fresh short private directory in /tmp, started (for a class, or for one rule). */
    synchronized void open() {
        Path dir;
        try {
            // short: a Unix socket path is limited to 107 bytes; private: the socket is the mediator's door
            dir = Files.createTempDirectory(
                    Path.of("/tmp"),
                    "vgpu-kit-",
                    PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot create a directory for the mediator under test", e);
        }
        ContractMediator fresh = target.create(launches.apply(dir));
        try {
            fresh.start();
        } catch (IOException | RuntimeException e) {
            String log = fresh.log();
            fresh.close();
            MoreFiles.deleteTree(dir);
            throw new IllegalStateException(
                    "the mediator under test (" + fresh.describe() + ") did not start: " + e.getMessage()
                            + (log.isBlank() ? "" : "\nits log:\n" + BoundProcesses.tail(log, 40)),
                    e);
        }
        mediator = fresh;
    }

    /** Stops the mediator and removes its directory; safe twice. */
    synchronized void shut() {
        ContractMediator m = mediator;
        if (m == null) {
            return;
        }
        mediator = null;
        try {
            endRule();
            m.close();
        } finally {
            sweep(m.launch().dir());
        }
    }

    /**
     * Removes the directory; again for a moment while it keeps coming back: a runtime's log writer (a container's
     * log stream) may still append a last line after close, re-creating the log file between delete and rmdir.
     */
    private static void sweep(Path dir) {
        for (int i = 0; i < 50 && Files.exists(dir); i++) {
            MoreFiles.deleteTree(dir);
            if (Files.exists(dir)) {
                sleep(Duration.ofMillis(100));
            }
        }
    }

    private ContractMediator mediator() {
        ContractMediator m = mediator;
        if (m == null) {
            throw new IllegalStateException("the mediator under test is not open");
        }
        return m;
    }

    public MediatorTarget target() {
        return target;
    }

    public MediatorLaunch launch() {
        return mediator().launch();
    }

    public String describe() {
        return mediator().describe();
    }

    /** The mediator's own log so far (attached to the report of a broken rule). */
    public String log() {
        return mediator().log();
    }

    void beginRule() {
        deadlineNanos = System.nanoTime() + RULE_BUDGET.toNanos();
    }

    synchronized void endRule() {
        for (Peer p : peers) {
            try {
                p.close();
            } catch (RuntimeException e) {
                // already closed by the mediator; nothing to release
            }
        }
        peers.clear();
        if (mediator != null) {
            release();
        }
    }

    /** What is left of the running rule's budget (at least 1 ms, so a wait still polls once). */
    public Duration timeLeft() {
        return Duration.ofNanos(Math.max(1_000_000, deadlineNanos - System.nanoTime()));
    }

    private boolean overdue() {
        return System.nanoTime() - deadlineNanos > 0;
    }

    /** A vm_id no other rule of this run uses (bindings of one rule never meet another's). */
    public int freshVmId() {
        return VM_IDS.incrementAndGet();
    }

    /** A new connection, closed after the rule. */
    public synchronized Peer connect() {
        try {
            Peer p = new Peer(MediatorClient.connect(mediator().socketPath(), timeLeft()), this);
            peers.add(p);
            return p;
        } catch (IOException e) {
            throw new AssertionError(
                    "the mediator's socket " + mediator().socketPath() + " must accept connections: " + e.getMessage(),
                    e);
        }
    }

    /** A new connection bound by an accepted HELLO (HELLO_ACK status NONE). */
    public Peer hello(int vm, int pool, int priority) {
        Peer p = connect();
        Frame ack = p.hello(vm, pool, priority);
        if (ack.status() != ERR_NONE) {
            throw new AssertionError("a HELLO from vm " + Integer.toUnsignedString(vm) + " (pool " + (char) pool
                    + ", priority " + priority + ") must be accepted, got " + ack);
        }
        return p;
    }

    /** From now on the mediator must start no request (the contract's hold file exists). */
    public void hold() {
        try {
            Files.createDirectories(launch().dir());
            if (!Files.exists(launch().holdFile())) {
                Files.createFile(launch().holdFile());
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot create the hold file " + launch().holdFile(), e);
        }
    }

    /** The mediator may start requests again. */
    public void release() {
        try {
            Files.deleteIfExists(launch().holdFile());
        } catch (IOException e) {
            throw new UncheckedIOException("cannot remove the hold file " + launch().holdFile(), e);
        }
    }

    /** STATS_REPLY's JSON; {@link RuleNotCheckable} when the mediator offers no STATS (the contract's option). */
    public JsonNode stats() {
        try (MediatorClient c = MediatorClient.connect(mediator().socketPath(), timeLeft())) {
            c.send(Frame.of(MSG_STATS_REQUEST, 0, POOL_A, PRIORITY_LOW, 0, ERR_NONE, null));
            Frame r;
            try {
                r = c.receiveUnchecked(timeLeft());
            } catch (IOException e) {
                throw new RuleNotCheckable("the mediator answered no STATS_REQUEST (" + e.getMessage()
                        + "); STATS is optional in the contract, but this rule observes the mediator through it");
            }
            if (r.msgType() != MSG_STATS_REPLY || r.status() != ERR_NONE) {
                throw new RuleNotCheckable("the mediator does not offer STATS (its reply: " + r + "); STATS is"
                        + " optional in the contract, but this rule observes the mediator through it");
            }
            try {
                return JSON.readTree(new String(r.payload(), StandardCharsets.UTF_8));
            } catch (IOException e) {
                throw new AssertionError("STATS_REPLY's payload must be UTF-8 JSON: " + e.getMessage(), e);
            }
        } catch (IOException e) {
            throw new AssertionError("the mediator's socket must accept a STATS connection: " + e.getMessage(), e);
        }
    }

    /** Requests queued (admitted, not started) now, from STATS' {@code queued} {A, B}. */
    public long queued() {
        JsonNode q = stats().get("queued");
        if (q == null || !q.isObject()) {
            throw new RuleNotCheckable("STATS_REPLY has no \"queued\": {\"A\": n, \"B\": n} (the contract's STATS"
                    + " fields for the ordering rules)");
        }
        return q.path("A").asLong() + q.path("B").asLong();
    }

    /**
     * Waits until at least {@code n} requests are queued while the hold is on; {@link RuleNotCheckable} if they
     * never are (the mediator ignores {@value MediatorContract#ENV_HOLD_FILE}, or counts wrong), since no order
     * can be observed then. {@code replied} tells whether a reply already arrived, which proves the hold ignored.
     */
    public void awaitQueued(long n, BooleanSupplier replied) {
        long seen = 0;
        while (!overdue()) {
            seen = queued();
            if (seen >= n) {
                return;
            }
            if (replied.getAsBoolean()) {
                break;
            }
            sleep(Duration.ofMillis(20));
        }
        throw new RuleNotCheckable("only " + seen + " of " + n + " requests were seen queued while the hold file"
                + " existed" + (overdue() ? "" : " and a reply came") + ": the mediator does not honour "
                + MediatorContract.ENV_HOLD_FILE + " (or STATS' \"queued\" is wrong), so no start order can be"
                + " observed");
    }

    /** {@link #awaitQueued(long, BooleanSupplier)}: a reply on any of these peers ends it. */
    public void awaitQueued(long n, Peer... waiting) {
        awaitQueued(n, () -> Arrays.stream(waiting).anyMatch(Peer::answered));
    }

    /** One started request of STATS' {@code last}. */
    public record Started(int vmId, int requestId, int priority) {}

    /**
     * The start order of the requests of these VMs, from STATS' {@code last} [[vm_id, request_id, priority]...]
     * (oldest first); waits until {@code expected} of them are there.
     */
    public List<Started> startOrder(Set<Integer> vms, int expected) {
        List<Started> out = List.of();
        while (!overdue()) {
            JsonNode last = stats().get("last");
            if (last == null || !last.isArray()) {
                throw new RuleNotCheckable("STATS_REPLY has no \"last\": [[vm_id, request_id, priority], ...] in"
                        + " start order (the contract's STATS fields for the ordering rules)");
            }
            List<Started> seen = new ArrayList<>();
            for (JsonNode e : last) {
                int vm = (int) e.path(0).asLong();
                if (vms.contains(vm)) {
                    seen.add(new Started(vm, (int) e.path(1).asLong(), e.path(2).asInt()));
                }
            }
            out = seen;
            if (seen.size() >= expected) {
                return seen;
            }
            sleep(Duration.ofMillis(20));
        }
        throw new AssertionError("STATS' \"last\" must list every started request; of " + expected + " only "
                + out.size() + " appeared: " + out);
    }

    /** Stops it the contract's way (SIGTERM); the exit status when a process has one. */
    public OptionalInt stop() {
        return mediator().stop();
    }

    /** Starts it again on the same socket path (ready = the socket answers a HELLO). */
    public void start() {
        try {
            mediator().start();
        } catch (IOException e) {
            throw new AssertionError(
                    "the mediator must start and answer a HELLO on "
                            + mediator().socketPath() + ": " + e.getMessage(),
                    e);
        }
    }

    /** Ends it abruptly (SIGKILL); a stale socket file may stay. */
    public void kill() {
        mediator().kill();
    }

    public boolean isAlive() {
        return mediator().isAlive();
    }

    /** A lower bound on time passing (aging): never an upper bound, so a slow machine cannot make it fail. */
    public static void sleep(Duration d) {
        try {
            Thread.sleep(d.toMillis());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted", e);
        }
    }
}

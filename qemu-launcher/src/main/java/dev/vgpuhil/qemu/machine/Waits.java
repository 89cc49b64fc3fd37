package dev.vgpuhil.qemu.machine;

import java.time.Duration;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.function.BooleanSupplier;
import java.util.function.Function;
import java.util.function.Predicate;
import java.util.function.Supplier;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Waits on a {@link QemuMachine}, each with a deadline ({@link #timeout()}, the machine's default unless changed
 * with {@link #withTimeout}). Every wait
 * <ul>
 *   <li>returns what it waited for (the matched line, the event, the exit status);</li>
 *   <li>throws {@link WaitTimeoutException} at the deadline, with the last serial lines and QEMU's stderr tail;</li>
 *   <li>throws {@link MachineDiedException} as soon as it can no longer succeed: QEMU exited (after the output
 *       it wrote before exiting has been read), the machine was closed, or — for serial waits — the guest
 *       printed a fatal line (default: "Kernel panic - not syncing", see
 *       {@link MachineSpec.Builder#failOnSerial}).</li>
 * </ul>
 * Serial waits look at whole lines (without CR/LF) with {@link Matcher#find()}, from a given line index on
 * (default 0: the whole boot so far, so a marker printed before the call still counts). Event waits likewise
 * look at the QMP event history from an index on. Use {@link SerialConsole#lineCount()} /
 * {@link QmpClient#eventCount()} (or {@link SerialMatch#next()}) as marks to see only later ones.
 */
public final class Waits {
    private static final long RECHECK_MILLIS = 200;

    private final QemuMachine machine;
    private final Duration timeout;

    Waits(QemuMachine machine, Duration timeout) {
        this.machine = machine;
        this.timeout = Objects.requireNonNull(timeout);
        if (timeout.isNegative()) {
            throw new IllegalArgumentException("negative timeout: " + timeout);
        }
    }

    /** This wait object's deadline per wait. */
    public Duration timeout() {
        return timeout;
    }

    /** The same waits with another deadline. */
    public Waits withTimeout(Duration t) {
        return new Waits(machine, t);
    }

    /** Waits for a serial line (since boot) in which {@code regex} is found. */
    public SerialMatch forSerialLine(String regex) {
        return forSerialLine(Pattern.compile(regex), 0);
    }

    /** Waits for a serial line (since boot) in which {@code pattern} is found. */
    public SerialMatch forSerialLine(Pattern pattern) {
        return forSerialLine(pattern, 0);
    }

    /** Waits for a serial line with index ≥ {@code fromLine} in which {@code pattern} is found. */
    public SerialMatch forSerialLine(Pattern pattern, int fromLine) {
        SerialConsole console = machine.serial();
        int[] next = {fromLine};
        String what =
                "a serial line matching /" + pattern.pattern() + "/" + (fromLine > 0 ? " from line " + fromLine : "");
        return await(
                what,
                () -> {
                    List<SerialConsole.IndexedLine> lines = console.linesFrom(next[0]);
                    for (SerialConsole.IndexedLine l : lines) {
                        Matcher m = pattern.matcher(l.text());
                        if (m.find()) {
                            return Optional.of(new SerialMatch(l.index(), l.text(), m));
                        }
                        next[0] = l.index() + 1;
                    }
                    return Optional.empty();
                },
                () -> {
                    String fatal = machine.fatalSerialLine();
                    if (fatal != null) {
                        return "the guest printed a fatal line: " + fatal;
                    }
                    return machine.deathReason(QemuMachine.Stream.SERIAL);
                });
    }

    /** Waits for a QMP event named {@code name} (e.g. "SHUTDOWN"), looking at every event since QMP came up. */
    public QmpEvent forQmpEvent(String name) {
        return forQmpEvent(name, 0);
    }

    /** Waits for a QMP event named {@code name} with index ≥ {@code fromIndex}. */
    public QmpEvent forQmpEvent(String name, int fromIndex) {
        return forQmpEvent(e -> e.name().equals(name), "QMP event " + name, fromIndex);
    }

    /** Waits for a QMP event with index ≥ {@code fromIndex} accepted by {@code filter}. */
    public QmpEvent forQmpEvent(Predicate<QmpEvent> filter, String description, int fromIndex) {
        QmpClient qmp = machine.qmp();
        return await(
                description + (fromIndex > 0 ? " from event " + fromIndex : ""),
                () -> {
                    List<QmpEvent> evs = qmp.events();
                    for (int i = Math.max(0, fromIndex); i < evs.size(); i++) {
                        if (filter.test(evs.get(i))) {
                            return Optional.of(evs.get(i));
                        }
                    }
                    return Optional.empty();
                },
                () -> machine.deathReason(QemuMachine.Stream.QMP));
    }

    /**
     * Waits for QEMU to exit by itself (e.g. the guest powered off with {@code -no-reboot}) and returns its exit
     * status; the serial output it wrote before exiting has been read by then.
     */
    public ExitStatus forExit() {
        ExitStatus s = await("QEMU to exit", machine::exitStatus, () -> null);
        machine.serial().awaitEof(2_000); // outside the monitor: the reader notifies through it
        return s;
    }

    /** Waits until {@code condition} holds (re-checked on every serial line, event, exit, and every 200 ms). */
    public void forCondition(String description, BooleanSupplier condition) {
        await(
                description,
                () -> condition.getAsBoolean() ? Optional.of(Boolean.TRUE) : Optional.empty(),
                () -> machine.deathReason(QemuMachine.Stream.NONE));
    }

    /**
     * Retries {@code attempt} until it returns a value: each try gets the time left (it must not take longer) and
     * fails by throwing; between tries it pauses {@code pause}. Fails at once, like a serial wait, when QEMU has
     * exited, the machine was closed or the guest printed a fatal line; at the deadline with the last try's error.
     * The machine's monitor is not held while a try runs, so the machine's readers are never held up by it.
     */
    public <T> T retrying(String what, Function<Duration, T> attempt, Duration pause) {
        long start = System.nanoTime();
        long deadline = start + timeout.toNanos();
        String last = "no attempt";
        while (true) {
            String dead = machine.fatalSerialLine() != null
                    ? "the guest printed a fatal line: " + machine.fatalSerialLine()
                    : machine.deathReason(QemuMachine.Stream.SERIAL);
            if (dead != null) {
                throw new MachineDiedException(
                        dead + " while waiting for " + what + " (after " + millis(System.nanoTime() - start)
                                + "; last attempt: " + last + ")",
                        machine.diagnostics(false));
            }
            long left = deadline - System.nanoTime();
            if (left <= 0) {
                throw new WaitTimeoutException(
                        "timed out after " + millis(timeout.toNanos()) + " waiting for " + what + " (last attempt: "
                                + last + ")",
                        machine.diagnostics(false));
            }
            try {
                return attempt.apply(Duration.ofNanos(left));
            } catch (RuntimeException e) {
                last = String.valueOf(e.getMessage());
            }
            // wait out the pause; QEMU's exit or a fatal line end it early
            long pauseEnd = Math.min(deadline, System.nanoTime() + pause.toNanos());
            Object monitor = machine.monitor();
            synchronized (monitor) {
                long ms;
                while ((ms = (pauseEnd - System.nanoTime()) / 1_000_000) > 0
                        && machine.fatalSerialLine() == null
                        && machine.deathReason(QemuMachine.Stream.SERIAL) == null) {
                    try {
                        monitor.wait(ms);
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                        throw new QemuMachineException(
                                "interrupted while waiting for " + what, machine.diagnostics(false), e);
                    }
                }
            }
        }
    }

    private <T> T await(String what, Supplier<Optional<T>> check, Supplier<String> death) {
        long start = System.nanoTime();
        long deadline = start + timeout.toNanos();
        Object monitor = machine.monitor();
        synchronized (monitor) {
            while (true) {
                Optional<T> r = check.get();
                if (r.isPresent()) {
                    return r.get();
                }
                String dead = death.get();
                if (dead != null) {
                    throw new MachineDiedException(
                            dead + " while waiting for " + what + " (after " + millis(System.nanoTime() - start) + ")",
                            machine.diagnostics(false));
                }
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    throw new WaitTimeoutException(
                            "timed out after " + millis(timeout.toNanos()) + " waiting for " + what,
                            machine.diagnostics(false));
                }
                try {
                    monitor.wait(Math.max(1, Math.min(RECHECK_MILLIS, left / 1_000_000)));
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new QemuMachineException(
                            "interrupted while waiting for " + what, machine.diagnostics(false), e);
                }
            }
        }
    }

    private static String millis(long nanos) {
        long ms = nanos / 1_000_000;
        return ms < 10_000 ? ms + " ms" : (ms / 1000) + " s";
    }
}

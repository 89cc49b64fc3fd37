package dev.vgpuhil.harness;

import dev.vgpuhil.harness.report.Reporting;
import dev.vgpuhil.qemu.machine.Deadline;
import dev.vgpuhil.qemu.machine.QemuMachine;
import dev.vgpuhil.qemu.machine.WaitStrategy;
import java.time.Duration;
import java.util.Objects;
import java.util.concurrent.atomic.AtomicReference;

/**
 * Ready when root can log in over SSH with the run's key (a stale VM on a reused port cannot pass: it does not trust
 * this run's key). One loop: login attempts of at most 10 s each until the deadline, ended at once when QEMU exits or
 * the guest prints its fatal line ({@link dev.vgpuhil.qemu.machine.Waits#retrying}). The session it opened is taken
 * with {@link #takeShell()}.
 */
public final class SshLoginWait implements WaitStrategy {
    private static final Duration ATTEMPT = Duration.ofSeconds(10);
    private static final Duration PAUSE = Duration.ofMillis(250);
    private static final Duration NOTE_EVERY = Duration.ofSeconds(30);

    private final SshKeys keys;
    private final String vmName;
    private final AtomicReference<GuestShell> shell = new AtomicReference<>();

    public SshLoginWait(SshKeys keys, String vmName) {
        this.keys = Objects.requireNonNull(keys);
        this.vmName = Objects.requireNonNull(vmName);
    }

    @Override
    public void waitUntilReady(QemuMachine machine, Deadline deadline) {
        int port = machine.sshPort();
        long t0 = System.nanoTime();
        long[] nextNote = {t0 + NOTE_EVERY.toNanos()};
        GuestShell s = machine.waits(deadline.remaining())
                .retrying(
                        description(),
                        left -> {
                            try {
                                return GuestShell.login(port, keys, left.compareTo(ATTEMPT) < 0 ? left : ATTEMPT);
                            } finally {
                                if (System.nanoTime() > nextNote[0]) {
                                    nextNote[0] += NOTE_EVERY.toNanos();
                                    Reporting.progress("VM '" + vmName + "': waiting for SSH login ("
                                            + Duration.ofNanos(System.nanoTime() - t0)
                                                    .toSeconds() + " s of "
                                            + deadline.budget().toSeconds() + " s)");
                                }
                            }
                        },
                        PAUSE);
        GuestShell old = shell.getAndSet(s);
        if (old != null) {
            old.close();
        }
    }

    @Override
    public String description() {
        return "SSH login as root with the run's key";
    }

    /** The session the wait opened (once; null if it has not succeeded or was taken). */
    public GuestShell takeShell() {
        return shell.getAndSet(null);
    }

    @Override
    public String toString() {
        return "SshLoginWait[" + vmName + "]";
    }
}

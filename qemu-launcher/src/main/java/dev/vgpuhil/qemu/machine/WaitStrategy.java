package dev.vgpuhil.qemu.machine;

import java.util.ArrayList;
import java.util.List;
import java.util.stream.Collectors;

/**
 * When a started machine counts as ready (as Testcontainers' {@code WaitStrategy}): {@link QemuMachine#start()}
 * runs the spec's strategy ({@link MachineSpec#readiness()}) against a {@link Deadline} made from the spec's boot
 * budget ({@link MachineSpec#bootTimeout()}). Implementations: {@link SerialLineWait} (a serial marker), and in the
 * harness an SSH login; {@link #and} runs several one after the other against the same deadline.
 *
 * <p>A strategy returns when the machine is ready and otherwise throws a {@link QemuMachineException}: a
 * {@link WaitTimeoutException} at the deadline, a {@link MachineDiedException} as soon as QEMU has exited or the
 * guest printed a fatal line (the waits of {@link QemuMachine#waits} do both). The machine turns either into its
 * {@link MachineBootException}.
 */
public interface WaitStrategy {
    /** Blocks until {@code machine} is ready; never past {@code deadline}. */
    void waitUntilReady(QemuMachine machine, Deadline deadline);

    /** What is waited for, for messages, e.g. {@code /vgpu-hil: ssh ready/}. */
    String description();

    /** This, then {@code next}, both within the one deadline. */
    default WaitStrategy and(WaitStrategy next) {
        return allOf(this, next);
    }

    /** All of {@code strategies}, in order, against one deadline. */
    static WaitStrategy allOf(WaitStrategy... strategies) {
        List<WaitStrategy> all = new ArrayList<>();
        for (WaitStrategy s : strategies) {
            if (s instanceof AllOf a) {
                all.addAll(a.steps());
            } else {
                all.add(java.util.Objects.requireNonNull(s));
            }
        }
        return new AllOf(List.copyOf(all));
    }

    /** Several strategies in a row. */
    record AllOf(List<WaitStrategy> steps) implements WaitStrategy {
        @Override
        public void waitUntilReady(QemuMachine machine, Deadline deadline) {
            for (WaitStrategy s : steps) {
                s.waitUntilReady(machine, deadline);
            }
        }

        @Override
        public String description() {
            return steps.stream().map(WaitStrategy::description).collect(Collectors.joining(", then "));
        }
    }
}

package dev.vgpuhil.qemu.machine;

import java.util.Objects;
import java.util.regex.Pattern;

/**
 * Ready when the guest prints a serial line in which {@code marker} is found (since boot, so a marker printed
 * before the wait began counts). Fails at once on the spec's fatal line ({@link MachineSpec#fatalSerialPattern()})
 * or when QEMU exits.
 */
public final class SerialLineWait implements WaitStrategy {
    private final Pattern marker;

    private SerialLineWait(Pattern marker) {
        this.marker = Objects.requireNonNull(marker);
    }

    public static SerialLineWait forLine(Pattern marker) {
        return new SerialLineWait(marker);
    }

    public static SerialLineWait forLine(String markerRegex) {
        return new SerialLineWait(Pattern.compile(markerRegex));
    }

    public Pattern marker() {
        return marker;
    }

    @Override
    public void waitUntilReady(QemuMachine machine, Deadline deadline) {
        machine.waits(deadline.remaining()).forSerialLine(marker);
    }

    @Override
    public String description() {
        return "/" + marker.pattern() + "/";
    }

    @Override
    public String toString() {
        return "SerialLineWait" + description();
    }
}

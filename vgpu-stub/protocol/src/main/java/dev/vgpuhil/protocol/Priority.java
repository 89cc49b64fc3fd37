package dev.vgpuhil.protocol;

import java.util.Locale;
import java.util.Optional;

/**
 * A scheduling priority: {@code priority} on the wire and in BAR0 (VGPU_PRIORITY_* of vgpu_protocol.h); a higher
 * wire value is the more urgent class. {@link #label()} is the spelling of the device property and of the
 * mediator's options and logs.
 */
public enum Priority {
    LOW(VgpuProtocol.PRIORITY_LOW),
    MEDIUM(VgpuProtocol.PRIORITY_MEDIUM),
    HIGH(VgpuProtocol.PRIORITY_HIGH);

    private final int wire;

    Priority(int wire) {
        this.wire = wire;
    }

    public int wire() {
        return wire;
    }

    /** "low", "medium", "high". */
    public String label() {
        return name().toLowerCase(Locale.ROOT);
    }

    /** The priority of a wire value, or empty for one the protocol does not define. */
    public static Optional<Priority> fromWire(int value) {
        for (Priority p : values()) {
            if (p.wire == value) {
                return Optional.of(p);
            }
        }
        return Optional.empty();
    }

    /** The label of a known wire value, else the number: for log lines about frames that may be malformed. */
    public static String nameOf(int value) {
        return fromWire(value).map(Priority::label).orElse(Integer.toString(value));
    }

    /** "low"/"medium"/"high" in any case; IllegalArgumentException naming the choices otherwise. */
    public static Priority parse(String label) {
        for (Priority p : values()) {
            if (p.label().equalsIgnoreCase(label.trim())) {
                return p;
            }
        }
        throw new IllegalArgumentException("unknown priority '" + label + "' (low, medium, high)");
    }
}

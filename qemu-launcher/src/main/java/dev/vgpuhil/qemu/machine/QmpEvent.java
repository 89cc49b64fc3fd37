package dev.vgpuhil.qemu.machine;

import java.time.Instant;
import java.util.Map;

/**
 * An asynchronous QMP event, e.g. {@code SHUTDOWN} with data {@code {"guest":false,"reason":"host-qmp-quit"}}.
 *
 * @param index     position in the machine's event history (0 = first event after the QMP handshake)
 * @param name      the event name ("POWERDOWN", "SHUTDOWN", "RESUME", ...)
 * @param data      the event's "data" member (empty if it had none)
 * @param timestamp QEMU's timestamp of the event
 */
public record QmpEvent(int index, String name, Map<String, Object> data, Instant timestamp) {
    public QmpEvent {
        data = data == null ? Map.of() : data;
    }

    /** A member of {@link #data()} as a string (null if absent). */
    public String dataString(String key) {
        Object v = data.get(key);
        return v == null ? null : v.toString();
    }

    @Override
    public String toString() {
        return name + (data.isEmpty() ? "" : " " + Json.write(data));
    }
}

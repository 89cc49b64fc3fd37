package dev.vgpuhil.qemu.machine;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import java.time.Instant;

/**
 * An asynchronous QMP event, e.g. {@code SHUTDOWN} with data {@code {"guest":false,"reason":"host-qmp-quit"}}.
 *
 * @param index     position in the machine's event history (0 = first event after the QMP handshake)
 * @param name      the event name ("POWERDOWN", "SHUTDOWN", "RESUME", ...)
 * @param data      the event's "data" member (empty if it had none)
 * @param timestamp QEMU's timestamp of the event
 */
public record QmpEvent(int index, String name, JsonNode data, Instant timestamp) {
    public QmpEvent {
        data = data == null || data.isNull() ? JsonNodeFactory.instance.objectNode() : data;
    }

    /** A member of {@link #data()} as a string (null if absent). */
    public String dataString(String key) {
        JsonNode v = data.get(key);
        return v == null || v.isNull() ? null : v.isValueNode() ? v.asText() : v.toString();
    }

    @Override
    public String toString() {
        return name + (data.isEmpty() ? "" : " " + data);
    }
}

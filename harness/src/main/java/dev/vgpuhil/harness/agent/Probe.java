package dev.vgpuhil.harness.agent;

import dev.vgpuhil.harness.Json;
import java.util.Map;

/** What the agent found: the device's PCI address and identity registers. */
public record Probe(String bdf, int vendor, int device, int revision, String poolId, int priority, long vmId,
                    long protocolVersion, long capabilities, Map<String, Object> raw) {
    static Probe of(Map<String, Object> o) {
        return new Probe(Json.getString(o, "bdf"), (int) Json.getLong(o, "vendor"), (int) Json.getLong(o, "device"),
                (int) Json.getLong(o, "revision"), Json.getString(o, "poolId"), (int) Json.getLong(o, "priority"),
                Json.getLong(o, "vmId"), Json.getLong(o, "protocolVersion"), Json.getLong(o, "capabilities"), o);
    }
}

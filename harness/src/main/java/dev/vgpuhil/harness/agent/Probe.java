package dev.vgpuhil.harness.agent;

import com.fasterxml.jackson.databind.JsonNode;

/** What the agent found: the device's PCI address and identity registers. */
public record Probe(
        String bdf,
        int vendor,
        int device,
        int revision,
        String poolId,
        int priority,
        long vmId,
        long protocolVersion,
        long capabilities,
        JsonNode raw) {
    static Probe of(JsonNode o) {
        return new Probe(
                o.path("bdf").textValue(),
                o.required("vendor").asInt(),
                o.required("device").asInt(),
                o.required("revision").asInt(),
                o.path("poolId").textValue(),
                o.required("priority").asInt(),
                o.required("vmId").asLong(),
                o.required("protocolVersion").asLong(),
                o.required("capabilities").asLong(),
                o);
    }
}

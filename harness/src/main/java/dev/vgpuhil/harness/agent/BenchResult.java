package dev.vgpuhil.harness.agent;

import com.fasterxml.jackson.databind.JsonNode;

/** The agent's doorbell round-trip latency over {@code count} requests, microseconds. */
public record BenchResult(int count, double p50Micros, double p99Micros, long errors, JsonNode raw) {
    static BenchResult of(JsonNode o) {
        return new BenchResult(
                o.required("count").asInt(),
                o.required("p50Micros").asDouble(),
                o.required("p99Micros").asDouble(),
                o.path("errors").asLong(0),
                o);
    }
}

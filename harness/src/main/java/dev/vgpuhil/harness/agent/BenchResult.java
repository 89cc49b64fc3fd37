package dev.vgpuhil.harness.agent;

import dev.vgpuhil.harness.Json;
import java.util.Map;

/** The agent's doorbell round-trip latency over {@code count} requests, microseconds. */
public record BenchResult(int count, double p50Micros, double p99Micros, long errors, Map<String, Object> raw) {
    static BenchResult of(Map<String, Object> o) {
        return new BenchResult((int) Json.getLong(o, "count"), Json.getDouble(o, "p50Micros"),
                Json.getDouble(o, "p99Micros"), Json.getLong(o, "errors", 0), o);
    }
}

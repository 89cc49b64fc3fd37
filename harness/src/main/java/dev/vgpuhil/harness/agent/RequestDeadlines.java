package dev.vgpuhil.harness.agent;

import java.time.Duration;

/**
 * Every deadline of a guest request, derived from one number, the device's reply deadline {@code timeout_ms} (a
 * VM's request budget, {@code @VgpuVm(deviceTimeoutMs)}), so they cannot disagree:
 *
 * <ul>
 *   <li>the agent's {@code --timeout-ms} is longer than the device's, so a request the mediator does not answer in
 *       time ends as the device's own TIMEOUT error; the agent timing out means the device never completed at all;
 *   <li>the host's wait for the agent command is longer still: a JVM start under TCG comes on top;
 *   <li>the harness may hold a mediator's scheduler ({@code pauseScheduling}) at most {@link #maxHold}: a request
 *       held that long still completes before its device gives up.
 * </ul>
 *
 * A test that needs a longer hold asks for the device timeout with {@link #forHold}; a slow machine then makes the
 * test slower, and a request that still times out while held is the harness's doing (see
 * {@link dev.vgpuhil.harness.report.InfrastructureFailure}), not a protocol failure.
 */
public record RequestDeadlines(int deviceTimeoutMs) {
    /** The device's own default timeout_ms (DEVICE.md). */
    public static final int DEVICE_DEFAULT_MS = 5000;
    /** How much longer the agent waits than the device. */
    public static final int AGENT_MARGIN_MS = 10_000;
    /** A released request's execution and completion, with room for a loaded host. */
    public static final int SERVICE_MS = 20_000;
    /** An agent command's JVM start (-Xint) and set-up under TCG on a loaded host. */
    public static final Duration AGENT_START = Duration.ofSeconds(90);

    public RequestDeadlines {
        if (deviceTimeoutMs < 1) {
            throw new IllegalArgumentException("timeout_ms must be >= 1, got " + deviceTimeoutMs);
        }
    }

    /** For a VM spec's {@code deviceTimeoutMs} (0 = the device's default). */
    public static RequestDeadlines ofSpec(int specTimeoutMs) {
        return new RequestDeadlines(specTimeoutMs > 0 ? specTimeoutMs : DEVICE_DEFAULT_MS);
    }

    /** The device timeout that lets the harness hold a request for {@code holdMs} (a constant, for annotations). */
    public static int forHold(int holdMs) {
        return holdMs + SERVICE_MS;
    }

    /** The agent's {@code --timeout-ms}. */
    public int agentTimeoutMs() {
        return deviceTimeoutMs + AGENT_MARGIN_MS;
    }

    /** The host's deadline for one agent command whose requests each may take up to {@link #agentTimeoutMs}. */
    public Duration agentCall() {
        return AGENT_START.plusMillis(agentTimeoutMs());
    }

    /** The longest the harness may hold a request of this device in a paused scheduler. */
    public Duration maxHold() {
        return Duration.ofMillis(Math.max(0, deviceTimeoutMs - SERVICE_MS));
    }

    /** "agent --timeout-ms=15000, device timeout_ms=5000" for timeout messages. */
    public String describe() {
        return "agent --timeout-ms=" + agentTimeoutMs() + ", device timeout_ms=" + deviceTimeoutMs;
    }
}

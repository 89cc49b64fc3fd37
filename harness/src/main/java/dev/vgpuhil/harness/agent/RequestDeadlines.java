package dev.vgpuhil.harness.agent;

import dev.vgpuhil.common.TimeScale;
import java.time.Duration;

/**
 * One VM's wait budget: every deadline of its boot and of its guest requests derives from the VM spec's device
 * timeout ({@code @VgpuVm(deviceTimeoutMs)}), the guest's boot deadline and one {@link TimeScale} factor taken when
 * the VM is launched, so they cannot disagree and a slow machine makes a test slower, never red:
 *
 * <ul>
 *   <li>{@link #boot}: launch to SSH login, the guest's deadline times the scale; {@link #bootAndSetUp} with the
 *       agent's upload, what the harness waits for a VM;
 *   <li>{@link #deviceTimeoutMs}: the device's {@code timeout_ms} given to QEMU, the spec's (or the device default)
 *       times the scale;
 *   <li>the agent's {@code --timeout-ms} is longer than the device's, so a request the mediator does not answer in
 *       time ends as the device's own TIMEOUT error; the agent timing out means the device never completed at all;
 *   <li>the host's wait for the agent command is longer still: a JVM start under TCG comes on top;
 *   <li>{@link #link}: a device's link to the mediator bound, after boot or a mediator's restart, or gone after
 *       a fault;
 *   <li>{@link #scaled}: any other wait a test ties to this VM, its idle-host length times the scale;
 *   <li>the harness may hold a mediator's scheduler ({@code pauseScheduling}) at most {@link #maxHold}: a request
 *       held that long still completes before its device gives up (at least the spec's hold: the scale grows the
 *       device timeout and the service time alike).
 * </ul>
 *
 * A test that needs a longer hold asks for the device timeout with {@link #forHold}; a request that still times out
 * while held is the harness's doing (see {@link dev.vgpuhil.harness.report.InfrastructureFailure}), not a protocol
 * failure. {@link #describe} names every deadline, for timeout messages.
 */
public record RequestDeadlines(int deviceTimeoutMs, Duration boot, double scale) {
    /** The device's own default timeout_ms (DEVICE.md). */
    public static final int DEVICE_DEFAULT_MS = 5000;
    /** How much longer the agent waits than the device (on an idle host). */
    public static final int AGENT_MARGIN_MS = 10_000;
    /** A released request's execution and completion, with room for a loaded host (on an idle host). */
    public static final int SERVICE_MS = 20_000;
    /** An agent command's JVM start (-Xint) and set-up under TCG on a loaded host (on an idle host). */
    public static final Duration AGENT_START = Duration.ofSeconds(90);
    /** The boot deadline of a budget made without a guest (the ci guest's default). */
    public static final Duration DEFAULT_BOOT = Duration.ofSeconds(120);

    public RequestDeadlines {
        if (deviceTimeoutMs < 1) {
            throw new IllegalArgumentException("timeout_ms must be >= 1, got " + deviceTimeoutMs);
        }
        if (!(scale >= 1)) {
            throw new IllegalArgumentException("time scale must be >= 1, got " + scale);
        }
        if (boot == null || boot.isNegative() || boot.isZero()) {
            throw new IllegalArgumentException("boot deadline must be positive, got " + boot);
        }
    }

    /** A budget on an idle host: no scale. */
    public RequestDeadlines(int deviceTimeoutMs) {
        this(deviceTimeoutMs, DEFAULT_BOOT, 1);
    }

    /** For a VM spec's {@code deviceTimeoutMs} (0 = the device's default) on an idle host. */
    public static RequestDeadlines ofSpec(int specTimeoutMs) {
        return new RequestDeadlines(specTimeoutMs > 0 ? specTimeoutMs : DEVICE_DEFAULT_MS);
    }

    /**
     * The budget of one VM: its spec's {@code deviceTimeoutMs} (0 = the device's default) and its guest's boot
     * deadline, both times {@code scale} ({@link TimeScale#now()} at launch).
     */
    public static RequestDeadlines of(int specTimeoutMs, Duration guestBoot, double scale) {
        int base = specTimeoutMs > 0 ? specTimeoutMs : DEVICE_DEFAULT_MS;
        return new RequestDeadlines(
                (int) Math.min(Integer.MAX_VALUE / 2, Math.ceil(base * scale)), scaled(guestBoot, scale), scale);
    }

    private static Duration scaled(Duration d, double scale) {
        return Duration.ofMillis((long) Math.ceil(d.toMillis() * scale));
    }

    /** The device timeout that lets the harness hold a request for {@code holdMs} (a constant, for annotations). */
    public static int forHold(int holdMs) {
        return holdMs + SERVICE_MS;
    }

    /** The agent's {@code --timeout-ms}. */
    public int agentTimeoutMs() {
        return deviceTimeoutMs + (int) Math.ceil(AGENT_MARGIN_MS * scale);
    }

    /** The host's deadline for one agent command whose requests each may take up to {@link #agentTimeoutMs}. */
    public Duration agentCall() {
        return scaled(AGENT_START, scale).plusMillis(agentTimeoutMs());
    }

    /** Launch to a usable VM: the boot, then the Java check and the agent's upload (an agent start's time). */
    public Duration bootAndSetUp() {
        return boot.plus(scaled(AGENT_START, scale));
    }

    /**
     * A device's link to the mediator bound after boot or a mediator's restart (it reconnects once a second;
     * DEVICE.md allows up to 10 s), or unbound on the mediator after a fault: 20 s on an idle host.
     */
    public Duration link() {
        return scaled(Duration.ofSeconds(20), scale);
    }

    /** A wait that takes up to {@code idle} on an idle host, at this VM's scale (a test's own wait on this VM). */
    public Duration scaled(Duration idle) {
        return scaled(idle, scale);
    }

    /** The longest the harness may hold a request of this device in a paused scheduler. */
    public Duration maxHold() {
        return Duration.ofMillis(Math.max(0, deviceTimeoutMs - (long) Math.ceil(SERVICE_MS * scale)));
    }

    /** "boot deadline 120 s, agent --timeout-ms=15000, device timeout_ms=5000, time scale 1.0" for messages. */
    public String describe() {
        return "boot deadline " + boot.toSeconds() + " s, agent --timeout-ms=" + agentTimeoutMs()
                + ", device timeout_ms=" + deviceTimeoutMs + ", time scale " + String.format("%.1f", scale);
    }
}

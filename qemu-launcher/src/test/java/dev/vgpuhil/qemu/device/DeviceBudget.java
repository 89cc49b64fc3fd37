package dev.vgpuhil.qemu.device;

import dev.vgpuhil.common.TimeScale;
import java.time.Duration;

/**
 * The one wait budget of a device test, from which every deadline it uses derives, so they cannot disagree and a
 * slow machine makes the test slower, never red:
 *
 * <ul>
 *   <li>{@link #waitFor()}: every real-time wait (the peer's accept and frames, a device status poll), a base of
 *       10 s times the {@link TimeScale} taken when the budget is made;
 *   <li>{@link #timeoutMs}: the device's {@code timeout_ms} given to QEMU. In QEMU the reply deadline runs on the
 *       virtual clock, which only the test's {@code clock_step}s move: the test's own value is kept and
 *       {@link #stepNs} derives the steps from it. Over vfio-user it runs on the host clock, where a loaded host
 *       may take longer than any short value between doorbell and reply: there a test that expects a reply gets
 *       the whole wait budget, so only the peer's silence times a request out;
 *   <li>{@link #reconnect()}: waits that span the device's one-second reconnect, several tries on a loaded host.
 * </ul>
 */
record DeviceBudget(Duration waitFor, double scale) {
    /** What one wait takes on an idle host, with a wide margin. */
    static final Duration BASE = Duration.ofSeconds(10);
    /** The device's reconnect (once a second) may need several tries: this many waits. */
    static final int RECONNECT_WAITS = 6;

    /** The budget for a test starting now on this machine. */
    static DeviceBudget now() {
        double scale = TimeScale.now();
        return new DeviceBudget(Duration.ofMillis((long) Math.ceil(BASE.toMillis() * scale)), scale);
    }

    /** A wait spanning reconnects. */
    Duration reconnect() {
        return waitFor.multipliedBy(RECONNECT_WAITS);
    }

    /**
     * The {@code timeout_ms} for a device on {@code hosting} where the test relies on {@code virtualMs} of virtual
     * time (in-QEMU); over vfio-user the wait budget, see the class comment.
     */
    int timeoutMs(DeviceHosting hosting, int virtualMs) {
        return hosting.vfioUser() ? (int) Math.min(Integer.MAX_VALUE, waitFor.toMillis()) : virtualMs;
    }

    /** A virtual-clock step of {@code ms} of a device deadline, in ns (clock_step). */
    static long stepNs(long ms) {
        return ms * 1_000_000L;
    }

    @Override
    public String toString() {
        return "wait " + waitFor + " (time scale " + String.format("%.1f", scale) + ")";
    }
}

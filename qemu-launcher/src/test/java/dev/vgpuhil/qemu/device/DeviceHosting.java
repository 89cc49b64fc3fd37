package dev.vgpuhil.qemu.device;

import dev.vgpuhil.qemu.QemuBinary;
import dev.vgpuhil.qemu.VfioUserServer;
import dev.vgpuhil.qemu.qtest.QtestSession;
import dev.vgpuhil.qemu.qtest.VfioUserCompanion;
import dev.vgpuhil.qemu.qtest.VgpuDevice;
import java.util.List;

/**
 * Where the vgpu-stub under test lives, and how a qtest session with it starts: the one axis the device suite
 * is repeated over ({@link OnEveryHosting}). Today: the device compiled into each QEMU of the matrix
 * ({@link InQemu}); a vfio-user hosting (stock QEMU + {@code vgpu-stub-vfio-user}) is one more implementation.
 */
public interface DeviceHosting {
    /** Short label, shown in the report as {@code [name]}, e.g. {@code qemu 10.0}. */
    String name();

    /** The QEMU the sessions run. */
    QemuBinary qemu();

    /**
     * A qtest session builder whose VM holds one vgpu-stub configured by {@code props} ({@code key=value},
     * the properties of {@code -device vgpu-stub}); the caller may add QEMU arguments before {@code start()}.
     */
    default QtestSession.Builder qtest(List<String> props) {
        return addDevice(QtestSession.builder(qemu()), props);
    }

    /** Adds one more vgpu-stub configured by {@code props} to {@code b} (e.g. a second device in one VM). */
    QtestSession.Builder addDevice(QtestSession.Builder b, List<String> props);

    /**
     * Lets the reply deadline of the request in flight ({@code timeoutMs}) pass: in-QEMU it lives on the virtual
     * clock (clock_step); over vfio-user on the host clock (wait in real time until the device is not busy: the
     * deadline plus one wait of the test's {@code budget}).
     */
    default void passReplyDeadline(QtestSession q, VgpuDevice dev, long timeoutMs, DeviceBudget budget) {
        q.clockStep((timeoutMs + 1) * 1_000_000L);
    }

    /** Lets interrupt signals that are on their way reach QEMU's interrupt lines (vfio-user: eventfds). */
    default void settle(QtestSession q) {}

    /** True for the vfio-user hosting (the device outside QEMU: host-clock deadlines, no vmstate). */
    default boolean vfioUser() {
        return false;
    }

    /**
     * The device as {@code vgpu-stub-vfio-user} attached to a stock QEMU's {@code vfio-user-pci}: the server is a
     * {@link VfioUserCompanion} of each session (socket and {@code vfio-user.log} in the run directory).
     */
    record VfioUser(String name, QemuBinary qemu) implements DeviceHosting {
        @Override
        public QtestSession.Builder addDevice(QtestSession.Builder b, List<String> props) {
            return b.companion(new VfioUserCompanion(VfioUserServer.locateBinary(), props, null));
        }

        @Override
        public void passReplyDeadline(QtestSession q, VgpuDevice dev, long timeoutMs, DeviceBudget budget) {
            dev.awaitNotBusy(java.time.Duration.ofMillis(timeoutMs).plus(budget.waitFor()));
        }

        /** QEMU runs eventfd handlers between commands: two more round trips and every ready one has run. */
        @Override
        public void settle(QtestSession q) {
            q.readl(0);
            q.readl(0);
        }

        @Override
        public boolean vfioUser() {
            return true;
        }

        @Override
        public String toString() {
            return name + " (" + qemu.path() + " + vgpu-stub-vfio-user)";
        }
    }

    /** The device compiled into a QEMU built by vgpu-stub/build-qemu.sh. */
    record InQemu(String name, QemuBinary qemu) implements DeviceHosting {
        @Override
        public QtestSession.Builder addDevice(QtestSession.Builder b, List<String> props) {
            StringBuilder spec = new StringBuilder(QemuBinary.DEVICE);
            for (String p : props) {
                spec.append(',').append(p);
            }
            return b.device(spec.toString());
        }

        @Override
        public String toString() {
            return name + " (" + qemu.path() + ")";
        }
    }
}

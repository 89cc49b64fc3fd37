package dev.vgpuhil.qemu.device;

import dev.vgpuhil.qemu.QemuBinary;
import dev.vgpuhil.qemu.qtest.QtestSession;
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
    QtestSession.Builder qtest(List<String> props);

    /** The device compiled into a QEMU built by vgpu-stub/build-qemu.sh. */
    record InQemu(String name, QemuBinary qemu) implements DeviceHosting {
        @Override
        public QtestSession.Builder qtest(List<String> props) {
            StringBuilder spec = new StringBuilder(QemuBinary.DEVICE);
            for (String p : props) {
                spec.append(',').append(p);
            }
            return QtestSession.builder(qemu).device(spec.toString());
        }

        @Override
        public String toString() {
            return name + " (" + qemu.path() + ")";
        }
    }
}

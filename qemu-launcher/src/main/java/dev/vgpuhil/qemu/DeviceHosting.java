package dev.vgpuhil.qemu;

/**
 * How the vgpu-stub device model reaches a QEMU. One device model ({@code vgpu-stub/core}), two hostings:
 * compiled into QEMU as the PCI device {@code vgpu-stub}, or run as the separate process
 * {@code vgpu-stub-vfio-user} that a stock QEMU (≥ 10.1) attaches with its {@code vfio-user-pci} device.
 * {@link QemuBinary} finds out which one a binary offers.
 */
public enum DeviceHosting {
    /** {@code -device vgpu-stub,...}: the device compiled into QEMU (vgpu-stub/build-qemu.sh). */
    IN_QEMU("in-QEMU", QemuBinary.DEVICE),
    /**
     * One {@code vgpu-stub-vfio-user} per device, given to QEMU as {@code -device vfio-user-pci} with the server's
     * socket (see {@link VfioUserServer}).
     */
    VFIO_USER("vfio-user", VfioUserServer.QEMU_DEVICE);

    private final String label;
    private final String qemuDevice;

    DeviceHosting(String label, String qemuDevice) {
        this.label = label;
        this.qemuDevice = qemuDevice;
    }

    /** Short name for reports and logs: "in-QEMU" or "vfio-user". */
    public String label() {
        return label;
    }

    /** The QEMU device this hosting needs in the binary: {@code vgpu-stub} or {@code vfio-user-pci}. */
    public String qemuDevice() {
        return qemuDevice;
    }

    /** {@code "in-qemu"} or {@code "vfio-user"}, the values of {@code -Dvgpu.hosting}. */
    public String settingValue() {
        return this == IN_QEMU ? "in-qemu" : "vfio-user";
    }

    /** The hosting for a {@code -Dvgpu.hosting} value (case-insensitive); IllegalArgumentException naming both. */
    public static DeviceHosting fromSetting(String value) {
        for (DeviceHosting h : values()) {
            if (h.settingValue().equalsIgnoreCase(value.strip())) {
                return h;
            }
        }
        throw new IllegalArgumentException("unknown device hosting '" + value + "': use in-qemu or vfio-user");
    }
}

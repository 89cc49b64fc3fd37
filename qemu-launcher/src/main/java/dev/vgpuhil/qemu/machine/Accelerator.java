package dev.vgpuhil.qemu.machine;

/** Which accelerator a machine asks for. */
public enum Accelerator {
    /**
     * KVM when a probe shows it really works here (see {@link KvmProbe}), else TCG. The decision is made once
     * per JVM and QEMU binary; {@code -Dvgpu.accel=tcg|kvm} overrides it.
     */
    AUTO,
    /** KVM with {@code -cpu host}; the machine refuses to start if the probe says KVM does not work. */
    KVM,
    /** TCG, QEMU's emulator: works everywhere, ~10-50x slower than KVM. */
    TCG;

    /** QEMU's name ({@code -accel <name>}). */
    public String qemuName() {
        return name().toLowerCase(java.util.Locale.ROOT);
    }
}

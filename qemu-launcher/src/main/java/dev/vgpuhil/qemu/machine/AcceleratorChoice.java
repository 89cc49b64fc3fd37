package dev.vgpuhil.qemu.machine;

import java.time.Duration;

/**
 * The accelerator a machine actually uses and why.
 *
 * @param accelerator {@link Accelerator#KVM} or {@link Accelerator#TCG} (never AUTO)
 * @param reason      e.g. "requested", or "kvm unusable: kvm_pvm paravirtual KVM; probe: ..."
 * @param probeTime   how long the KVM probe took (zero when none ran)
 */
public record AcceleratorChoice(Accelerator accelerator, String reason, Duration probeTime) {
    public AcceleratorChoice {
        if (accelerator == Accelerator.AUTO) {
            throw new IllegalArgumentException("a choice is KVM or TCG");
        }
    }

    /** e.g. {@code "tcg (kvm unusable: kvm_pvm paravirtual KVM; probe: ...)"}. */
    @Override
    public String toString() {
        return accelerator.qemuName() + " (" + reason + ")";
    }
}

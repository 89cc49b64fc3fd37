package dev.vgpuhil.qemu.machine;

/**
 * A wait of {@link Waits} can never succeed any more: QEMU exited (or was closed) while waiting, or the guest
 * printed a fatal serial line (by default a kernel panic). Thrown as soon as that is seen, not at the deadline.
 */
public class MachineDiedException extends QemuMachineException {
    private static final long serialVersionUID = 1L;

    public MachineDiedException(String headline, Diagnostics diagnostics) {
        super(headline, diagnostics, null);
    }
}

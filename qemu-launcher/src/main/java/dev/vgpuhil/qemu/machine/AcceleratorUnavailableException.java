package dev.vgpuhil.qemu.machine;

/** An explicitly requested accelerator (KVM) does not work here; the message carries the probe's finding. */
public class AcceleratorUnavailableException extends MachineBootException {
    private static final long serialVersionUID = 1L;

    public AcceleratorUnavailableException(String message) {
        super(message, null, null);
    }
}

package dev.vgpuhil.qemu.machine;

/** A wait of {@link Waits} reached its deadline; the message carries the last serial lines. */
public class WaitTimeoutException extends QemuMachineException {
    private static final long serialVersionUID = 1L;

    public WaitTimeoutException(String headline, Diagnostics diagnostics) {
        super(headline, diagnostics, null);
    }
}

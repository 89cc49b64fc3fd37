package dev.vgpuhil.qemu.machine;

/**
 * {@link QemuMachine#start()} failed: QEMU could not be started, exited (or was killed) before its monitor came
 * up, refused an option, or the guest died or stayed silent before the configured boot marker. The message
 * names what happened, QEMU's exit status, the last serial lines, the stderr tail and the command line; the
 * run directory is kept.
 */
public class MachineBootException extends QemuMachineException {
    private static final long serialVersionUID = 1L;

    public MachineBootException(String headline, Diagnostics diagnostics, Throwable cause) {
        super(headline, diagnostics, cause);
    }
}

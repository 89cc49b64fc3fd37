package dev.vgpuhil.qemu.machine;

import java.util.OptionalInt;

/**
 * How the QEMU process ended. Java reports a death by signal N as exit value 128+N (the shell's convention);
 * QEMU itself never exits with such codes (it exits 0 on quit/SIGTERM/guest shutdown, 1 on errors).
 */
public record ExitStatus(int exitValue) {
    private static final String[] NAMES = {
        null, "SIGHUP", "SIGINT", "SIGQUIT", "SIGILL", "SIGTRAP", "SIGABRT", "SIGBUS", "SIGFPE", "SIGKILL", "SIGUSR1",
        "SIGSEGV", "SIGUSR2", "SIGPIPE", "SIGALRM", "SIGTERM"
    };

    /** The signal that killed QEMU, if it died by one. */
    public OptionalInt signal() {
        return exitValue > 128 && exitValue < 128 + 65 ? OptionalInt.of(exitValue - 128) : OptionalInt.empty();
    }

    /** The exit code if QEMU exited by itself (not by a signal). */
    public OptionalInt exitCode() {
        return signal().isPresent() ? OptionalInt.empty() : OptionalInt.of(exitValue);
    }

    /** True when QEMU exited by itself with code 0. */
    public boolean success() {
        return exitValue == 0;
    }

    @Override
    public String toString() {
        OptionalInt sig = signal();
        if (sig.isPresent()) {
            int n = sig.getAsInt();
            return "killed by signal " + n + (n < NAMES.length ? " (" + NAMES[n] + ")" : "");
        }
        return "exit code " + exitValue;
    }
}

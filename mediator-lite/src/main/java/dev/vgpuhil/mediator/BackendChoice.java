package dev.vgpuhil.mediator;

import java.util.Locale;

/** Which compute backend the mediator runs: {@code --backend cpu|cuda|auto}. */
public enum BackendChoice {
    /** Always the CPU. */
    CPU,
    /** The CUDA driver API; start fails when no GPU answers. */
    CUDA,
    /** CUDA when a device answers, else CPU (the choice is logged). */
    AUTO;

    public static BackendChoice parse(String text) {
        try {
            return valueOf(text.trim().toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("unknown backend '" + text + "' (expected cpu, cuda or auto)");
        }
    }
}

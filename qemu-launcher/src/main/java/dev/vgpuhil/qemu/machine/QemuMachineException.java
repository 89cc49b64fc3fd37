package dev.vgpuhil.qemu.machine;

import java.nio.file.Path;
import java.util.List;
import java.util.Optional;

/**
 * Base of every failure of a {@link QemuMachine}. The message is self-contained: what failed, then the
 * machine's state (exit status, the last serial lines, QEMU's stderr tail, where the logs are).
 */
public class QemuMachineException extends RuntimeException {
    private static final long serialVersionUID = 1L;
    private final transient Diagnostics diagnostics;

    public QemuMachineException(String headline, Diagnostics diagnostics, Throwable cause) {
        super(diagnostics == null ? headline : headline + diagnostics.format(), cause);
        this.diagnostics = diagnostics == null ? Diagnostics.NONE : diagnostics;
    }

    public QemuMachineException(String message) {
        this(message, null, null);
    }

    /** The machine's state when the failure was seen. */
    public Diagnostics diagnostics() {
        return diagnostics;
    }

    /** QEMU's exit status, if it had exited when the failure was seen. */
    public Optional<ExitStatus> exitStatus() {
        return Optional.ofNullable(diagnostics.exitStatus());
    }

    /** The last serial lines (newline-separated; may be empty). */
    public String serialTail() {
        return diagnostics.serialTail();
    }

    /** The last lines of QEMU's stderr (may be empty). */
    public String stderrTail() {
        return diagnostics.stderrTail();
    }

    /** The machine's run directory (null if none was made). */
    public Path runDir() {
        return diagnostics.runDir();
    }

    /**
     * A snapshot of a machine for error messages.
     *
     * @param commandLine included in the message only when {@code withCommandLine}
     */
    public record Diagnostics(
            String machine,
            Path runDir,
            ExitStatus exitStatus,
            String serialTail,
            String stderrTail,
            List<String> commandLine,
            boolean withCommandLine) {
        static final Diagnostics NONE = new Diagnostics("", null, null, "", "", List.of(), false);

        public Diagnostics {
            serialTail = serialTail == null ? "" : serialTail;
            stderrTail = stderrTail == null ? "" : stderrTail;
            commandLine = commandLine == null ? List.of() : List.copyOf(commandLine);
        }

        String format() {
            StringBuilder b = new StringBuilder();
            b.append(" [machine ").append(machine);
            if (exitStatus != null) {
                b.append(", QEMU ").append(exitStatus);
            }
            if (runDir != null) {
                b.append(", logs in ").append(runDir);
            }
            b.append(']');
            if (withCommandLine && !commandLine.isEmpty()) {
                b.append("\n--- command line ---\n").append(CommandLine.shellQuote(commandLine));
            }
            b.append("\n--- last serial lines ---\n").append(serialTail.isBlank() ? "(none)" : serialTail);
            b.append("\n--- QEMU stderr tail ---\n").append(stderrTail.isBlank() ? "(empty)" : stderrTail);
            return b.toString();
        }
    }
}

package dev.vgpuhil.mediator;

import java.time.Instant;
import java.util.logging.Formatter;
import java.util.logging.LogRecord;

/** One line per event: {@code 2026-01-01T12:00:00.123Z INFO message [exception]}. */
public final class OneLineFormatter extends Formatter {
    @Override
    public String format(LogRecord r) {
        StringBuilder sb = new StringBuilder(128)
                .append(Instant.ofEpochMilli(r.getMillis()))
                .append(' ')
                .append(r.getLevel().getName())
                .append(' ')
                .append(formatMessage(r));
        if (r.getThrown() != null) {
            sb.append(" [").append(r.getThrown()).append(']');
        }
        return sb.append(System.lineSeparator()).toString();
    }
}

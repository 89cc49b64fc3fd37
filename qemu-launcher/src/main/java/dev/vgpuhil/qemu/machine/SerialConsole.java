package dev.vgpuhil.qemu.machine;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;

/**
 * The guest's first serial port (ttyS0). QEMU connects its {@code -serial} chardev to a socket the machine
 * listens on; one reader thread appends every byte to {@code serial.log} (as is) and splits the stream into lines
 * (without the trailing CR/LF) that {@link Waits} match against. Lines have absolute indices from 0 (the first
 * line of the boot); the last {@value #MAX_LINES} are kept in memory, all of them in the log file.
 */
public final class SerialConsole {
    static final int MAX_LINES = 100_000;
    /** A "line" longer than this (no newline in sight) is cut into pieces of this size. */
    static final int MAX_LINE_BYTES = 64 * 1024;

    private final Path logFile;
    private final Runnable onActivity;
    private final Deque<String> lines = new ArrayDeque<>();
    private final ByteArrayOutputStream partial = new ByteArrayOutputStream();
    private int firstIndex; // absolute index of lines.peekFirst()
    private volatile SocketChannel channel;
    private volatile boolean eof;
    private Thread reader;

    SerialConsole(Path logFile, Runnable onActivity) {
        this.logFile = logFile;
        this.onActivity = onActivity;
    }

    /** Starts reading from QEMU's connection (called once by the machine). */
    void attach(SocketChannel ch, String threadName) {
        this.channel = ch;
        reader = new Thread(() -> readLoop(ch), threadName);
        reader.setDaemon(true);
        reader.start();
    }

    private void readLoop(SocketChannel ch) {
        try (OutputStream log = Files.newOutputStream(logFile)) {
            ByteBuffer buf = ByteBuffer.allocate(8192);
            while (true) {
                buf.clear();
                int n = ch.read(buf);
                if (n < 0) {
                    break;
                }
                log.write(buf.array(), 0, n);
                log.flush();
                boolean newLines = false;
                synchronized (this) {
                    for (int i = 0; i < n; i++) {
                        byte b = buf.array()[i];
                        if (b == '\n') {
                            addLine();
                            newLines = true;
                        } else {
                            partial.write(b);
                            if (partial.size() >= MAX_LINE_BYTES) {
                                addLine();
                                newLines = true;
                            }
                        }
                    }
                }
                if (newLines) {
                    onActivity.run();
                }
            }
        } catch (IOException | RuntimeException e) {
            // the machine closed the socket, or QEMU went away
        }
        synchronized (this) {
            if (partial.size() > 0) {
                addLine(); // the last, unterminated line still counts once the stream ends
            }
            eof = true;
        }
        onActivity.run();
    }

    private void addLine() {
        String s = partial.toString(StandardCharsets.UTF_8);
        partial.reset();
        int end = s.length();
        while (end > 0 && (s.charAt(end - 1) == '\r' || s.charAt(end - 1) == '\n')) {
            end--;
        }
        lines.addLast(s.substring(0, end));
        if (lines.size() > MAX_LINES) {
            lines.removeFirst();
            firstIndex++;
        }
    }

    /** The file every serial byte goes to ({@code <rundir>/serial.log}). */
    public Path logFile() {
        return logFile;
    }

    /** Number of complete lines so far (also the index the next line will get: a mark for waits). */
    public synchronized int lineCount() {
        return firstIndex + lines.size();
    }

    /** The complete lines kept in memory, oldest first. */
    public synchronized List<String> lines() {
        return List.copyOf(lines);
    }

    /** The text after the last newline (e.g. a prompt), possibly empty. */
    public synchronized String partialLine() {
        return partial.toString(StandardCharsets.UTF_8);
    }

    /** The last {@code n} complete lines (plus a pending partial line), newline-separated. */
    public synchronized String tail(int n) {
        List<String> all = new ArrayList<>(lines);
        List<String> t = new ArrayList<>(all.subList(Math.max(0, all.size() - n), all.size()));
        if (partial.size() > 0) {
            t.add(partial.toString(StandardCharsets.UTF_8));
        }
        return String.join("\n", t);
    }

    /** Lines with absolute index ≥ {@code from} (lines already dropped from memory are skipped). */
    synchronized List<IndexedLine> linesFrom(int from) {
        List<IndexedLine> out = new ArrayList<>();
        int i = firstIndex;
        for (String l : lines) {
            if (i >= from) {
                out.add(new IndexedLine(i, l));
            }
            i++;
        }
        return out;
    }

    record IndexedLine(int index, String text) {}

    /** True once QEMU closed the serial stream (it exited) and every line has been read. */
    public boolean isClosed() {
        return eof;
    }

    /** Types {@code text} into the guest's serial port (e.g. {@code "root\n"}); bytes as UTF-8. */
    public void send(String text) {
        SocketChannel ch = channel;
        if (ch == null || eof) {
            throw new IllegalStateException("the serial console is not connected");
        }
        ByteBuffer b = ByteBuffer.wrap(text.getBytes(StandardCharsets.UTF_8));
        synchronized (ch) {
            try {
                while (b.hasRemaining()) {
                    ch.write(b);
                }
            } catch (IOException e) {
                throw new IllegalStateException("cannot write to the serial console: " + e.getMessage(), e);
            }
        }
    }

    /** Waits up to {@code millis} for the reader to reach the end of the stream. */
    boolean awaitEof(long millis) {
        Thread r = reader;
        if (r == null) {
            return true;
        }
        try {
            r.join(Math.max(1, millis));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        return !r.isAlive();
    }

    void close() {
        SocketChannel ch = channel;
        if (ch != null) {
            try {
                ch.close();
            } catch (IOException ignored) {
                // closing anyway
            }
        }
        awaitEof(2_000);
        if (reader == null) {
            eof = true;
        }
    }
}

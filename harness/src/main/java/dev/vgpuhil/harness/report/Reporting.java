package dev.vgpuhil.harness.report;

import io.qameta.allure.Allure;
import io.qameta.allure.model.Status;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.LocalTime;
import java.time.format.DateTimeFormatter;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;
import java.util.function.Supplier;

/**
 * Allure plumbing for the harness: attachments (only while a test case runs: Allure drops attachments made in
 * BeforeAll/AfterAll callbacks), steps, the results directory's {@code environment.properties}, and the
 * console progress of the main job ({@code -Dvgpu.progress=true}).
 */
public final class Reporting {
    /** Attachments larger than this are cut to their tail (serial logs can grow). */
    static final int MAX_ATTACHMENT_BYTES = 4 * 1024 * 1024;
    private static final DateTimeFormatter CLOCK = DateTimeFormatter.ofPattern("HH:mm:ss.SSS");

    private Reporting() {}

    /** True while Allure has a test case on this thread (attachments and steps land somewhere). */
    public static boolean inTestCase() {
        try {
            return Allure.getLifecycle().getCurrentTestCase().isPresent();
        } catch (RuntimeException | LinkageError e) {
            return false;
        }
    }

    public static void attachText(String name, String text) {
        attach(name, "text/plain", ".txt", text);
    }

    public static void attachJson(String name, String json) {
        attach(name, "application/json", ".json", json);
    }

    /** JSON lines are attached as text (one object per line is not one JSON document). */
    public static void attachJsonLines(String name, String lines) {
        attach(name, "text/plain", ".jsonl", lines);
    }

    public static void attach(String name, String mime, String ext, String content) {
        if (!inTestCase() || content == null) {
            return;
        }
        byte[] bytes = content.getBytes(StandardCharsets.UTF_8);
        if (bytes.length > MAX_ATTACHMENT_BYTES) {
            content = "[... first " + (bytes.length - MAX_ATTACHMENT_BYTES) + " bytes cut ...]\n"
                    + new String(bytes, bytes.length - MAX_ATTACHMENT_BYTES, MAX_ATTACHMENT_BYTES,
                    StandardCharsets.UTF_8);
        }
        Allure.addAttachment(name, mime, content, ext);
    }

    /** Attaches a file's text (its tail if large); a missing or empty file is attached as a note saying so. */
    public static void attachFile(String name, Path file) {
        if (!inTestCase()) {
            return;
        }
        if (file == null || !Files.isRegularFile(file)) {
            attachText(name, "(no file " + file + ")");
            return;
        }
        try {
            byte[] bytes = readTail(file, MAX_ATTACHMENT_BYTES);
            // an empty log (QEMU said nothing on stderr) says so, rather than being an empty attachment
            attachText(name, bytes.length == 0 ? "(empty: " + file + ")" : new String(bytes, StandardCharsets.UTF_8));
        } catch (IOException e) {
            attachText(name, "(cannot read " + file + ": " + e + ")");
        }
    }

    static byte[] readTail(Path file, int max) throws IOException {
        long size = Files.size(file);
        if (size <= max) {
            return Files.readAllBytes(file);
        }
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            java.nio.ByteBuffer buf = java.nio.ByteBuffer.allocate(max);
            ch.position(size - max);
            while (buf.hasRemaining() && ch.read(buf) >= 0) {
                // fill
            }
            return buf.array();
        }
    }

    /** A step around {@code body} (just runs it when no test case is active). */
    public static <T> T step(String name, Supplier<T> body) {
        progress(name);
        if (!inTestCase()) {
            return body.get();
        }
        return Allure.step(name, body::get);
    }

    /** A step around a body without a result. */
    public static void doStep(String name, Runnable body) {
        step(name, () -> {
            body.run();
            return null;
        });
    }

    /** A finished step with a given outcome (e.g. one self-test check). */
    public static void result(String name, boolean passed) {
        if (inTestCase()) {
            Allure.step(name, passed ? Status.PASSED : Status.FAILED);
        }
    }

    /** The Allure test case of this thread, to hand to worker threads ({@link #inTestCase(String, Supplier)}). */
    public static String currentTestCase() {
        try {
            return Allure.getLifecycle().getCurrentTestCase().orElse(null);
        } catch (RuntimeException | LinkageError e) {
            return null;
        }
    }

    /**
     * Runs {@code body} on this (worker) thread as part of test case {@code uuid}, so its steps and attachments land
     * in that test; null just runs it. Meant for short-lived threads (Allure keeps the context per thread).
     */
    public static <T> T inTestCase(String uuid, Supplier<T> body) {
        if (uuid == null) {
            return body.get();
        }
        Allure.getLifecycle().setCurrentTestCase(uuid);
        return body.get();
    }

    /** Runs {@code body} on a new thread inside the current test case (steps and attachments kept). */
    public static <T> java.util.concurrent.CompletableFuture<T> async(String threadName, Supplier<T> body) {
        String uuid = currentTestCase();
        java.util.concurrent.CompletableFuture<T> f = new java.util.concurrent.CompletableFuture<>();
        Thread t = new Thread(() -> {
            try {
                f.complete(inTestCase(uuid, body));
            } catch (Throwable e) {
                f.completeExceptionally(e);
            }
        }, threadName);
        t.setDaemon(true);
        t.start();
        return f;
    }

    // ---- environment.properties

    /** The Allure results directory (system property allure.results.directory, else reports/allure-results). */
    public static Path resultsDir() {
        String p = System.getProperty("allure.results.directory");
        if (p != null && !p.isBlank()) {
            return Path.of(p);
        }
        try {
            return dev.vgpuhil.protocol.SourceTree.path("reports", "allure-results");
        } catch (IllegalStateException e) {
            return Path.of("allure-results");
        }
    }

    /**
     * Merges {@code entries} into the results directory's {@code environment.properties} (under a file lock:
     * several test JVMs may write it). Existing keys are overwritten.
     */
    public static synchronized void environment(Map<String, String> entries) {
        Path dir = resultsDir();
        Path file = dir.resolve("environment.properties");
        try {
            Files.createDirectories(dir);
            try (FileChannel ch = FileChannel.open(dir.resolve(".environment.lock"), StandardOpenOption.CREATE,
                    StandardOpenOption.WRITE); FileLock ignored = ch.lock()) {
                Properties p = new Properties();
                if (Files.isRegularFile(file)) {
                    try (InputStream in = Files.newInputStream(file)) {
                        p.load(in);
                    }
                }
                for (var e : entries.entrySet()) {
                    if (e.getValue() != null) {
                        p.setProperty(e.getKey(), e.getValue());
                    }
                }
                // sorted, no date comment: stable between runs
                StringBuilder b = new StringBuilder();
                for (var e : new TreeMap<>(p).entrySet()) {
                    b.append(escape(e.getKey().toString(), true)).append('=')
                            .append(escape(e.getValue().toString(), false)).append('\n');
                }
                Path tmp = dir.resolve(".environment.properties.tmp");
                try (OutputStream out = Files.newOutputStream(tmp)) {
                    out.write(b.toString().getBytes(StandardCharsets.ISO_8859_1));
                }
                Files.move(tmp, file, java.nio.file.StandardCopyOption.REPLACE_EXISTING,
                        java.nio.file.StandardCopyOption.ATOMIC_MOVE);
            }
        } catch (IOException e) {
            System.err.println("[vgpu-hil] cannot write " + file + ": " + e);
        }
    }

    private static String escape(String s, boolean key) {
        StringBuilder b = new StringBuilder();
        for (char c : s.toCharArray()) {
            switch (c) {
                case '\\' -> b.append("\\\\");
                case '\n' -> b.append("\\n");
                case '\r' -> b.append("\\r");
                case '=', ':' -> b.append(key ? "\\" + c : String.valueOf(c));
                case ' ' -> b.append(key ? "\\ " : " ");
                default -> {
                    if (c > 0x7e) {
                        b.append(String.format("\\u%04x", (int) c));
                    } else {
                        b.append(c);
                    }
                }
            }
        }
        return b.toString();
    }

    // ---- console progress (the main job)

    public static boolean progressEnabled() {
        return Boolean.getBoolean("vgpu.progress");
    }

    /** Prints a phase line to the console when -Dvgpu.progress=true. */
    public static void progress(String line) {
        if (progressEnabled()) {
            System.out.println("[vgpu-hil " + LocalTime.now().format(CLOCK) + "] " + line);
            System.out.flush();
        }
    }
}

package dev.vgpuhil.harness.report;

import dev.vgpuhil.common.Setting;
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
 * BeforeAll/AfterAll callbacks), steps, the results directory's {@code environment.properties} and {@code
 * categories.json}, and the console: one line per phase with its time ({@link Setting#PROGRESS}).
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
                    + new String(
                            bytes, bytes.length - MAX_ATTACHMENT_BYTES, MAX_ATTACHMENT_BYTES, StandardCharsets.UTF_8);
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

    /**
     * A step around {@code body} (just runs it when no test case is active); its console line, with the time it took,
     * comes when it ends.
     */
    public static <T> T step(String name, Supplier<T> body) {
        long t0 = System.nanoTime();
        boolean ok = false;
        try {
            T result = inTestCase() ? Allure.step(name, body::get) : body.get();
            ok = true;
            return result;
        } finally {
            progress(name + (ok ? ": " : ": failed after ") + seconds(System.nanoTime() - t0));
        }
    }

    /** {@code 1.23 s}. */
    public static String seconds(long nanos) {
        return String.format(java.util.Locale.ROOT, "%.2f s", nanos / 1e9);
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
        Thread t = new Thread(
                () -> {
                    try {
                        f.complete(inTestCase(uuid, body));
                    } catch (Throwable e) {
                        f.completeExceptionally(e);
                    }
                },
                threadName);
        t.setDaemon(true);
        t.start();
        return f;
    }

    // ---- environment.properties

    /**
     * The Allure results directory as Allure itself resolves it ({@code allure.results.directory}: a system property
     * or {@code allure.properties} on the classpath, default {@code allure-results} in the working directory), so
     * the environment and categories land next to the results of the running project.
     */
    public static Path resultsDir() {
        String dir = io.qameta.allure.util.PropertiesUtils.loadAllureProperties()
                .getProperty(Setting.ALLURE_RESULTS.property(), Setting.ALLURE_RESULTS.defaultText());
        return Path.of(dir).toAbsolutePath();
    }

    /** The report's failure categories (shipped from reports/categories.json) into the results directory. */
    static void writeCategories(Path dir) throws IOException {
        try (InputStream in = Reporting.class.getClassLoader().getResourceAsStream(CATEGORIES_RESOURCE)) {
            if (in == null) {
                System.err.println(
                        "[vgpu-hil] no " + CATEGORIES_RESOURCE + " on the classpath: the report has no categories");
                return;
            }
            Path tmp = dir.resolve(".categories.json.tmp");
            Files.write(tmp, in.readAllBytes());
            Files.move(
                    tmp,
                    dir.resolve("categories.json"),
                    java.nio.file.StandardCopyOption.REPLACE_EXISTING,
                    java.nio.file.StandardCopyOption.ATOMIC_MOVE);
        }
    }

    static final String CATEGORIES_RESOURCE = "dev/vgpuhil/harness/shipped/categories.json";

    /**
     * Merges {@code entries} into the results directory's {@code environment.properties} (under a file lock:
     * several test JVMs may write it). Existing keys are overwritten. Also prunes the directory to the last
     * {@link Setting#RUNS_KEEP} runs ({@link ResultsRetention}).
     */
    public static synchronized void environment(Map<String, String> entries) {
        Path dir = resultsDir();
        Path file = dir.resolve("environment.properties");
        try {
            Files.createDirectories(dir);
            try (FileChannel ch = FileChannel.open(
                            dir.resolve(".environment.lock"), StandardOpenOption.CREATE, StandardOpenOption.WRITE);
                    FileLock ignored = ch.lock()) {
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
                    b.append(escape(e.getKey().toString(), true))
                            .append('=')
                            .append(escape(e.getValue().toString(), false))
                            .append('\n');
                }
                Path tmp = dir.resolve(".environment.properties.tmp");
                try (OutputStream out = Files.newOutputStream(tmp)) {
                    out.write(b.toString().getBytes(StandardCharsets.ISO_8859_1));
                }
                Files.move(
                        tmp,
                        file,
                        java.nio.file.StandardCopyOption.REPLACE_EXISTING,
                        java.nio.file.StandardCopyOption.ATOMIC_MOVE);
                writeCategories(dir);
                ResultsRetention.prune(
                        dir, ResultsRetention.currentRun(), Setting.RUNS_KEEP.integer(), System.currentTimeMillis());
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

    // ---- console progress

    /** What {@link Setting#PROGRESS} asks for. */
    enum Console {
        QUIET,
        PHASES,
        SERIAL;

        static Console configured() {
            String v = Setting.PROGRESS.get().toLowerCase(java.util.Locale.ROOT);
            return switch (v) {
                case "quiet", "false" -> QUIET;
                case "serial", "true" -> SERIAL;
                case "phases" -> PHASES;
                default ->
                    throw new IllegalArgumentException(
                            Setting.PROGRESS.spelled() + "=" + v + " is not one of quiet, phases, serial");
            };
        }
    }

    /** Phase lines on the console (the default). */
    public static boolean progressEnabled() {
        return Console.configured() != Console.QUIET;
    }

    /** Every serial console line while a VM boots, too ({@code -Dvgpu.progress=serial}). */
    public static boolean serialEnabled() {
        return Console.configured() == Console.SERIAL;
    }

    /** Prints a phase line to the console unless {@code -Dvgpu.progress=quiet}. */
    public static void progress(String line) {
        if (progressEnabled()) {
            always(line);
        }
    }

    /** Prints a line whatever the setting: where a failed test's files are. */
    public static void always(String line) {
        System.out.println("[vgpu-hil " + LocalTime.now().format(CLOCK) + "] " + line);
        System.out.flush();
    }
}

package dev.vgpuhil.common;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.SecureRandom;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * Directories that belong to one JVM, marked with an owner file ({@value #OWNER}: "pid start-time-millis"), so that
 * what a killed JVM leaves is found and removed by the next one: the one home of "owner dead → removed".
 *
 * <p>Two kinds. <b>Temp directories</b> ({@link #temp}) live under /tmp (short paths: Unix sockets, the SSH key's
 * short life, a command's captured output) as {@code /tmp/vgpu-hil-<kind>-<pid>-<random>}, mode 700; this JVM deletes
 * its own when done or at exit, and the first use in every JVM ({@link #sweepTemp}) deletes those whose owner is gone
 * (a SIGKILLed JVM runs no shutdown hook). <b>Run directories</b> ({@link #createRunDir}) hold what a user reads after
 * a run (logs); they live under a base such as {@link Setting#RUNS_DIR}, are kept or deleted by their user, and
 * {@link #prune} bounds how many of them a base keeps ({@link Setting#RUNS_KEEP}).
 */
public final class OwnedDirs {
    /** The owner file in every owned directory. */
    public static final String OWNER = "owner.pid";
    /** Every temp directory's name starts with this. */
    public static final String TEMP_PREFIX = "vgpu-hil-";

    private static final Path TMP = Path.of("/tmp");
    private static final Pattern TEMP_NAME = Pattern.compile(Pattern.quote(TEMP_PREFIX) + "([a-z]+)-(\\d+)-[0-9a-f]+");
    private static final DateTimeFormatter STAMP = DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss");
    private static final SecureRandom RANDOM = new SecureRandom();
    private static final Set<Path> MINE = ConcurrentHashMap.newKeySet();
    private static volatile boolean swept;

    static {
        Runtime.getRuntime()
                .addShutdownHook(new Thread(
                        () -> {
                            for (Path d : MINE) {
                                MoreFiles.deleteTree(d);
                            }
                        },
                        "vgpu-owned-dirs"));
    }

    private OwnedDirs() {}

    /**
     * A fresh private directory {@code /tmp/vgpu-hil-<kind>-<pid>-<random>} (mode 700, owner file inside), deleted
     * at this JVM's orderly exit unless {@link #delete}d before; the first call in a JVM sweeps the temp
     * directories of dead JVMs first. {@code kind}: lower-case letters.
     */
    public static Path temp(String kind) {
        return temp(TMP, kind);
    }

    static Path temp(Path root, String kind) {
        if (!kind.matches("[a-z]+")) {
            throw new IllegalArgumentException("kind must be lower-case letters: " + kind);
        }
        if (!swept && root.equals(TMP)) {
            swept = true;
            sweepTemp(TMP);
        }
        ProcessHandle me = ProcessHandle.current();
        try {
            while (true) {
                byte[] r = new byte[6];
                RANDOM.nextBytes(r);
                Path dir = root.resolve(TEMP_PREFIX + kind + "-" + me.pid() + "-"
                        + HexFormat.of().formatHex(r));
                try {
                    Files.createDirectory(
                            dir, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
                } catch (FileAlreadyExistsException e) {
                    continue;
                }
                MINE.add(dir);
                writeOwner(dir, me);
                return dir;
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot create a private directory under " + root, e);
        }
    }

    /** Deletes a directory made by {@link #temp} (or any tree), and forgets it. */
    public static void delete(Path dir) {
        if (dir == null) {
            return;
        }
        MoreFiles.deleteTree(dir);
        MINE.remove(dir);
    }

    /**
     * Deletes every {@code vgpu-hil-<kind>-<pid>-<random>} directory under {@code root} whose owner is gone (the pid
     * in its name, checked against the owner file's start time when there is one, so a recycled pid does not keep
     * it). Best effort, never throws; returns what it removed.
     */
    public static List<Path> sweepTemp(Path root) {
        List<Path> removed = new ArrayList<>();
        try (Stream<Path> entries = Files.list(root)) {
            for (Path dir : (Iterable<Path>) entries::iterator) {
                Matcher m = TEMP_NAME.matcher(dir.getFileName().toString());
                if (!m.matches() || !Files.isDirectory(dir) || Files.isSymbolicLink(dir)) {
                    continue;
                }
                long pid = Long.parseLong(m.group(2));
                long start = readOwner(dir).map(o -> o[0] == pid ? o[1] : 0L).orElse(0L);
                if (!ownerAlive(pid, start)) {
                    MoreFiles.deleteTree(dir);
                    if (!Files.exists(dir)) {
                        removed.add(dir);
                    }
                }
            }
        } catch (IOException | RuntimeException ignored) {
            // best effort: /tmp unreadable, or another JVM sweeping at the same time
        }
        return removed;
    }

    /**
     * Creates a fresh directory {@code <base>/<name>-<yyyyMMdd-HHmmss>-<n>} (atomically: two JVMs never get the same
     * one) with this JVM's owner file.
     */
    public static Path createRunDir(Path base, String name) throws IOException {
        Files.createDirectories(base);
        String stem = sanitize(name) + "-" + LocalDateTime.now().format(STAMP) + "-";
        for (int n = 1; ; n++) {
            Path dir = base.resolve(stem + n);
            try {
                Files.createDirectory(dir);
            } catch (FileAlreadyExistsException e) {
                continue;
            }
            writeOwner(dir, ProcessHandle.current());
            return dir.toAbsolutePath();
        }
    }

    /**
     * Keeps at most {@code keep} run directories (those with an owner file) under {@code base}: the oldest beyond
     * that are deleted, newest kept; a directory whose owner still runs is never deleted (another test run's, or
     * this one's). Other files and directories are left alone. Best effort; returns what it removed.
     */
    public static List<Path> prune(Path base, int keep) {
        List<Path> removed = new ArrayList<>();
        if (base == null || !Files.isDirectory(base)) {
            return removed;
        }
        record Dir(Path path, FileTime made) {}
        List<Dir> dirs = new ArrayList<>();
        try (Stream<Path> entries = Files.list(base)) {
            for (Path d : (Iterable<Path>) entries::iterator) {
                Path owner = d.resolve(OWNER);
                if (Files.isDirectory(d) && !Files.isSymbolicLink(d) && Files.isRegularFile(owner)) {
                    dirs.add(new Dir(d, Files.getLastModifiedTime(owner)));
                }
            }
        } catch (IOException | RuntimeException e) {
            return removed;
        }
        dirs.sort(Comparator.comparing(Dir::made).reversed());
        for (Dir d : dirs.subList(Math.min(Math.max(keep, 0), dirs.size()), dirs.size())) {
            Optional<long[]> o = readOwner(d.path());
            if (o.isPresent() && ownerAlive(o.get()[0], o.get()[1])) {
                continue;
            }
            MoreFiles.deleteTree(d.path());
            removed.add(d.path());
        }
        return removed;
    }

    /** Writes the owner file: "pid start-time-millis". */
    public static void writeOwner(Path dir, ProcessHandle owner) throws IOException {
        long start = owner.info().startInstant().map(i -> i.toEpochMilli()).orElse(0L);
        Files.writeString(dir.resolve(OWNER), owner.pid() + " " + start + "\n", StandardCharsets.UTF_8);
    }

    /** The owner file's pid and start time (0 when not recorded); empty when missing or unreadable. */
    public static Optional<long[]> readOwner(Path dir) {
        try {
            String[] o = Files.readString(dir.resolve(OWNER)).trim().split("\\s+");
            return Optional.of(new long[] {Long.parseLong(o[0]), o.length > 1 ? Long.parseLong(o[1]) : 0});
        } catch (IOException | RuntimeException e) {
            return Optional.empty();
        }
    }

    /** True while process {@code pid} runs and (when {@code startMillis} is known) is the same process, not a reuse. */
    public static boolean ownerAlive(long pid, long startMillis) {
        Optional<ProcessHandle> h = ProcessHandle.of(pid).filter(BoundProcesses::running);
        if (h.isEmpty()) {
            return false;
        }
        if (startMillis == 0) {
            return true;
        }
        // a recycled pid belongs to a process started later than the owner
        return h.get()
                .info()
                .startInstant()
                .map(i -> Math.abs(i.toEpochMilli() - startMillis) < 2_000)
                .orElse(true);
    }

    private static String sanitize(String name) {
        String s = name.replaceAll("[^A-Za-z0-9_.-]", "_");
        return s.isEmpty() ? "vm" : s.length() > 40 ? s.substring(0, 40) : s;
    }
}

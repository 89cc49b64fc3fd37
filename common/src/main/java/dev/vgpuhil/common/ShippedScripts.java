package dev.vgpuhil.common;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.net.JarURLConnection;
import java.net.URISyntaxException;
import java.net.URL;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.Callable;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.jar.JarEntry;
import java.util.jar.JarFile;
import java.util.stream.Stream;

/**
 * The scripts a test run needs (vgpu-stub/build-qemu.sh with the device sources it builds from, images/*.sh with the
 * CI guest's init) travel inside the vgpu-common artifact, under {@value #RESOURCE_ROOT}, in the checkout's own layout,
 * so the scripts' relative paths work unchanged. {@link #root()} extracts them once into
 * {@code ${XDG_CACHE_HOME:-~/.cache}/vgpu-hil/scripts/<hash of their contents>/} and returns that directory; with
 * {@link Setting#REPO} set it returns that checkout instead (developers editing the scripts). The build scripts key
 * their own caches by the contents of their inputs, not by where they lie, so a build made from a checkout and one
 * made from the extracted copy share cache entries.
 */
public final class ShippedScripts {
    /** Where the tree lies on the classpath (common/pom.xml's {@code shipped.path}). */
    public static final String RESOURCE_ROOT = "dev/vgpuhil/common/shipped";
    /** A file every tree has: marks a checkout and finds the classpath copy. */
    static final String MARKER = "vgpu-stub/vgpu_protocol.h";

    private static final String COMPLETE = ".complete";
    /** A slow script says what it does after this long: a cached image run resolves package versions (~10 s under load). */
    static final Duration ANNOUNCE_AFTER = Duration.ofSeconds(20);

    private static final ScheduledExecutorService ANNOUNCER = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "vgpu-announce");
        t.setDaemon(true);
        return t;
    });
    private static volatile Path extracted;

    private ShippedScripts() {}

    /** {@code ${XDG_CACHE_HOME:-~/.cache}/vgpu-hil}. */
    public static Path cacheRoot() {
        return Setting.CACHE_HOME
                .value()
                .map(Path::of)
                .orElseGet(() -> Path.of(System.getProperty("user.home"), ".cache"))
                .resolve("vgpu-hil");
    }

    /** The checkout named by {@link Setting#REPO}, else the shipped tree extracted into the cache. */
    public static Path root() {
        var repo = Setting.REPO.value();
        if (repo.isPresent()) {
            Path p = Path.of(repo.get()).toAbsolutePath().normalize();
            if (!Files.isRegularFile(p.resolve(MARKER))) {
                throw new IllegalStateException(Setting.REPO.spelled() + "=" + repo.get()
                        + " is not a vgpu-hil checkout (no " + MARKER + " there); unset it to use the shipped scripts");
            }
            return p;
        }
        Path p = extracted;
        if (p == null) {
            synchronized (ShippedScripts.class) {
                if (extracted == null) {
                    extracted = extract(cacheRoot().resolve("scripts"));
                }
                p = extracted;
            }
        }
        return p;
    }

    /** A file of the tree, e.g. {@code script("vgpu-stub/build-qemu.sh")}; it must exist. */
    public static Path script(String relative) {
        Path root = root();
        Path p = root.resolve(relative);
        if (!Files.isRegularFile(p)) {
            throw new IllegalStateException("no " + relative + " in " + root
                    + (Setting.REPO.value().isPresent()
                            ? " (from " + Setting.REPO.spelled() + ")"
                            : " (the scripts shipped in vgpu-common)"));
        }
        return p;
    }

    /** The shipped tree: relative path to contents, read from the classpath. */
    static Map<String, byte[]> shippedFiles() {
        URL marker = ShippedScripts.class.getClassLoader().getResource(RESOURCE_ROOT + "/" + MARKER);
        if (marker == null) {
            throw new IllegalStateException("the shipped scripts are missing from the classpath (no " + RESOURCE_ROOT
                    + "/" + MARKER + "): vgpu-common was built without them; set " + Setting.REPO.spelled()
                    + " to a checkout instead");
        }
        Map<String, byte[]> files = new TreeMap<>();
        try {
            if (marker.getProtocol().equals("jar")) {
                JarURLConnection c = (JarURLConnection) marker.openConnection();
                c.setUseCaches(false);
                try (JarFile jar = c.getJarFile()) {
                    String prefix = RESOURCE_ROOT + "/";
                    for (JarEntry e : (Iterable<JarEntry>) jar.stream()::iterator) {
                        if (!e.isDirectory() && e.getName().startsWith(prefix)) {
                            try (InputStream in = jar.getInputStream(e)) {
                                files.put(e.getName().substring(prefix.length()), in.readAllBytes());
                            }
                        }
                    }
                }
            } else if (marker.getProtocol().equals("file")) {
                Path markerFile = Path.of(marker.toURI());
                Path base = markerFile.getParent().getParent(); // <root>/vgpu-stub/vgpu_protocol.h
                try (Stream<Path> s = Files.walk(base)) {
                    for (Path f : (Iterable<Path>) s.filter(Files::isRegularFile)::iterator) {
                        files.put(base.relativize(f).toString().replace('\\', '/'), Files.readAllBytes(f));
                    }
                }
            } else {
                throw new IllegalStateException("cannot list the shipped scripts at " + marker);
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read the shipped scripts at " + marker, e);
        } catch (URISyntaxException e) {
            throw new IllegalStateException("cannot read the shipped scripts at " + marker, e);
        }
        return files;
    }

    /** A hash of every path and content, 16 hex digits. */
    static String hash(Map<String, byte[]> files) {
        try {
            MessageDigest d = MessageDigest.getInstance("SHA-256");
            for (var e : files.entrySet()) {
                d.update(e.getKey().getBytes(java.nio.charset.StandardCharsets.UTF_8));
                d.update((byte) 0);
                d.update(Long.toString(e.getValue().length).getBytes(java.nio.charset.StandardCharsets.UTF_8));
                d.update((byte) 0);
                d.update(e.getValue());
            }
            return HexFormat.of().formatHex(d.digest()).substring(0, 16);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /**
     * Writes the shipped tree to {@code base/<hash>/} unless a complete copy is there; returns that directory. Shell
     * scripts ({@code *.sh}, or a first line {@code #!}) become executable (a jar keeps no file modes). Written into a
     * private directory first and renamed, so concurrent JVMs never see a half-written tree.
     */
    static Path extract(Path base) {
        Map<String, byte[]> files = shippedFiles();
        Path dir = base.resolve(hash(files));
        if (Files.isRegularFile(dir.resolve(COMPLETE))) {
            return dir;
        }
        try {
            Files.createDirectories(base);
            Path tmp = Files.createTempDirectory(base, ".extract-");
            try {
                for (var e : files.entrySet()) {
                    Path f = tmp.resolve(e.getKey());
                    Files.createDirectories(f.getParent());
                    Files.write(f, e.getValue());
                    if (e.getKey().endsWith(".sh") || startsWithShebang(e.getValue())) {
                        Files.setPosixFilePermissions(f, PosixFilePermissions.fromString("rwxr-xr-x"));
                    }
                }
                Files.writeString(tmp.resolve(COMPLETE), files.size() + " files\n");
                prune(base);
                try {
                    Files.move(tmp, dir, StandardCopyOption.ATOMIC_MOVE);
                } catch (FileAlreadyExistsException | AtomicMoveNotSupportedException e) {
                    // another JVM won the race (or the directory is a stale partial copy): theirs is as good
                    if (!Files.isRegularFile(dir.resolve(COMPLETE))) {
                        MoreFiles.deleteTree(dir);
                        Files.move(tmp, dir, StandardCopyOption.ATOMIC_MOVE);
                    }
                } catch (IOException e) {
                    if (!Files.isRegularFile(dir.resolve(COMPLETE))) {
                        throw e;
                    }
                }
            } finally {
                MoreFiles.deleteTree(tmp);
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot extract the shipped scripts into " + dir, e);
        }
        return dir;
    }

    /** Trees kept besides the newest: other checkouts' versions, a JVM still running from one. */
    static final int KEEP = 5;
    /** Older trees are removed only after this long unused (a running script never loses its files). */
    static final Duration PRUNE_AFTER = Duration.ofDays(2);

    /** Removes extracted trees beyond the {@link #KEEP} newest that have not been touched for {@link #PRUNE_AFTER}. */
    static void prune(Path base) {
        try (Stream<Path> s = Files.list(base)) {
            List<Path> trees = s.filter(p -> p.getFileName().toString().matches("[0-9a-f]{16}"))
                    .sorted(Comparator.comparing(ShippedScripts::modified).reversed())
                    .toList();
            long cutoff = System.currentTimeMillis() - PRUNE_AFTER.toMillis();
            for (Path old : trees.subList(Math.min(KEEP, trees.size()), trees.size())) {
                if (modified(old) < cutoff) {
                    MoreFiles.deleteTree(old);
                }
            }
        } catch (IOException | RuntimeException ignored) {
            // best effort: a cache that grows is no failure
        }
    }

    private static long modified(Path p) {
        try {
            return Files.getLastModifiedTime(p).toMillis();
        } catch (IOException e) {
            return 0;
        }
    }

    private static boolean startsWithShebang(byte[] b) {
        return b.length > 2 && b[0] == '#' && b[1] == '!';
    }

    /**
     * A classpath resource (e.g. a jar another artifact ships) as a file: {@code cacheRoot()/jars/<hash>/<name>},
     * written once per content.
     *
     * @throws IllegalStateException when the classpath has no such resource
     */
    public static Path resource(String resource, String name) {
        byte[] bytes;
        try (InputStream in = ShippedScripts.class.getClassLoader().getResourceAsStream(resource)) {
            if (in == null) {
                throw new IllegalStateException("no " + resource + " on the classpath");
            }
            bytes = in.readAllBytes();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + resource, e);
        }
        Path dir = cacheRoot().resolve("jars").resolve(hash(Map.of(name, bytes)));
        Path file = dir.resolve(name);
        try {
            if (Files.isRegularFile(file) && Files.size(file) == bytes.length) {
                return file;
            }
            Files.createDirectories(dir);
            Path tmp = Files.createTempFile(dir, ".", ".part");
            Files.write(tmp, bytes);
            Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + file, e);
        }
        return file;
    }

    /**
     * Runs {@code body}; when it takes longer than {@link #ANNOUNCE_AFTER} (a cold cache: a first use on this machine)
     * prints one line saying what it builds and how long that usually takes, and one when it is done with the time it
     * took. A cached run prints nothing.
     */
    public static <T> T announced(String what, String usually, Callable<T> body) throws Exception {
        return announced(what, usually, ANNOUNCE_AFTER, body);
    }

    static <T> T announced(String what, String usually, Duration after, Callable<T> body) throws Exception {
        long t0 = System.nanoTime();
        ScheduledFuture<?> note = ANNOUNCER.schedule(
                () -> say("building " + what + " (first use on this machine," + " cached afterwards; usually " + usually
                        + ")"),
                after.toMillis(),
                TimeUnit.MILLISECONDS);
        boolean ok = false;
        try {
            T result = body.call();
            ok = true;
            return result;
        } finally {
            boolean announced = !note.cancel(false);
            if (announced) {
                say((ok ? "built " : "failed to build ") + what + " in "
                        + Duration.ofNanos(System.nanoTime() - t0).toSeconds() + " s");
            }
        }
    }

    /**
     * Runs a build script of the shipped kind ({@code bash script args...} in {@code workDir}, null: the JVM's) through
     * {@link BoundProcesses}, so the script and all it starts die at the deadline and with the JVM, and returns the
     * last non-blank line of its stdout: by the scripts' convention, the path of what they built or found cached.
     * The IOException says what went wrong: the exit code, the deadline, or no path printed, each with the stderr tail.
     */
    public static Path runForPath(Path workDir, Duration timeout, List<String> scriptAndArgs) throws IOException {
        String script = scriptAndArgs.get(0);
        List<String> command = new ArrayList<>();
        command.add("bash");
        command.addAll(scriptAndArgs);
        BoundProcesses.Result r;
        try {
            r = BoundProcesses.run(command, workDir, timeout);
        } catch (java.util.concurrent.TimeoutException e) {
            String m = e.getMessage() == null ? "" : e.getMessage();
            int tail = m.indexOf(STDERR_TAIL);
            throw new IOException(script + " did not finish within " + timeout.toSeconds() + " s; stderr tail:\n"
                    + orEmpty(tail < 0 ? "" : m.substring(tail + STDERR_TAIL.length())));
        }
        if (r.exitCode() != 0) {
            throw new IOException(script + " failed with exit code " + r.exitCode() + "; stderr tail:\n"
                    + orEmpty(r.stderrTail(STDERR_TAIL_LINES)));
        }
        String last = r.stdout()
                .lines()
                .filter(l -> !l.isBlank())
                .reduce((a, b) -> b)
                .orElse("")
                .strip();
        if (last.isEmpty()) {
            throw new IOException(
                    script + " printed no path; stderr tail:\n" + orEmpty(r.stderrTail(STDERR_TAIL_LINES)));
        }
        return Path.of(last);
    }

    /** How BoundProcesses' TimeoutException message introduces the stderr tail. */
    private static final String STDERR_TAIL = "stderr tail:\n";

    private static final int STDERR_TAIL_LINES = 40;

    private static String orEmpty(String tail) {
        String t = BoundProcesses.tail(tail, STDERR_TAIL_LINES);
        return t.isEmpty() ? "(empty)" : t;
    }

    private static void say(String line) {
        System.out.println("[vgpu-hil] " + line);
        System.out.flush();
    }
}

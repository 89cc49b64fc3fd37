package dev.vgpuhil.qemu.machine;

import dev.vgpuhil.common.OwnedDirs;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.stream.Stream;

/**
 * A machine's private directory: {@code <base>/<name>-<yyyyMMdd-HHmmss>-<n>}, holding
 * {@value #CMDLINE}, {@value #STDOUT}, {@value #STDERR}, {@value #SERIAL_LOG}, {@value #QMP_LOG},
 * {@value #INFO}, the QEMU pidfile {@value #QEMU_PID} and the owner file {@value #OWNER} ("pid
 * start-time-millis" of the JVM that started QEMU), and the sockets (unless their path would be too long for a
 * Unix socket, then they live in a private directory under /tmp).
 *
 * <p>{@link #sweepOrphans} finds QEMUs whose owner JVM is gone: this is the safety net behind the parent-death
 * signal of {@link dev.vgpuhil.common.BoundProcesses}.
 */
final class RunDirectory {
    static final String CMDLINE = "qemu.cmdline";
    static final String STDOUT = "qemu.stdout.log";
    static final String STDERR = "qemu.stderr.log";
    static final String SERIAL_LOG = "serial.log";
    static final String QMP_LOG = "qmp.log";
    static final String INFO = "machine.info";
    static final String QEMU_PID = "qemu.pid";
    static final String OWNER = OwnedDirs.OWNER;
    static final String SWEPT = "swept.txt";
    /** sun_path is 108 bytes with the NUL; leave room. */
    static final int MAX_SOCKET_PATH = 100;

    private RunDirectory() {}

    /** The default base: {@link dev.vgpuhil.common.Setting#RUNS_DIR}, relative to the working directory. */
    static Path defaultBase() {
        return dev.vgpuhil.common.Setting.RUNS_DIR.path().orElseThrow().toAbsolutePath();
    }

    /**
     * Creates a fresh directory (atomically: two JVMs never get the same one) with the owner file, then prunes the
     * base to {@link dev.vgpuhil.common.Setting#RUNS_KEEP} run directories (the oldest of dead owners go).
     */
    static Path create(Path base, String name) throws IOException {
        Path dir = OwnedDirs.createRunDir(base, name);
        OwnedDirs.prune(base, keep());
        return dir;
    }

    /** {@link dev.vgpuhil.common.Setting#RUNS_KEEP}: how many run directories a base keeps. */
    static int keep() {
        return dev.vgpuhil.common.Setting.RUNS_KEEP.integer();
    }

    static void writeOwner(Path dir, ProcessHandle owner) throws IOException {
        OwnedDirs.writeOwner(dir, owner);
    }

    /** Where the sockets go: the run directory if the paths fit a Unix socket address, else a /tmp directory. */
    static Path socketDir(Path runDir) throws IOException {
        if (runDir.resolve("serial.sock").toString().getBytes(StandardCharsets.UTF_8).length <= MAX_SOCKET_PATH) {
            return runDir;
        }
        Path d = OwnedDirs.temp("sock");
        Files.writeString(runDir.resolve("sockets.txt"), d + "\n");
        return d;
    }

    /** An orphaned QEMU that {@link #sweepOrphans} killed. */
    record Swept(long qemuPid, Path runDir, long ownerPid) {}

    /**
     * For every run directory under {@code base} whose owner JVM is dead and whose pidfile names a live process
     * that is a QEMU started with exactly that pidfile ({@code -pidfile <dir>/qemu.pid} in /proc/PID/cmdline):
     * SIGKILLs it, waits for it to go, and writes {@value #SWEPT} into the directory. Directories of live owners,
     * stale pidfiles and recycled pids are left alone. Best effort: never throws.
     */
    static List<Swept> sweepOrphans(Path base) {
        List<Swept> killed = new ArrayList<>();
        if (base == null || !Files.isDirectory(base)) {
            return killed;
        }
        try (Stream<Path> dirs = Files.list(base)) {
            for (Path dir : (Iterable<Path>) dirs::iterator) {
                try {
                    sweepOne(dir.toAbsolutePath()).ifPresent(killed::add);
                } catch (IOException | RuntimeException ignored) {
                    // unreadable, vanished, or being created: leave it
                }
            }
        } catch (IOException | RuntimeException ignored) {
            // best effort
        }
        return killed;
    }

    private static Optional<Swept> sweepOne(Path dir) throws IOException {
        Path owner = dir.resolve(OWNER);
        Path pidFile = dir.resolve(QEMU_PID);
        if (!Files.isRegularFile(owner) || !Files.isRegularFile(pidFile)) {
            return Optional.empty();
        }
        String[] o = Files.readString(owner).trim().split("\\s+");
        long ownerPid = Long.parseLong(o[0]);
        long ownerStart = o.length > 1 ? Long.parseLong(o[1]) : 0;
        if (ownerAlive(ownerPid, ownerStart)) {
            return Optional.empty();
        }
        String pidText = Files.readString(pidFile).trim();
        if (pidText.isEmpty()) {
            return Optional.empty();
        }
        long qemuPid = Long.parseLong(pidText);
        Optional<ProcessHandle> h = ProcessHandle.of(qemuPid).filter(ProcessHandle::isAlive);
        if (h.isEmpty() || !isQemuWithPidfile(qemuPid, pidFile)) {
            return Optional.empty();
        }
        h.get().destroyForcibly();
        try {
            h.get().onExit().get(5, java.util.concurrent.TimeUnit.SECONDS);
        } catch (Exception ignored) {
            // not our child: nothing to reap; init reaps it
        }
        Files.writeString(
                dir.resolve(SWEPT),
                "QEMU pid " + qemuPid + " killed by the orphan sweep of JVM "
                        + ProcessHandle.current().pid() + " at " + java.time.Instant.now() + " (owner JVM " + ownerPid
                        + " was gone)\n");
        return Optional.of(new Swept(qemuPid, dir, ownerPid));
    }

    private static boolean ownerAlive(long pid, long startMillis) {
        return OwnedDirs.ownerAlive(pid, startMillis);
    }

    /** True if /proc/PID/cmdline is a qemu-system-* with {@code -pidfile <pidFile>}. */
    static boolean isQemuWithPidfile(long pid, Path pidFile) {
        List<String> args = cmdline(pid);
        if (args.isEmpty()) {
            return false;
        }
        // args[0] is qemu itself (setpriv execs it, keeping nothing of its own in cmdline)
        if (!Path.of(args.get(0)).getFileName().toString().startsWith("qemu-system")) {
            return false;
        }
        for (int i = 0; i + 1 < args.size(); i++) {
            if (args.get(i).equals("-pidfile") && Path.of(args.get(i + 1)).equals(pidFile)) {
                return true;
            }
        }
        return false;
    }

    static List<String> cmdline(long pid) {
        try {
            byte[] raw = Files.readAllBytes(Path.of("/proc", Long.toString(pid), "cmdline"));
            if (raw.length == 0) {
                return List.of();
            }
            String s = new String(raw, StandardCharsets.UTF_8);
            if (s.endsWith("\0")) {
                s = s.substring(0, s.length() - 1);
            }
            return List.of(s.split("\0", -1));
        } catch (IOException | RuntimeException e) {
            return List.of();
        }
    }
}

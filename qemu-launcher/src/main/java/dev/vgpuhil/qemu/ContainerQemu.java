package dev.vgpuhil.qemu;

import dev.vgpuhil.containers.BuiltImage;
import dev.vgpuhil.containers.ContainerReaper;
import dev.vgpuhil.containers.LocalImages;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.TreeSet;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A QEMU that runs in a container image: {@code stock:11.1} is Debian's unmodified QEMU 11.1 in {@value
 * LocalImages#QEMU_STOCK} (built here, never pulled). A QEMU command line runs as {@code docker run} in the
 * foreground, so the process the launcher holds keeps QEMU's stdio and exit status and its signals reach QEMU (the
 * client proxies them). The container shares this host's pid namespace (the pidfile holds a host pid, so the orphan
 * sweep works as for any QEMU) and network (the SSH forward's host port), runs as this JVM's uid and gid, and sees
 * every host directory its arguments name at the same path (run directory, QMP, serial and vfio-user sockets,
 * kernel, initrd, disks), never the system's own directories, which are the image's. {@code /dev/kvm} is passed
 * only to a command line that asks for {@code -accel kvm}. Each container is labelled for {@link ContainerReaper}:
 * removed when its machine ends, by the shutdown hook, or by the next JVM's sweep after a SIGKILL.
 */
public final class ContainerQemu {
    /** The {@code vgpu.qemu} / {@code @VgpuVm(qemu)} spelling of a QEMU in a container. */
    public static final String STOCK = "stock:11.1";

    private static final Path KVM = Path.of("/dev/kvm");
    /** Absolute paths in QEMU arguments: at the start or after = , : or a quote (JSON socket addresses). */
    private static final Pattern PATH = Pattern.compile("(?:^|[=,:\"])(/[^,\"=\\s]+)");
    /** The image's own directories, never hidden by a host mount. */
    private static final List<String> SYSTEM =
            List.of("/usr", "/lib", "/lib64", "/bin", "/sbin", "/etc", "/proc", "/sys", "/dev", "/var/lib/dpkg");

    private static final AtomicInteger COUNT = new AtomicInteger();
    /** $1 the owner JVM's pid, then QEMU's command line. dash reaps QEMU while waiting for sleep, so kill -0 ends. */
    static final String WATCHDOG = "o=$1; shift; \"$@\" & q=$!; trap 'kill -TERM $q 2>/dev/null' TERM INT HUP; "
            + "while kill -0 $q 2>/dev/null; do kill -0 $o 2>/dev/null || kill -KILL $q 2>/dev/null; sleep 0.2; done; "
            + "wait $q";

    private ContainerQemu() {}

    /** True for a spelling this class runs ({@value #STOCK}). */
    public static boolean isContainerSpec(String spec) {
        return STOCK.equals(spec);
    }

    /** The image for {@code spec}, built when missing or stale. */
    public static BuiltImage image(String spec) {
        if (!isContainerSpec(spec)) {
            throw new IllegalArgumentException("not a QEMU in a container: " + spec + " (known: " + STOCK + ")");
        }
        return LocalImages.qemuStock();
    }

    /** The command that runs {@code qemu} (argv[0] is dropped: the image's entry point is QEMU) and its container name. */
    public record Launch(List<String> command, String name) {}

    /** {@code docker run} of {@code image} with {@code qemu}'s arguments, in {@code workDir} (null: none). */
    public static Launch launch(String image, List<String> qemu, Path workDir) {
        List<String> args = qemu.subList(1, qemu.size());
        String name = "vgpu-hil-qemu-" + ContainerReaper.runId() + "-" + COUNT.incrementAndGet();
        List<String> c = new ArrayList<>(List.of("docker", "run", "--rm", "--name", name));
        c.addAll(ContainerReaper.labelArgs());
        c.addAll(List.of("--network", "host", "--pid", "host", "--user", uidGid()));
        if (wantsKvm(args) && Files.exists(KVM)) {
            c.addAll(List.of("--device", KVM.toString()));
            groupOf(KVM).ifPresent(g -> c.addAll(List.of("--group-add", g)));
        }
        for (Path m : mounts(args, workDir)) {
            c.addAll(List.of("-v", m + ":" + m));
        }
        if (workDir != null) {
            c.addAll(List.of("-w", workDir.toAbsolutePath().toString()));
        }
        // QEMU under a watchdog that shares the host's pid namespace: it SIGKILLs QEMU within 0.2 s of this JVM's
        // death (a SIGKILLed JVM takes only the container's client with it), passes SIGTERM on, exits with QEMU's
        // status; --rm then removes the container. The image's own entry point (QEMU and its -L) comes after.
        c.addAll(List.of("--entrypoint", "/bin/sh", image, "-c", WATCHDOG, "vgpu-qemu-watchdog"));
        c.add(Long.toString(ProcessHandle.current().pid()));
        c.addAll(entrypoint(image));
        c.addAll(args);
        ContainerReaper.register(name);
        return new Launch(List.copyOf(c), name);
    }

    static boolean wantsKvm(List<String> args) {
        for (int i = 0; i < args.size(); i++) {
            String a = args.get(i);
            if (a.equals("-enable-kvm") || a.contains("accel=kvm")) {
                return true;
            }
            if (a.equals("-accel") && i + 1 < args.size() && args.get(i + 1).startsWith("kvm")) {
                return true;
            }
        }
        return false;
    }

    /** The host directories the arguments name (a file's directory; a path to be created: its parent), outermost. */
    static List<Path> mounts(List<String> args, Path workDir) {
        TreeSet<Path> dirs = new TreeSet<>();
        if (workDir != null) {
            dirs.add(workDir.toAbsolutePath().normalize());
        }
        for (String a : args) {
            Matcher m = PATH.matcher(a);
            while (m.find()) {
                Path p = Path.of(m.group(1)).normalize();
                if (system(p)) {
                    continue;
                }
                Path d = Files.isDirectory(p) ? p : p.getParent();
                if (d != null && Files.isDirectory(d) && !d.equals(Path.of("/")) && !system(d)) {
                    dirs.add(d);
                }
            }
        }
        List<Path> out = new ArrayList<>();
        for (Path d : dirs) { // sorted: a parent comes before its children
            if (out.stream().noneMatch(d::startsWith)) {
                out.add(d);
            }
        }
        return out;
    }

    /** The image's entry point (QEMU and its firmware directories), read from the local image. */
    static List<String> entrypoint(String image) {
        String[] e = dev.vgpuhil.containers.ContainerEngine.client()
                .inspectImageCmd(image)
                .exec()
                .getConfig()
                .getEntrypoint();
        if (e == null || e.length == 0) {
            throw new IllegalStateException("the image " + image + " has no entry point (its QEMU)");
        }
        return List.of(e);
    }

    private static boolean system(Path p) {
        return p.getNameCount() == 0 || SYSTEM.stream().anyMatch(s -> p.startsWith(s));
    }

    private static String uidGid() {
        try {
            Path self = Path.of("/proc/self");
            return Files.getAttribute(self, "unix:uid") + ":" + Files.getAttribute(self, "unix:gid");
        } catch (IOException | UnsupportedOperationException e) {
            return "0:0";
        }
    }

    private static java.util.Optional<String> groupOf(Path p) {
        try {
            return java.util.Optional.of(Files.getAttribute(p, "unix:gid").toString());
        } catch (IOException | UnsupportedOperationException e) {
            return java.util.Optional.empty();
        }
    }

    /** Removes the container {@code name} if it still exists (its client was killed before QEMU ended). */
    public static void reap(String name) {
        ContainerReaper.remove(name);
    }
}

package dev.vgpuhil.mediator;

import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.LinkedHashSet;
import java.util.Set;

/** Socket-path hygiene and peer checks: owner-only directory and socket, stale sockets, allowed uids. */
final class SocketSecurity {
    private SocketSecurity() {}

    /** The uid this process runs as (from /proc/self, no native code). */
    static int ownUid() {
        try {
            return (Integer) Files.getAttribute(Path.of("/proc/self"), "unix:uid");
        } catch (IOException | RuntimeException e) {
            throw new IllegalStateException("cannot read own uid from /proc/self", e);
        }
    }

    /** Default allowed peers: this process's uid and root. */
    static Set<Integer> defaultAllowedUids() {
        Set<Integer> s = new LinkedHashSet<>();
        s.add(ownUid());
        s.add(0);
        return s;
    }

    /**
     * Makes the path ready for bind: creates a missing parent directory owner-only (0700), refuses when a
     * mediator (anyone) answers on an existing socket, replaces a stale socket, refuses to touch a non-socket.
     */
    static void prepare(Path socket) throws MediatorStartException {
        Path parent = socket.toAbsolutePath().getParent();
        try {
            if (!Files.isDirectory(parent)) {
                Files.createDirectories(
                        parent, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
                // createDirectories applies the umask; set the mode explicitly
                Files.setPosixFilePermissions(parent, PosixFilePermissions.fromString("rwx------"));
            }
        } catch (IOException e) {
            throw new MediatorStartException("cannot create socket directory " + parent + ": " + e, e);
        }
        if (!Files.exists(socket, LinkOption.NOFOLLOW_LINKS)) {
            return;
        }
        boolean isSocket;
        try {
            isSocket = "socket".equals(fileType(socket));
        } catch (IOException e) {
            throw new MediatorStartException("cannot inspect existing " + socket + ": " + e, e);
        }
        if (!isSocket) {
            throw new MediatorStartException(socket + " exists and is not a socket; refusing to replace it");
        }
        if (someoneListens(socket)) {
            throw new MediatorStartException("another process is already listening on " + socket
                    + " (a running mediator?); refusing to start. Stop it or choose another --socket path");
        }
        try {
            Files.deleteIfExists(socket);
        } catch (IOException e) {
            throw new MediatorStartException("cannot remove stale socket " + socket + ": " + e, e);
        }
    }

    static boolean someoneListens(Path socket) {
        try (SocketChannel probe = SocketChannel.open(StandardProtocolFamily.UNIX)) {
            probe.connect(UnixDomainSocketAddress.of(socket));
            return true;
        } catch (IOException e) {
            return false;
        }
    }

    private static String fileType(Path p) throws IOException {
        int mode = (Integer) Files.getAttribute(p, "unix:mode", LinkOption.NOFOLLOW_LINKS);
        return (mode & 0170000) == 0140000 ? "socket" : "other";
    }

    /**
     * Binds a listening socket at {@code socket} that is owner-only (0600) from the first instant anyone can
     * reach it: it is bound inside a fresh 0700 staging directory next to the target, chmod'ed, then
     * hard-linked into place (link(2) never replaces an existing file, so a socket that appeared there in the
     * meantime is not clobbered) and the staging name removed. Falls back to bind-in-place + chmod when the
     * staging path would be too long for a Unix socket address.
     */
    static ServerSocketChannel bindOwnerOnly(Path socket) throws IOException {
        return bind(socket, OWNER_ONLY);
    }

    /** The default socket mode, 0600. */
    static final Set<PosixFilePermission> OWNER_ONLY = PosixFilePermissions.fromString("rw-------");

    /**
     * {@link #bindOwnerOnly} with another final mode (e.g. 0666 where peers of other uids, such as XCP-ng's
     * per-domain QEMU uids, must connect and SO_PEERCRED with --allowed-uids decides who is admitted): the socket
     * still has that mode from the first instant anyone can reach it.
     */
    static ServerSocketChannel bind(Path socket, Set<PosixFilePermission> mode) throws IOException {
        Path parent = socket.toAbsolutePath().getParent();
        Path stageDir = parent.resolve(".vgpu-mediator-"
                + Long.toHexString(System.nanoTime() ^ ProcessHandle.current().pid()));
        Path staged = stageDir.resolve("s");
        ServerSocketChannel server = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
        try {
            if (staged.toString().getBytes(java.nio.charset.StandardCharsets.UTF_8).length >= MAX_SUN_PATH) {
                server.bind(UnixDomainSocketAddress.of(socket));
                restrictSocket(socket, mode);
                return server;
            }
            Files.createDirectory(
                    stageDir, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
            try {
                Files.setPosixFilePermissions(stageDir, PosixFilePermissions.fromString("rwx------"));
                server.bind(UnixDomainSocketAddress.of(staged));
                restrictSocket(staged, mode);
                try {
                    Files.createLink(socket, staged);
                } catch (java.nio.file.FileAlreadyExistsException e) {
                    throw new MediatorStartException(socket + " appeared while this mediator was starting "
                            + "(another mediator?); refusing to replace it");
                }
            } finally {
                Files.deleteIfExists(staged);
                Files.deleteIfExists(stageDir);
            }
            return server;
        } catch (IOException | RuntimeException e) {
            server.close();
            throw e;
        }
    }

    /** sun_path is 108 bytes including the terminating NUL. */
    static final int MAX_SUN_PATH = 108;

    /** The (device, inode) identity of a file, to remove at shutdown only the socket this mediator made. */
    static Object fileKey(Path p) {
        try {
            return Files.readAttributes(p, java.nio.file.attribute.BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS)
                    .fileKey();
        } catch (IOException e) {
            return null;
        }
    }

    /**
     * A warning when the socket's directory lets other users replace the socket (group/other-writable and not
     * sticky), else empty. /tmp (1777) is fine: the sticky bit keeps others from unlinking our socket.
     */
    static java.util.Optional<String> directoryWarning(Path socket) {
        Path parent = socket.toAbsolutePath().getParent();
        try {
            int mode = (Integer) Files.getAttribute(parent, "unix:mode");
            if ((mode & 0022) != 0 && (mode & 01000) == 0) {
                return java.util.Optional.of(String.format(
                        "socket directory %s has mode %04o: other users may "
                                + "replace the socket; use a directory only you can write (e.g. a new one: it is created "
                                + "0700)",
                        parent, mode & 07777));
            }
        } catch (IOException | RuntimeException e) {
            return java.util.Optional.of("cannot read the mode of socket directory " + parent + ": " + e);
        }
        return java.util.Optional.empty();
    }

    /** Mode bits of the socket's directory, e.g. "0700", for the ready log line. */
    static String directoryMode(Path socket) {
        try {
            return String.format(
                    "%04o", (Integer) Files.getAttribute(socket.toAbsolutePath().getParent(), "unix:mode") & 07777);
        } catch (IOException | RuntimeException e) {
            return "?";
        }
    }

    /** 0600 on the socket file right after bind. */
    static void restrictSocket(Path socket, Set<PosixFilePermission> mode) throws MediatorStartException {
        try {
            Files.setPosixFilePermissions(socket, mode);
        } catch (IOException e) {
            throw new MediatorStartException(
                    "cannot chmod " + PosixFilePermissions.toString(mode) + " " + socket + ": " + e, e);
        }
    }
}

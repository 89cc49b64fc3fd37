package dev.vgpuhil.mediator;

import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.SocketChannel;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.nio.file.attribute.UserPrincipal;
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
     * The principals that stand for these uids. JDK user principals compare by uid, and the lookup service
     * accepts a numeric uid, so membership of SO_PEERCRED's principal in this set is a uid check.
     */
    static Set<UserPrincipal> principalsOf(Set<Integer> uids) throws IOException {
        var lookup = FileSystems.getDefault().getUserPrincipalLookupService();
        Set<UserPrincipal> out = new LinkedHashSet<>();
        for (int uid : uids) {
            out.add(lookup.lookupPrincipalByName(Integer.toString(uid)));
        }
        return out;
    }

    /**
     * Makes the path ready for bind: creates a missing parent directory owner-only (0700), refuses when a
     * mediator (anyone) answers on an existing socket, replaces a stale socket, refuses to touch a non-socket.
     */
    static void prepare(Path socket) throws MediatorStartException {
        Path parent = socket.toAbsolutePath().getParent();
        try {
            if (!Files.isDirectory(parent)) {
                Files.createDirectories(parent, PosixFilePermissions.asFileAttribute(
                        PosixFilePermissions.fromString("rwx------")));
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

    /** 0600 on the socket file right after bind (the peer uid check covers the instant before). */
    static void restrictSocket(Path socket) throws MediatorStartException {
        try {
            Files.setPosixFilePermissions(socket, PosixFilePermissions.fromString("rw-------"));
        } catch (IOException e) {
            throw new MediatorStartException("cannot chmod 0600 " + socket + ": " + e, e);
        }
    }
}

package dev.vgpuhil.qemu.device;

import com.sun.jna.Library;
import com.sun.jna.Memory;
import com.sun.jna.Native;
import com.sun.jna.Pointer;
import java.io.EOFException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;

/**
 * A Unix stream socket driven through libc (JNA), for what java.nio cannot do: pass file descriptors with a message
 * (SCM_RIGHTS). Non-blocking; every wait is a poll with a deadline. Used by the vfio-user fuzzer to send fds where
 * none belong (and where they do: eventfds for SET_IRQS). Linux x86-64/aarch64 layouts (LP64).
 */
final class FdPassingSocket implements AutoCloseable {
    private static final int AF_UNIX = 1;
    private static final int SOCK_STREAM = 1;
    private static final int SOCK_CLOEXEC = 0x80000;
    private static final int SOL_SOCKET = 1;
    private static final int SCM_RIGHTS = 1;
    private static final int MSG_DONTWAIT = 0x40;
    private static final int MSG_NOSIGNAL = 0x4000;
    private static final short POLLIN = 1;
    private static final short POLLOUT = 4;
    private static final int EAGAIN = 11;
    private static final int EINTR = 4;
    private static final int EFD_CLOEXEC = 0x80000;

    /** The libc calls used; sizes as LP64 (size_t, ssize_t, nfds_t = long). */
    interface LibC extends Library {
        LibC INSTANCE = Native.load("c", LibC.class);

        int socket(int domain, int type, int protocol);

        int connect(int fd, byte[] addr, int len);

        long sendmsg(int fd, Pointer msghdr, int flags);

        long recv(int fd, byte[] buf, long len, int flags);

        int poll(byte[] fds, long nfds, int timeoutMs);

        int close(int fd);

        int eventfd(int initval, int flags);
    }

    private static final LibC C = LibC.INSTANCE;
    private int fd;

    private FdPassingSocket(int fd) {
        this.fd = fd;
    }

    static FdPassingSocket connect(Path path) throws IOException {
        byte[] p = path.toString().getBytes(StandardCharsets.UTF_8);
        if (p.length >= 108) {
            throw new IOException("socket path too long for sockaddr_un: " + path);
        }
        int s = C.socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (s < 0) {
            throw new IOException("socket(): errno " + Native.getLastError());
        }
        byte[] addr = new byte[2 + 108];
        addr[0] = AF_UNIX; // sa_family_t, little-endian
        System.arraycopy(p, 0, addr, 2, p.length);
        if (C.connect(s, addr, 2 + p.length + 1) < 0) {
            int errno = Native.getLastError();
            C.close(s);
            throw new IOException("connect(" + path + "): errno " + errno);
        }
        return new FdPassingSocket(s);
    }

    /** A fresh eventfd (the kind of fd vfio-user's SET_IRQS takes); the caller closes it with {@link #closeFd}. */
    static int eventfd() throws IOException {
        int e = C.eventfd(0, EFD_CLOEXEC);
        if (e < 0) {
            throw new IOException("eventfd(): errno " + Native.getLastError());
        }
        return e;
    }

    static void closeFd(int f) {
        if (f >= 0) {
            C.close(f);
        }
    }

    /**
     * Sends all of {@code data}; {@code fds} (may be empty) go with its first byte. While the peer does not take
     * bytes, {@code drain} runs (so a peer that waits for us to read its replies is not deadlocked).
     */
    void send(byte[] data, int[] fds, Runnable drain, Duration deadline) throws IOException {
        long end = System.nanoTime() + deadline.toNanos();
        int off = 0;
        boolean fdsSent = fds.length == 0;
        while (off < data.length || !fdsSent) {
            int len = data.length - off;
            long n = sendmsg(data, off, len, fdsSent ? new int[0] : fds);
            if (n < 0) {
                int errno = Native.getLastError();
                if (errno == EINTR) {
                    continue;
                }
                if (errno == 32 || errno == 104) { // EPIPE, ECONNRESET
                    throw new EOFException("sendmsg: the peer has closed (errno " + errno + ")");
                }
                if (errno != EAGAIN) {
                    throw new IOException("sendmsg: errno " + errno);
                }
                if (System.nanoTime() > end) {
                    throw new AssertionError("the peer took no bytes within " + deadline);
                }
                drain.run();
                poll(POLLOUT, 5);
                continue;
            }
            fdsSent = true;
            off += (int) n;
            if (data.length == 0) {
                break;
            }
        }
    }

    private long sendmsg(byte[] data, int off, int len, int[] fds) {
        // struct iovec { void *base; size_t len; } and struct msghdr (56 bytes on LP64)
        Memory buf = new Memory(Math.max(1, len));
        if (len > 0) {
            buf.write(0, data, off, len);
        }
        Memory iov = new Memory(16);
        iov.setPointer(0, buf);
        iov.setLong(8, len);
        Memory msg = new Memory(56);
        msg.clear();
        msg.setPointer(16, iov);
        msg.setLong(24, 1);
        if (fds.length > 0) {
            // struct cmsghdr { size_t len; int level; int type; } + the fds; CMSG_SPACE rounds to 8
            int cmsgLen = 16 + 4 * fds.length;
            Memory ctl = new Memory((cmsgLen + 7) & ~7);
            ctl.clear();
            ctl.setLong(0, cmsgLen);
            ctl.setInt(8, SOL_SOCKET);
            ctl.setInt(12, SCM_RIGHTS);
            for (int i = 0; i < fds.length; i++) {
                ctl.setInt(16 + 4L * i, fds[i]);
            }
            msg.setPointer(32, ctl);
            msg.setLong(40, ctl.size());
        }
        return C.sendmsg(fd, msg, MSG_DONTWAIT | MSG_NOSIGNAL);
    }

    /** What can be read now without waiting (empty: nothing); EOFException when the peer has closed. */
    byte[] readAvailable() throws IOException {
        byte[] b = new byte[16384];
        long n = C.recv(fd, b, b.length, MSG_DONTWAIT);
        if (n == 0) {
            throw new EOFException("closed by the peer");
        }
        if (n < 0) {
            int errno = Native.getLastError();
            if (errno == EAGAIN || errno == EINTR) {
                return new byte[0];
            }
            if (errno == 104) { // ECONNRESET
                throw new EOFException("reset by the peer");
            }
            throw new IOException("recv: errno " + errno);
        }
        return java.util.Arrays.copyOf(b, (int) n);
    }

    /** Exactly {@code n} bytes, waiting at most until {@code end} (System.nanoTime); AssertionError after it. */
    byte[] readFully(int n, long end) throws IOException {
        byte[] out = new byte[n];
        int got = 0;
        while (got < n) {
            long want = n - got;
            byte[] b = new byte[(int) want];
            long r = C.recv(fd, b, want, MSG_DONTWAIT);
            if (r == 0) {
                throw new EOFException("closed by the peer after " + got + " of " + n + " bytes");
            }
            if (r < 0) {
                int errno = Native.getLastError();
                if (errno != EAGAIN && errno != EINTR) {
                    throw new EOFException("recv: errno " + errno);
                }
                long left = (end - System.nanoTime()) / 1_000_000;
                if (left <= 0) {
                    throw new AssertionError("no reply from the peer in time (" + got + " of " + n + " bytes)");
                }
                poll(POLLIN, (int) Math.min(left, 50));
                continue;
            }
            System.arraycopy(b, 0, out, got, (int) r);
            got += (int) r;
        }
        return out;
    }

    /** True if the peer closes within the deadline (bytes before the close are dropped). */
    boolean awaitClosedByPeer(Duration deadline) throws IOException {
        long end = System.nanoTime() + deadline.toNanos();
        while (System.nanoTime() < end) {
            try {
                readAvailable();
            } catch (EOFException e) {
                return true;
            }
            poll(POLLIN, 20);
        }
        return false;
    }

    private void poll(short events, int timeoutMs) {
        byte[] pfd = new byte[8]; // struct pollfd { int fd; short events; short revents; }
        pfd[0] = (byte) fd;
        pfd[1] = (byte) (fd >> 8);
        pfd[2] = (byte) (fd >> 16);
        pfd[3] = (byte) (fd >> 24);
        pfd[4] = (byte) events;
        C.poll(pfd, 1, timeoutMs);
    }

    @Override
    public void close() {
        if (fd >= 0) {
            C.close(fd);
            fd = -1;
        }
    }
}

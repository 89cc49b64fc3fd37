package dev.vgpuhil.harness;

import com.jcraft.jsch.ChannelDirectTCPIP;
import com.jcraft.jsch.ChannelExec;
import com.jcraft.jsch.JSch;
import com.jcraft.jsch.JSchException;
import com.jcraft.jsch.Session;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.awaitility.Awaitility;
import org.awaitility.core.ConditionTimeoutException;

/**
 * An SSH session into the guest (JSch). Logs in as root on the loopback port QEMU forwarded, with the
 * run's own key, so a stale VM left on a reused port can never answer for this one.
 */
public final class GuestShell implements AutoCloseable {

    /** What a command did in the guest. */
    public record Result(int exitCode, String stdout, String stderr, Duration took) {
        public boolean ok() {
            return exitCode == 0;
        }
    }

    /** Ends channels whose deadline passed (a blocking read has no timeout of its own). */
    private static final ScheduledExecutorService DEADLINES = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "guest-shell-deadlines");
        t.setDaemon(true);
        return t;
    });

    private final Session session;

    private GuestShell(Session session) {
        this.session = session;
    }

    /**
     * One login attempt as root with the run's key on the loopback port, bounded by {@code timeout} (at least 1 s,
     * at most 15 s). Fails with an IllegalStateException carrying JSch's reason; retrying while the guest's sshd
     * comes up is {@link SshLoginWait}'s job.
     */
    public static GuestShell login(int port, SshKeys keys, Duration timeout) {
        try {
            JSch jsch = new JSch();
            jsch.addIdentity("vgpu-hil", keys.privateKey(), null, null);
            Session s = jsch.getSession("root", "127.0.0.1", port);
            s.setConfig("StrictHostKeyChecking", "no");
            s.setConfig("PreferredAuthentications", "publickey");
            s.setServerAliveInterval(5_000);
            s.connect((int) Math.max(1_000, Math.min(timeout.toMillis(), 15_000)));
            return new GuestShell(s);
        } catch (JSchException e) {
            throw new IllegalStateException("SSH login on 127.0.0.1:" + port + " failed: " + e.getMessage(), e);
        }
    }

    /** Runs a command; stdin may be null. Fails (and kills the channel) past the timeout. */
    public Result exec(String command, byte[] stdin, Duration timeout) {
        Instant start = Instant.now();
        ChannelExec ch = null;
        try {
            ch = (ChannelExec) session.openChannel("exec");
            ch.setCommand(command);
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            ByteArrayOutputStream err = new ByteArrayOutputStream();
            ch.setErrStream(err, true);
            InputStream in = ch.getInputStream();
            OutputStream toGuest = ch.getOutputStream();
            ch.connect((int) Math.min(timeout.toMillis(), 15_000));
            if (stdin != null) {
                toGuest.write(stdin);
            }
            toGuest.close();
            byte[] buf = new byte[8192];
            ChannelExec channel = ch;
            try {
                Awaitility.await("guest command '" + command + "'")
                        .atMost(timeout)
                        .pollDelay(Duration.ZERO)
                        .pollInterval(Duration.ofMillis(20))
                        .pollInSameThread()
                        .until(() -> {
                            while (in.available() > 0) {
                                int n = in.read(buf);
                                if (n < 0) {
                                    break;
                                }
                                out.write(buf, 0, n);
                            }
                            return channel.isClosed() && in.available() == 0;
                        });
            } catch (ConditionTimeoutException e) {
                throw new GuestCommandTimeoutException(
                        command, timeout, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
            }
            return new Result(
                    ch.getExitStatus(),
                    out.toString(StandardCharsets.UTF_8),
                    err.toString(StandardCharsets.UTF_8),
                    Duration.between(start, Instant.now()));
        } catch (JSchException e) {
            throw new IllegalStateException("ssh exec failed for '" + command + "': " + e.getMessage(), e);
        } catch (IOException e) {
            throw new UncheckedIOException("ssh exec failed for '" + command + "'", e);
        } finally {
            if (ch != null) {
                ch.disconnect();
            }
        }
    }

    public Result exec(String command, Duration timeout) {
        return exec(command, null, timeout);
    }

    /**
     * Sends {@code request} to the guest's {@code 127.0.0.1:guestPort} through this session (an SSH direct-tcpip
     * channel: nothing listens on the host) and returns all the guest sends back until it closes the connection.
     * Reads block (no polling); past {@code timeout} the channel is closed and a {@link GuestCommandTimeoutException}
     * carries what came so far. {@code what} names the exchange in messages.
     */
    public byte[] exchange(int guestPort, byte[] request, Duration timeout, String what) {
        long deadline = System.nanoTime() + timeout.toNanos();
        ChannelDirectTCPIP ch = null;
        ScheduledFuture<?> watchdog = null;
        AtomicBoolean expired = new AtomicBoolean();
        ByteArrayOutputStream reply = new ByteArrayOutputStream();
        try {
            ch = (ChannelDirectTCPIP) session.openChannel("direct-tcpip");
            ch.setHost("127.0.0.1");
            ch.setPort(guestPort);
            InputStream in = ch.getInputStream();
            OutputStream toGuest = ch.getOutputStream();
            ch.connect((int) Math.max(1, Math.min(timeout.toMillis(), 15_000)));
            ChannelDirectTCPIP channel = ch;
            watchdog = DEADLINES.schedule(
                    () -> {
                        expired.set(true);
                        channel.disconnect();
                    },
                    Math.max(0, deadline - System.nanoTime()),
                    TimeUnit.NANOSECONDS);
            toGuest.write(request);
            toGuest.flush();
            byte[] buf = new byte[8192];
            for (int n; (n = in.read(buf)) >= 0; ) {
                reply.write(buf, 0, n);
            }
            if (expired.get()) {
                throw new GuestCommandTimeoutException(what, timeout, reply.toString(StandardCharsets.UTF_8), "");
            }
            return reply.toByteArray();
        } catch (JSchException e) {
            throw new IllegalStateException(
                    "cannot reach 127.0.0.1:" + guestPort + " in the guest for " + what + ": " + e.getMessage(), e);
        } catch (IOException e) {
            if (expired.get()) {
                throw new GuestCommandTimeoutException(what, timeout, reply.toString(StandardCharsets.UTF_8), "");
            }
            throw new UncheckedIOException(
                    "exchange with 127.0.0.1:" + guestPort + " in the guest failed for " + what, e);
        } finally {
            if (watchdog != null) {
                watchdog.cancel(false);
            }
            if (ch != null) {
                ch.disconnect();
            }
        }
    }

    /** Copies a host file into the guest through {@code cat} (busybox guests have no sftp server). */
    public void upload(Path local, String remotePath, Duration timeout) {
        try {
            byte[] bytes = Files.readAllBytes(local);
            Result r = exec("cat > '" + remotePath + "' && wc -c < '" + remotePath + "'", bytes, timeout);
            if (!r.ok() || !r.stdout().trim().equals(Integer.toString(bytes.length))) {
                throw new IllegalStateException("upload of " + local + " to " + remotePath + " failed: exit "
                        + r.exitCode() + ", guest has " + r.stdout().trim() + " of " + bytes.length + " bytes; "
                        + r.stderr());
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    public boolean isConnected() {
        return session.isConnected();
    }

    @Override
    public void close() {
        session.disconnect();
    }

    /** A guest command that did not finish in time; carries what it printed so far. */
    public static final class GuestCommandTimeoutException extends RuntimeException {
        public GuestCommandTimeoutException(String command, Duration timeout, String stdout, String stderr) {
            super("guest command '" + command + "' did not finish within " + timeout + "; stdout so far:\n"
                    + tail(stdout) + "\nstderr so far:\n" + tail(stderr));
        }

        private static String tail(String s) {
            return s.length() <= 2000 ? s : "..." + s.substring(s.length() - 2000);
        }
    }
}

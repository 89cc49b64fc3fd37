package dev.vgpuhil.protocol;

import static dev.vgpuhil.protocol.VgpuProtocol.*;

import java.io.IOException;
import java.io.InterruptedIOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.OptionalInt;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;

/**
 * The mediator contract (docs/MEDIATOR-CONTRACT.md): how the harness, the containers and the conformance kit hand
 * any mediator program or image its socket path and knobs, and what counts as ready. mediator-lite's command line
 * reads the same names. It lives here, beside the frames, because every module that starts a mediator needs it and
 * all of them already depend on the protocol.
 */
public final class MediatorContract {
    /** Environment variable with the absolute socket path. */
    public static final String ENV_SOCKET = "VGPU_MEDIATOR_SOCKET";
    /** The argument pair {@code --socket PATH} appended to the command, unless it has {@link #SOCKET_PLACEHOLDER}. */
    public static final String ARG_SOCKET = "--socket";
    /** Where a command wants the socket path instead of the appended {@code --socket PATH}. */
    public static final String SOCKET_PLACEHOLDER = "{socket}";
    /** Queued (not yet running) requests per vm_id before QUEUE_FULL. */
    public static final String ENV_QUEUE_CAP = "VGPU_MEDIATOR_QUEUE_CAP";
    /** Wait in ms before a waiting request moves up one priority class; 0 = no aging. */
    public static final String ENV_AGING_MS = "VGPU_MEDIATOR_AGING_MS";
    /** While this file exists no new request starts (frames are still read, admission still decided). */
    public static final String ENV_HOLD_FILE = "VGPU_MEDIATOR_HOLD_FILE";
    /** Connections beyond this many are answered REJECTED. */
    public static final String ENV_MAX_CONNECTIONS = "VGPU_MEDIATOR_MAX_CONNECTIONS";

    /** The vm_id of the readiness HELLO: any HELLO_ACK, whatever its status, proves the socket speaks. */
    public static final int PROBE_VM_ID = 0;

    /** One probe's connect-and-answer deadline, within the caller's readiness deadline. */
    private static final Duration PROBE_TIMEOUT = Duration.ofSeconds(2);

    private static final long POLL_MS = 25;

    private MediatorContract() {}

    /**
     * One readiness probe: connect, HELLO, and a HELLO_ACK arrives within {@code timeout} (its status may refuse:
     * a tenancy policy is allowed to). False when nothing listens yet; IOException for an answer that is not a
     * HELLO_ACK (something else listens there).
     */
    public static boolean answersHello(Path socket, Duration timeout) throws IOException {
        if (!Files.exists(socket)) {
            return false;
        }
        try (SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX)) {
            // a Unix channel has no timeouts: a timer closes it at the deadline (a full backlog blocks connect, a
            // mediator that never answers blocks the read)
            var timer = CompletableFuture.runAsync(
                    () -> closeQuietly(ch),
                    CompletableFuture.delayedExecutor(timeout.toMillis(), TimeUnit.MILLISECONDS));
            try {
                try {
                    ch.connect(UnixDomainSocketAddress.of(socket));
                } catch (IOException e) {
                    return false; // not listening yet (connection refused) or a stale file
                }
                ByteBuffer hello =
                        ByteBuffer.wrap(Frame.of(MSG_HELLO, PROBE_VM_ID, POOL_A, PRIORITY_LOW, 0, ERR_NONE, null)
                                .encode());
                Frame ack;
                try {
                    while (hello.hasRemaining()) {
                        ch.write(hello);
                    }
                    ack = Frame.readFrom(ch);
                } catch (java.io.EOFException e) {
                    return false; // closed before an answer: a mediator still starting may do that
                } catch (FrameException e) {
                    throw new IOException(
                            "the readiness HELLO on " + socket + " got a bad reply: " + e.getMessage(), e);
                }
                if (ack.msgType() != MSG_HELLO_ACK) {
                    throw new IOException("the readiness HELLO on " + socket + " was answered by " + ack);
                }
                return true;
            } finally {
                timer.cancel(false);
            }
        }
    }

    /**
     * Waits until the socket answers a HELLO ({@link #answersHello}), at most {@code timeout}. {@code exited} tells
     * whether the mediator has ended (its status; empty while it runs), so a mediator that dies is reported at once
     * and not at the deadline. The exceptions name {@code what}, the socket and the last probe's trouble; the caller
     * adds its log.
     */
    public static void awaitReady(String what, Path socket, Duration timeout, Supplier<OptionalInt> exited)
            throws IOException {
        long deadline = System.nanoTime() + timeout.toNanos();
        String last = "the socket " + socket + " never answered a HELLO";
        while (System.nanoTime() - deadline < 0) {
            OptionalInt status = exited.get();
            if (status.isPresent()) {
                throw new IOException(
                        what + " exited with status " + status.getAsInt() + " before its socket answered a HELLO");
            }
            Duration left = Duration.ofNanos(deadline - System.nanoTime());
            try {
                if (answersHello(socket, left.compareTo(PROBE_TIMEOUT) < 0 ? left : PROBE_TIMEOUT)) {
                    return;
                }
            } catch (IOException e) {
                last = e.getMessage();
            }
            try {
                Thread.sleep(POLL_MS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new InterruptedIOException("interrupted while waiting for " + what);
            }
        }
        throw new IOException(what + " not ready within " + timeout + " (" + last + ")");
    }

    private static void closeQuietly(SocketChannel ch) {
        try {
            ch.close();
        } catch (IOException e) {
            // closing at the deadline anyway
        }
    }
}

package dev.vgpuhil.mediator.contract;

import static dev.vgpuhil.protocol.VgpuProtocol.*;

import dev.vgpuhil.mediator.MediatorClient;
import dev.vgpuhil.protocol.Frame;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;

/**
 * The names of the mediator contract (docs/MEDIATOR-CONTRACT.md): how the harness and the conformance kit hand
 * any mediator program or image its socket path and knobs, and what counts as ready. mediator-lite's command line
 * reads the same names, so this is their one home.
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
        MediatorClient c;
        try {
            c = MediatorClient.connect(socket, timeout);
        } catch (IOException e) {
            return false; // not listening yet (connection refused) or a stale file
        }
        try (c) {
            c.send(Frame.of(MSG_HELLO, PROBE_VM_ID, POOL_A, PRIORITY_LOW, 0, ERR_NONE, null));
            Frame ack;
            try {
                ack = c.receive(timeout);
            } catch (java.io.EOFException e) {
                return false;
            }
            if (ack.msgType() != MSG_HELLO_ACK) {
                throw new IOException("the readiness HELLO on " + socket + " was answered by " + ack);
            }
            return true;
        }
    }
}

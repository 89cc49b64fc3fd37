package dev.vgpuhil.agent;

import java.io.BufferedOutputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;

/**
 * {@code serve [--port N]}: the resident agent. The CI guest's init starts it at boot, so that a command costs a
 * connection instead of a JVM start (about a second and a half under TCG with -Xint). It listens on the guest's
 * loopback only: the host reaches it through its SSH session's direct-tcpip channel, so only the run's key gets in.
 *
 * <p>Per connection: one request, the command's arguments separated by NUL and ended by {@code '\n'}; the reply is
 * exactly the JSON lines {@code java -jar guest-agent.jar <command>} prints, then {@link #exitLine} and the end of the
 * stream. Each connection runs on a thread of its own, so a command waiting for its device holds up no other.
 */
public final class AgentServer implements AutoCloseable {
    public static final int DEFAULT_PORT = 7100;
    /** Printed on stdout (the guest's console) once the port is bound, followed by the port: the host waits for it. */
    public static final String SERVING = "vgpu-hil: agent serving on 127.0.0.1:";
    /** A request longer than this is refused (real ones are a few hundred bytes). */
    static final int MAX_REQUEST = 16 * 1024;
    /** How long a connection may take to send its request line. */
    static final int REQUEST_READ_TIMEOUT_MS = 30_000;

    private final ServerSocket socket;
    private int served;

    private AgentServer(ServerSocket socket) {
        this.socket = socket;
    }

    /** Binds 127.0.0.1:port (0: any free port). */
    public static AgentServer open(int port) throws AgentException {
        try {
            return new AgentServer(new ServerSocket(port, 16, InetAddress.getLoopbackAddress()));
        } catch (IOException e) {
            throw new AgentException("cannot listen on 127.0.0.1:" + port + ": " + e.getMessage());
        }
    }

    /** The {@code serve} command: binds, says {@link #SERVING} on {@code console}, serves until the JVM ends. */
    static int serve(Args args, PrintStream console) throws AgentException {
        try (AgentServer server = open((int) args.number("--port", DEFAULT_PORT, 0, 65535))) {
            console.println(SERVING + server.port());
            console.flush();
            server.run();
            return 0;
        }
    }

    public int port() {
        return socket.getLocalPort();
    }

    /** Accepts connections until {@link #close}, each on a daemon thread of its own. */
    public void run() {
        while (!socket.isClosed()) {
            Socket s;
            try {
                s = socket.accept();
            } catch (IOException e) {
                if (socket.isClosed()) {
                    return;
                }
                continue; // e.g. the peer reset before accept: nothing to answer
            }
            Thread t = new Thread(new Connection(s), "agent-" + ++served);
            t.setDaemon(true);
            t.start();
        }
    }

    @Override
    public void close() {
        try {
            socket.close();
        } catch (IOException e) {
            // closing a listening socket has nothing left to lose
        }
    }

    /** The reply's last line: the command's exit code (what the JVM of a one-shot run would exit with). */
    public static String exitLine(int code) {
        return Json.of("exit").num("code", code).line();
    }

    /**
     * The request line's arguments, or null with the reason in {@code why[0]} (too long, cut off, not UTF-8 text).
     * An empty line is an empty argument list (the command's "no command given" error).
     */
    static String[] readRequest(InputStream in, String[] why) throws IOException {
        ByteArrayOutputStream line = new ByteArrayOutputStream(256);
        for (int b; ; ) {
            b = in.read();
            if (b < 0) {
                why[0] = "the request ended before its '\\n'";
                return null;
            }
            if (b == '\n') {
                break;
            }
            if (line.size() == MAX_REQUEST) {
                why[0] = "the request is longer than " + MAX_REQUEST + " bytes";
                return null;
            }
            line.write(b);
        }
        if (line.size() == 0) {
            return new String[0];
        }
        String text = new String(line.toByteArray(), StandardCharsets.UTF_8);
        // split on NUL by hand: String.split compiles a regex, which -Xint pays for
        int n = 1;
        for (int i = 0; i < text.length(); i++) {
            if (text.charAt(i) == 0) {
                n++;
            }
        }
        String[] argv = new String[n];
        int from = 0;
        for (int k = 0; k < n; k++) {
            int to = text.indexOf('\0', from);
            if (to < 0) {
                to = text.length();
            }
            argv[k] = text.substring(from, to);
            from = to + 1;
        }
        return argv;
    }

    /** One connection: read the request, run the command into the socket, end with the exit line. */
    private static final class Connection implements Runnable {
        private final Socket socket;

        Connection(Socket socket) {
            this.socket = socket;
        }

        @Override
        public void run() {
            try (Socket s = socket) {
                s.setTcpNoDelay(true);
                s.setSoTimeout(REQUEST_READ_TIMEOUT_MS);
                String[] why = new String[1];
                String[] argv;
                try {
                    argv = readRequest(s.getInputStream(), why);
                } catch (SocketTimeoutException e) {
                    argv = null;
                    why[0] = "no request line within " + REQUEST_READ_TIMEOUT_MS + " ms";
                }
                s.setSoTimeout(0);
                PrintStream out = new PrintStream(new BufferedOutputStream(s.getOutputStream(), 8192), false, "UTF-8");
                int rc;
                if (argv == null) {
                    out.println(Json.error("bad request: " + why[0]));
                    rc = 2;
                } else if (argv.length > 0 && argv[0].equals("serve")) {
                    out.println(Json.error("serve is not a command the resident agent runs"));
                    rc = 2;
                } else {
                    rc = Main.run(argv, out);
                }
                out.println(exitLine(rc));
                out.flush();
            } catch (IOException e) {
                // the host went away (its deadline passed, or the VM is being shut down): nobody to answer
            }
        }
    }
}

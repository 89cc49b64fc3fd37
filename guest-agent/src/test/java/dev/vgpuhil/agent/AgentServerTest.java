package dev.vgpuhil.agent;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.net.InetAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** The resident agent ({@code serve}) over real loopback sockets, commands on a fake sysfs. */
@DisplayName("AgentServer: one command per connection, the one-shot's JSON lines, then the exit line")
@Timeout(60)
class AgentServerTest {
    @TempDir
    Path tmp;

    FakeSysfs sysfs;
    AgentServer server;
    Thread acceptor;

    @BeforeEach
    void start() throws Exception {
        sysfs = new FakeSysfs(tmp.resolve("devices"));
        FakeSysfs.writeIdentity(sysfs.addVgpu("0000:00:03.0"));
        server = AgentServer.open(0);
        acceptor = new Thread(server::run, "test-acceptor");
        acceptor.start();
    }

    @AfterEach
    void stop() throws Exception {
        server.close();
        acceptor.join(10_000);
        assertThat(acceptor.isAlive()).as("accept loop ended by close()").isFalse();
    }

    @Test
    @DisplayName("a command answers what the one-shot JVM prints, then {\"type\":\"exit\",\"code\":N}")
    void sameAsOneShot() throws Exception {
        String[] argv = {"probe", "--sysfs", sysfs.root.toString()};
        List<String> reply = exchange(request(argv));
        AgentRun oneShot = AgentRun.of(argv);
        assertThat(oneShot.exitCode).isZero();
        assertThat(reply).containsExactly(oneShot.single(), "{\"type\":\"exit\",\"code\":0}");
    }

    @Test
    @DisplayName("a failing command's exit code and error line come back as the one-shot's would")
    void errorsAndExitCodes() throws Exception {
        assertThat(exchange(request("probe", "--bogus")))
                .containsExactly(AgentRun.of("probe", "--bogus").single(), AgentServer.exitLine(2));
        assertThat(exchange("\n".getBytes(StandardCharsets.US_ASCII)))
                .containsExactly(AgentRun.of().single(), AgentServer.exitLine(2));
        assertThat(exchange(request("serve")))
                .containsExactly(Json.error("serve is not a command the resident agent runs"), AgentServer.exitLine(2));
    }

    @Test
    @DisplayName("a request cut off or too long is refused with a reason; the server serves the next one")
    void badRequests() throws Exception {
        assertThat(exchange("probe".getBytes(StandardCharsets.US_ASCII)))
                .containsExactly(
                        Json.error("bad request: the request ended before its '\\n'"), AgentServer.exitLine(2));
        byte[] huge = new byte[AgentServer.MAX_REQUEST + 10];
        java.util.Arrays.fill(huge, (byte) 'x');
        assertThat(exchange(huge))
                .containsExactly(
                        Json.error("bad request: the request is longer than " + AgentServer.MAX_REQUEST + " bytes"),
                        AgentServer.exitLine(2));
        assertThat(exchange(request("probe", "--sysfs", sysfs.root.toString()))).endsWith(AgentServer.exitLine(0));
    }

    @Test
    @DisplayName("a connection that has not sent its request holds up no other; a peer gone mid-reply kills nothing")
    void connectionsAreIndependent() throws Exception {
        try (Socket idle = connect()) {
            assertThat(exchange(request("probe", "--sysfs", sysfs.root.toString())))
                    .endsWith(AgentServer.exitLine(0));
            try (Socket quitter = connect()) {
                quitter.getOutputStream().write(request("dump", "--sysfs", sysfs.root.toString()));
            } // closed before reading its reply
            idle.getOutputStream().write(request("dump", "--sysfs", sysfs.root.toString()));
            idle.shutdownOutput();
            List<String> reply = lines(idle.getInputStream());
            assertThat(reply).hasSize(2).endsWith(AgentServer.exitLine(0));
            assertThat(reply.get(0)).startsWith("{\"type\":\"registers\",");
        }
        assertThat(exchange(request("help"))).endsWith(AgentServer.exitLine(0));
    }

    @Test
    @DisplayName("serve prints the marker with the port it bound, and a taken port is a clear error (exit 2)")
    void serveCommand() throws Exception {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        int rc = Main.run(
                new String[] {"serve", "--port", Integer.toString(server.port())},
                new PrintStream(bytes, true, StandardCharsets.UTF_8));
        assertThat(rc).isEqualTo(2);
        assertThat(bytes.toString(StandardCharsets.UTF_8))
                .startsWith("{\"type\":\"error\",\"message\":\"cannot listen on 127.0.0.1:" + server.port() + ": ");
        assertThat(AgentServer.SERVING + server.port()).matches("vgpu-hil: agent serving on 127\\.0\\.0\\.1:\\d+");
    }

    static byte[] request(String... argv) {
        return (String.join("\0", argv) + "\n").getBytes(StandardCharsets.UTF_8);
    }

    private Socket connect() throws IOException {
        return new Socket(InetAddress.getLoopbackAddress(), server.port());
    }

    private List<String> exchange(byte[] request) throws IOException {
        try (Socket s = connect()) {
            OutputStream o = s.getOutputStream();
            o.write(request);
            s.shutdownOutput();
            return lines(s.getInputStream());
        }
    }

    private static List<String> lines(InputStream in) throws IOException {
        String text = new String(in.readAllBytes(), StandardCharsets.UTF_8);
        return text.isEmpty() ? List.of() : List.of(text.split("\n"));
    }
}

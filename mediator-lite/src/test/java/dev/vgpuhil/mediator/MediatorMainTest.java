package dev.vgpuhil.mediator;

import static org.assertj.core.api.Assertions.assertThat;

import dev.vgpuhil.protocol.MediatorContract;
import dev.vgpuhil.protocol.Priority;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/** The command line fills a MediatorConfig: the defaults are the builder's, every option lands where it should. */
class MediatorMainTest {
    static MediatorConfig parse(String... args) {
        MediatorMain main = new MediatorMain();
        MediatorMain.commandLine(main).parseArgs(args);
        return main.config();
    }

    @Test
    void noOptionsGiveTheBuildersDefaults() {
        MediatorConfig cli = parse();
        MediatorConfig built = MediatorConfig.builder().build();
        assertThat(cli.socketPath()).isEqualTo(built.socketPath());
        assertThat(cli.backend()).isEqualTo(BackendChoice.AUTO).isEqualTo(built.backend());
        assertThat(cli.allowedUids()).isEqualTo(built.allowedUids());
        assertThat(cli.queueCap()).isEqualTo(64).isEqualTo(built.queueCap());
        assertThat(cli.aging()).isEqualTo(Duration.ofSeconds(1)).isEqualTo(built.aging());
        assertThat(cli.tenants().isOpenToAll()).isTrue();
        assertThat(cli.workersPerPool()).isEqualTo(1).isEqualTo(built.workersPerPool());
        assertThat(cli.maxConnections()).isEqualTo(256).isEqualTo(built.maxConnections());
        assertThat(cli.frameTimeout()).isEqualTo(Duration.ofSeconds(5)).isEqualTo(built.frameTimeout());
        assertThat(cli.unboundIdleTimeout()).isEqualTo(Duration.ofSeconds(30)).isEqualTo(built.unboundIdleTimeout());
        assertThat(cli.shutdownGrace()).isEqualTo(Duration.ofSeconds(5)).isEqualTo(built.shutdownGrace());
        assertThat(cli.outstandingCap())
                .as("twice the queue cap")
                .isEqualTo(128)
                .isEqualTo(built.outstandingCap());
        assertThat(cli.requestLog()).isTrue();
        assertThat(cli.logFile()).isNull();
    }

    @Test
    void theContractsEnvironmentFillsWhatTheCommandLineLeavesOut() {
        java.util.Map<String, String> env = java.util.Map.of(
                MediatorContract.ENV_SOCKET, "/tmp/e/m.sock",
                MediatorContract.ENV_QUEUE_CAP, "5",
                MediatorContract.ENV_AGING_MS, "0",
                MediatorContract.ENV_HOLD_FILE, "/tmp/e/hold",
                MediatorContract.ENV_MAX_CONNECTIONS, "7");
        MediatorMain main = new MediatorMain(env::get);
        MediatorMain.commandLine(main).parseArgs("--queue-cap", "9");
        MediatorConfig c = main.config();
        assertThat(c.socketPath()).isEqualTo(Path.of("/tmp/e/m.sock"));
        assertThat(c.queueCap()).as("the option wins over the environment").isEqualTo(9);
        assertThat(c.aging()).isEqualTo(Duration.ZERO);
        assertThat(c.holdFile()).isEqualTo(Path.of("/tmp/e/hold"));
        assertThat(c.maxConnections()).isEqualTo(7);

        MediatorMain bad = new MediatorMain(java.util.Map.of(MediatorContract.ENV_QUEUE_CAP, "many")::get);
        MediatorMain.commandLine(bad).parseArgs();
        org.assertj.core.api.Assertions.assertThatThrownBy(bad::config)
                .isInstanceOf(CommandLine.ParameterException.class)
                .hasMessageContaining(MediatorContract.ENV_QUEUE_CAP);
    }

    @Test
    void everyOptionLandsInTheConfig() {
        MediatorConfig c = parse(
                "--socket",
                "/tmp/x/m.sock",
                "--backend",
                "CPU",
                "--allowed-uids",
                "5, 7",
                "--queue-cap",
                "3",
                "--aging-ms",
                "0",
                "--tenant",
                "7:high",
                "--tenant",
                "*:low",
                "--workers-per-pool",
                "2",
                "--max-connections",
                "9",
                "--frame-timeout-ms",
                "100",
                "--unbound-idle-ms",
                "200",
                "--shutdown-grace-ms",
                "0",
                "--max-outstanding",
                "4",
                "--log-file",
                "/tmp/x/m.log",
                "--no-request-log",
                "--parent-pid",
                "1");
        assertThat(c.socketPath()).isEqualTo(Path.of("/tmp/x/m.sock"));
        assertThat(c.backend()).isEqualTo(BackendChoice.CPU);
        assertThat(c.allowedUids().contains(5)).isTrue();
        assertThat(c.allowedUids().contains(7)).isTrue();
        assertThat(c.allowedUids().contains(6)).isFalse();
        assertThat(c.queueCap()).isEqualTo(3);
        assertThat(c.aging()).isZero();
        assertThat(c.tenants().ceilingFor(7)).contains(Priority.HIGH);
        assertThat(c.tenants().ceilingFor(8)).contains(Priority.LOW);
        assertThat(c.workersPerPool()).isEqualTo(2);
        assertThat(c.maxConnections()).isEqualTo(9);
        assertThat(c.frameTimeout()).isEqualTo(Duration.ofMillis(100));
        assertThat(c.unboundIdleTimeout()).isEqualTo(Duration.ofMillis(200));
        assertThat(c.shutdownGrace()).isZero();
        assertThat(c.outstandingCap()).isEqualTo(4);
        assertThat(parse("--queue-cap", "3").outstandingCap())
                .as("derived from the queue cap")
                .isEqualTo(6);
        assertThat(c.logFile()).isEqualTo(Path.of("/tmp/x/m.log"));
        assertThat(c.requestLog()).isFalse();
    }

    /**
     * The parent watch's liveness test on real processes: this JVM lives; a zombie - a child of a shell that exec'd
     * into a sleep which never reaps it - is dead although its /proc directory is still there (what the old
     * existence check took for alive); a pid that is gone is dead. The child exits only when this test closes its
     * stdin, after the shell has become the sleep: a child that ended earlier could be reaped by the shell.
     */
    @Test
    void aZombieParentIsDeadAndALiveOneAlive() throws Exception {
        org.junit.jupiter.api.Assumptions.assumeTrue(java.nio.file.Files.isDirectory(Path.of("/proc/self")));
        assertThat(MediatorMain.alive(
                        Path.of("/proc", Long.toString(ProcessHandle.current().pid()))))
                .isTrue();
        // an asynchronous list's stdin is /dev/null: the child reads the test's pipe through fd 3
        Process shell = new ProcessBuilder("sh", "-c", "exec 3<&0; cat <&3 >/dev/null & echo $!; exec sleep 30 3<&-")
                .redirectErrorStream(true)
                .start();
        try {
            String line = new java.io.BufferedReader(new java.io.InputStreamReader(shell.getInputStream())).readLine();
            Path zombie = Path.of("/proc", line.trim());
            long deadline = System.nanoTime() + Wire.T.toNanos();
            Path parentName = Path.of("/proc", Long.toString(shell.pid()), "comm");
            while (!java.nio.file.Files.readString(parentName).strip().equals("sleep")) {
                assertThat(System.nanoTime() - deadline)
                        .as("the shell exec'd into sleep")
                        .isNegative();
                Thread.sleep(10);
            }
            shell.getOutputStream().close();
            while (!state(zombie).equals("Z")) {
                assertThat(System.nanoTime() - deadline)
                        .as("%s became a zombie", zombie)
                        .isNegative();
                Thread.sleep(10);
            }
            assertThat(java.nio.file.Files.exists(zombie))
                    .as("a zombie's directory stays")
                    .isTrue();
            assertThat(MediatorMain.alive(zombie)).as("a zombie is dead").isFalse();
        } finally {
            shell.destroyForcibly().waitFor();
        }
        assertThat(MediatorMain.alive(Path.of("/proc", "999999999")))
                .as("no such pid")
                .isFalse();
    }

    private static String state(Path proc) throws java.io.IOException {
        String stat = java.nio.file.Files.readString(proc.resolve("stat"));
        return stat.substring(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    }

    @Test
    void badValuesExitTwoWithTheReasonAndTheUsage() {
        for (String[] bad : new String[][] {
            {"--queue-cap", "0"},
            {"--aging-ms", "-1"},
            {"--queue-cap", "x"},
            {"--tenant", "7"},
            {"--allowed-uids", ","},
            {"--frobnicate"},
            {"--socket"}
        }) {
            StringWriter err = new StringWriter();
            CommandLine cl = MediatorMain.commandLine(new MediatorMain());
            cl.setErr(new PrintWriter(err));
            assertThat(cl.execute(bad)).as("%s", String.join(" ", bad)).isEqualTo(MediatorMain.EXIT_USAGE);
            assertThat(err.toString())
                    .as("%s", String.join(" ", bad))
                    .startsWith("mediator-lite: ")
                    .contains("usage: java -jar mediator-lite.jar");
        }
    }
}

package dev.vgpuhil.harness.agent;

import static org.assertj.core.api.Assertions.assertThat;

import dev.vgpuhil.agent.AgentServer;
import dev.vgpuhil.harness.GuestShell;
import java.time.Duration;
import org.junit.jupiter.api.Test;

/** A resident agent's reply read as a one-shot run's: output, exit code from the last line, or -1 if it is missing. */
class ResidentReplyTest {
    private static final Duration TOOK = Duration.ofMillis(7);

    @Test
    void theExitLineIsTheExitCodeAndNotOutput() {
        String probe = "{\"type\":\"probe\",\"bdf\":\"0000:00:10.0\"}\n";
        GuestShell.Result r = Agent.residentResult(probe + AgentServer.exitLine(0) + "\n", TOOK);
        assertThat(r.exitCode()).isZero();
        assertThat(r.stdout()).isEqualTo(probe);
        assertThat(r.stderr()).isEmpty();
        assertThat(r.took()).isEqualTo(TOOK);

        GuestShell.Result failed = Agent.residentResult(AgentServer.exitLine(2) + "\n", TOOK);
        assertThat(failed.exitCode()).isEqualTo(2);
        assertThat(failed.stdout()).isEmpty();
    }

    @Test
    void aReplyCutOffBeforeItsExitLineExitsMinusOneAndSaysSo() {
        String partial = "{\"type\":\"vector-add\",\"elements\":16}\n{\"type\":\"vec";
        GuestShell.Result r = Agent.residentResult(partial, TOOK);
        assertThat(r.exitCode()).isEqualTo(-1);
        assertThat(r.stdout()).isEqualTo(partial);
        assertThat(r.stderr()).contains("ended without its exit line");

        assertThat(Agent.residentResult("", TOOK).exitCode()).isEqualTo(-1);
        assertThat(Agent.residentResult("{\"type\":\"exit\",\"code\":\"x\"}\n", TOOK)
                        .exitCode())
                .isEqualTo(-1);
    }
}

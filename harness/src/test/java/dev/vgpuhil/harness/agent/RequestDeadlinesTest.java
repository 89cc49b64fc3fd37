package dev.vgpuhil.harness.agent;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import org.junit.jupiter.api.Test;

class RequestDeadlinesTest {
    @Test
    void idleHostKeepsTheSpec() {
        RequestDeadlines d = RequestDeadlines.of(0, Duration.ofSeconds(120), 1);
        assertThat(d.deviceTimeoutMs()).isEqualTo(RequestDeadlines.DEVICE_DEFAULT_MS);
        assertThat(d.boot()).isEqualTo(Duration.ofSeconds(120));
        assertThat(d.agentTimeoutMs()).isEqualTo(5000 + RequestDeadlines.AGENT_MARGIN_MS);
        assertThat(d).isEqualTo(RequestDeadlines.ofSpec(0));
    }

    @Test
    void everyDeadlineGrowsWithTheScaleAndTheyStillNest() {
        int hold = 240_000;
        RequestDeadlines idle = RequestDeadlines.of(RequestDeadlines.forHold(hold), Duration.ofSeconds(120), 1);
        RequestDeadlines slow = RequestDeadlines.of(RequestDeadlines.forHold(hold), Duration.ofSeconds(120), 4);
        assertThat(slow.boot()).isEqualTo(Duration.ofSeconds(480));
        assertThat(slow.deviceTimeoutMs()).isEqualTo(4 * idle.deviceTimeoutMs());
        assertThat(slow.maxHold()).isEqualTo(Duration.ofMillis(4L * hold)).isGreaterThanOrEqualTo(idle.maxHold());
        assertThat(idle.maxHold()).isEqualTo(Duration.ofMillis(hold));
        // a held request completes before its device gives up, which is before the agent gives up, before the host
        assertThat(slow.maxHold().toMillis()).isLessThan(slow.deviceTimeoutMs());
        assertThat(slow.deviceTimeoutMs()).isLessThan(slow.agentTimeoutMs());
        assertThat(slow.agentCall().toMillis()).isGreaterThan(slow.agentTimeoutMs());
        assertThat(slow.link()).isEqualTo(idle.link().multipliedBy(4));
        assertThat(slow.scaled(Duration.ofMillis(2500))).isEqualTo(Duration.ofSeconds(10));
        assertThat(idle.scaled(Duration.ofMillis(2500))).isEqualTo(Duration.ofMillis(2500));
        assertThat(slow.bootAndSetUp()).isEqualTo(slow.boot().plus(RequestDeadlines.AGENT_START.multipliedBy(4)));
        assertThat(slow.describe())
                .contains("boot deadline 480 s", "agent --timeout-ms=" + slow.agentTimeoutMs())
                .contains("device timeout_ms=" + slow.deviceTimeoutMs(), "time scale 4.0");
    }

    @Test
    void refusesWhatCannotBeABudget() {
        assertThatThrownBy(() -> RequestDeadlines.of(0, Duration.ofSeconds(1), 0.5))
                .isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> new RequestDeadlines(0)).isInstanceOf(IllegalArgumentException.class);
    }
}

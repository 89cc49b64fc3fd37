package dev.vgpuhil.harness;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import dev.vgpuhil.harness.agent.AgentRun;
import dev.vgpuhil.harness.agent.GuideTestProgram;
import dev.vgpuhil.harness.agent.Selftest;
import dev.vgpuhil.harness.report.ProtocolFailure;
import java.time.Duration;
import org.junit.jupiter.api.Test;

/** The harness's readers of the agent's JSON lines, the C program's lines and the mediator's stats. */
class ParsingTest {

    @Test
    void jsonReadsNestedStats() {
        JsonNode m = JsonObjects.object("{\"pid\":12,\"backend\":\"cpu\",\"queued\":{\"A\":0,\"B\":3},"
                + "\"last\":[[200,1,2],[201,7,0]],\"ok\":true,\"x\":-1.5e3,\"s\":\"a\\\"b\\u0041\",\"n\":null}");
        assertThat(m.required("pid").asLong()).isEqualTo(12);
        assertThat(m.path("queued").path("B").asLong()).isEqualTo(3L);
        assertThat(m.path("last").size()).isEqualTo(2);
        assertThat(m.path("last").get(0).toString()).isEqualTo("[200,1,2]");
        assertThat(m.path("x").doubleValue()).isEqualTo(-1500.0);
        assertThat(m.path("s").textValue()).isEqualTo("a\"bA");
        assertThat(m.has("n")).isTrue();
        assertThatThrownBy(() -> JsonObjects.object("{\"a\":1,}")).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> JsonObjects.object("{\"a\":1} x")).isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void agentSelftestLinesAndSummary() {
        String out = String.join(
                "\n",
                "{\"type\":\"check\",\"test\":9,\"name\":\"zero_length_doorbell\",\"check\":\"zero_length_doorbell\","
                        + "\"pass\":true,\"expected\":\"STATUS=3 ERROR_CODE=1\",\"actual\":\"STATUS=3 ERROR_CODE=1\"}",
                "warning: something not JSON",
                "{\"type\":\"check\",\"test\":10,\"name\":\"valid_doorbell_no_mediator\",\"pass\":false,"
                        + "\"expected\":\"STATUS=3 ERROR_CODE=2\",\"actual\":\"STATUS=3 ERROR_CODE=1\"}",
                "{\"type\":\"summary\",\"passed\":1,\"failed\":1}",
                "");
        AgentRun run = AgentRun.parse("java -jar a selftest", 1, out, "", Duration.ofMillis(5));
        assertThat(run.otherLines()).containsExactly("warning: something not JSON");
        Selftest s = Selftest.fromAgent(run);
        assertThat(s.checks()).hasSize(2);
        assertThat(s.require("zero_length_doorbell").pass()).isTrue();
        assertThat(s.require("valid_doorbell_no_mediator").test()).isEqualTo(10);
        assertThatThrownBy(() -> s.requireAllPassed(2))
                .isInstanceOf(ProtocolFailure.class)
                .hasMessageStartingWith("protocol failure: agent self-test: 1 of 2 checks failed");
        assertThatThrownBy(() -> s.requireAllPassed(15)).hasMessageContaining("at least 15");
    }

    @Test
    void guideProgramLinesAndAgreement() {
        String c = String.join(
                "\n",
                "vgpu-stub v2 guest test (test_vgpu_enhanced), no mediator",
                "device: /sys/bus/pci/devices/0000:00:04.0",
                "[PASS] test 9: zero_length_doorbell: zero-length doorbell (expected STATUS=3 ERROR_CODE=1; actual STATUS=3 ERROR_CODE=1)",
                "[PASS] test 11: timestamp_set: timestamp after completion (expected nonzero; actual 0x0000000100000002)",
                "2 checks, 0 failures",
                "RESULT: 2 passed, 0 failed");
        Selftest cs = GuideTestProgram.parse(c);
        assertThat(cs.names()).containsExactly("zero_length_doorbell", "timestamp_set");
        assertThat(cs.require("timestamp_set").expected()).isEqualTo("nonzero");
        cs.requireAllPassed(2);
        String a = "{\"type\":\"check\",\"test\":9,\"name\":\"zero_length_doorbell\",\"pass\":true,"
                + "\"expected\":\"STATUS=3 ERROR_CODE=1\",\"actual\":\"STATUS=3 ERROR_CODE=1\"}\n"
                + "{\"type\":\"check\",\"test\":11,\"name\":\"timestamp_set\",\"pass\":true,"
                + "\"expected\":\"nonzero\",\"actual\":\"0x0000000100000999\"}\n";
        Selftest as = Selftest.fromAgent(AgentRun.parse("x", 0, a, "", Duration.ZERO));
        GuideTestProgram.requireAgreement(as, cs); // timestamps may differ
        Selftest bad = Selftest.fromAgent(
                AgentRun.parse("x", 0, a.replace("ERROR_CODE=1\"}", "ERROR_CODE=2\"}"), "", Duration.ZERO));
        assertThatThrownBy(() -> GuideTestProgram.requireAgreement(bad, cs))
                .isInstanceOf(ProtocolFailure.class)
                .hasMessageContaining("zero_length_doorbell: actual differs");
    }
}

package dev.vgpuhil.qemu.machine;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import java.math.BigInteger;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** QMP's JSON through the one configured Jackson mapper: exact integers, strict syntax, compact output. */
class QmpJsonTest {
    @Test
    void parsesQmpReplies() {
        JsonNode m = QmpJson.parseObject("{\"timestamp\": {\"seconds\": 1795550168, \"microseconds\": 831294},"
                + " \"event\": \"SHUTDOWN\", \"data\": {\"guest\": false, \"reason\": \"host-qmp-quit\"}}");
        assertThat(m.path("event").asText()).isEqualTo("SHUTDOWN");
        assertThat(m.path("data").path("guest").isBoolean()).isTrue();
        assertThat(m.path("data").path("guest").booleanValue()).isFalse();
        assertThat(m.path("data").path("reason").asText()).isEqualTo("host-qmp-quit");
        assertThat(m.path("timestamp").path("seconds").asLong(0)).isEqualTo(1795550168L);
    }

    @Test
    void numbersStringsAndNesting() {
        assertThat(QmpJson.parse("-1").longValue()).isEqualTo(-1L);
        assertThat(QmpJson.parse("0").isIntegralNumber()).isTrue();
        assertThat(QmpJson.parse("1.5e2").doubleValue()).isEqualTo(150.0);
        assertThat(QmpJson.parse("18446744073709551615").bigIntegerValue())
                .isEqualTo(new BigInteger("18446744073709551615"));
        assertThat(QmpJson.parse("\"a\\\"b\\\\c\\n\\u00e9\\r\\n\"").textValue()).isEqualTo("a\"b\\c\né\r\n");
        assertThat(QmpJson.parse(" [1, [2, {}], null, true] ").toString()).isEqualTo("[1,[2,{}],null,true]");
    }

    @Test
    void rejectsMalformedInput() {
        for (String bad :
                List.of("", "{", "{\"a\" 1}", "[1,]", "01", "1.", "\"abc", "tru", "{} x", "\"a\nb\"", "{\"a\":1,}")) {
            assertThatThrownBy(() -> QmpJson.parse(bad))
                    .as(bad)
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("bad JSON");
        }
    }

    @Test
    void writesAndRoundTrips() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("execute", "human-monitor-command");
        m.put("arguments", Map.of("command-line", "info \"usernet\"\t\u0001"));
        m.put("id", 7);
        m.put("list", List.of(1, 2.5, false));
        m.put("nothing", null);
        String s = QmpJson.write(m);
        assertThat(s)
                .startsWith("{\"execute\":\"human-monitor-command\",")
                .contains("\\u0001")
                .contains("\\t");
        assertThat(QmpJson.parse(s)).isEqualTo(QmpJson.parse(QmpJson.write(QmpJson.parse(s))));
        assertThat(QmpJson.parseObject(s).path("arguments").path("command-line").asText())
                .isEqualTo("info \"usernet\"\t\u0001");
    }
}

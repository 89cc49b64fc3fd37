package dev.vgpuhil.qemu.machine;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.math.BigInteger;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class JsonTest {
    @Test
    void parsesQmpReplies() {
        Map<String, Object> m = Json.parseObject("{\"timestamp\": {\"seconds\": 1795550168, \"microseconds\": 831294},"
                + " \"event\": \"SHUTDOWN\", \"data\": {\"guest\": false, \"reason\": \"host-qmp-quit\"}}");
        assertThat(m.get("event")).isEqualTo("SHUTDOWN");
        assertThat(Json.object(m, "data")).containsEntry("guest", false).containsEntry("reason", "host-qmp-quit");
        assertThat(Json.number(Json.object(m, "timestamp"), "seconds", 0)).isEqualTo(1795550168L);
    }

    @Test
    void numbersStringsAndNesting() {
        assertThat(Json.parse("-1")).isEqualTo(-1L);
        assertThat(Json.parse("0")).isEqualTo(0L);
        assertThat(Json.parse("1.5e2")).isEqualTo(150.0);
        assertThat(Json.parse("18446744073709551615")).isEqualTo(new BigInteger("18446744073709551615"));
        assertThat(Json.parse("\"a\\\"b\\\\c\\n\\u00e9\\r\\n\"")).isEqualTo("a\"b\\c\né\r\n");
        assertThat(Json.parse(" [1, [2, {}], null, true] ")).isEqualTo(java.util.Arrays.asList(1L, List.of(2L, Map.of()),
                null, true));
    }

    @Test
    void rejectsMalformedInput() {
        for (String bad : List.of("", "{", "{\"a\" 1}", "[1,]", "01", "1.", "\"abc", "tru", "{} x", "\"a\nb\"",
                "{\"a\":1,}")) {
            assertThatThrownBy(() -> Json.parse(bad)).as(bad).isInstanceOf(IllegalArgumentException.class)
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
        String s = Json.write(m);
        assertThat(s).startsWith("{\"execute\":\"human-monitor-command\",").contains("\\u0001").contains("\\t");
        assertThat(Json.parse(s)).isEqualTo(Json.parse(Json.write(Json.parse(s))));
        assertThat(Json.parseObject(s).get("arguments")).isEqualTo(Map.of("command-line", "info \"usernet\"\t\u0001"));
    }
}

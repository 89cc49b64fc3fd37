package dev.vgpuhil.agent;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

@DisplayName("JSON lines: hand-written, escaped, one object per line")
class JsonTest {

    @Test
    @DisplayName("type comes first, members in order, numbers and booleans bare")
    void format() {
        String line = Json.of("bench")
                .num("count", 3)
                .num("p50Micros", 12)
                .bool("ok", true)
                .str("op", "echo")
                .str("none", null)
                .line();
        assertThat(line)
                .isEqualTo("{\"type\":\"bench\",\"count\":3,\"p50Micros\":12,\"ok\":true,\"op\":\"echo\","
                        + "\"none\":null}");
    }

    @Test
    @DisplayName("u32 prints a register value unsigned")
    void unsigned() {
        assertThat(Json.of("registers").u32("SCRATCH", 0xDEADBEEF).line())
                .isEqualTo("{\"type\":\"registers\",\"SCRATCH\":3735928559}");
    }

    @Test
    @DisplayName("quotes, backslashes and control characters are escaped")
    void escapes() {
        assertThat(Json.quote("a\"b\\c/d")).isEqualTo("\"a\\\"b\\\\c/d\"");
        assertThat(Json.quote("\n\r\t\b\f")).isEqualTo("\"\\n\\r\\t\\b\\f\"");
        assertThat(Json.quote("\u0000\u0001\u001f")).isEqualTo("\"\\u0000\\u0001\\u001f\"");
    }

    @Test
    @DisplayName("everything outside printable ASCII becomes \\uXXXX, so output is ASCII in any locale")
    void nonAscii() {
        assertThat(Json.quote("\u007f\u00e9\u2028\u20ac")).isEqualTo("\"\\u007f\\u00e9\\u2028\\u20ac\"");
        // a surrogate pair stays a valid JSON escape pair
        assertThat(Json.quote("\ud83d\ude00")).isEqualTo("\"\\ud83d\\ude00\"");
    }

    @Test
    @DisplayName("error lines: {\"type\":\"error\",\"message\":...} with the message escaped")
    void error() {
        assertThat(Json.error("no \"device\"\nat all"))
                .isEqualTo("{\"type\":\"error\",\"message\":\"no \\\"device\\\"\\nat all\"}");
    }

    @Test
    @DisplayName("keys are escaped too and a line never contains a raw newline")
    void keysAndNewlines() {
        String line = Json.of("x\ny").str("k\"", "v\r\n").line();
        assertThat(line)
                .doesNotContain("\n")
                .doesNotContain("\r")
                .isEqualTo("{\"type\":\"x\\ny\",\"k\\\"\":\"v\\r\\n\"}");
    }
}

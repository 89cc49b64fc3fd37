package dev.vgpuhil.qemu.machine;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;

/**
 * The JSON of QMP, by Jackson: one strict mapper (text after the value is an error; integers beyond 64 bits stay
 * exact as {@code BigInteger}), objects in wire order.
 */
final class QmpJson {
    static final ObjectMapper MAPPER = JsonMapper.builder()
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
            .enable(DeserializationFeature.USE_BIG_INTEGER_FOR_INTS)
            .build();

    private QmpJson() {}

    /** One JSON value; IllegalArgumentException (with Jackson's reason) if it is not exactly that. */
    static JsonNode parse(String text) {
        try {
            JsonNode n = MAPPER.readTree(text);
            if (n == null || n.isMissingNode()) {
                throw new IllegalArgumentException("bad JSON: no value in \"" + text + "\"");
            }
            return n;
        } catch (JsonProcessingException e) {
            throw new IllegalArgumentException(
                    "bad JSON: " + e.getOriginalMessage() + " in "
                            + (text.length() <= 200 ? text : text.substring(0, 200) + "..."),
                    e);
        }
    }

    /** A JSON object. */
    static ObjectNode parseObject(String text) {
        JsonNode n = parse(text);
        if (!(n instanceof ObjectNode o)) {
            throw new IllegalArgumentException("not a JSON object: " + text);
        }
        return o;
    }

    /** Compact JSON of a tree or of plain values (maps, lists, strings, numbers, ...). */
    static String write(Object value) {
        try {
            return MAPPER.writeValueAsString(value);
        } catch (JsonProcessingException e) {
            throw new IllegalArgumentException("cannot write " + value + " as JSON: " + e.getOriginalMessage(), e);
        }
    }
}

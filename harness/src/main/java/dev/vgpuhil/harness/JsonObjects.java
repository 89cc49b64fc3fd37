package dev.vgpuhil.harness;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;

/**
 * What the harness reads as JSON (the agent's JSON lines, the mediator's stats, report files), by Jackson: one
 * strict mapper (text after the value is an error). Fields are read with Jackson's tree API, {@code required(name)}
 * where a field must be there.
 */
public final class JsonObjects {
    public static final ObjectMapper MAPPER = JsonMapper.builder()
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
            .build();

    private JsonObjects() {}

    /** One JSON value; IllegalArgumentException with Jackson's reason if the text is not exactly one. */
    public static JsonNode parse(String text) {
        try {
            JsonNode n = MAPPER.readTree(text);
            if (n == null || n.isMissingNode()) {
                throw new IllegalArgumentException("not JSON: empty text");
            }
            return n;
        } catch (JsonProcessingException e) {
            throw new IllegalArgumentException("not JSON: " + e.getOriginalMessage() + " in " + abbreviate(text), e);
        }
    }

    /** A JSON object. */
    public static ObjectNode object(String text) {
        JsonNode n = parse(text);
        if (!(n instanceof ObjectNode o)) {
            throw new IllegalArgumentException("expected a JSON object, got: " + abbreviate(text));
        }
        return o;
    }

    private static String abbreviate(String t) {
        return t.length() <= 300 ? t : t.substring(0, 300) + "...";
    }
}

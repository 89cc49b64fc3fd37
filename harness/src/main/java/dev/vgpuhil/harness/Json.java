package dev.vgpuhil.harness;

import java.util.Collections;
import java.util.List;
import java.util.Map;

/**
 * Reading what the harness reads: the agent's JSON lines and the mediator's stats. Parsing is qemu-launcher's
 * strict parser (the one QMP uses); this adds typed field access and one exception type for "not JSON, or not
 * the shape expected". Objects are unmodifiable {@code Map<String,Object>}, arrays {@code List<Object>},
 * integers {@code Long}, other numbers {@code Double}.
 */
public final class Json {
    private Json() {
    }

    /** Parses one JSON value (surrounding whitespace allowed). */
    public static Object parse(String text) {
        try {
            return dev.vgpuhil.qemu.machine.Json.parse(text);
        } catch (IllegalArgumentException e) {
            throw new JsonException(e.getMessage());
        }
    }

    /** Parses a JSON object. */
    @SuppressWarnings("unchecked")
    public static Map<String, Object> object(String text) {
        Object v = parse(text);
        if (!(v instanceof Map)) {
            throw new JsonException("expected a JSON object, got: " + abbreviate(text));
        }
        return (Map<String, Object>) v;
    }

    private static String abbreviate(String t) {
        return t.length() <= 300 ? t : t.substring(0, 300) + "...";
    }

    // ---- typed access helpers

    public static long getLong(Map<String, Object> m, String key) {
        Object v = m.get(key);
        if (v instanceof Number n) {
            return n.longValue();
        }
        throw new JsonException("field '" + key + "' is not a number in " + m);
    }

    public static long getLong(Map<String, Object> m, String key, long dflt) {
        Object v = m.get(key);
        return v instanceof Number n ? n.longValue() : dflt;
    }

    public static double getDouble(Map<String, Object> m, String key) {
        Object v = m.get(key);
        if (v instanceof Number n) {
            return n.doubleValue();
        }
        throw new JsonException("field '" + key + "' is not a number in " + m);
    }

    public static String getString(Map<String, Object> m, String key) {
        Object v = m.get(key);
        return v == null ? null : String.valueOf(v);
    }

    public static boolean getBoolean(Map<String, Object> m, String key) {
        Object v = m.get(key);
        if (v instanceof Boolean b) {
            return b;
        }
        throw new JsonException("field '" + key + "' is not a boolean in " + m);
    }

    @SuppressWarnings("unchecked")
    public static Map<String, Object> getObject(Map<String, Object> m, String key) {
        Object v = m.get(key);
        return v instanceof Map ? (Map<String, Object>) v : Collections.emptyMap();
    }

    @SuppressWarnings("unchecked")
    public static List<Object> getList(Map<String, Object> m, String key) {
        Object v = m.get(key);
        return v instanceof List ? (List<Object>) v : Collections.emptyList();
    }

    /** Not JSON, or not the shape expected. */
    public static final class JsonException extends RuntimeException {
        private static final long serialVersionUID = 1L;

        public JsonException(String message) {
            super(message);
        }
    }
}

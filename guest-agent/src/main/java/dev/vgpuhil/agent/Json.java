package dev.vgpuhil.agent;

/**
 * One JSON object on one line, written by hand (no JSON library: the jar stays small and -Xint startup light).
 * Strings are escaped per RFC 8259; everything outside printable ASCII is written as {@code \}{@code uXXXX}, so
 * the output is pure ASCII whatever the guest's locale.
 */
public final class Json {
    private final StringBuilder sb = new StringBuilder(160);

    private Json(String type) {
        sb.append('{');
        key("type");
        string(sb, type);
    }

    /** A new object whose first member is {@code "type":type}. */
    public static Json of(String type) {
        return new Json(type);
    }

    /** {@code {"type":"error","message":...}} */
    public static String error(String message) {
        return of("error").str("message", message).line();
    }

    public Json str(String key, String value) {
        key(key);
        if (value == null) {
            sb.append("null");
        } else {
            string(sb, value);
        }
        return this;
    }

    public Json num(String key, long value) {
        key(key);
        sb.append(value);
        return this;
    }

    /** A 32-bit register value as an unsigned decimal number. */
    public Json u32(String key, int value) {
        return num(key, value & 0xFFFFFFFFL);
    }

    public Json bool(String key, boolean value) {
        key(key);
        sb.append(value);
        return this;
    }

    /** The finished object, without a newline. */
    public String line() {
        return sb.toString() + "}";
    }

    @Override
    public String toString() {
        return line();
    }

    private void key(String key) {
        if (sb.length() > 1) {
            sb.append(',');
        }
        string(sb, key);
        sb.append(':');
    }

    private static final char[] HEX = "0123456789abcdef".toCharArray();

    /** Appends s as a quoted, escaped JSON string. */
    static void string(StringBuilder out, String s) {
        out.append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"':
                    out.append("\\\"");
                    break;
                case '\\':
                    out.append("\\\\");
                    break;
                case '\n':
                    out.append("\\n");
                    break;
                case '\r':
                    out.append("\\r");
                    break;
                case '\t':
                    out.append("\\t");
                    break;
                case '\b':
                    out.append("\\b");
                    break;
                case '\f':
                    out.append("\\f");
                    break;
                default:
                    if (c < 0x20 || c > 0x7E) {
                        out.append("\\u")
                                .append(HEX[c >> 12 & 15])
                                .append(HEX[c >> 8 & 15])
                                .append(HEX[c >> 4 & 15])
                                .append(HEX[c & 15]);
                    } else {
                        out.append(c);
                    }
            }
        }
        out.append('"');
    }

    /** s as a quoted, escaped JSON string. */
    public static String quote(String s) {
        StringBuilder out = new StringBuilder(s.length() + 2);
        string(out, s);
        return out.toString();
    }
}

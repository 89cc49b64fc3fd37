package dev.vgpuhil.agent;

/** Fixed-width lowercase hex, without String.format (slow to start under -Xint). Same text as C's {@code 0x%08x}. */
final class Hex {
    private static final char[] DIGITS = "0123456789abcdef".toCharArray();

    private Hex() {}

    /** "0x" + {@code digits} lowercase hex digits of the low bits of v, like C's {@code 0x%0<digits>x}. */
    static String hex(long v, int digits) {
        char[] c = new char[digits + 2];
        c[0] = '0';
        c[1] = 'x';
        for (int i = digits + 1; i >= 2; i--) {
            c[i] = DIGITS[(int) (v & 15)];
            v >>>= 4;
        }
        return new String(c);
    }

    /** {@code 0x%08x}. */
    static String h8(int v) {
        return hex(v & 0xFFFFFFFFL, 8);
    }

    /** Appends {@code " 0x%08x"}, without the space when sb is empty (as the C program's append_hex32). */
    static StringBuilder append8(StringBuilder sb, int v) {
        if (sb.length() > 0) {
            sb.append(' ');
        }
        return sb.append(h8(v));
    }

    /** Parses "0x1234" (sysfs style) or decimal; -1 if it is neither. */
    static long parseSysfs(String s) {
        String t = s.trim();
        try {
            if (t.startsWith("0x") || t.startsWith("0X")) {
                return Long.parseLong(t.substring(2), 16);
            }
            return Long.parseLong(t);
        } catch (NumberFormatException e) {
            return -1;
        }
    }
}

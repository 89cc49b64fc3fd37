package dev.vgpuhil.qemu.machine;

import java.util.regex.MatchResult;

/**
 * A serial line that matched a wait.
 *
 * @param index absolute line index (0 = first line of the boot); {@code index + 1} is the mark to wait for
 *              something after it
 * @param line  the line, without CR/LF
 * @param match the regex match within the line
 */
public record SerialMatch(int index, String line, MatchResult match) {
    /** A capturing group of the match. */
    public String group(int group) {
        return match.group(group);
    }

    /** A named capturing group of the match. */
    public String group(String name) {
        return ((java.util.regex.Matcher) match).group(name);
    }

    /** The mark for a wait that should only see later lines. */
    public int next() {
        return index + 1;
    }

    @Override
    public String toString() {
        return "serial line " + index + ": " + line;
    }
}

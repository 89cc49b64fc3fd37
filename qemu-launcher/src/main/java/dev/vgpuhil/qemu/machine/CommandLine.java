package dev.vgpuhil.qemu.machine;

import java.util.List;
import java.util.regex.Pattern;
import java.util.stream.Collectors;

/** Shell quoting for the command lines written to {@code qemu.cmdline} and error messages (copy-paste-able). */
final class CommandLine {
    private static final Pattern SAFE = Pattern.compile("[A-Za-z0-9_@%+=:,./-]+");

    private CommandLine() {}

    static String shellQuote(List<String> args) {
        return args.stream().map(CommandLine::quote).collect(Collectors.joining(" "));
    }

    static String quote(String arg) {
        if (!arg.isEmpty() && SAFE.matcher(arg).matches()) {
            return arg;
        }
        return "'" + arg.replace("'", "'\\''") + "'";
    }
}

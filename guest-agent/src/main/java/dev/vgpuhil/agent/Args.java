package dev.vgpuhil.agent;

import java.util.HashMap;
import java.util.Map;

/**
 * {@code <command> [--option value | --flag]...}. Options are checked against the command: an unknown or
 * misplaced option, a missing or malformed value, or a repeated option is an {@link AgentException} (exit 2).
 */
public final class Args {
    public static final String USAGE = "usage: java -jar guest-agent.jar <command> [options]\n"
            + "  probe | dump                      identity / all 16 registers\n"
            + "  selftest [--expect-pool A|B] [--expect-priority low|medium|high|0|1|2] [--expect-vm N]\n"
            + "           [--mediator present|absent]\n"
            + "  vector-add [--elements N] [--seed S] [--irq[=uio|poll]] [--repeat R] [--request-id ID]\n"
            + "             [--backoff-ms MS]   (wait MS after a request that ended in an error)\n"
            + "  bench [--count N] [--op echo] [--bytes B] [--request-id ID]\n"
            + "  every command: [--bdf 0000:00:04.0] [--timeout-ms MS] [--sysfs DIR] [--devfs DIR]\n"
            + "  serve [--port N]                  the resident agent: runs each command sent to 127.0.0.1:N\n"
            + "                                    (default 7100; docs/CONTRACTS.md)\n"
            + "  options take their value as the next argument or after '=' (--irq=poll)";

    static final String COMMANDS = "probe, dump, selftest, vector-add, bench, serve, help";

    private static final String COMMON = " --bdf --timeout-ms --sysfs --devfs ";

    public final String command;
    private final Map<String, String> options;

    private Args(String command, Map<String, String> options) {
        this.command = command;
        this.options = options;
    }

    /** Options (with a leading space and a trailing space each) a command accepts; null for an unknown command. */
    private static String optionsOf(String command) {
        switch (command) {
            case "probe":
            case "dump":
            case "help":
                return COMMON;
            case "selftest":
                return COMMON + "--expect-pool --expect-priority --expect-vm --mediator ";
            case "vector-add":
                return COMMON + "--elements --seed --irq --repeat --request-id --backoff-ms ";
            case "bench":
                return COMMON + "--count --op --bytes --request-id ";
            case "serve":
                return " --port ";
            default:
                return null;
        }
    }

    /** Options whose value is optional: alone (or followed by another option) they take this default. */
    private static String defaultValue(String option) {
        switch (option) {
            case "--irq":
                return "uio"; // interrupt-driven through Linux's uio_pci_generic
            case "--mediator":
                return "present"; // "--mediator" alone, like the C program's flag
            default:
                return null;
        }
    }

    public static Args parse(String[] argv) throws AgentException {
        if (argv.length == 0) {
            throw new AgentException("no command given (commands: " + COMMANDS + ")");
        }
        String command = argv[0];
        if (command.equals("--help") || command.equals("-h")) {
            command = "help";
        }
        String allowed = optionsOf(command);
        if (allowed == null) {
            throw new AgentException("unknown command '" + command + "' (commands: " + COMMANDS + ")");
        }
        Map<String, String> options = new HashMap<>();
        for (int i = 1; i < argv.length; i++) {
            String a = argv[i];
            if (!a.startsWith("--") || a.length() == 2) {
                throw new AgentException("unexpected argument '" + a + "' for " + command);
            }
            String value = null;
            int eq = a.indexOf('=');
            if (eq > 2) { // --option=value
                value = a.substring(eq + 1);
                a = a.substring(0, eq);
            }
            if (allowed.indexOf(" " + a + " ") < 0) {
                throw new AgentException(
                        "unknown option " + a + " for " + command + " (it takes: " + allowed.trim() + ")");
            }
            if (value != null) {
                if (value.isEmpty()) {
                    throw new AgentException("option " + a + " needs a value after '='");
                }
            } else if (i + 1 == argv.length || argv[i + 1].startsWith("--")) {
                value = defaultValue(a);
                if (value == null) {
                    throw new AgentException("option " + a + " needs a value");
                }
            } else {
                value = argv[++i];
            }
            if (options.put(a, value) != null) {
                throw new AgentException("option " + a + " given twice");
            }
        }
        return new Args(command, options);
    }

    public boolean has(String option) {
        return options.containsKey(option);
    }

    public String string(String option, String dflt) {
        String v = options.get(option);
        return v == null ? dflt : v;
    }

    /** Decimal or 0x-hex, within [min, max]. */
    public long number(String option, long dflt, long min, long max) throws AgentException {
        String v = options.get(option);
        if (v == null) {
            return dflt;
        }
        long n;
        try {
            if (v.startsWith("0x") || v.startsWith("0X")) {
                n = Long.parseLong(v.substring(2), 16);
            } else {
                n = Long.parseLong(v);
            }
        } catch (NumberFormatException e) {
            throw new AgentException("option " + option + " needs a number, got '" + v + "'");
        }
        if (n < min || n > max) {
            throw new AgentException("option " + option + " must be between " + min + " and " + max + ", got " + v);
        }
        return n;
    }

    /** One of the given words (case-sensitive). */
    public String choice(String option, String dflt, String... allowed) throws AgentException {
        String v = options.get(option);
        if (v == null) {
            return dflt;
        }
        StringBuilder list = new StringBuilder();
        for (String s : allowed) {
            if (s.equals(v)) {
                return v;
            }
            list.append(list.length() == 0 ? "" : ", ").append(s);
        }
        throw new AgentException("option " + option + " must be one of " + list + ", got '" + v + "'");
    }
}

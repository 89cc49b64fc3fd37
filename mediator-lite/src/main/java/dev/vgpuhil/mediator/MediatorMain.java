package dev.vgpuhil.mediator;

import dev.vgpuhil.protocol.MediatorContract;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.logging.ConsoleHandler;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.Logger;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/**
 * {@code java -jar mediator-lite.jar [options]}: runs the mediator until SIGTERM/SIGINT, or until the process
 * named by --parent-pid is gone. Exit status: 0 after a normal stop, 2 for a bad command line, 3 when it
 * cannot start (socket in use, --backend cuda without a GPU, ...). The command line is picocli's; its options
 * fill a {@link MediatorConfig}, whose builder holds the defaults the help text quotes.
 */
@Command(
        name = "mediator-lite",
        separator = " ",
        sortOptions = false,
        usageHelpWidth = 110,
        customSynopsis = "usage: java -jar mediator-lite.jar [options]",
        synopsisHeading = "",
        optionListHeading = "%n",
        footer = {
            "",
            "Stops on SIGTERM/SIGINT: queued and (after the grace) running requests are answered SHUTDOWN,",
            "the socket file is removed and the counters are logged. The log goes to stderr.",
            "Exit status: 0 after a normal stop, 2 bad command line, 3 cannot start (socket in use,",
            "--backend cuda without a usable CUDA GPU, ...).",
            "Options not given are taken from the mediator contract's environment when set:",
            "VGPU_MEDIATOR_SOCKET, VGPU_MEDIATOR_QUEUE_CAP, VGPU_MEDIATOR_AGING_MS,",
            "VGPU_MEDIATOR_HOLD_FILE, VGPU_MEDIATOR_MAX_CONNECTIONS."
        })
public final class MediatorMain implements Callable<Integer> {
    static final int EXIT_OK = 0;
    static final int EXIT_USAGE = 2;
    static final int EXIT_START_FAILED = 3;

    @Spec
    private CommandSpec spec;

    @Option(
            names = "--socket",
            paramLabel = "PATH",
            description = {
                "Unix socket to listen on (default " + dev.vgpuhil.protocol.VgpuProtocol.SOCKET_PATH_DEFAULT + ",",
                "or the system property " + MediatorConfig.DEFAULT_SOCKET_PROPERTY + " if set)"
            })
    private Path socket;

    @Option(
            names = "--backend",
            paramLabel = "cpu|cuda|auto",
            converter = BackendConverter.class,
            description = "compute backend (default auto: CUDA when a device answers, else CPU)")
    private BackendChoice backend = BackendChoice.AUTO;

    @Option(
            names = "--allowed-uids",
            paramLabel = "U,U-U,...",
            description = {
                "peer uids and uid ranges allowed to connect, e.g. 0,65536-131071",
                "(XCP-ng: qemu_base+domid) (default: own uid and 0)"
            })
    private String allowedUids;

    @Option(
            names = "--socket-mode",
            paramLabel = "MODE",
            description = "the socket's mode, octal (default 0600; 0666 when other uids connect)")
    private String socketMode;

    @Option(
            names = "--queue-cap",
            paramLabel = "N",
            description = "queued requests per vm_id before QUEUE_FULL (default 64)")
    private int queueCap = 64;

    @Option(
            names = "--max-outstanding",
            paramLabel = "N",
            description = {
                "a connection with N requests accepted and not yet answered reads no",
                "more until replies bring it below N (backpressure; default 0: twice --queue-cap)"
            })
    private int maxOutstanding;

    @Option(
            names = "--aging-ms",
            paramLabel = "N",
            description = "wait before a request moves up one priority class (default 1000, 0 = off)")
    private int agingMs = 1000;

    @Option(
            names = "--tenant",
            paramLabel = "VM:CEILING",
            description = {
                "allow vm_id VM up to priority low|medium|high; repeatable; '*' = others.",
                "Without any --tenant every vm_id may use every priority"
            })
    private List<String> tenants = List.of();

    @Option(names = "--workers-per-pool", paramLabel = "N", description = "workers per pool (default 1)")
    private int workersPerPool = 1;

    @Option(
            names = "--max-connections",
            paramLabel = "N",
            description = "connections beyond N are refused (default 256)")
    private int maxConnections = 256;

    @Option(
            names = "--frame-timeout-ms",
            paramLabel = "N",
            description = {
                "a frame must be complete N ms after its first byte, else the",
                "connection is closed (slow-loris guard; default 5000)"
            })
    private int frameTimeoutMs = 5000;

    @Option(
            names = "--unbound-idle-ms",
            paramLabel = "N",
            description = {
                "a connection without an accepted HELLO is closed after N ms",
                "without a frame (default 30000)"
            })
    private int unboundIdleMs = 30000;

    @Option(
            names = "--shutdown-grace-ms",
            paramLabel = "N",
            description = {
                "on SIGTERM, running requests get N ms to finish before they are",
                "answered SHUTDOWN (default 5000; queued ones get SHUTDOWN at once)"
            })
    private int shutdownGraceMs = 5000;

    @Option(
            names = "--hold-file",
            paramLabel = "PATH",
            description = {
                "start no request while PATH exists (queued ones wait; the conformance",
                "kit's hold, docs/MEDIATOR-CONTRACT.md)"
            })
    private Path holdFile;

    @Option(names = "--log-file", paramLabel = "PATH", description = "also append the log to PATH")
    private Path logFile;

    @Option(names = "--no-request-log", description = "no per-request log line")
    private boolean noRequestLog;

    @Option(
            names = "--parent-pid",
            paramLabel = "PID",
            description = "exit when process PID is gone (checked every 500 ms)")
    private Long parentPid;

    // taken before picocli parses (see main); declared so that --help lists it
    @Option(
            names = "--bench",
            paramLabel = "[opts]",
            description = "run the benchmark instead (MediatorBenchmark; --bench --help)")
    private boolean bench;

    @Option(
            names = {"-h", "--help"},
            usageHelp = true,
            description = "this text")
    private boolean help;

    /** The environment the contract's variables are read from (tests give their own). */
    private final java.util.function.Function<String, String> env;

    MediatorMain() {
        this(System::getenv);
    }

    MediatorMain(java.util.function.Function<String, String> env) {
        this.env = env;
    }

    public static void main(String[] args) throws Exception {
        for (int i = 0; i < args.length; i++) {
            if (args[i].equals("--bench")) {
                dev.vgpuhil.mediator.bench.MediatorBenchmark.main(
                        java.util.Arrays.copyOfRange(args, i + 1, args.length));
                return;
            }
        }
        System.exit(commandLine(new MediatorMain()).execute(args));
    }

    /** picocli set up for a command of this project: bad input is "name: why", the usage, then exit 2. */
    public static CommandLine commandLine(Object command) {
        CommandLine cl = new CommandLine(command);
        cl.setParameterExceptionHandler((ParameterException e, String[] args) -> {
            CommandLine bad = e.getCommandLine();
            bad.getErr().println(bad.getCommandName() + ": " + e.getMessage());
            bad.usage(bad.getErr());
            return EXIT_USAGE;
        });
        return cl;
    }

    /** Checked options to a configuration; ParameterException (exit 2) for a value out of range. */
    MediatorConfig config() {
        fromContractEnvironment();
        MediatorConfig.Builder b = MediatorConfig.builder()
                .backend(backend)
                .queueCap(positive("--queue-cap", queueCap))
                .aging(Duration.ofMillis(nonNegative("--aging-ms", agingMs)))
                .workersPerPool(positive("--workers-per-pool", workersPerPool))
                .maxConnections(positive("--max-connections", maxConnections))
                .holdFile(holdFile)
                .frameTimeout(Duration.ofMillis(positive("--frame-timeout-ms", frameTimeoutMs)))
                .unboundIdleTimeout(Duration.ofMillis(positive("--unbound-idle-ms", unboundIdleMs)))
                .shutdownGrace(Duration.ofMillis(nonNegative("--shutdown-grace-ms", shutdownGraceMs)))
                .maxOutstanding(nonNegative("--max-outstanding", maxOutstanding))
                .requestLog(!noRequestLog);
        if (socket != null) {
            b.socketPath(socket);
        }
        if (logFile != null) {
            b.logFile(logFile);
        }
        try {
            if (allowedUids != null) {
                b.allowedUids(allowedUids);
            }
            if (socketMode != null) {
                b.socketMode(socketMode);
            }
        } catch (IllegalArgumentException e) {
            throw usage(e.getMessage());
        }
        if (parentPid != null && parentPid <= 0) {
            throw usage("--parent-pid must be > 0");
        }
        try {
            if (!tenants.isEmpty()) {
                TenantPolicy policy = TenantPolicy.of(java.util.Map.of());
                for (String t : tenants) {
                    policy = policy.withSpec(t);
                }
                b.tenants(policy);
            }
            return b.build();
        } catch (IllegalArgumentException e) {
            throw usage(e.getMessage());
        }
    }

    /** Options not on the command line from the contract's environment variables (MediatorContract), when set. */
    private void fromContractEnvironment() {
        CommandLine.ParseResult given = spec.commandLine().getParseResult();
        if (!given.hasMatchedOption("--socket") && envValue(MediatorContract.ENV_SOCKET) != null) {
            socket = Path.of(envValue(MediatorContract.ENV_SOCKET));
        }
        if (!given.hasMatchedOption("--hold-file") && envValue(MediatorContract.ENV_HOLD_FILE) != null) {
            holdFile = Path.of(envValue(MediatorContract.ENV_HOLD_FILE));
        }
        if (!given.hasMatchedOption("--queue-cap")) {
            queueCap = envInt(MediatorContract.ENV_QUEUE_CAP, queueCap);
        }
        if (!given.hasMatchedOption("--aging-ms")) {
            agingMs = envInt(MediatorContract.ENV_AGING_MS, agingMs);
        }
        if (!given.hasMatchedOption("--max-connections")) {
            maxConnections = envInt(MediatorContract.ENV_MAX_CONNECTIONS, maxConnections);
        }
    }

    private String envValue(String name) {
        String v = env.apply(name);
        return v == null || v.isBlank() ? null : v.strip();
    }

    private int envInt(String name, int otherwise) {
        String v = envValue(name);
        if (v == null) {
            return otherwise;
        }
        try {
            return Integer.parseInt(v);
        } catch (NumberFormatException e) {
            throw usage(name + " must be a whole number, not '" + v + "'");
        }
    }

    @Override
    public Integer call() throws Exception {
        MediatorConfig config = config();
        // before anything touches java.util.logging: keep the handlers open through our shutdown hook
        if (System.getProperty("java.util.logging.manager") == null) {
            System.setProperty("java.util.logging.manager", MediatorLogManager.class.getName());
        }
        configureConsoleLogging();
        Mediator mediator = new Mediator(config);
        try {
            mediator.start();
        } catch (MediatorStartException e) {
            System.err.println("mediator-lite: " + e.getMessage());
            return EXIT_START_FAILED;
        }
        // SIGTERM/SIGINT are a normal stop: handled here, so the JVM exits 0 instead of the 128+signal that the
        // JVM's default handling of them gives (the shutdown hook alone cannot change that status)
        CountDownLatch stopRequested = new CountDownLatch(1);
        for (String signal : new String[] {"TERM", "INT"}) {
            sun.misc.Signal.handle(new sun.misc.Signal(signal), s -> stopRequested.countDown());
        }
        // any other orderly exit (System.exit from the parent watch) still stops the mediator first
        Runtime.getRuntime().addShutdownHook(new Thread(stopAndFlush(mediator), "mediator-shutdown"));
        if (parentPid != null) {
            watchParent(parentPid);
        }
        stopRequested.await();
        stopAndFlush(mediator).run();
        return EXIT_OK;
    }

    private static Runnable stopAndFlush(Mediator mediator) {
        return () -> {
            try {
                mediator.close();
            } finally {
                MediatorLogManager.resetAtExit();
            }
        };
    }

    /** The daemon leaves with its parent, even if the parent was SIGKILLed and never called close. */
    private static void watchParent(long pid) {
        boolean procMounted = Files.isDirectory(Path.of("/proc/self"));
        Thread t = new Thread(
                () -> {
                    while (true) {
                        boolean alive = procMounted
                                ? alive(Path.of("/proc", Long.toString(pid)))
                                : ProcessHandle.of(pid)
                                        .map(ProcessHandle::isAlive)
                                        .orElse(false);
                        if (!alive) {
                            Logger.getLogger("dev.vgpuhil.mediator")
                                    .warning("parent process " + pid + " is gone; exiting");
                            System.exit(0);
                        }
                        try {
                            Thread.sleep(500);
                        } catch (InterruptedException e) {
                            return;
                        }
                    }
                },
                "mediator-parent-watch");
        t.setDaemon(true);
        t.start();
    }

    /**
     * Whether the process of {@code /proc/<pid>} ({@code proc}) lives: its stat's state field is neither Z (a
     * zombie: dead, not yet reaped - its directory is still there) nor X. Reading stat takes a file descriptor:
     * when that fails for another reason than the process being gone (out of fds, EMFILE), a stat of the
     * directory, which needs none, has the last word - a daemon out of fds must not conclude its parent died.
     */
    static boolean alive(Path proc) {
        String stat;
        try {
            // bytes as Latin-1: comm is whatever the process named itself, not necessarily UTF-8
            stat = new String(Files.readAllBytes(proc.resolve("stat")), java.nio.charset.StandardCharsets.ISO_8859_1);
        } catch (java.nio.file.NoSuchFileException e) {
            return false;
        } catch (IOException | RuntimeException e) {
            return Files.exists(proc);
        }
        // "pid (comm) S ...": comm may hold spaces and parentheses, the state follows the last ')'
        int close = stat.lastIndexOf(')');
        if (close < 0 || close + 2 >= stat.length()) {
            return Files.exists(proc);
        }
        char state = stat.charAt(close + 2);
        return state != 'Z' && state != 'X' && state != 'x';
    }

    private static void configureConsoleLogging() {
        Logger root = Logger.getLogger("");
        for (Handler h : root.getHandlers()) {
            root.removeHandler(h);
        }
        ConsoleHandler console = new ConsoleHandler(); // stderr
        console.setFormatter(new OneLineFormatter());
        console.setLevel(Level.INFO);
        root.addHandler(console);
    }

    private ParameterException usage(String message) {
        return new ParameterException(spec.commandLine(), message);
    }

    private int positive(String opt, int n) {
        if (nonNegative(opt, n) == 0) {
            throw usage(opt + " must be > 0");
        }
        return n;
    }

    private int nonNegative(String opt, int n) {
        if (n < 0) {
            throw usage(opt + " must not be negative: " + n);
        }
        return n;
    }

    /** {@code --backend} through {@link BackendChoice#parse}, so the message names the choices. */
    static final class BackendConverter implements CommandLine.ITypeConverter<BackendChoice> {
        @Override
        public BackendChoice convert(String value) {
            try {
                return BackendChoice.parse(value);
            } catch (IllegalArgumentException e) {
                throw new CommandLine.TypeConversionException(e.getMessage());
            }
        }
    }
}

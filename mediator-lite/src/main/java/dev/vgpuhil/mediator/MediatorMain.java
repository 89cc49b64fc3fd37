package dev.vgpuhil.mediator;

import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.logging.ConsoleHandler;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * {@code java -jar mediator-lite.jar [options]}: runs the mediator until SIGTERM/SIGINT, or until the process
 * named by --parent-pid is gone. Exit status: 0 after a normal stop, 2 for a bad command line, 3 when it
 * cannot start (socket in use, --backend cuda without a GPU, ...).
 */
public final class MediatorMain {
    static final int EXIT_USAGE = 2;
    static final int EXIT_START_FAILED = 3;

    private static final String USAGE = String.join("\n",
            "usage: java -jar mediator-lite.jar [options]",
            "  --socket PATH            Unix socket to listen on (default /tmp/vgpu-mediator.sock,",
            "                           or the system property vgpu.mediator.defaultSocket if set)",
            "  --backend cpu|cuda|auto  compute backend (default auto: CUDA when a device answers, else CPU)",
            "  --allowed-uids U,U-U,... peer uids and uid ranges allowed to connect, e.g. 0,65536-131071",
            "                           (XCP-ng: qemu_base+domid) (default: own uid and 0)",
            "  --socket-mode MODE       the socket's mode, octal (default 0600; 0666 when other uids connect)",
            "  --queue-cap N            queued requests per vm_id before QUEUE_FULL (default 64)",
            "  --aging-ms N             wait before a request moves up one priority class (default 1000, 0 = off)",
            "  --tenant VM:CEILING      allow vm_id VM up to priority low|medium|high; repeatable; '*' = others.",
            "                           Without any --tenant every vm_id may use every priority",
            "  --workers-per-pool N     workers per pool (default 1)",
            "  --max-connections N      connections beyond N are refused (default 256)",
            "  --frame-timeout-ms N     a frame must be complete N ms after its first byte, else the",
            "                           connection is closed (slow-loris guard; default 5000)",
            "  --unbound-idle-ms N      a connection without an accepted HELLO is closed after N ms",
            "                           without a frame (default 30000)",
            "  --shutdown-grace-ms N    on SIGTERM, running requests get N ms to finish before they are",
            "                           answered SHUTDOWN (default 5000; queued ones get SHUTDOWN at once)",
            "  --log-file PATH          also append the log to PATH",
            "  --no-request-log         no per-request log line",
            "  --parent-pid PID         exit when process PID is gone (checked every 500 ms)",
            "  --bench [opts]           run the benchmark instead (MediatorBenchmark; --bench --help)",
            "  -h, --help               this text",
            "",
            "Stops on SIGTERM/SIGINT: queued and (after the grace) running requests are answered SHUTDOWN,",
            "the socket file is removed and the counters are logged. The log goes to stderr.",
            "Exit status: 0 after a normal stop, 2 bad command line, 3 cannot start (socket in use,",
            "--backend cuda without a usable CUDA GPU, ...).");

    private MediatorMain() {}

    public static void main(String[] args) throws Exception {
        for (int i = 0; i < args.length; i++) {
            if (args[i].equals("--bench")) {
                dev.vgpuhil.mediator.bench.MediatorBenchmark.main(java.util.Arrays.copyOfRange(args, i + 1, args.length));
                return;
            }
        }
        // before anything touches java.util.logging: keep the handlers open through our shutdown hook
        if (System.getProperty("java.util.logging.manager") == null) {
            System.setProperty("java.util.logging.manager", MediatorLogManager.class.getName());
        }
        configureConsoleLogging();
        Mediator.Builder b = Mediator.builder();
        Long parentPid = null;
        try {
            TenantPolicy tenants = null;
            for (int i = 0; i < args.length; i++) {
                String opt = args[i];
                switch (opt) {
                    case "--help", "-h" -> {
                        System.out.println(USAGE);
                        return;
                    }
                    case "--no-request-log" -> b.requestLog(false);
                    default -> {
                        if (i + 1 >= args.length) {
                            throw new IllegalArgumentException("option " + opt + " needs a value");
                        }
                        String v = args[++i];
                        switch (opt) {
                            case "--socket" -> b.socketPath(Path.of(v));
                            case "--backend" -> b.backend(BackendChoice.parse(v));
                            case "--allowed-uids" -> b.allowedUids(v);
                            case "--socket-mode" -> b.socketMode(v);
                            case "--queue-cap" -> b.queueCap(positive(opt, v));
                            case "--aging-ms" -> b.aging(Duration.ofMillis(nonNegative(opt, v)));
                            case "--tenant" -> tenants = (tenants == null ? TenantPolicy.of(java.util.Map.of()) : tenants)
                                    .withSpec(v);
                            case "--workers-per-pool" -> b.workersPerPool(positive(opt, v));
                            case "--max-connections" -> b.maxConnections(positive(opt, v));
                            case "--frame-timeout-ms" -> b.frameTimeout(Duration.ofMillis(positive(opt, v)));
                            case "--unbound-idle-ms" -> b.unboundIdleTimeout(Duration.ofMillis(positive(opt, v)));
                            case "--shutdown-grace-ms" -> b.shutdownGrace(Duration.ofMillis(nonNegative(opt, v)));
                            case "--log-file" -> b.logFile(Path.of(v));
                            case "--parent-pid" -> parentPid = (long) positive(opt, v);
                            default -> throw new IllegalArgumentException("unknown option " + opt);
                        }
                    }
                }
            }
            if (tenants != null) {
                b.tenants(tenants);
            }
        } catch (IllegalArgumentException e) {
            System.err.println("mediator-lite: " + e.getMessage());
            System.err.println(USAGE);
            System.exit(EXIT_USAGE);
            return;
        }

        Mediator mediator = b.build();
        try {
            mediator.start();
        } catch (MediatorStartException e) {
            System.err.println("mediator-lite: " + e.getMessage());
            System.exit(EXIT_START_FAILED);
            return;
        }
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try {
                mediator.close();
            } finally {
                stopped.countDown();
                MediatorLogManager.resetAtExit();
            }
        }, "mediator-shutdown"));
        if (parentPid != null) {
            watchParent(parentPid);
        }
        stopped.await();
    }

    /** The daemon leaves with its parent, even if the parent was SIGKILLed and never called close. */
    private static void watchParent(long pid) {
        Thread t = new Thread(() -> {
            while (true) {
                boolean alive = ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false);
                if (!alive) {
                    Logger.getLogger("dev.vgpuhil.mediator").warning("parent process " + pid + " is gone; exiting");
                    System.exit(0);
                }
                try {
                    Thread.sleep(500);
                } catch (InterruptedException e) {
                    return;
                }
            }
        }, "mediator-parent-watch");
        t.setDaemon(true);
        t.start();
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

    private static int positive(String opt, String v) {
        int n = nonNegative(opt, v);
        if (n == 0) {
            throw new IllegalArgumentException(opt + " must be > 0");
        }
        return n;
    }

    private static int nonNegative(String opt, String v) {
        try {
            int n = Integer.parseInt(v.trim());
            if (n < 0) {
                throw new IllegalArgumentException(opt + " must not be negative: " + v);
            }
            return n;
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(opt + " expects a number, got '" + v + "'");
        }
    }
}

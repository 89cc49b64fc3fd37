package dev.vgpuhil.agent;

import static dev.vgpuhil.protocol.VgpuProtocol.*;

import dev.vgpuhil.common.Percentile;
import java.io.PrintStream;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.Arrays;
import java.util.Random;

/**
 * The guest agent: {@code java -Xint -jar guest-agent.jar <command> [--opts]}, JSON lines on stdout
 * (docs/CONTRACTS.md "Guest agent"). Exit code 0 iff everything passed, 1 if a check/request failed, 2 on an
 * error ({@code {"type":"error","message":...}}: no device, no permission, bad arguments).
 *
 * <p>Kept light for -Xint under TCG: no lambdas, streams, String.format or regex; string concatenation is compiled
 * to StringBuilder code ({@code -XDstringConcat=inline}); only JNA and a handful of java.base classes load.
 */
public final class Main {
    private Main() {}

    public static void main(String[] argv) {
        int rc = run(argv, System.out);
        System.out.flush();
        System.exit(rc);
    }

    /** Runs one command, printing JSON lines to out; returns the exit code. */
    public static int run(String[] argv, PrintStream out) {
        try {
            Args args = Args.parse(argv);
            switch (args.command) {
                case "help":
                    out.println(Json.of("usage").str("text", Args.USAGE).line());
                    return 0;
                case "serve":
                    return AgentServer.serve(args, out);
                default:
                    validate(args);
                    return withDevice(args, out);
            }
        } catch (AgentException e) {
            out.println(Json.error(e.getMessage()));
            return 2;
        } catch (RuntimeException | LinkageError e) {
            out.println(Json.error("internal error: " + e));
            return 2;
        } finally {
            out.flush();
        }
    }

    /** Checks every option value before the device is touched. */
    private static void validate(Args args) throws AgentException {
        timeoutNanos(args);
        if (args.command.equals("selftest")) {
            expectations(args);
        } else if (args.command.equals("vector-add")) {
            elements(args);
            irqMode(args);
            args.number("--seed", 1, Long.MIN_VALUE, Long.MAX_VALUE);
            args.number("--repeat", 1, 1, 1_000_000);
            args.number("--request-id", 1, 0, 0xFFFFFFFFL);
        } else if (args.command.equals("bench")) {
            args.number("--count", 100, 1, 10_000_000);
            args.choice("--op", "echo", "echo");
            args.number("--bytes", 64, 0, REQ_BUFFER_SIZE - REQUEST_HEADER_SIZE);
            args.number("--request-id", 1, 0, 0xFFFFFFFFL);
        }
    }

    private static long timeoutNanos(Args args) throws AgentException {
        return args.number("--timeout-ms", 10_000, 1, 3_600_000) * 1_000_000L;
    }

    static int elements(Args args) throws AgentException {
        long n = args.number("--elements", 16, Long.MIN_VALUE, Long.MAX_VALUE);
        if (n > VECTOR_ADD_MAX_ELEMENTS) {
            throw new AgentException("--elements " + n + " is too many: at most " + VECTOR_ADD_MAX_ELEMENTS
                    + " (VGPU_VECTOR_ADD_MAX_ELEMENTS) fit the " + REQ_BUFFER_SIZE + "-byte request buffer ("
                    + REQUEST_HEADER_SIZE + " + 8 bytes per element)");
        }
        if (n < 1) {
            throw new AgentException("--elements must be at least 1, got " + n);
        }
        return (int) n;
    }

    static SelfTest.Expect expectations(Args args) throws AgentException {
        SelfTest.Expect e = new SelfTest.Expect();
        String pool = args.choice("--expect-pool", null, "A", "B");
        if (pool != null) {
            e.pool = pool.equals("A") ? POOL_A : POOL_B;
        }
        String prio = args.choice("--expect-priority", null, "low", "medium", "high", "0", "1", "2");
        if (prio != null) {
            e.priority = prio.equals("low") || prio.equals("0")
                    ? PRIORITY_LOW
                    : prio.equals("medium") || prio.equals("1") ? PRIORITY_MEDIUM : PRIORITY_HIGH;
        }
        if (args.has("--expect-vm")) {
            e.vmId = args.number("--expect-vm", 0, 0, 0xFFFFFFFFL);
        }
        e.mediator = args.choice("--mediator", "absent", "present", "absent").equals("present");
        e.timeoutNanos = timeoutNanos(args);
        return e;
    }

    /** vector-add's completion mode: null (STATUS polling), "uio" (interrupt) or "poll" (IRQ_STATUS polling). */
    static String irqMode(Args args) throws AgentException {
        return args.choice("--irq", null, "uio", "poll");
    }

    private static int withDevice(Args args, PrintStream out) throws AgentException {
        String sysfs = args.string("--sysfs", null);
        Path root = sysfs == null ? PciDevice.SYSFS_PCI_DEVICES : Paths.get(sysfs);
        PciDevice dev = PciDevice.find(root, args.string("--bdf", null));
        UioBinding uio = null;
        if (args.command.equals("vector-add") && "uio".equals(irqMode(args))) {
            // drivers next to devices (/sys/bus/pci/drivers); modprobe only on the real sysfs, never in the tests
            Path drivers = root.toAbsolutePath().getParent().resolve("drivers");
            uio = UioBinding.bind(
                    dev,
                    drivers,
                    Paths.get(args.string("--devfs", "/dev")),
                    sysfs == null ? new UioBinding.Modprobe() : null,
                    System.nanoTime() + timeoutNanos(args));
        }
        dev.enable();
        try (MappedBar0 bar = MappedBar0.open(dev.resource0(), BAR0_SIZE)) {
            Vgpu v = new Vgpu(bar);
            if (uio != null) {
                try (UioInterrupts irq = UioInterrupts.open(uio.node, dev.dir.resolve("config"))) {
                    return vectorAdd(args, v, irq, uio.name, uio.irq, out);
                }
            }
            switch (args.command) {
                case "probe":
                    return probe(dev, v, out);
                case "dump":
                    return dump(v, out);
                case "selftest":
                    return new SelfTest(v, dev, expectations(args), out).run() == 0 ? 0 : 1;
                case "vector-add":
                    return vectorAdd(args, v, out);
                case "bench":
                    return bench(args, v, out);
                default:
                    throw new AgentException("unknown command " + args.command);
            }
        }
    }

    static int probe(PciDevice dev, Vgpu v, PrintStream out) {
        int pool = v.reg(REG_POOL_ID);
        String poolId = pool >= 0x20 && pool < 0x7F ? String.valueOf((char) pool) : Hex.h8(pool);
        out.println(Json.of("probe")
                .str("bdf", dev.bdf)
                .num("vendor", dev.vendor)
                .num("device", dev.device)
                .num("revision", dev.revision)
                .str("poolId", poolId)
                .u32("priority", v.reg(REG_PRIORITY))
                .u32("vmId", v.reg(REG_VM_ID))
                .u32("protocolVersion", v.reg(REG_PROTOCOL_VER))
                .u32("capabilities", v.reg(REG_CAPABILITIES))
                .line());
        return 0;
    }

    static int dump(Vgpu v, PrintStream out) {
        Json j = Json.of("registers");
        // names and offsets from VgpuProtocol.Register, the Java view of the header's VGPU_REGISTERS X-macro
        Register[] regs = Register.values();
        for (int i = 0; i < regs.length; i++) {
            j.u32(regs[i].name(), v.reg(regs[i].offset()));
        }
        out.println(j.line());
        return 0;
    }

    /** vector-add polling STATUS, or IRQ_STATUS with {@code --irq=poll}; {@code --irq} (uio) needs the overload. */
    static int vectorAdd(Args args, Vgpu v, PrintStream out) throws AgentException {
        return vectorAdd(args, v, null, null, -1, out);
    }

    /**
     * vector-add; with {@code interrupts} (for {@code --irq}, i.e. {@code --irq=uio}) every completion is taken from
     * the interrupt ({@link Vgpu#runWithInterrupt}); uioName and linuxIrq only label the output.
     */
    static int vectorAdd(Args args, Vgpu v, Interrupts interrupts, String uioName, int linuxIrq, PrintStream out)
            throws AgentException {
        int n = elements(args);
        long seed = args.number("--seed", 1, Long.MIN_VALUE, Long.MAX_VALUE);
        int repeat = (int) args.number("--repeat", 1, 1, 1_000_000);
        String mode = irqMode(args);
        if ("uio".equals(mode) && interrupts == null) {
            throw new AgentException("--irq needs the device's interrupt (uio_pci_generic), which was not set up");
        }
        boolean irqPoll = "poll".equals(mode);
        long timeout = timeoutNanos(args);
        int requestId = (int) args.number("--request-id", defaultRequestId(), 0, 0xFFFFFFFFL);
        // a client's back-off: while the device relinks to a restarted mediator its requests fail at once, and a
        // run without one would race the relink (all its remaining requests gone in milliseconds)
        long backoffMs = args.number("--backoff-ms", 0, 0, 60_000);
        Random rnd = new Random(seed);
        int failures = 0;
        for (int r = 0; r < repeat; r++) {
            float[] a = new float[n];
            float[] b = new float[n];
            for (int i = 0; i < n; i++) {
                a[i] = rnd.nextFloat() * 2000f - 1000f;
                b[i] = rnd.nextFloat() * 2000f - 1000f;
            }
            int id = requestId + r;
            int[] words = Requests.vectorAdd(a, b);
            int len = Requests.vectorAddLength(n);
            Vgpu.Completion c = interrupts != null
                    ? v.runWithInterrupt(words, len, id, timeout, interrupts)
                    : v.run(words, len, id, timeout, irqPoll);
            int mismatch = -2;
            if (c.status == STATUS_DONE && c.responseLen == 4 * n) {
                mismatch = Requests.firstVectorAddMismatch(a, b, v.readResponseWords(4 * n));
            }
            boolean correct = mismatch == -1;
            if (!correct || c.timedOut) {
                failures++;
            }
            Json j = Json.of("vector-add")
                    .num("elements", n)
                    .u32("requestId", id)
                    .u32("status", c.status)
                    .u32("errorCode", c.errorCode)
                    .bool("correct", correct)
                    .num("micros", c.micros)
                    .u32("responseLen", c.responseLen)
                    .bool("timedOut", c.timedOut)
                    .str("completion", interrupts != null ? "interrupt" : irqPoll ? "irq-status-poll" : "status-poll");
            if (interrupts != null || irqPoll) {
                j.u32("irqStatus", c.irqStatus).u32("irqStatusAfterClear", c.irqAfterClear);
            }
            if (interrupts != null) {
                j.num("irqCount", c.irqCount)
                        .num("irqWakeups", c.irqWakeups)
                        .str("uio", uioName)
                        .num("linuxIrq", linuxIrq);
                if (c.timedOut && (c.irqStatus & IRQ_STATUS_COMPLETE) != 0) {
                    j.str(
                            "note",
                            "the device completed (IRQ_STATUS " + Hex.h8(c.irqStatus)
                                    + ") but no interrupt arrived within --timeout-ms");
                }
            }
            if (mismatch >= 0) {
                j.num("mismatchIndex", mismatch);
            }
            out.println(j.line());
            out.flush();
            if (backoffMs > 0 && c.status != STATUS_DONE && r + 1 < repeat) {
                try {
                    Thread.sleep(backoffMs);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    break;
                }
            }
        }
        return failures == 0 ? 0 : 1;
    }

    static int bench(Args args, Vgpu v, PrintStream out) throws AgentException {
        int count = (int) args.number("--count", 100, 1, 10_000_000);
        String op = args.choice("--op", "echo", "echo");
        int bytes = (int) args.number("--bytes", 64, 0, REQ_BUFFER_SIZE - REQUEST_HEADER_SIZE);
        long timeout = timeoutNanos(args);
        int requestId = (int) args.number("--request-id", defaultRequestId(), 0, 0xFFFFFFFFL);
        byte[] data = new byte[bytes];
        new Random(count).nextBytes(data);
        int[] words = Requests.echo(data);
        long[] micros = new long[count];
        int errors = 0;
        for (int i = 0; i < count; i++) {
            Vgpu.Completion c = v.run(words, REQUEST_HEADER_SIZE + bytes, requestId + i, timeout, false);
            micros[i] = c.micros;
            boolean ok = c.status == STATUS_DONE
                    && c.responseLen == bytes
                    && Arrays.equals(Requests.toBytes(v.readResponseWords(bytes), bytes), data);
            if (!ok) {
                errors++;
            }
        }
        long sum = 0;
        for (long m : micros) {
            sum += m;
        }
        Arrays.sort(micros);
        out.println(Json.of("bench")
                .num("count", count)
                .num("p50Micros", Percentile.nearestRank(micros, 50))
                .num("p99Micros", Percentile.nearestRank(micros, 99))
                .num("errors", errors)
                .str("op", op)
                .num("bytes", bytes)
                .num("minMicros", micros[0])
                .num("maxMicros", micros[count - 1])
                .num("meanMicros", sum / count)
                .line());
        return errors == 0 ? 0 : 1;
    }

    /** Distinct per run, so a late reply for an earlier run's request is never taken for this one. */
    private static long defaultRequestId() {
        return (System.nanoTime() >>> 10) & 0x7FFF0000L | 0x1000L;
    }
}

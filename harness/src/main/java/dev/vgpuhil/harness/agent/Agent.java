package dev.vgpuhil.harness.agent;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.vgpuhil.harness.GuestShell;
import dev.vgpuhil.harness.junit.Shipped;
import dev.vgpuhil.harness.report.BootFailure;
import dev.vgpuhil.harness.report.ProtocolFailure;
import dev.vgpuhil.harness.report.Reporting;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The guest agent as the host drives it: the shaded jar is in every fresh guest (so the build just made is what
 * runs). The CI guest boots with it in its initramfs, and its init starts it resident ({@code serve}): each call is
 * then one connection to it through the SSH session ({@link #resident}), no JVM start. Into any other guest it is
 * uploaded over SSH ({@link #install}) and each call runs {@code java -Xint -jar <jar> <command>}. Either way a call
 * parses the command's JSON lines (docs/CONTRACTS.md), has a deadline, and attaches its output to the running Allure
 * test.
 */
public final class Agent {
    /** Where {@link #install} uploads the jar. */
    public static final String REMOTE_JAR = "/tmp/guest-agent.jar";
    /** Where the CI guest's initramfs carries it (not under /tmp: the init mounts a tmpfs there). */
    public static final String IMAGE_JAR = "/opt/vgpu-hil/guest-agent.jar";
    /** JNA's native library for the guest, as the jar carries it. */
    static final String JNA_IN_JAR = "com/sun/jna/linux-x86-64/libjnidispatch.so";
    /** Where the CI guest's initramfs carries JNA's library, unpacked: a JVM started there need not unpack it. */
    static final String IMAGE_JNA_DIR = "/opt/vgpu-hil/jna";
    /**
     * The resident agent's JVM options and jar, as a {@code java @argfile} the CI guest's init starts it with ({@code
     * java @/opt/vgpu-hil/agent.args serve}; its presence is what makes the init start it). JNA is told where its
     * library is unpacked already, so it unpacks none of its own.
     */
    static final String IMAGE_ARGS = "/opt/vgpu-hil/agent.args";

    /**
     * C1 only, not -Xint as a one-shot run: a JVM that serves the whole test compiles what it repeats. No bytecode
     * verification of the jar's classes (the build's own jar) and no perf-data file: both cost the boot under TCG.
     */
    static final List<String> IMAGE_JVM = List.of(
            "-XX:TieredStopAtLevel=1",
            "-XX:+UnlockDiagnosticVMOptions",
            "-XX:-BytecodeVerificationRemote",
            "-XX:-UsePerfData",
            "-Djna.boot.library.path=" + IMAGE_JNA_DIR,
            "-Djna.nounpack=true",
            "-jar",
            IMAGE_JAR);

    static final Duration UPLOAD_DEADLINE = Duration.ofSeconds(60);
    /** -Xint under TCG: a JVM start plus a few thousand MMIO accesses take seconds, not minutes. */
    static final Duration DEFAULT_DEADLINE = Duration.ofSeconds(90);

    private final GuestShell shell;
    private final String jar;
    private final String label;
    private final String bdf;
    /** The resident agent's port in the guest, or 0: each command is a JVM of its own. */
    private final int residentPort;
    /** An explicit host deadline for every command ({@link #withDeadline}); null: from {@link #deadlines}. */
    private final Duration deadline;

    private final RequestDeadlines deadlines;

    private Agent(
            GuestShell shell,
            String jar,
            String label,
            String bdf,
            int residentPort,
            Duration deadline,
            RequestDeadlines deadlines) {
        this.shell = shell;
        this.jar = jar;
        this.label = label;
        this.bdf = bdf;
        this.residentPort = residentPort;
        this.deadline = deadline;
        this.deadlines = deadlines;
    }

    /** The jar to upload: {@link dev.vgpuhil.common.Setting#AGENT_JAR}, else the one shipped in the harness jar. */
    public static Path localJar() {
        return Shipped.agentJar();
    }

    /**
     * Checks that the agent's jar is in the guest and turns on memory decoding (PCI COMMAND.MEM) of the devices at
     * {@code pciAddresses} by writing 1 to their sysfs {@code enable}, as the agent does before each run (one SSH
     * command for both). Linux leaves a device without a driver disabled, so until then QEMU has BAR0 unmapped and the
     * host's register dump before the first test could not read the registers.
     */
    public void checkAndEnable(List<String> pciAddresses) {
        StringBuilder cmd =
                new StringBuilder("[ -s " + jar + " ] || { echo \"no agent jar at " + jar + "\"; exit 1; }; ");
        for (String bdf : pciAddresses) {
            cmd.append("[ -e /sys/bus/pci/devices/")
                    .append(bdf)
                    .append("/driver ] || echo 1 > /sys/bus/pci/devices/")
                    .append(bdf)
                    .append("/enable || exit 1; ");
        }
        GuestShell.Result r = shell.exec(cmd.toString(), UPLOAD_DEADLINE);
        if (r.exitCode() != 0) {
            throw new BootFailure(
                    "no agent jar, or cannot enable the vgpu-stub devices " + pciAddresses + " in " + label + ": "
                            + (r.stdout() + r.stderr()).strip(),
                    null);
        }
    }

    /** Uploads the agent into the guest and returns it (label names the VM in reports); the device's default timeout. */
    public static Agent install(GuestShell shell, Path jar, String label) {
        return install(shell, jar, label, RequestDeadlines.ofSpec(0));
    }

    /** As {@link #install(GuestShell, Path, String)} for devices with the given request deadlines. */
    public static Agent install(GuestShell shell, Path jar, String label, RequestDeadlines deadlines) {
        try {
            shell.upload(jar, REMOTE_JAR, UPLOAD_DEADLINE);
        } catch (RuntimeException e) {
            throw new BootFailure("cannot upload the guest agent into " + label, e);
        }
        return new Agent(shell, REMOTE_JAR, label, null, 0, null, deadlines);
    }

    /**
     * The resident agent the CI guest's init started from its initramfs ({@link #imageFiles}), serving on {@code
     * guestPort} of the guest's loopback ({@link ResidentAgentWait#port}); {@link #checkAndEnable} checks the jar.
     */
    public static Agent resident(GuestShell shell, int guestPort, String label, RequestDeadlines deadlines) {
        if (guestPort <= 0 || guestPort > 65535) {
            throw new IllegalArgumentException("guest port " + guestPort);
        }
        return new Agent(shell, IMAGE_JAR, label, null, guestPort, null, deadlines);
    }

    /**
     * The files a CI guest's initramfs carries for {@link #resident} ({@link dev.vgpuhil.images.InitramfsOverlay}):
     * the jar at {@link #IMAGE_JAR}, JNA's library from it unpacked into {@link #IMAGE_JNA_DIR}, and {@link
     * #IMAGE_ARGS}.
     */
    public static Map<String, byte[]> imageFiles(Path jar) {
        try {
            byte[] bytes = java.nio.file.Files.readAllBytes(jar);
            byte[] jna = null;
            try (java.util.zip.ZipInputStream zip =
                    new java.util.zip.ZipInputStream(new java.io.ByteArrayInputStream(bytes))) {
                for (java.util.zip.ZipEntry e; (e = zip.getNextEntry()) != null; ) {
                    if (e.getName().equals(JNA_IN_JAR)) {
                        jna = zip.readAllBytes();
                        break;
                    }
                }
            }
            if (jna == null) {
                throw new IllegalArgumentException(jar + " holds no " + JNA_IN_JAR + ": not the shaded guest agent");
            }
            return Map.of(
                    IMAGE_JAR,
                    bytes,
                    IMAGE_JNA_DIR + "/libjnidispatch.so",
                    jna,
                    IMAGE_ARGS,
                    (String.join("\n", IMAGE_JVM) + "\n").getBytes(StandardCharsets.UTF_8));
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException("cannot read the guest agent " + jar, e);
        }
    }

    /** The jar's path in the guest. */
    public String jar() {
        return jar;
    }

    /** The same agent addressing the device at {@code bdf} (when the guest has several). */
    public Agent forDevice(String pciAddress) {
        return new Agent(shell, jar, label, pciAddress, residentPort, deadline, deadlines);
    }

    /** The same agent with a host deadline of {@code d} for each command (a long run of many requests). */
    public Agent withDeadline(Duration d) {
        return new Agent(shell, jar, label, bdf, residentPort, d, deadlines);
    }

    /** The deadlines its requests run under (from the device's timeout_ms). */
    public RequestDeadlines deadlines() {
        return deadlines;
    }

    /** The host's deadline for one command: {@link #withDeadline}, else the request deadlines' (at least 90 s). */
    public Duration commandDeadline() {
        if (deadline != null) {
            return deadline;
        }
        Duration d = deadlines.agentCall();
        return d.compareTo(DEFAULT_DEADLINE) < 0 ? DEFAULT_DEADLINE : d;
    }

    public String label() {
        return label;
    }

    /** "VM 'a-low' request_id=1001 timed out (agent --timeout-ms=..., device timeout_ms=...)". */
    public String timeoutMessage(long requestId, String context) {
        return "VM '" + label + "' request_id=" + requestId + " timed out " + context + " (" + deadlines.describe()
                + ")";
    }

    /** Whether commands go to the resident agent (one connection each) rather than a JVM each. */
    public boolean isResident() {
        return residentPort > 0;
    }

    /** Runs one agent command and parses its output; the JSON lines are attached to the test. */
    public AgentRun run(String command, String... args) {
        List<String> argv = new ArrayList<>(List.of(command));
        argv.addAll(List.of(args));
        if (!argv.contains("--timeout-ms") && argv.stream().noneMatch(p -> p.startsWith("--timeout-ms="))) {
            // the agent outwaits its device: a late reply ends as the device's own TIMEOUT error
            argv.add("--timeout-ms");
            argv.add(Integer.toString(deadlines.agentTimeoutMs()));
        }
        if (bdf != null) {
            argv.add("--bdf");
            argv.add(bdf);
        }
        String line;
        GuestShell.Result r;
        if (isResident()) {
            line = "agent (resident, guest 127.0.0.1:" + residentPort + ") " + String.join(" ", argv);
            long t0 = System.nanoTime();
            byte[] reply = shell.exchange(
                    residentPort,
                    (String.join("\0", argv) + "\n").getBytes(StandardCharsets.UTF_8),
                    commandDeadline(),
                    line);
            r = residentResult(new String(reply, StandardCharsets.UTF_8), Duration.ofNanos(System.nanoTime() - t0));
        } else {
            List<String> parts = new ArrayList<>(List.of("java", "-Xint", "-jar", jar));
            parts.addAll(argv);
            line = String.join(" ", parts);
            r = shell.exec(line, commandDeadline());
        }
        AgentRun run = AgentRun.parse(line, r.exitCode(), r.stdout(), r.stderr(), r.took());
        Reporting.attachJsonLines("agent " + command + " on " + label + " (JSON lines)", r.stdout());
        if (!r.stderr().isBlank()) {
            Reporting.attachText("agent " + command + " on " + label + " (stderr)", r.stderr());
        }
        return run;
    }

    /**
     * A resident agent's reply as a one-shot run's result: its last line is {@code {"type":"exit","code":N}} (the
     * exit code; not part of the output). A reply without it (the agent or the guest died mid-command) exits -1.
     */
    static GuestShell.Result residentResult(String reply, Duration took) {
        String body = reply.endsWith("\n") ? reply.substring(0, reply.length() - 1) : reply;
        int cut = body.lastIndexOf('\n');
        String last = body.substring(cut + 1);
        if (last.startsWith("{\"type\":\"exit\"")) {
            try {
                com.fasterxml.jackson.databind.JsonNode code =
                        dev.vgpuhil.harness.JsonObjects.object(last).get("code");
                if (code != null && code.canConvertToInt()) {
                    return new GuestShell.Result(code.intValue(), cut < 0 ? "" : body.substring(0, cut + 1), "", took);
                }
            } catch (IllegalArgumentException e) {
                // not an exit line after all: reported below
            }
        }
        return new GuestShell.Result(
                -1,
                reply,
                "the resident agent's reply ended without its exit line (the agent or the guest died mid-command?)",
                took);
    }

    public Probe probe() {
        return Reporting.step("agent probe on " + label, () -> {
            AgentRun run = run("probe");
            List<ObjectNode> p = run.ofType("probe");
            if (p.isEmpty()) {
                throw new ProtocolFailure(
                        "agent probe on " + label + " found no vgpu-stub device: " + run.diagnostics());
            }
            return Probe.of(p.get(0));
        });
    }

    /**
     * Every check of the guide's test program, one Allure step per check. Does not assert. Options as the
     * agent takes them, e.g. "--expect-pool", "B", "--expect-priority", "high", "--expect-vm", "200",
     * "--mediator", "absent".
     */
    public Selftest selftest(String... options) {
        return Reporting.step("agent selftest " + String.join(" ", options) + " on " + label, () -> {
            AgentRun run = run("selftest", options);
            Selftest s = Selftest.fromAgent(run);
            if (s.checks().isEmpty()) {
                throw new ProtocolFailure("agent selftest on " + label + " printed no checks: " + run.diagnostics());
            }
            for (Selftest.Check c : s.checks()) {
                Reporting.result(c.toString(), c.pass());
            }
            return s;
        });
    }

    /**
     * The guide's client flow, {@code repeat} requests of {@code elements} random elements. With {@code irq} the
     * agent runs interrupt-driven ({@code --irq}: the device bound to uio_pci_generic, the agent sleeping until the
     * interrupt); otherwise it polls STATUS. Does not assert (a request that was not interrupt-driven when asked to
     * be is marked failed in the report, see {@link VectorAddResult#interruptDriven()}).
     */
    public List<VectorAddResult> vectorAdd(int elements, long seed, boolean irq, int repeat) {
        String mode = irq ? "interrupt-driven" : "polling";
        return Reporting.step(
                "agent vector-add " + elements + " elements x" + repeat + " (" + mode + ", seed " + seed + ") on "
                        + label,
                () -> {
                    List<String> args = new ArrayList<>(List.of(
                            "--elements",
                            Integer.toString(elements),
                            "--seed",
                            Long.toString(seed),
                            "--repeat",
                            Integer.toString(repeat)));
                    if (irq) {
                        args.add("--irq");
                    }
                    AgentRun run = run("vector-add", args.toArray(String[]::new));
                    List<VectorAddResult> results = run.ofType("vector-add").stream()
                            .map(VectorAddResult::of)
                            .toList();
                    if (results.isEmpty()) {
                        throw new ProtocolFailure(
                                "agent vector-add on " + label + " reported no request: " + run.diagnostics());
                    }
                    for (VectorAddResult v : results) {
                        String how = irq
                                ? "interrupt "
                                        + (v.interruptDriven()
                                                ? "#" + v.irqCount() + " on IRQ " + v.linuxIrq() + " (" + v.uio() + ")"
                                                : "MISSING (completion=" + v.completion() + ", timedOut=" + v.timedOut()
                                                        + ")")
                                : mode;
                        Reporting.result(
                                "request buffer <- a[" + v.elements() + "], b[" + v.elements() + "]; REQUEST_LEN="
                                        + (8 + 8 * v.elements()) + "; DOORBELL; " + how + " -> STATUS=" + v.status()
                                        + " ERROR_CODE="
                                        + v.errorCode() + "; response " + (v.correct() ? "verified" : "WRONG") + " ("
                                        + v.micros()
                                        + " us)",
                                v.done() && v.correct() && (!irq || v.interruptDriven()));
                    }
                    return results;
                });
    }

    public List<VectorAddResult> vectorAdd(int elements, long seed) {
        return vectorAdd(elements, seed, false, 1);
    }

    /** Doorbell round trips of the echo op (or another), percentiles as the agent measured them. */
    public BenchResult bench(int count, String op, int bytes) {
        return Reporting.step("agent bench " + count + "x " + op + " " + bytes + " bytes on " + label, () -> {
            AgentRun run =
                    run("bench", "--count", Integer.toString(count), "--op", op, "--bytes", Integer.toString(bytes));
            List<ObjectNode> b = run.ofType("bench");
            if (b.isEmpty()) {
                throw new ProtocolFailure("agent bench on " + label + " reported nothing: " + run.diagnostics());
            }
            return BenchResult.of(b.get(0));
        });
    }

    public BenchResult bench(int count) {
        return bench(count, "echo", 64);
    }

    /** All 16 registers by name, read by the agent through BAR0. */
    public Map<String, Long> dump() {
        return Reporting.step("agent dump on " + label, () -> {
            AgentRun run = run("dump");
            List<ObjectNode> regs = run.ofType("registers");
            if (regs.isEmpty()) {
                throw new ProtocolFailure("agent dump on " + label + " printed no registers: " + run.diagnostics());
            }
            Map<String, Long> out = new LinkedHashMap<>();
            regs.get(0).fields().forEachRemaining(e -> {
                if (e.getValue().isNumber()) {
                    out.put(e.getKey(), e.getValue().longValue());
                }
            });
            return out;
        });
    }
}

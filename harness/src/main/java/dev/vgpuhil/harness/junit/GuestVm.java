package dev.vgpuhil.harness.junit;

import static dev.vgpuhil.protocol.VgpuProtocol.*;

import dev.vgpuhil.harness.GuestShell;
import dev.vgpuhil.harness.SshKeys;
import dev.vgpuhil.harness.agent.Agent;
import dev.vgpuhil.harness.agent.GuideTestProgram;
import dev.vgpuhil.harness.agent.Selftest;
import dev.vgpuhil.harness.report.BootFailure;
import dev.vgpuhil.harness.report.ProtocolFailure;
import dev.vgpuhil.harness.report.Reporting;
import dev.vgpuhil.images.GuestImage;
import dev.vgpuhil.qemu.machine.Accelerator;
import dev.vgpuhil.qemu.machine.PciDevice;
import dev.vgpuhil.qemu.machine.QemuMachine;
import dev.vgpuhil.qemu.machine.QemuMachineException;
import dev.vgpuhil.qemu.machine.SerialConsole;
import dev.vgpuhil.qemu.machine.VgpuStubDevice;
import java.io.IOException;
import java.util.concurrent.atomic.AtomicReference;
import org.awaitility.Awaitility;
import org.awaitility.core.ConditionTimeoutException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * A running guest with vgpu-stub device(s): the {@link QemuMachine}, an SSH session ({@link GuestShell}, the run's
 * own key) and the freshly uploaded {@link Agent}. Device {@code i} sits at PCI slot {@code 0x10 + i} of bus 0, so
 * its address in the guest is known ({@link #device(int)}). Made by {@link VgpuVmExtension}; closing it shuts QEMU
 * down (QMP quit, SIGTERM, SIGKILL) and deletes the run directory unless a test failed.
 */
public final class GuestVm implements AutoCloseable {
    static final int FIRST_SLOT = 0x10;
    /** The CI guest's boot deadline (disks: {@link GuestChoice#defaultBootDeadline()}). */
    static final Duration BOOT_DEADLINE = GuestChoice.CI_BOOT_DEADLINE;
    static final Duration SSH_DEADLINE = Duration.ofSeconds(60);
    static final String[] REGISTER_NAMES = {"DOORBELL", "STATUS", "POOL_ID", "PRIORITY", "VM_ID", "ERROR_CODE",
            "REQUEST_LEN", "RESPONSE_LEN", "PROTOCOL_VER", "CAPABILITIES", "IRQ_CTRL", "IRQ_STATUS", "REQUEST_ID",
            "TIMESTAMP_LO", "TIMESTAMP_HI", "SCRATCH"};

    private final VmSpec spec;
    private final QemuMachine machine;
    private final GuestShell shell;
    private final Agent agent;
    private final Duration bootTime;
    private final Duration agentUploadTime;
    private final GuestSystem guest;
    private boolean keep;

    private GuestVm(VmSpec spec, GuestSystem guest, QemuMachine machine, GuestShell shell, Agent agent,
                    Duration bootTime, Duration agentUploadTime) {
        this.spec = spec;
        this.guest = guest;
        this.machine = machine;
        this.shell = shell;
        this.agent = agent;
        this.bootTime = bootTime;
        this.agentUploadTime = agentUploadTime;
    }

    /**
     * Boots the guest: QEMU (accelerator AUTO) with the CI image, {@code spec.devices()} vgpu-stubs pointing at
     * {@code mediatorSocket} (or at a path nobody serves), user networking with SSH forwarded; waits for
     * "vgpu-hil: ssh ready", logs in with the run's key and uploads the agent. Any failure is a {@link BootFailure}
     * whose cause is the launcher's exception; QEMU is then stopped and its run directory kept.
     */
    public static GuestVm boot(VmSpec spec, Path mediatorSocket, GuestImage image, SshKeys keys, Path agentJar) {
        return boot(spec, mediatorSocket, image, keys, agentJar, Accelerator.AUTO);
    }

    /** {@link #boot(VmSpec, Path, GuestImage, SshKeys, Path)} with a given accelerator. */
    public static GuestVm boot(VmSpec spec, Path mediatorSocket, GuestImage image, SshKeys keys, Path agentJar,
                               Accelerator accelerator) {
        return boot(spec, mediatorSocket, GuestSystem.ci(image), keys, agentJar, accelerator);
    }

    /**
     * Boots {@code guest} (see {@link GuestChoice}): the CI initramfs and the Debian disk are ready at their "vgpu-hil:
     * ssh ready" marker; a user's image, which prints no markers of ours, when SSH lets root in with the run's key
     * (its NoCloud seed carries the key) — both within the guest's boot deadline. Disk guests are then checked for a
     * Java 17+ runtime (the agent is a Java 17 program) before the agent is uploaded.
     */
    public static GuestVm boot(VmSpec spec, Path mediatorSocket, GuestSystem guest, SshKeys keys, Path agentJar,
                               Accelerator accelerator) {
        long t0 = System.nanoTime();
        Reporting.progress("booting VM '" + spec.name() + "' (" + guest.describe() + "; pool " + spec.pool()
                + ", priority " + spec.priority() + ", vm_id " + spec.vmId() + ", " + spec.devices()
                + " vgpu-stub, mediator " + (spec.mediator() && mediatorSocket != null ? mediatorSocket : "none") + ")");
        GuestSystem.BootPlan plan;
        try {
            plan = guest.plan(keys);
        } catch (RuntimeException e) {
            throw new BootFailure("VM '" + spec.name() + "': cannot prepare " + guest.describe(), e);
        }
        QemuMachine.Builder b = QemuMachine.builder()
                .name(spec.name())
                .memoryMb(spec.memoryMib())
                .accelerator(accelerator)
                .userNetworking(true)
                .keepRunDirectory(true); // deleted by close() unless a test failed
        plan.applyTo(b);
        if (!spec.qemu().isEmpty()) {
            b.binary(Path.of(spec.qemu())); // else the run's QEMU; either hosting (QemuBinary.hosting)
        }
        if (spec.mediator() && mediatorSocket != null) {
            b.mediatorSocket(mediatorSocket);
        }
        for (int i = 0; i < spec.devices(); i++) {
            VgpuStubDevice d = VgpuStubDevice.of(VgpuStubDevice.Pool.valueOf(String.valueOf(spec.pool())),
                            VgpuStubDevice.Priority.valueOf(spec.priority().toUpperCase(Locale.ROOT)), spec.vmId())
                    .id("vgpu" + i).addr(String.format("0x%x", FIRST_SLOT + i));
            if (spec.deviceTimeoutMs() > 0) {
                d = d.timeoutMs(spec.deviceTimeoutMs());
            }
            b.vgpu(d);
        }
        if (!spec.extraQemuArgs().isEmpty()) {
            b.extraArgs(spec.extraQemuArgs().toArray(String[]::new));
        }
        QemuMachine m = b.build();
        Thread echo = Reporting.progressEnabled() ? serialEcho(m, spec.name()) : null;
        try {
            try {
                m.start();
            } catch (QemuMachineException e) {
                attachBootFailure(m, e);
                throw new BootFailure("VM '" + spec.name() + "' did not boot", e);
            } catch (RuntimeException e) {
                attachBootFailure(m, e);
                m.close();
                throw new BootFailure("VM '" + spec.name() + "' could not be started", e);
            }
            Duration toMarker = Duration.ofNanos(System.nanoTime() - t0);
            GuestShell shell = null;
            try {
                if (plan.readyBySsh()) {
                    shell = awaitSshLogin(m, keys, spec.name(), plan.bootDeadline().minus(toMarker));
                } else {
                    shell = GuestShell.connect(m.sshPort(), keys, SSH_DEADLINE);
                }
                Duration boot = Duration.ofNanos(System.nanoTime() - t0);
                if (guest.checksJava()) {
                    checkJava(shell, guest, spec.name());
                }
                long u0 = System.nanoTime();
                Agent agent = Agent.install(shell, agentJar, spec.name());
                Duration upload = Duration.ofNanos(System.nanoTime() - u0);
                Reporting.progress("VM '" + spec.name() + "' up: " + (plan.readyBySsh() ? "" : "ssh ready marker after "
                        + toMarker.toMillis() + " ms, ") + "SSH login after " + boot.toMillis()
                        + " ms, agent uploaded in " + upload.toMillis() + " ms; accelerator " + m.accelerator());
                return new GuestVm(spec, guest, m, shell, agent, boot, upload);
            } catch (RuntimeException e) {
                attachBootFailure(m, e);
                if (shell != null) {
                    shell.close();
                }
                m.close(); // run directory kept (keepRunDirectory)
                throw e instanceof BootFailure ? e : new BootFailure("no SSH session into VM '" + spec.name() + "'", e);
            }
        } finally {
            if (echo != null) {
                echo.interrupt();
            }
        }
    }

    /**
     * Readiness of a guest without our markers: tries to log in as root with the run's key (a stale VM on a reused
     * port cannot pass: it does not trust this run's key) until {@code deadline}; fails at once when QEMU exits or
     * the kernel panics.
     */
    static GuestShell awaitSshLogin(QemuMachine m, SshKeys keys, String name, Duration deadline) {
        long t0 = System.nanoTime();
        Duration limit = deadline.compareTo(Duration.ofSeconds(1)) < 0 ? Duration.ofSeconds(1) : deadline;
        long end = t0 + limit.toNanos();
        long[] nextNote = {t0 + Duration.ofSeconds(30).toNanos()};
        AtomicReference<String> last = new AtomicReference<>("no attempt");
        AtomicReference<GuestShell> shell = new AtomicReference<>();
        try {
            Awaitility.await("SSH login into VM '" + name + "'")
                    .atMost(limit)
                    .pollDelay(Duration.ZERO)
                    .pollInterval(Duration.ofSeconds(1))
                    .pollInSameThread() // one login attempt at a time, each bounded by what is left
                    .until(() -> {
                        // QEMU gone or a panicked kernel: fail now, not at the deadline
                        if (!m.isRunning()) {
                            throw new BootFailure("VM '" + name + "': QEMU exited (" + m.exitStatus()
                                    .map(Object::toString).orElse("?") + ") before SSH let root in; serial tail:\n"
                                    + m.serial().tail(20), null);
                        }
                        if (QemuMachine.KERNEL_PANIC.matcher(m.serial().tail(40)).find()) {
                            throw new BootFailure("VM '" + name + "': kernel panic before SSH let root in; serial "
                                    + "tail:\n" + m.serial().tail(20), null);
                        }
                        long left = end - System.nanoTime();
                        if (left <= 0) {
                            return false;
                        }
                        try {
                            shell.set(GuestShell.connect(m.sshPort(), keys, Duration.ofNanos(Math.min(left,
                                    Duration.ofSeconds(10).toNanos()))));
                            return true;
                        } catch (IllegalStateException e) {
                            last.set(e.getMessage());
                        }
                        if (System.nanoTime() > nextNote[0]) {
                            nextNote[0] += Duration.ofSeconds(30).toNanos();
                            Reporting.progress("VM '" + name + "': waiting for SSH login (" + Duration.ofNanos(
                                    System.nanoTime() - t0).toSeconds() + " s of " + deadline.toSeconds() + " s)");
                        }
                        return false;
                    });
            return shell.get();
        } catch (ConditionTimeoutException e) {
            GuestShell late = shell.getAndSet(null);
            if (late != null) { // logged in just as the deadline passed
                return late;
            }
            throw new BootFailure("VM '" + name + "': no SSH login as root with the run's key within "
                    + deadline.toSeconds() + " s (last attempt: " + last.get() + "; a user's image needs cloud-init"
                    + " with the NoCloud datasource, sshd, and root login by key allowed); serial tail:\n"
                    + m.serial().tail(20), null);
        }
    }

    /** A disk guest must have {@code java} 17+ on root's PATH: the agent is a Java 17 program. */
    static void checkJava(GuestShell shell, GuestSystem guest, String name) {
        GuestShell.Result r = shell.exec(GuestSystem.JAVA_CHECK, Duration.ofSeconds(120));
        String how = (r.stdout() + r.stderr()).strip();
        if (r.exitCode() == 3) {
            throw new BootFailure("VM '" + name + "' (" + guest.describe() + ") has no `java` on root's PATH: the guest"
                    + " agent needs a Java 17+ runtime in the guest (e.g. apt-get install openjdk-17-jre-headless)", null);
        }
        int major = GuestSystem.javaMajor(how);
        if (major < 17) {
            throw new BootFailure("VM '" + name + "' (" + guest.describe() + "): the guest's java is "
                    + (major < 0 ? "of unknown version" : "Java " + major) + " (" + how.replace('\n', ' ')
                    + "); the guest agent needs Java 17+ (e.g. apt-get install openjdk-17-jre-headless)", null);
        }
        Reporting.progress("VM '" + name + "': guest Java " + major + " (" + how.replace('\n', ' ') + ")");
    }

    /** Prints the serial console's new lines while the machine boots (-Dvgpu.progress=true). */
    private static Thread serialEcho(QemuMachine m, String name) {
        Thread t = new Thread(() -> {
            int next = 0;
            try {
                while (!Thread.currentThread().isInterrupted()) {
                    SerialConsole s = m.serial();
                    int count = s.lineCount();
                    if (count > next) {
                        List<String> lines = s.lines();
                        int first = count - lines.size();
                        for (int i = Math.max(next, first); i < count; i++) {
                            System.out.println("  [" + name + " serial] " + lines.get(i - first));
                        }
                        System.out.flush();
                        next = count;
                    }
                    Thread.sleep(100);
                }
            } catch (InterruptedException | RuntimeException e) {
                // boot finished
            }
        }, "serial-echo-" + name);
        t.setDaemon(true);
        t.start();
        return t;
    }

    private static void attachBootFailure(QemuMachine m, Throwable e) {
        StringBuilder b = new StringBuilder();
        for (Throwable t = e; t != null; t = t.getCause()) {
            b.append(t.getClass().getName()).append(": ").append(t.getMessage()).append("\n\n");
        }
        Reporting.attachText("boot failure: exception and causes", b.toString());
        try {
            for (Map.Entry<String, Path> f : m.logFiles().entrySet()) {
                Reporting.attachFile("boot failure: " + f.getKey(), f.getValue());
            }
        } catch (RuntimeException ignored) {
            // not started: nothing to attach
        }
        Reporting.progress("boot failure, logs kept in " + (e instanceof QemuMachineException q ? q.runDir() : "?"));
    }

    // ---------------------------------------------------------------- what tests use

    public String name() {
        return spec.name();
    }

    public VmSpec spec() {
        return spec;
    }

    /** The guest it runs (CI initramfs, Debian disk or a user's image). */
    public GuestSystem guest() {
        return guest;
    }

    public QemuMachine machine() {
        return machine;
    }

    public GuestShell shell() {
        return shell;
    }

    /** The agent addressing the first device. */
    public Agent agent() {
        return agent(0);
    }

    /** The agent addressing device {@code i}. */
    public Agent agent(int i) {
        return agent.forDevice(device(i));
    }

    /** The guest's PCI address of device {@code i}, e.g. {@code 0000:00:10.0}. */
    public String device(int i) {
        if (i < 0 || i >= spec.devices()) {
            throw new IllegalArgumentException("VM '" + name() + "' has " + spec.devices() + " vgpu-stub devices, no #" + i);
        }
        return String.format("0000:00:%02x.0", FIRST_SLOT + i);
    }

    /** Launch to SSH login. */
    public Duration bootTime() {
        return bootTime;
    }

    public Duration agentUploadTime() {
        return agentUploadTime;
    }

    public String accelerator() {
        return machine.accelerator().toString();
    }

    public String qemuVersion() {
        return machine.qemu().version();
    }

    public boolean isRunning() {
        return machine.isRunning();
    }

    /** The guide's C program on device {@code i} (a fresh device: it expects idle registers). */
    public Selftest guideProgram(int i, String... args) {
        List<String> a = new ArrayList<>(List.of("--bdf", device(i)));
        a.addAll(List.of(args));
        return GuideTestProgram.run(shell, name(), a.toArray(String[]::new));
    }

    /**
     * The 16 registers of every device as the host sees them, read through QEMU's monitor ({@code xp}, 32-bit
     * reads without side effects), by BAR0 address from {@code query-pci}. Does not involve the guest.
     */
    public Map<String, Map<String, Long>> hostRegisterDump() {
        Map<String, Map<String, Long>> out = new LinkedHashMap<>();
        for (PciDevice d : machine.qmp().queryPci()) {
            if (!d.isVgpuStub()) {
                continue;
            }
            long bar0 = d.bars().stream().filter(x -> x.bar() == 0).mapToLong(PciDevice.Bar::address).findFirst()
                    .orElse(-1);
            Map<String, Long> regs = new LinkedHashMap<>();
            if (bar0 <= 0 || bar0 == 0xffffffffL) {
                out.put(d.bdf() + " (BAR0 not mapped)", regs);
                continue;
            }
            String text = machine.qmp().hmp(String.format("xp /16wx 0x%x", bar0));
            Matcher m = Pattern.compile("0x([0-9a-fA-F]{8})(?![0-9a-fA-F:])").matcher(text.replaceAll("(?m)^[0-9a-fA-Fx]+:", ""));
            int i = 0;
            while (m.find() && i < REGISTER_NAMES.length) {
                regs.put(REGISTER_NAMES[i++], Long.parseLong(m.group(1), 16));
            }
            out.put(d.bdf() + String.format(" BAR0 0x%x", bar0), regs);
        }
        return out;
    }

    /** {@link #hostRegisterDump()} as text for an attachment. */
    public String hostRegisterDumpText() {
        try {
            StringBuilder b = new StringBuilder();
            hostRegisterDump().forEach((dev, regs) -> {
                b.append(dev).append('\n');
                regs.forEach((k, v) -> b.append(String.format("  %-13s 0x%08x%n", k, v)));
            });
            return b.toString();
        } catch (RuntimeException e) {
            return "(no register dump: " + e.getMessage() + ")";
        }
    }

    /**
     * The guest writes garbage into device {@code bdf} with busybox devmem through /dev/mem: random values into
     * every register (DOORBELL only with values other than 1 unless {@code ringDoorbell}), 8- and 16-bit accesses to
     * the 32-bit-only register area, the read-only response buffer and the reserved area. With {@code ringDoorbell}
     * it also rings with garbage lengths and garbage request contents (bad opcode, element count disagreeing with the
     * length), waiting for each completion.
     */
    public void writeGarbage(String bdf, long seed, boolean ringDoorbell) {
        Reporting.doStep("guest writes garbage into " + bdf + " (seed " + seed + (ringDoorbell ? ", with doorbells" : "")
                + ")", () -> {
            Random r = new Random(seed);
            StringBuilder s = new StringBuilder();
            s.append("d=/sys/bus/pci/devices/").append(bdf).append('\n')
                    .append("echo 1 > $d/enable 2>/dev/null\n")
                    .append("b=$(( $(head -n 1 $d/resource | cut -d' ' -f1) ))\n")
                    .append("w() { devmem $(( b + $1 )) $2 $3; }\n")
                    .append("r() { devmem $(( b + $1 )) $2 >/dev/null; }\n");
            for (int round = 0; round < 3; round++) {
                for (int off = 0; off < REG_AREA_SIZE; off += 4) {
                    if (off == REG_DOORBELL) {
                        s.append(hexw(off, 32, round == 0 ? 0 : round == 1 ? 2 : 0xffffffffL));
                        continue;
                    }
                    s.append(hexw(off, 32, r.nextInt() & 0xffffffffL));
                }
                // odd sizes on the 32-bit-only register area (refused by the memory core)
                for (int k = 0; k < 8; k++) {
                    int off = r.nextInt(REG_AREA_SIZE);
                    s.append(hexw(off, 8, r.nextInt(256)));
                    s.append(String.format("r 0x%x 8%n", off));
                    int off16 = r.nextInt(REG_AREA_SIZE / 2) * 2;
                    s.append(hexw(off16, 16, r.nextInt(65536)));
                    s.append(String.format("r 0x%x 16%n", off16));
                }
                // response buffer (read-only) and reserved area (ignored), all sizes
                for (int k = 0; k < 16; k++) {
                    s.append(hexw(RESP_BUFFER_OFFSET + r.nextInt(RESP_BUFFER_SIZE / 4) * 4, 32, r.nextInt() & 0xffffffffL));
                    s.append(hexw(RESERVED_OFFSET + r.nextInt(RESERVED_SIZE - 4), 8, r.nextInt(256)));
                    s.append(hexw(0xffc, 32, r.nextInt() & 0xffffffffL));
                }
            }
            if (ringDoorbell) {
                long[] lengths = {0, 0xffffffffL, REQ_BUFFER_SIZE + 1, 3, 8, 1024};
                for (long len : lengths) {
                    for (int off = REQ_BUFFER_OFFSET; off < REQ_BUFFER_OFFSET + 64; off += 4) {
                        s.append(hexw(off, 32, r.nextInt() & 0xffffffffL));
                    }
                    if (len == 8) { // a valid length with a bad opcode / a count that disagrees with the length
                        s.append(hexw(REQ_BUFFER_OFFSET, 32, 0x7777));
                    }
                    if (len == 1024) {
                        s.append(hexw(REQ_BUFFER_OFFSET, 32, OP_VECTOR_ADD));
                        s.append(hexw(REQ_BUFFER_OFFSET + 4, 32, 0x10000));
                    }
                    s.append(hexw(REG_REQUEST_LEN, 32, len));
                    s.append(hexw(REG_REQUEST_ID, 32, r.nextInt() & 0xffffffffL));
                    s.append(hexw(REG_DOORBELL, 32, 1));
                    s.append(hexw(REG_DOORBELL, 32, 1)); // a second ring while busy: refused with BUSY
                    // wait (bounded) for the completion
                    s.append(String.format("i=0; while [ $(( $(devmem $(( b + 0x%x )) 32) )) -eq 1 ] && [ $i -lt 200 ]; "
                            + "do usleep 10000; i=$((i+1)); done%n", REG_STATUS));
                }
            }
            s.append(String.format("echo STATUS=$(devmem $(( b + 0x%x )) 32) ERROR_CODE=$(devmem $(( b + 0x%x )) 32)%n",
                    REG_STATUS, REG_ERROR_CODE));
            GuestShell.Result res = shell.exec("sh -s", s.toString().getBytes(java.nio.charset.StandardCharsets.UTF_8),
                    Duration.ofSeconds(120));
            Reporting.attachText("garbage script for " + bdf, s.toString());
            Reporting.attachText("garbage script output", res.stdout() + "\n--- stderr ---\n" + res.stderr()
                    + "\n--- exit " + res.exitCode());
            if (!res.stdout().contains("STATUS=")) {
                throw new ProtocolFailure("the garbage script did not finish in the guest: exit " + res.exitCode()
                        + ", " + res.stderr());
            }
        });
    }

    private static String hexw(int off, int width, long value) {
        return String.format("w 0x%x %d 0x%x%n", off, width, value);
    }

    /** Attaches QEMU's command line, serial console, stderr, QMP transcript and run info to the running test. */
    public void attachLogs() {
        String prefix = "VM '" + name() + "' ";
        try {
            Reporting.attachText(prefix + "QEMU command line", String.join(" ", machine.commandLine()));
            for (Map.Entry<String, Path> f : machine.logFiles().entrySet()) {
                Reporting.attachFile(prefix + f.getKey(), f.getValue());
            }
        } catch (RuntimeException e) {
            Reporting.attachText(prefix + "logs", "(not available: " + e + ")");
        }
    }

    /** Keep the run directory after close (a test failed). */
    void keepRunDirectory() {
        keep = true;
    }

    @Override
    public void close() {
        Reporting.progress("shutting down VM '" + name() + "'");
        try {
            shell.close();
        } finally {
            machine.close();
            Path dir = machine.runDir();
            if (keep || Boolean.getBoolean("vgpu.keepRunDirs")) {
                Reporting.progress("VM '" + name() + "' run directory kept: " + dir);
            } else {
                deleteTree(dir);
            }
        }
    }

    static void deleteTree(Path dir) {
        if (dir == null || !Files.exists(dir)) {
            return;
        }
        try (Stream<Path> s = Files.walk(dir)) {
            s.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (IOException ignored) {
            // best effort
        }
    }

    @Override
    public String toString() {
        return "GuestVm[" + name() + ", " + machine + "]";
    }
}

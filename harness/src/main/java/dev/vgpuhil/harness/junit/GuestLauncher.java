package dev.vgpuhil.harness.junit;

import dev.vgpuhil.harness.GuestShell;
import dev.vgpuhil.harness.SshKeys;
import dev.vgpuhil.harness.SshLoginWait;
import dev.vgpuhil.harness.agent.Agent;
import dev.vgpuhil.harness.agent.RequestDeadlines;
import dev.vgpuhil.harness.agent.ResidentAgentWait;
import dev.vgpuhil.harness.report.BootFailure;
import dev.vgpuhil.harness.report.Reporting;
import dev.vgpuhil.images.GuestImage;
import dev.vgpuhil.protocol.Pool;
import dev.vgpuhil.protocol.Priority;
import dev.vgpuhil.qemu.machine.Accelerator;
import dev.vgpuhil.qemu.machine.MachineSpec;
import dev.vgpuhil.qemu.machine.QemuMachine;
import dev.vgpuhil.qemu.machine.QemuMachineException;
import dev.vgpuhil.qemu.machine.SerialConsole;
import dev.vgpuhil.qemu.machine.VgpuStubDevice;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;

/**
 * Boots a {@link GuestVm}: QEMU with the guest, {@code spec.devices()} vgpu-stubs at PCI slots
 * 0x10 + i ({@link GuestVm#device}) pointing at the mediator socket (or at a path nobody serves), user networking
 * with SSH forwarded; ready when the guest's marker (if it prints one) and then an SSH login with the run's key
 * ({@link SshLoginWait}) pass within the guest's boot deadline; then a Java check (disk guests) and the agent
 * upload. Any failure is a {@link BootFailure} whose cause is the launcher's exception, with the logs attached; QEMU
 * is then stopped and its run directory kept (the boot failed).
 */
public final class GuestLauncher {
    private GuestLauncher() {}

    /** The CI image, accelerator AUTO. */
    public static GuestVm boot(VmSpec spec, Path mediatorSocket, GuestImage image, SshKeys keys, Path agentJar) {
        return boot(spec, mediatorSocket, image, keys, agentJar, Accelerator.AUTO);
    }

    /** The CI image with a given accelerator. */
    public static GuestVm boot(
            VmSpec spec, Path mediatorSocket, GuestImage image, SshKeys keys, Path agentJar, Accelerator accelerator) {
        return boot(spec, mediatorSocket, GuestSystem.ci(image), keys, agentJar, accelerator);
    }

    /**
     * Boots {@code requested} (see {@link GuestChoice}): the CI initramfs and the Debian disk print "vgpu-hil: ssh ready"
     * before the login; a user's image, which prints no markers of ours, is ready when SSH lets root in with the
     * run's key (its NoCloud seed carries the key) — both within the guest's boot deadline. Disk guests are then
     * checked for a Java 17+ runtime (the agent is a Java 17 program) before the agent is uploaded. The boot
     * deadline, the devices' {@code timeout_ms} and the agent's deadlines come from one {@link RequestDeadlines}
     * made here from the spec, {@code requested}'s boot deadline and the {@link dev.vgpuhil.common.TimeScale} now.
     */
    public static GuestVm boot(
            VmSpec spec,
            Path mediatorSocket,
            GuestSystem requested,
            SshKeys keys,
            Path agentJar,
            Accelerator accelerator) {
        return boot(spec, mediatorSocket, requested, keys, agentJar, accelerator, budget(spec, requested));
    }

    /** The one budget of a VM of {@code spec} booting {@code requested} now ({@link RequestDeadlines#of}). */
    public static RequestDeadlines budget(VmSpec spec, GuestSystem requested) {
        return RequestDeadlines.of(
                spec.deviceTimeoutMs(), requested.bootDeadline(), dev.vgpuhil.common.TimeScale.now());
    }

    /** As above with the VM's budget made by the caller ({@link #budget}), who waits for it by the same budget. */
    public static GuestVm boot(
            VmSpec spec,
            Path mediatorSocket,
            GuestSystem requested,
            SshKeys keys,
            Path agentJar,
            Accelerator accelerator,
            RequestDeadlines budget) {
        long t0 = System.nanoTime();
        GuestSystem guest = requested.withBootDeadline(budget.boot());
        Reporting.progress("booting VM '" + spec.name() + "' (" + guest.describe() + "; " + budget.describe()
                + "; pool "
                + spec.pool()
                + ", priority " + spec.priority() + ", vm_id " + spec.vmId() + ", " + spec.devices()
                + " vgpu-stub, mediator " + (spec.mediator() && mediatorSocket != null ? mediatorSocket : "none")
                + ")");
        GuestSystem.BootPlan plan;
        try {
            plan = guest.plan(keys, agentJar);
        } catch (RuntimeException e) {
            throw new BootFailure("VM '" + spec.name() + "': cannot prepare " + guest.describe(), e);
        }
        SshLoginWait login = new SshLoginWait(keys, spec.name());
        MachineSpec.Builder b = QemuMachine.builder()
                .name(spec.name())
                .memoryMb(spec.memoryMib())
                .accelerator(accelerator)
                .userNetworking(true);
        plan.applyTo(b).waitingFor(plan.readiness(login));
        if (!spec.qemu().isEmpty()) {
            b.binary(Path.of(spec.qemu())); // else the run's QEMU; either hosting (QemuBinary.hosting)
        }
        if (spec.mediator() && mediatorSocket != null) {
            b.mediatorSocket(mediatorSocket);
        }
        for (int i = 0; i < spec.devices(); i++) {
            VgpuStubDevice d = VgpuStubDevice.of(
                            Pool.valueOf(String.valueOf(spec.pool())), Priority.parse(spec.priority()), spec.vmId())
                    .id("vgpu" + i)
                    .addr(String.format("0x%x", GuestVm.FIRST_SLOT + i));
            d = d.timeoutMs(budget.deviceTimeoutMs());
            b.vgpu(d);
        }
        if (!spec.extraQemuArgs().isEmpty()) {
            b.extraArgs(spec.extraQemuArgs().toArray(String[]::new));
        }
        QemuMachine m = b.machine();
        Thread echo = Reporting.serialEnabled() ? serialEcho(m, spec.name()) : null;
        GuestShell shell = null;
        try {
            try {
                m.start();
                shell = login.takeShell();
            } catch (QemuMachineException e) {
                closeQuietly(login.takeShell());
                attachBootFailure(m, e);
                m.close(); // stopped already; the failed start keeps the run directory
                throw new BootFailure("VM '" + spec.name() + "' did not boot (" + budget.describe() + ")", e);
            } catch (RuntimeException e) {
                closeQuietly(login.takeShell());
                attachBootFailure(m, e);
                m.close();
                throw new BootFailure("VM '" + spec.name() + "' could not be started", e);
            }
            Duration boot = Duration.ofNanos(System.nanoTime() - t0);
            try {
                if (guest.checksJava()) {
                    checkJava(shell, guest, spec.name());
                }
                long u0 = System.nanoTime();
                Agent agent = plan.agentJarInGuest().isPresent()
                        ? Agent.resident(shell, ResidentAgentWait.port(m), spec.name(), budget)
                        : Agent.install(shell, agentJar, spec.name(), budget);
                agent.checkAndEnable(java.util.stream.IntStream.range(0, spec.devices())
                        .mapToObj(i -> String.format("0000:00:%02x.0", GuestVm.FIRST_SLOT + i))
                        .toList());
                Duration upload = Duration.ofNanos(System.nanoTime() - u0);
                Reporting.progress("VM '" + spec.name() + "' up: ready ("
                        + plan.readiness(login).description()
                        + ") after " + boot.toMillis() + " ms, agent "
                        + (plan.agentJarInGuest().isPresent() ? "resident from the initramfs, checked" : "uploaded")
                        + " in " + upload.toMillis() + " ms; accelerator " + m.accelerator());
                return new GuestVm(spec, guest, m, shell, agent, boot, upload);
            } catch (RuntimeException e) {
                attachBootFailure(m, e);
                closeQuietly(shell);
                m.markFailed(); // keep the run directory
                m.close();
                throw e instanceof BootFailure ? e : new BootFailure("VM '" + spec.name() + "': no agent", e);
            }
        } finally {
            if (echo != null) {
                echo.interrupt();
            }
        }
    }

    private static void closeQuietly(GuestShell shell) {
        if (shell != null) {
            shell.close();
        }
    }

    /** A disk guest must have {@code java} 17+ on root's PATH: the agent is a Java 17 program. */
    static void checkJava(GuestShell shell, GuestSystem guest, String name) {
        GuestShell.Result r = shell.exec(GuestSystem.JAVA_CHECK, Duration.ofSeconds(120));
        String how = (r.stdout() + r.stderr()).strip();
        if (r.exitCode() == 3) {
            throw new BootFailure(
                    "VM '" + name + "' (" + guest.describe() + ") has no `java` on root's PATH: the guest"
                            + " agent needs a Java 17+ runtime in the guest (e.g. apt-get install openjdk-17-jre-headless)",
                    null);
        }
        int major = GuestSystem.javaMajor(how);
        if (major < 17) {
            throw new BootFailure(
                    "VM '" + name + "' (" + guest.describe() + "): the guest's java is "
                            + (major < 0 ? "of unknown version" : "Java " + major) + " (" + how.replace('\n', ' ')
                            + "); the guest agent needs Java 17+ (e.g. apt-get install openjdk-17-jre-headless)",
                    null);
        }
        Reporting.progress("VM '" + name + "': guest Java " + major + " (" + how.replace('\n', ' ') + ")");
    }

    /** Prints the serial console's new lines while the machine boots (-Dvgpu.progress=true). */
    private static Thread serialEcho(QemuMachine m, String name) {
        Thread t = new Thread(
                () -> {
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
                },
                "serial-echo-" + name);
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
        Reporting.always("boot failure, logs kept in " + (e instanceof QemuMachineException q ? q.runDir() : "?"));
    }
}

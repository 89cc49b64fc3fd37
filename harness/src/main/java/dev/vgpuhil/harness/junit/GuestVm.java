package dev.vgpuhil.harness.junit;

import dev.vgpuhil.harness.GuestShell;
import dev.vgpuhil.harness.agent.Agent;
import dev.vgpuhil.harness.agent.GuideTestProgram;
import dev.vgpuhil.harness.agent.Selftest;
import dev.vgpuhil.harness.report.Reporting;
import dev.vgpuhil.qemu.machine.CleanupMode;
import dev.vgpuhil.qemu.machine.QemuMachine;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * A handle on a running guest with vgpu-stub device(s): the {@link QemuMachine}, an SSH session ({@link GuestShell},
 * the run's own key) and the freshly uploaded {@link Agent}. Device {@code i} sits at PCI slot {@code 0x10 + i} of
 * bus 0, so its address in the guest is known ({@link #device(int)}). Booted by {@link GuestLauncher} (for
 * {@link VgpuVmExtension}); closing it shuts QEMU down and deletes the run directory unless a test failed.
 */
public final class GuestVm implements AutoCloseable {
    /** PCI slot of device 0 on bus 0; device {@code i} sits at {@code FIRST_SLOT + i}. */
    static final int FIRST_SLOT = 0x10;

    private final VmSpec spec;
    private final QemuMachine machine;
    private final GuestShell shell;
    private final Agent agent;
    private final Duration bootTime;
    private final Duration agentUploadTime;
    private final GuestSystem guest;

    GuestVm(
            VmSpec spec,
            GuestSystem guest,
            QemuMachine machine,
            GuestShell shell,
            Agent agent,
            Duration bootTime,
            Duration agentUploadTime) {
        this.spec = spec;
        this.guest = guest;
        this.machine = machine;
        this.shell = shell;
        this.agent = agent;
        this.bootTime = bootTime;
        this.agentUploadTime = agentUploadTime;
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

    /** This VM's one wait budget (boot, device and agent deadlines, its scale), which its agent runs under. */
    public dev.vgpuhil.harness.agent.RequestDeadlines deadlines() {
        return agent.deadlines();
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
            throw new IllegalArgumentException(
                    "VM '" + name() + "' has " + spec.devices() + " vgpu-stub devices, no #" + i);
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

    /**
     * What is wrong with this VM from outside the product, if anything: its guest kernel panicked (the serial console
     * says so), or its QEMU is gone (and how); empty while it runs normally.
     */
    public java.util.Optional<String> fault() {
        String panic = machine.serial().lines().stream()
                .filter(l -> l.contains("Kernel panic"))
                .findFirst()
                .orElse(null);
        String qemu = machine.isRunning()
                ? null
                : machine.container()
                                .map(c -> "QEMU in container " + c + " (client pid " + machine.pid() + ")")
                                .orElse("QEMU pid " + machine.pid())
                        + " of VM '" + name() + "' is gone: "
                        // a container's client exits with QEMU's status, a death by signal N as 128+N
                        + machine.exitStatus().map(Object::toString).orElse("exit status unknown");
        if (qemu == null) {
            for (dev.vgpuhil.qemu.VfioUserServer server : machine.vfioUserServers()) {
                Process p = server.process();
                if (!p.isAlive()) {
                    qemu = "the vfio-user server pid " + p.pid() + " hosting a device of VM '" + name() + "' is gone: "
                            + new dev.vgpuhil.qemu.machine.ExitStatus(p.exitValue());
                }
            }
        }
        if (panic != null) {
            return java.util.Optional.of("the guest kernel of VM '" + name() + "' panicked (\"" + panic.strip() + "\")"
                    + (qemu == null ? "" : "; " + qemu));
        }
        return java.util.Optional.ofNullable(qemu);
    }

    /** The guide's C program on device {@code i} (a fresh device: it expects idle registers). */
    public Selftest guideProgram(int i, String... args) {
        List<String> a = new ArrayList<>(List.of("--bdf", device(i)));
        a.addAll(List.of(args));
        return GuideTestProgram.run(shell, name(), a.toArray(String[]::new));
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

    /** A test using this VM failed: its run directory stays ({@link CleanupMode#ON_SUCCESS}, the default). */
    void markFailed() {
        machine.markFailed();
    }

    /**
     * Closes the SSH session and the machine (QEMU shut down, the run directory deleted as the machine's
     * {@link CleanupMode} says). Both are closed even if one fails; the first failure is thrown with the other
     * added as suppressed. Idempotent (both parts are).
     */
    @Override
    public void close() {
        Reporting.progress("shutting down VM '" + name() + "'");
        RuntimeException failure = null;
        try {
            shell.close();
        } catch (RuntimeException e) {
            failure = e;
        }
        try {
            machine.close();
        } catch (RuntimeException e) {
            if (failure == null) {
                failure = e;
            } else {
                failure.addSuppressed(e);
            }
        }
        Path dir = machine.runDir();
        if (Files.isDirectory(dir)) {
            Reporting.progress("VM '" + name() + "' run directory kept: " + dir);
        }
        if (failure != null) {
            throw failure;
        }
    }

    @Override
    public String toString() {
        return "GuestVm[" + name() + ", " + machine + "]";
    }
}

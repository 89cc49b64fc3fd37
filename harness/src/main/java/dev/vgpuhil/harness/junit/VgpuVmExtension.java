package dev.vgpuhil.harness.junit;

import dev.vgpuhil.common.OwnedDirs;
import dev.vgpuhil.harness.GuestShell;
import dev.vgpuhil.harness.SshKeys;
import dev.vgpuhil.harness.agent.Agent;
import dev.vgpuhil.harness.fixtures.HostRegisters;
import dev.vgpuhil.harness.report.BootFailure;
import dev.vgpuhil.harness.report.Reporting;
import dev.vgpuhil.qemu.machine.Accelerator;
import java.lang.reflect.AnnotatedElement;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import org.junit.jupiter.api.extension.AfterEachCallback;
import org.junit.jupiter.api.extension.BeforeEachCallback;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.junit.jupiter.api.extension.ParameterContext;
import org.junit.jupiter.api.extension.ParameterResolutionException;
import org.junit.jupiter.api.extension.ParameterResolver;
import org.junit.platform.commons.support.AnnotationSupport;

/**
 * {@link VgpuVm}: boots the VMs a test needs and hands them out by parameter type ({@link GuestVm}, {@link GuestVms},
 * {@link GuestShell}, {@link Agent}; {@link Vm} picks one by name).
 *
 * <p>Class VMs ({@code perClass = true} on the class) boot once, lazily, in the first test's {@code beforeEach}, so
 * the boot's steps, progress and — on a failed boot — the launcher's exception and every log land in that test's
 * Allure result (Allure drops what BeforeAll callbacks attach). A failed class boot is remembered: later tests of
 * the class fail with the same {@link BootFailure} at once instead of booting again. Several VMs boot in parallel.
 * Method VMs boot per test. Both are stored as AutoCloseable values in this extension's own namespace (class or
 * method store), after the class's mediator, so JUnit closes them first. Per test, attached: QEMU command line,
 * serial console, stderr, QMP transcript, and the registers before and after (read by the host). A failed test
 * keeps the VMs' run directories.
 */
public final class VgpuVmExtension implements BeforeEachCallback, AfterEachCallback, ParameterResolver {
    private static final ExtensionContext.Namespace NS = ExtensionContext.Namespace.create(VgpuVmExtension.class);
    private static final String CLASS_VMS = "class-vms";
    private static final String METHOD_VMS = "method-vms";
    private static final String KEYS = "ssh-keys";
    private static final String ENV_WRITTEN = "environment-written";

    @Override
    public void beforeEach(ExtensionContext context) {
        ExtensionContext classContext = MediatorExtension.classContext(context);
        List<VgpuVm> classSpecs = specs(context.getRequiredTestClass()).stream()
                .filter(VgpuVm::perClass)
                .toList();
        List<VgpuVm> methodSpecs = new ArrayList<>(specs(context.getRequiredTestMethod()));
        specs(context.getRequiredTestClass()).stream()
                .filter(v -> !v.perClass())
                .forEach(methodSpecs::add);
        if (!classSpecs.isEmpty()) {
            VmGroup g = classContext
                    .getStore(NS)
                    .getOrComputeIfAbsent(CLASS_VMS, k -> bootGroup(context, classSpecs), VmGroup.class);
            g.rethrowBootFailure();
        }
        if (!methodSpecs.isEmpty()) {
            VmGroup g = bootGroup(context, methodSpecs);
            context.getStore(NS).put(METHOD_VMS, g);
            g.rethrowBootFailure();
        }
        for (GuestVm vm : vms(context)) {
            Reporting.attachText(
                    "registers before the test, VM '" + vm.name() + "' (host view)",
                    HostRegisters.dumpText(vm.machine()));
        }
    }

    @Override
    public void afterEach(ExtensionContext context) {
        boolean failed = context.getExecutionException().isPresent();
        for (GuestVm vm : vms(context)) {
            Reporting.attachText(
                    "registers after the test, VM '" + vm.name() + "' (host view)",
                    HostRegisters.dumpText(vm.machine()));
            vm.attachLogs();
            if (failed) {
                vm.markFailed();
                Reporting.always(context.getDisplayName() + " failed; VM '" + vm.name() + "' run directory: "
                        + vm.machine().runDir());
            }
        }
    }

    /** The VMs of the current test: method VMs first, then class VMs (annotation order). */
    static List<GuestVm> vms(ExtensionContext context) {
        List<GuestVm> out = new ArrayList<>();
        VmGroup m = context.getStore(NS).get(METHOD_VMS, VmGroup.class);
        if (m != null) {
            out.addAll(m.vms);
        }
        VmGroup c = MediatorExtension.classContext(context).getStore(NS).get(CLASS_VMS, VmGroup.class);
        if (c != null) {
            out.addAll(c.vms);
        }
        return out;
    }

    static List<VgpuVm> specs(AnnotatedElement element) {
        List<VgpuVm> list = AnnotationSupport.findRepeatableAnnotations(element, VgpuVm.class);
        Map<String, VgpuVm> byName = new LinkedHashMap<>();
        for (VgpuVm v : list) {
            if (byName.put(v.name(), v) != null) {
                throw new IllegalArgumentException("two @VgpuVm named '" + v.name() + "' on " + element);
            }
        }
        return list;
    }

    private VmGroup bootGroup(ExtensionContext context, List<VgpuVm> specs) {
        Path socket =
                MediatorExtension.of(context).map(MediatorHandle::socketPath).orElse(null);
        VmGroup group = new VmGroup();
        try {
            SshKeys keys = keys(context);
            List<GuestSystem> guests = new ArrayList<>();
            for (VgpuVm spec : specs) {
                guests.add(guest(context, spec));
            }
            Path jar = Agent.localJar();
            List<CompletableFuture<GuestVm>> boots = new ArrayList<>();
            // each VM's one budget: its boot deadline and the group's wait for it come from the same one
            List<dev.vgpuhil.harness.agent.RequestDeadlines> budgets = new ArrayList<>();
            for (int i = 0; i < specs.size(); i++) {
                VgpuVm spec = specs.get(i);
                GuestSystem guest = guests.get(i);
                dev.vgpuhil.harness.agent.RequestDeadlines budget = GuestLauncher.budget(VmSpec.of(spec), guest);
                budgets.add(budget);
                boots.add(Reporting.async(
                        "boot-" + spec.name(),
                        () -> Reporting.step(
                                "boot VM '" + spec.name() + "' (pool " + spec.pool() + ", priority " + spec.priority()
                                        + ", vm_id " + spec.vmId() + ")",
                                () -> GuestLauncher.boot(
                                        VmSpec.of(spec), socket, guest, keys, jar, Accelerator.AUTO, budget))));
            }
            RuntimeException first = null;
            for (int i = 0; i < boots.size(); i++) {
                CompletableFuture<GuestVm> f = boots.get(i);
                try {
                    group.vms.add(f.get(budgets.get(i).bootAndSetUp().toMillis(), TimeUnit.MILLISECONDS));
                } catch (java.util.concurrent.ExecutionException e) {
                    Throwable c = e.getCause() instanceof CompletionException ce ? ce.getCause() : e.getCause();
                    if (first == null) {
                        first = c instanceof RuntimeException re ? re : new BootFailure("VM boot failed", c);
                    }
                } catch (java.util.concurrent.TimeoutException e) {
                    closeWhenBooted(f, specs.get(i).name());
                    if (first == null) {
                        first = new BootFailure(
                                "VM '" + specs.get(i).name() + "' boot did not finish in time ("
                                        + budgets.get(i).describe() + ")",
                                e);
                    }
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    // this one and every boot not yet collected may still come up: close them when they do
                    for (int j = i; j < boots.size(); j++) {
                        closeWhenBooted(boots.get(j), specs.get(j).name());
                    }
                    if (first == null) {
                        first = new BootFailure("interrupted while booting", e);
                    }
                    break;
                }
            }
            if (first != null) {
                group.failure = first;
            } else {
                writeEnvironment(context, group.vms.get(0));
            }
        } catch (RuntimeException e) {
            group.failure = e instanceof BootFailure ? e : new BootFailure("cannot prepare the VM boot", e);
        }
        if (group.failure != null) {
            try {
                group.close(); // whatever did boot
            } catch (RuntimeException e) {
                group.failure.addSuppressed(e);
            }
        }
        return group;
    }

    /**
     * A boot the group gave up on (its deadline passed, or the wait was interrupted) keeps running on its own
     * thread; a VM that still comes up later is closed then (its QEMU stopped, its run directory kept for the
     * report: the group failed), so nothing is left running. A boot that fails closes its own QEMU.
     */
    static void closeWhenBooted(CompletableFuture<GuestVm> boot, String name) {
        boot.thenAccept(vm -> {
            Reporting.progress("VM '" + name + "' came up after its group gave up on it: closing it");
            vm.markFailed();
            vm.close();
        });
    }

    /**
     * The guest of one {@link VgpuVm} ({@link GuestChoice#resolve}: the annotation, the {@value GuestChoice#PROPERTY}
     * configuration parameter or system property, {@value GuestChoice#ENV}, else ci), located or built.
     */
    static GuestSystem guest(ExtensionContext context, VgpuVm spec) {
        // system properties explicitly too: an EngineTestKit run sees only the parameters it was given
        Function<String, Optional<String>> config = k -> context.getConfigurationParameter(k)
                .or(() ->
                        dev.vgpuhil.common.Setting.byProperty(k).flatMap(s -> s.value(System::getProperty, e -> null)));
        GuestChoice choice = GuestChoice.resolve(spec.guest(), config, System::getenv);
        Duration deadline = choice.bootDeadline(spec.bootTimeoutSeconds(), config, System::getenv);
        String what = switch (choice.kind()) {
            case CI -> "guest image (images/build-initramfs.sh, cached)";
            case DEBIAN_DISK -> "guest disk (images/build-debian-disk.sh --cloud-init, cached; minutes the first time)";
            case QCOW2 -> "user image " + choice.spelled();
        };
        return Reporting.step(what, () -> GuestSystem.resolve(choice, deadline));
    }

    /** One key pair per test run (JVM), removed when the run ends. */
    private static SshKeys keys(ExtensionContext context) {
        return context.getRoot().getStore(NS).getOrComputeIfAbsent(KEYS, k -> new KeyDir(), KeyDir.class).keys;
    }

    private static void writeEnvironment(ExtensionContext context, GuestVm vm) {
        Object done = context.getRoot().getStore(NS).getOrComputeIfAbsent(ENV_WRITTEN, k -> {
            Map<String, String> env = new LinkedHashMap<>();
            env.put("QEMU.version", vm.qemuVersion());
            env.put("QEMU.binary", vm.machine().qemu().path().toString());
            vm.machine().qemu().image().ifPresent(i -> {
                env.put("QEMU.image", i.ref());
                env.put("QEMU.image.id", i.id());
                env.put("QEMU.image.hash", i.hash());
                env.put("QEMU.image.inputs", i.inputs());
            });
            env.put(
                    "device.hosting",
                    vm.machine().deviceHosting().map(dh -> dh.label()).orElse("none"));
            env.put("accelerator", vm.machine().accelerator().accelerator().qemuName());
            env.put("accelerator.why", vm.machine().accelerator().reason());
            env.putAll(vm.guest().environment());
            env.put("host.java", System.getProperty("java.vm.name") + " " + System.getProperty("java.runtime.version"));
            env.put(
                    "host.os",
                    System.getProperty("os.name") + " " + System.getProperty("os.version") + " "
                            + System.getProperty("os.arch") + ", "
                            + Runtime.getRuntime().availableProcessors() + " cpus");
            env.put("boot.to.ssh.ms", Long.toString(vm.bootTime().toMillis()));
            MediatorExtension.of(context).ifPresent(m -> env.put("mediator", m.toString()));
            Reporting.environment(env);
            return Boolean.TRUE;
        });
        if (done == null) {
            throw new IllegalStateException("unreachable");
        }
    }

    // ---------------------------------------------------------------- parameters

    @Override
    public boolean supportsParameter(ParameterContext p, ExtensionContext e) {
        Class<?> t = p.getParameter().getType();
        return t == GuestVm.class || t == GuestVms.class || t == GuestShell.class || t == Agent.class;
    }

    @Override
    public Object resolveParameter(ParameterContext p, ExtensionContext e) {
        List<GuestVm> vms = vms(e);
        Class<?> t = p.getParameter().getType();
        if (t == GuestVms.class) {
            return new GuestVms(vms);
        }
        if (vms.isEmpty()) {
            throw new ParameterResolutionException(
                    "no VM for parameter " + p.getParameter() + ": annotate the test " + "or its class with @VgpuVm");
        }
        Optional<Vm> named = p.findAnnotation(Vm.class);
        GuestVm vm;
        if (named.isPresent()) {
            vm = vms.stream()
                    .filter(v -> v.name().equals(named.get().value()))
                    .findFirst()
                    .orElseThrow(() -> new ParameterResolutionException(
                            "no VM named '" + named.get().value() + "' (VMs: "
                                    + vms.stream().map(GuestVm::name).toList() + ")"));
        } else if (vms.size() == 1) {
            vm = vms.get(0);
        } else {
            throw new ParameterResolutionException(
                    vms.size() + " VMs " + vms.stream().map(GuestVm::name).toList()
                            + ": pick one with @Vm(\"name\") on " + p.getParameter() + ", or take GuestVms");
        }
        if (t == GuestShell.class) {
            return vm.shell();
        }
        if (t == Agent.class) {
            return vm.agent();
        }
        return vm;
    }

    // ---------------------------------------------------------------- stored resources

    /** The VMs of one scope (class or method); closed by JUnit, in reverse boot order, after its tests. */
    static final class VmGroup implements AutoCloseable {
        final List<GuestVm> vms = Collections.synchronizedList(new ArrayList<>());
        RuntimeException failure;

        void rethrowBootFailure() {
            if (failure != null) {
                throw failure;
            }
        }

        /**
         * Closes every VM (in parallel: each shutdown has its own deadlines), all of them even if some fail; the
         * first failure is thrown with the others added as suppressed.
         */
        @Override
        public void close() {
            List<GuestVm> copy = new ArrayList<>(vms);
            Collections.reverse(copy);
            List<CompletableFuture<Void>> fs = new ArrayList<>();
            for (GuestVm vm : copy) {
                fs.add(CompletableFuture.runAsync(vm::close));
            }
            RuntimeException failure = null;
            for (int i = 0; i < fs.size(); i++) {
                RuntimeException e = null;
                try {
                    fs.get(i).get(60, TimeUnit.SECONDS);
                } catch (java.util.concurrent.ExecutionException ex) {
                    e = new IllegalStateException("closing VM '" + copy.get(i).name() + "' failed", ex.getCause());
                } catch (java.util.concurrent.TimeoutException ex) {
                    e = new IllegalStateException("closing VM '" + copy.get(i).name() + "' took over 60 s", ex);
                } catch (InterruptedException ex) {
                    Thread.currentThread().interrupt();
                    e = new IllegalStateException(
                            "interrupted while closing VM '" + copy.get(i).name() + "'", ex);
                }
                if (e != null) {
                    if (failure == null) {
                        failure = e;
                    } else {
                        failure.addSuppressed(e);
                    }
                }
            }
            if (failure != null) {
                throw failure;
            }
        }
    }

    /**
     * The run's SSH key pair: the private half in memory only, the public half (and a user image's NoCloud seed) in
     * a directory of this JVM's own ({@link OwnedDirs#temp}: removed at close, or by the next run's sweep when this
     * JVM was killed).
     */
    static final class KeyDir implements AutoCloseable {
        final Path dir;
        final SshKeys keys;

        KeyDir() {
            try {
                dir = OwnedDirs.temp("ssh");
            } catch (java.io.UncheckedIOException e) {
                throw new BootFailure("cannot create a directory for the run's SSH key", e);
            }
            try {
                keys = SshKeys.generate(dir);
            } catch (RuntimeException e) {
                throw new BootFailure("cannot generate the run's SSH key", e);
            }
        }

        @Override
        public void close() {
            OwnedDirs.delete(dir);
        }
    }
}

package dev.vgpuhil.harness.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.vgpuhil.common.BoundProcesses;
import dev.vgpuhil.common.OwnedDirs;
import dev.vgpuhil.common.Setting;
import dev.vgpuhil.containers.ContainerEngine;
import dev.vgpuhil.harness.Categories;
import dev.vgpuhil.harness.SshKeys;
import dev.vgpuhil.harness.agent.Agent;
import dev.vgpuhil.harness.agent.RequestDeadlines;
import dev.vgpuhil.harness.agent.VectorAddResult;
import dev.vgpuhil.harness.fixtures.HostRegisters;
import dev.vgpuhil.harness.junit.Faults;
import dev.vgpuhil.harness.junit.GuestLauncher;
import dev.vgpuhil.harness.junit.GuestSystem;
import dev.vgpuhil.harness.junit.GuestVm;
import dev.vgpuhil.harness.junit.MediatorHandle;
import dev.vgpuhil.harness.junit.MediatorRuntime;
import dev.vgpuhil.harness.junit.VgpuVm;
import dev.vgpuhil.harness.junit.Vm;
import dev.vgpuhil.harness.junit.VmSpec;
import dev.vgpuhil.harness.junit.WithMediator;
import dev.vgpuhil.harness.report.InfrastructureFailure;
import dev.vgpuhil.harness.report.Reporting;
import dev.vgpuhil.images.GuestImage;
import dev.vgpuhil.protocol.SourceTree;
import dev.vgpuhil.protocol.VgpuProtocol;
import dev.vgpuhil.qemu.ContainerQemu;
import dev.vgpuhil.qemu.machine.Accelerator;
import dev.vgpuhil.qemu.machine.WaitTimeoutException;
import io.qameta.allure.Epic;
import io.qameta.allure.Feature;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Supplier;
import org.assertj.core.api.AbstractThrowableAssert;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;

/**
 * The fault matrix: each fault injected from outside, its defined outcome (from DEVICE.md) within its deadline, and the
 * report category the harness files it under — infrastructure faults are {@link InfrastructureFailure}s (broken,
 * "Infrastructure failure"), never a protocol failure. One class VM serves the faults that leave it alive (the
 * mediator's) and is killed last; the guest panic gets a VM of its own (three boots in all, one on stock QEMU over vfio-user). The mediator's container
 * serves the class VM's socket in its row (no boot of its own); stock QEMU in its container gets a boot of its own. The mediator restarted
 * while requests keep coming is {@link ReconnectIT}'s third test.
 *
 * <table>
 *   <caption>faults and outcomes</caption>
 *   <tr><th>fault</th><th>outcome</th><th>deadline</th></tr>
 *   <tr><td>mediator SIGSTOP mid-request</td><td>STATUS error + TIMEOUT; after SIGCONT the late reply is discarded,
 *       the next request DONE</td><td>the device's timeout_ms (the agent's is longer)</td></tr>
 *   <tr><td>mediator SIGKILL mid-request</td><td>STATUS error + MEDIATOR_UNAVAILABLE; a new mediator is picked up,
 *       DONE again</td><td>before timeout_ms (else it would read TIMEOUT); the device's reconnect</td></tr>
 *   <tr><td>the mediator's container killed (docker kill) mid-request</td><td>STATUS error + MEDIATOR_UNAVAILABLE;
 *       the engine's state (exited, SIGKILL) files it as infrastructure; a new container is picked up, DONE
 *       again</td><td>before timeout_ms; the device's reconnect</td></tr>
 *   <tr><td>guest kernel panic</td><td>QEMU exits (panic=-1, -no-reboot), the mediator unbinds its vm_id, the other VM
 *       keeps working</td><td>the exit wait, the reconnect deadline</td></tr>
 *   <tr><td>vfio-user server SIGKILL (stock QEMU)</td><td>QEMU stays up, every BAR0 access fails in it and reads
 *       all-ones in the guest (STATUS 0xffffffff); the mediator unbinds its vm_id; an infrastructure failure</td><td>the agent's command deadline, the reconnect
 *       deadline</td></tr>
 *   <tr><td>QEMU SIGKILL</td><td>the mediator unbinds its vm_id and keeps serving; the harness's next call fails as
 *       an infrastructure failure</td><td>the reconnect deadline, the agent's command deadline</td></tr>
 *   <tr><td>stock QEMU's container killed (docker kill)</td><td>its client exits with 137 (SIGKILL), the vfio-user
 *       server exits with its client, the mediator unbinds the vm_id and serves the other VM; an infrastructure
 *       failure</td><td>the exit wait, the reconnect deadline</td></tr>
 * </table>
 */
@Epic("end to end")
@Feature("fault matrix")
@WithMediator(childProcess = true)
@VgpuVm(name = "fm", pool = 'A', priority = "medium", vmId = 400, deviceTimeoutMs = FaultMatrixIT.DEVICE_TIMEOUT_MS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class FaultMatrixIT {
    /** Short enough to see a TIMEOUT soon, long enough that a hang-up is seen well before it. */
    static final int DEVICE_TIMEOUT_MS = 8000;
    // every wait below is its idle-host length at the scale of the VM it concerns (RequestDeadlines.scaled), the
    // link waits that VM's link deadline: a slow host makes a row slower, never red
    /** A killed process seen gone from outside (reaped, its fault reported), or a kill command's run: idle host. */
    static final Duration FAULT_SEEN = Duration.ofSeconds(10);
    /** A guest shell command, or a container's client exiting after the engine's kill: idle host. */
    static final Duration COMMAND = Duration.ofSeconds(30);
    /** A panicked guest's QEMU ending (panic=-1 reboots at once, -no-reboot ends QEMU): idle host. */
    static final Duration PANIC_EXIT = Duration.ofSeconds(120);

    @Test
    @Order(1)
    @DisplayName("mediator stopped (SIGSTOP) mid-request: TIMEOUT by the device's deadline, infrastructure, then DONE")
    void mediatorStoppedMidRequest(GuestVm vm, MediatorHandle mediator) throws Exception {
        ReconnectIT.awaitDeviceLinked(mediator, vm);
        Faults.requireCorrect(vm.agent().vectorAdd(16, 10), vm, mediator, "before the fault");
        long pid = mediator.pid();
        VectorAddResult r;
        signal("STOP", pid, vm.deadlines());
        try {
            r = vm.agent().vectorAdd(16, 11).get(0);
            assertThat(mediator.fault()).get().asString().contains("stopped");
            expectInfrastructure(r, vm, mediator, "while the mediator was stopped", "is stopped");
        } finally {
            signal("CONT", pid, vm.deadlines());
        }
        assertThat(r.status()).as("%s", r).isEqualTo(VgpuProtocol.STATUS_ERROR);
        assertThat(r.errorCode()).as("the device's own deadline: %s", r).isEqualTo(VgpuProtocol.ERR_TIMEOUT);
        assertThat(r.timedOut()).as("the agent outwaits its device").isFalse();
        // the resumed mediator answers the stale request: the device discards that reply, the next request is DONE
        Faults.requireCorrect(vm.agent().vectorAdd(16, 12, false, 3), vm, mediator, "after SIGCONT");
    }

    @Test
    @Order(2)
    @DisplayName("mediator killed (SIGKILL) mid-request: MEDIATOR_UNAVAILABLE before the deadline, then a new one")
    void mediatorKilledMidRequest(GuestVm vm, MediatorHandle mediator) throws Exception {
        mediator.start();
        ReconnectIT.awaitDeviceLinked(mediator, vm);
        long pid = mediator.pid();
        expectHangUp(
                vm,
                mediator,
                20,
                "across the mediator's SIGKILL",
                "SIGKILL the mediator (pid " + pid + ")",
                () -> ProcessHandle.of(pid).ifPresent(ProcessHandle::destroyForcibly));
        assertThat(mediator.fault()).get().asString().contains("SIGKILL");

        Reporting.doStep("start a new mediator on the same socket", mediator::start);
        ReconnectIT.awaitDeviceLinked(mediator, vm);
        Faults.requireCorrect(vm.agent().vectorAdd(16, 21, false, 3), vm, mediator, "with the new mediator");
    }

    @Test
    @Order(3)
    @DisplayName("mediator's container killed mid-request: MEDIATOR_UNAVAILABLE, infrastructure, then a new container")
    void mediatorContainerKilledMidRequest(GuestVm vm, MediatorHandle mediator) throws Exception {
        // the class VM's socket, served by mediator-lite in a container instead of the child process: no boot of its
        // own; skipped, saying so, where no container engine answers
        MediatorHandle boxed = mediator.onSameSocket(MediatorRuntime.CONTAINER);
        try {
            Optional<String> missing = boxed.missing();
            assumeTrue(missing.isEmpty(), () -> missing.orElseThrow());
            Reporting.doStep("stop the child mediator, start mediator-lite's container on its socket", () -> {
                mediator.stop();
                boxed.start();
            });
            ReconnectIT.awaitDeviceLinked(boxed, vm);
            Faults.requireCorrect(vm.agent().vectorAdd(16, 60), vm, boxed, "through the container");
            String id = boxed.containerId().orElseThrow();
            // (its java is the container's main process, this uid: SIGSTOP reaches it; SIGKILL ends a stopped
            // process too)
            expectHangUp(
                    vm,
                    boxed,
                    61,
                    "across the container's kill",
                    "kill the mediator's container through the engine (docker kill " + id.substring(0, 12) + ")",
                    () -> ContainerEngine.client().killContainerCmd(id).exec());
            assertThat(boxed.fault()).get().asString().contains("container " + id.substring(0, 12), "SIGKILL");
            assertThat(boxed.isRunning()).isFalse();

            Reporting.doStep("start a new mediator container on the same socket", boxed::start);
            assertThat(boxed.containerId()).get().isNotEqualTo(id);
            assertThat(boxed.fault()).isEmpty();
            ReconnectIT.awaitDeviceLinked(boxed, vm);
            Faults.requireCorrect(vm.agent().vectorAdd(16, 62, false, 3), vm, boxed, "with the new container");
        } finally {
            boxed.attachTo(" (container)");
            boxed.close();
        }
    }

    @Test
    @Order(4)
    @VgpuVm(name = "panic", pool = 'B', priority = "low", vmId = 401, perClass = false)
    @DisplayName("guest kernel panic: QEMU ends, the mediator unbinds it, the other VM keeps working; infrastructure")
    void guestKernelPanic(@Vm("panic") GuestVm panic, @Vm("fm") GuestVm other, MediatorHandle mediator) {
        mediator.start();
        ReconnectIT.awaitDeviceLinked(mediator, panic);
        Faults.requireCorrect(panic.agent().vectorAdd(8, 30), panic, mediator, "before the panic");
        Reporting.async("sysrq-crash", () -> {
            try {
                return panic.shell()
                        .exec("echo c > /proc/sysrq-trigger", panic.deadlines().scaled(COMMAND));
            } catch (RuntimeException e) {
                return null; // the guest is gone before it can answer
            }
        });
        awaitExit(panic, "QEMU's exit (panic=-1 reboots, -no-reboot ends QEMU)", PANIC_EXIT);
        assertThat(panic.fault()).get().asString().contains("panicked", "Kernel panic");
        expectInfrastructureCall(panic, mediator, () -> panic.agent().vectorAdd(8, 31));
        ReconnectIT.awaitLink(mediator, panic, 401L, false);
        Faults.requireCorrect(other.agent().vectorAdd(8, 32), other, mediator, "on the other VM after the panic");
    }

    @Test
    @Order(5)
    @DisplayName("vfio-user server killed: the device is gone for the guest, infrastructure; QEMU stopped cleanly")
    void vfioUserServerKilled(MediatorHandle mediator) throws Exception {
        mediator.start();
        Path stock = stockQemu();
        Path keyDir = OwnedDirs.temp("ssh");
        GuestVm vm = Reporting.step(
                "boot VM 'vfio-user' on stock QEMU " + stock,
                () -> GuestLauncher.boot(
                        VmSpec.simple("vfio-user", 'B', "high", 402, true).withQemu(stock.toString()),
                        mediator.socketPath(),
                        GuestSystem.ci(GuestImage.locate()),
                        SshKeys.generate(keyDir),
                        Agent.localJar(),
                        Accelerator.AUTO));
        try {
            assertThat(vm.machine().vfioUserServers()).hasSize(1);
            ReconnectIT.awaitDeviceLinked(mediator, vm);
            Faults.requireCorrect(vm.agent().vectorAdd(8, 50), vm, mediator, "before the fault");
            Process server = vm.machine().vfioUserServers().get(0).process();
            Reporting.doStep("SIGKILL the vfio-user server (pid " + server.pid() + ")", () -> {
                server.destroyForcibly();
                Duration gone = vm.deadlines().scaled(FAULT_SEEN);
                try {
                    assertThat(server.waitFor(gone.toMillis(), TimeUnit.MILLISECONDS))
                            .as(
                                    "the server gone within %s (%s)",
                                    gone, vm.deadlines().describe())
                            .isTrue();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            });
            assertThat(vm.fault()).get().asString().contains("vfio-user server", "SIGKILL");
            // QEMU stays up; every BAR0 access fails in it ("Broken pipe" on its stderr) and reads as all-ones in
            // the guest, so the agent sees STATUS 0xffffffff; the harness calls that infrastructure
            java.util.concurrent.atomic.AtomicReference<List<VectorAddResult>> after =
                    new java.util.concurrent.atomic.AtomicReference<>();
            expectInfrastructureCall(vm, mediator, () -> {
                        after.set(vm.agent().vectorAdd(8, 51));
                        Reporting.attachText(
                                "vector-add after the server's death",
                                after.get().toString());
                        Faults.requireCorrect(after.get(), vm, mediator, "after the server's death");
                        return after.get();
                    })
                    .hasMessageContaining("vfio-user server");
            ReconnectIT.awaitLink(mediator, vm, 402L, false);
            Reporting.attachText(
                    "VM 'vfio-user' QEMU after the server's death",
                    "running: " + vm.isRunning() + ", exit: " + vm.machine().exitStatus() + "\nstderr:\n"
                            + vm.machine().stderrTail(20));
            assertThat(vm.isRunning()).as("QEMU outlives its device server").isTrue();
            assertThat(after.get()).as("the agent still reports").isNotEmpty();
            assertThat(after.get().get(0).status())
                    .as("STATUS of a vanished device reads all-ones")
                    .isEqualTo(-1);
            assertThat(vm.machine().stderr()).contains("Broken pipe");
        } finally {
            vm.close();
            OwnedDirs.delete(keyDir);
        }
    }

    /** {@code vgpu.qemu.stock}, else images/build-stock-qemu.sh's (cached; the first build needs root). */
    static Path stockQemu() throws Exception {
        java.util.Optional<String> given = Setting.QEMU_STOCK.value();
        if (given.isPresent()) {
            return Path.of(given.get());
        }
        Path script = SourceTree.path("images", "build-stock-qemu.sh");
        BoundProcesses.Result r = BoundProcesses.run(List.of("bash", script.toString()), Duration.ofMinutes(30));
        String last = r.stdout().strip().lines().reduce((a, b) -> b).orElse("").strip();
        assertThat(r.exitCode()).as("%s: %s", script, r.stderrTail(20)).isZero();
        return Path.of(last);
    }

    @Test
    @Order(6)
    @DisplayName("stock QEMU's container killed: the mediator unbinds the VM and keeps serving; infrastructure")
    void qemuContainerKilled(GuestVm other, MediatorHandle mediator) throws Exception {
        ContainerEngine.Availability engine = ContainerEngine.availability();
        assumeTrue(engine.available(), () -> "a QEMU in a container needs a container engine: " + engine.reason());
        mediator.start();
        Path keyDir = OwnedDirs.temp("ssh");
        GuestVm vm = Reporting.step(
                "boot VM 'qemu-box' on " + ContainerQemu.STOCK + " (QEMU in a container)",
                () -> GuestLauncher.boot(
                        VmSpec.simple("qemu-box", 'B', "high", 403, true).withQemu(ContainerQemu.STOCK),
                        mediator.socketPath(),
                        GuestSystem.ci(GuestImage.locate()),
                        SshKeys.generate(keyDir),
                        Agent.localJar(),
                        Accelerator.AUTO));
        try {
            String name = vm.machine().container().orElseThrow();
            // the container shares this host's pid namespace: its pidfile names QEMU itself, not the client
            long qemuPid = Long.parseLong(
                    java.nio.file.Files.readString(vm.machine().runDir().resolve("qemu.pid"))
                            .strip());
            ReconnectIT.awaitDeviceLinked(mediator, vm);
            Faults.requireCorrect(vm.agent().vectorAdd(8, 70), vm, mediator, "before the fault");
            Reporting.doStep(
                    "kill QEMU's container through the engine (docker kill " + name + ")",
                    () -> ContainerEngine.client().killContainerCmd(name).exec());
            awaitExit(vm, "the container's client's exit", COMMAND);
            assertThat(vm.fault()).get().asString().contains("container " + name, "SIGKILL");
            RequestDeadlines d = vm.deadlines();
            String qemuGone = "QEMU itself (pid " + qemuPid + ") gone with its container";
            Reporting.doStep(
                    "await " + qemuGone,
                    () -> await(qemuGone + " within " + d.scaled(FAULT_SEEN) + " (" + d.describe() + ")")
                            .atMost(d.scaled(FAULT_SEEN))
                            .pollInterval(Duration.ofMillis(100))
                            .until(() -> ProcessHandle.of(qemuPid)
                                    .map(h -> !h.isAlive())
                                    .orElse(true)));
            expectInfrastructureCall(vm, mediator, () -> vm.agent().vectorAdd(8, 71))
                    .hasMessageContaining("QEMU in container " + name);
            // its vfio-user server exits when QEMU hangs up
            ReconnectIT.awaitLink(mediator, vm, 403L, false);
            assertThat(mediator.fault()).as("the mediator outlives its client").isEmpty();
            ReconnectIT.awaitDeviceLinked(mediator, other);
            Faults.requireCorrect(other.agent().vectorAdd(8, 72), other, mediator, "on the other VM after the kill");
        } finally {
            vm.close();
            OwnedDirs.delete(keyDir);
        }
    }

    @Test
    @Order(7)
    @DisplayName("QEMU killed (SIGKILL): the mediator unbinds it and keeps serving; the next call is infrastructure")
    void qemuKilled(GuestVm vm, MediatorHandle mediator) {
        mediator.start();
        ReconnectIT.awaitDeviceLinked(mediator, vm);
        Reporting.doStep("SIGKILL QEMU (pid " + vm.machine().pid() + ")", vm.machine()::kill);
        assertThat(vm.machine().exitStatus()).get().asString().contains("SIGKILL");
        assertThat(vm.fault()).get().asString().contains("SIGKILL");
        expectInfrastructureCall(vm, mediator, () -> vm.agent().vectorAdd(8, 40))
                .hasMessageContaining("QEMU pid " + vm.machine().pid());
        ReconnectIT.awaitLink(mediator, vm, 400L, false);
        assertThat(mediator.fault()).as("the mediator outlives its client").isEmpty();
        assertThat(mediator.stats().path("pid").asLong()).isEqualTo(mediator.pid());
    }

    /**
     * The hang-up rows: the mediator is stopped first, so a request is surely in flight (STATUS busy, host view)
     * when {@code kill} comes; the request then ends as the device's MEDIATOR_UNAVAILABLE (the hang-up, seen
     * before timeout_ms), once the harness has seen the mediator's fault, filed as infrastructure (a SIGKILL).
     */
    private static void expectHangUp(
            GuestVm vm, MediatorHandle mediator, int seed, String when, String killStep, Runnable kill)
            throws Exception {
        RequestDeadlines d = vm.deadlines();
        Duration command = vm.agent().commandDeadline();
        signal("STOP", mediator.pid(), d);
        CompletableFuture<List<VectorAddResult>> run =
                Reporting.async("agent-" + seed + "-mid-kill", () -> vm.agent().vectorAdd(16, seed));
        try {
            Reporting.doStep(
                    "await the request in flight (STATUS busy, host view)",
                    () -> await("the request in flight within the agent's command deadline " + command + " ("
                                    + d.describe() + ")")
                            .atMost(command)
                            .pollInterval(Duration.ofMillis(50))
                            .until(() -> statusOf(vm) == VgpuProtocol.STATUS_BUSY || run.isDone()));
        } finally {
            Reporting.doStep(killStep, kill);
        }
        VectorAddResult r;
        try {
            r = run.get(command.toMillis(), TimeUnit.MILLISECONDS).get(0);
        } catch (TimeoutException e) {
            throw new AssertionError(
                    "vector-add " + when + " did not end within " + command + " (" + d.describe() + ")", e);
        }
        Duration seen = d.scaled(FAULT_SEEN);
        await("the mediator's fault seen within " + seen + " (" + d.describe() + ")")
                .atMost(seen)
                .until(() -> mediator.fault().isPresent());
        expectInfrastructure(r, vm, mediator, when, "SIGKILL");
        assertThat(r.status()).as("%s", r).isEqualTo(VgpuProtocol.STATUS_ERROR);
        assertThat(r.errorCode())
                .as("the hang-up, seen before timeout_ms: %s", r)
                .isEqualTo(VgpuProtocol.ERR_MEDIATOR_UNAVAILABLE);
    }

    /** The next call on a VM whose QEMU, device server or guest is gone fails as infrastructure, never protocol. */
    private static AbstractThrowableAssert<?, ? extends Throwable> expectInfrastructureCall(
            GuestVm vm, MediatorHandle mediator, Supplier<?> call) {
        return assertThatThrownBy(() -> Faults.guarded(vm, mediator, call))
                .isInstanceOf(InfrastructureFailure.class)
                .satisfies(
                        e -> assertThat(Categories.matching(e.getMessage())).containsExactly("Infrastructure failure"));
    }

    /** Waits for {@code vm}'s QEMU to exit within {@code idle} at its scale; a timeout names the budget. */
    private static void awaitExit(GuestVm vm, String what, Duration idle) {
        RequestDeadlines d = vm.deadlines();
        Duration within = d.scaled(idle);
        Reporting.doStep("await " + what + " (within " + within + ")", () -> {
            try {
                vm.machine().waits(within).forExit();
            } catch (WaitTimeoutException e) {
                throw new AssertionError(what + " not within " + within + " (" + d.describe() + ")", e);
            }
        });
    }

    /** The harness files a failed result during the fault as an infrastructure failure, never a protocol one. */
    private static void expectInfrastructure(
            VectorAddResult r, GuestVm vm, MediatorHandle mediator, String when, String cause) {
        assertThatThrownBy(() -> Faults.requireCorrect(List.of(r), vm, mediator, when))
                .isInstanceOf(InfrastructureFailure.class)
                .hasMessageContaining(cause)
                .hasMessageContaining("VM '" + vm.name() + "'")
                .satisfies(
                        e -> assertThat(Categories.matching(e.getMessage())).containsExactly("Infrastructure failure"));
    }

    private static void signal(String sig, long pid, RequestDeadlines d) {
        Reporting.doStep("SIG" + sig + " the mediator (pid " + pid + ")", () -> {
            try {
                BoundProcesses.Result res =
                        BoundProcesses.run(List.of("kill", "-" + sig, Long.toString(pid)), d.scaled(FAULT_SEEN));
                assertThat(res.exitCode()).as(res.stderr()).isZero();
            } catch (Exception e) {
                throw new IllegalStateException("kill -" + sig + " " + pid, e);
            }
        });
    }

    private static long statusOf(GuestVm vm) {
        for (Map<String, Long> regs : HostRegisters.dump(vm.machine()).values()) {
            Long s = regs.get("STATUS");
            if (s != null) {
                return s;
            }
        }
        return -1;
    }
}

package dev.vgpuhil.harness.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.vgpuhil.harness.agent.AgentRun;
import dev.vgpuhil.harness.agent.RequestDeadlines;
import dev.vgpuhil.harness.agent.VectorAddResult;
import dev.vgpuhil.harness.junit.GuestVm;
import dev.vgpuhil.harness.junit.MediatorHandle;
import dev.vgpuhil.harness.junit.VgpuVm;
import dev.vgpuhil.harness.junit.WithMediator;
import dev.vgpuhil.harness.report.ProtocolFailure;
import dev.vgpuhil.harness.report.Reporting;
import dev.vgpuhil.protocol.VgpuProtocol;
import io.qameta.allure.Epic;
import io.qameta.allure.Feature;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;

/**
 * The device's reconnect: a mediator that appears after the VM booted, and one restarted while the VM runs, are
 * picked up without rebooting the guest. The mediator runs as a real child process here (SIGTERM on restart).
 */
@Epic("end to end")
@Feature("mediator reconnect")
@WithMediator(childProcess = true, startFirst = false)
@VgpuVm(name = "reconnect", pool = 'A', priority = "medium", vmId = 300)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class ReconnectIT {
    /** The guest's pause after a failed request: with 800 requests the run outlasts any relink within its deadline. */
    static final Duration BACKOFF = Duration.ofMillis(250);
    /** One request of a long run on an idle host (-Xint under TCG: a few hundred MMIO accesses), with a margin. */
    static final Duration REQUEST = Duration.ofMillis(200);
    /** After a command's own deadline the SSH session gives up within this (idle host). */
    static final Duration SESSION_GIVES_UP = Duration.ofSeconds(30);

    /**
     * The host's deadline for a run of {@code repeat} requests, from the VM's budget: one agent command (its JVM start
     * and one request waiting out the agent's timeout, the one that meets the restart) plus every request served or
     * failed and backed off, at the VM's scale.
     */
    static Duration runDeadline(RequestDeadlines d, int repeat) {
        return d.agentCall().plus(d.scaled(REQUEST.plus(BACKOFF)).multipliedBy(repeat));
    }

    @Test
    @Order(1)
    @DisplayName("mediator started after the VM: MEDIATOR_UNAVAILABLE first, then picked up by reconnect")
    void mediatorStartedAfterTheVm(GuestVm vm, MediatorHandle mediator) {
        assertThat(mediator.isRunning()).isFalse();
        VectorAddResult before = vm.agent().vectorAdd(8, 1).get(0);
        if (before.status() != VgpuProtocol.STATUS_ERROR
                || before.errorCode() != VgpuProtocol.ERR_MEDIATOR_UNAVAILABLE) {
            throw new ProtocolFailure("without a mediator expected STATUS=3 ERROR_CODE=2, got " + before);
        }
        Reporting.doStep("start the mediator after the VM", () -> {
            mediator.start();
        });
        awaitDeviceLinked(mediator, vm);
        requireCorrect(vm.agent().vectorAdd(64, 2, false, 2), "after the mediator started");
    }

    @Test
    @Order(2)
    @DisplayName("mediator restarted mid-run: the device reconnects to the new daemon")
    void mediatorRestartedMidRun(GuestVm vm, MediatorHandle mediator) {
        mediator.start(); // (no-op when test 1 left it running)
        awaitDeviceLinked(mediator, vm);
        requireCorrect(vm.agent().vectorAdd(17, 3, false, 2), "before the restart");
        long oldPid = mediator.pid();
        Reporting.doStep("restart the mediator (SIGTERM, start again on the same socket)", mediator::restart);
        assertThat(mediator.pid()).as("a new daemon process").isNotEqualTo(oldPid);
        awaitDeviceLinked(mediator, vm);
        List<VectorAddResult> afterRestart = vm.agent().vectorAdd(127, 4, true, 2);
        requireCorrect(afterRestart, "after the restart");
        for (VectorAddResult r : afterRestart) {
            if (!r.interruptDriven()) {
                throw new ProtocolFailure("vector-add --irq after the restart was not interrupt-driven: " + r);
            }
        }
        assertThat(mediator.incarnations()).isGreaterThanOrEqualTo(2);
    }

    @Test
    @Order(3)
    @DisplayName(
            "mediator restarted while a guest run is in flight: no wrong result, only link errors, then DONE again")
    void mediatorRestartedDuringARun(GuestVm vm, MediatorHandle mediator) throws Exception {
        mediator.start();
        awaitDeviceLinked(mediator, vm);
        long before = completed(mediator);
        int repeat = 800;
        RequestDeadlines deadlines = vm.deadlines();
        Duration runDeadline = runDeadline(deadlines, repeat);
        // the guest backs off after each failed request, so the run is still going when the device has relinked
        // (a run without back-off races the relink: its remaining requests can all fail within milliseconds)
        var run = Reporting.async(
                "agent-long-run",
                () -> vm.agent()
                        .withDeadline(runDeadline)
                        .run(
                                "vector-add",
                                "--elements",
                                "127",
                                "--seed",
                                "5",
                                "--repeat",
                                Integer.toString(repeat),
                                "--backoff-ms",
                                Long.toString(BACKOFF.toMillis())));
        Reporting.doStep(
                "wait until the run is under way (the mediator completed 50 of its requests)",
                () -> await("the run's first 50 requests, within an agent command's deadline (" + deadlines.describe()
                                + ")")
                        .atMost(deadlines.agentCall())
                        .pollInterval(Duration.ofMillis(20))
                        .until(() -> completed(mediator) - before >= 50 || run.isDone()));
        if (run.isDone()) {
            throw new IllegalStateException("the guest run finished before the restart; make it longer");
        }
        Reporting.doStep("restart the mediator while the run is in flight", mediator::restart);
        awaitDeviceLinked(mediator, vm);
        if (run.isDone()) {
            throw new IllegalStateException("the guest run ended before the device relinked; make it longer");
        }
        Duration hostWait = runDeadline.plus(deadlines.scaled(SESSION_GIVES_UP));
        AgentRun result;
        try {
            result = run.get(hostWait.toMillis(), TimeUnit.MILLISECONDS);
        } catch (TimeoutException e) {
            throw new AssertionError(
                    "the long run did not end within " + hostWait + " (its deadline " + runDeadline + ", "
                            + deadlines.describe() + ")",
                    e);
        }
        List<VectorAddResult> rs =
                result.ofType("vector-add").stream().map(VectorAddResult::of).toList();
        assertThat(rs).as("every request of the run reported").hasSize(repeat);
        int done = 0;
        int linkErrors = 0;
        int firstError = -1;
        int doneAfterError = 0;
        for (int i = 0; i < rs.size(); i++) {
            VectorAddResult r = rs.get(i);
            if (r.status() == VgpuProtocol.STATUS_DONE) {
                if (!r.correct()) {
                    throw new ProtocolFailure(
                            "request " + i + " completed with a wrong result across the restart: " + r);
                }
                done++;
                if (firstError >= 0) {
                    doneAfterError++;
                }
            } else if (r.status() == VgpuProtocol.STATUS_ERROR
                    && (r.errorCode() == VgpuProtocol.ERR_MEDIATOR_UNAVAILABLE
                            || r.errorCode() == VgpuProtocol.ERR_SHUTDOWN)) {
                linkErrors++;
                if (firstError < 0) {
                    firstError = i;
                }
            } else {
                throw new ProtocolFailure("request " + i + " across the restart ended with STATUS=" + r.status()
                        + " ERROR_CODE=" + r.errorCode() + " (expected DONE, or MEDIATOR_UNAVAILABLE/SHUTDOWN): " + r);
            }
        }
        Reporting.attachText(
                "requests across the restart",
                done + " DONE (correct), " + linkErrors
                        + " MEDIATOR_UNAVAILABLE/SHUTDOWN from request " + firstError + ", " + doneAfterError
                        + " DONE after the first error");
        assertThat(linkErrors).as("requests that met the restart").isPositive();
        assertThat(doneAfterError)
                .as("DONE again in the same run after the device reconnected")
                .isPositive();
    }

    static long completed(MediatorHandle m) {
        try {
            return m.stats().required("completed").asLong();
        } catch (RuntimeException e) {
            return -1;
        }
    }

    /**
     * Waits until the mediator's stats show the device's connection with its vm_id bound by HELLO, within the VM's
     * link deadline ({@link RequestDeadlines#link}).
     */
    static void awaitDeviceLinked(MediatorHandle mediator, GuestVm vm) {
        awaitLink(mediator, vm, vm.spec().vmId(), true);
    }

    /**
     * Waits until {@code vmId}, {@code vm}'s, is bound ({@code bound}) or no longer bound on the mediator, within
     * that VM's link deadline; a timeout names its budget.
     */
    static void awaitLink(MediatorHandle mediator, GuestVm vm, long vmId, boolean bound) {
        RequestDeadlines d = vm.deadlines();
        String what = bound
                ? "the device's reconnect (vm_id " + vmId + " bound on the mediator)"
                : "the mediator unbinding vm_id " + vmId;
        Reporting.doStep("await " + what, () -> {
            await(what + " within the link deadline " + d.link() + " (" + d.describe() + ")")
                    .atMost(d.link())
                    .pollInterval(Duration.ofMillis(200))
                    .ignoreExceptions()
                    .until(() -> mediator.boundVms().contains(vmId) == bound);
        });
    }

    static void requireCorrect(List<VectorAddResult> rs, String when) {
        for (VectorAddResult r : rs) {
            if (!r.done() || !r.correct()) {
                throw new ProtocolFailure("vector-add " + when + ": " + r);
            }
        }
    }
}

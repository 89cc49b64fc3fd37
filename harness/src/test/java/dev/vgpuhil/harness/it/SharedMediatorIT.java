package dev.vgpuhil.harness.it;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.vgpuhil.harness.agent.AgentRun;
import dev.vgpuhil.harness.agent.RequestDeadlines;
import dev.vgpuhil.harness.agent.VectorAddResult;
import dev.vgpuhil.harness.junit.Faults;
import dev.vgpuhil.harness.junit.GuestVm;
import dev.vgpuhil.harness.junit.GuestVms;
import dev.vgpuhil.harness.junit.MediatorHandle;
import dev.vgpuhil.harness.junit.VgpuVm;
import dev.vgpuhil.harness.junit.WithMediator;
import dev.vgpuhil.harness.report.Charts;
import dev.vgpuhil.harness.report.InfrastructureFailure;
import dev.vgpuhil.harness.report.MediatorFailure;
import dev.vgpuhil.harness.report.ProtocolFailure;
import dev.vgpuhil.harness.report.Reporting;
import dev.vgpuhil.mediator.Mediator;
import dev.vgpuhil.mediator.Stats;
import dev.vgpuhil.protocol.Pool;
import dev.vgpuhil.protocol.Priority;
import io.qameta.allure.Epic;
import io.qameta.allure.Feature;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

/**
 * Three guests share one mediator: two in pool A (high and low priority) and one in pool B (high). In each round
 * the mediator holds its workers; a-low's request is queued first (the test waits for it), then a-high's and
 * b-high's, and once all three are queued the workers go (so arrival order alone would run a-low first); the order in which
 * the mediator reports having run them (STATS_REPLY "last" and its execution log) must follow the priorities:
 * in pool A the high-priority VM's request runs before the low one's; pool B is served by its own worker.
 * Aging is off so waiting cannot lift the low request. The hold releases itself at the devices' longest hold (their
 * timeout_ms is sized from it, {@link RequestDeadlines}); a request that still times out while held is an
 * infrastructure failure (the host was too slow for the hold), not a protocol one.
 */
@Epic("end to end")
@Feature("three VMs share one mediator")
@WithMediator(agingMs = 0)
@VgpuVm(
        name = "a-high",
        pool = 'A',
        priority = "high",
        vmId = 101,
        deviceTimeoutMs = SharedMediatorIT.DEVICE_TIMEOUT_MS)
@VgpuVm(name = "a-low", pool = 'A', priority = "low", vmId = 102, deviceTimeoutMs = SharedMediatorIT.DEVICE_TIMEOUT_MS)
@VgpuVm(
        name = "b-high",
        pool = 'B',
        priority = "high",
        vmId = 201,
        deviceTimeoutMs = SharedMediatorIT.DEVICE_TIMEOUT_MS)
class SharedMediatorIT {
    static final int ROUNDS = 3;
    /**
     * The longest the test holds a queued request in the paused scheduler: while a-low's request waits, the other two
     * agents start (a JVM each, seconds under TCG, a minute and more on a loaded host). The devices' timeout_ms and
     * from it the agents' --timeout-ms and every host deadline derive from it ({@link RequestDeadlines}).
     */
    static final int HOLD_MS = 240_000;
    /** The devices' reply deadline: the hold plus a released request's service time. */
    static final int DEVICE_TIMEOUT_MS = HOLD_MS + RequestDeadlines.SERVICE_MS;

    @Test
    @DisplayName("scheduling order reported by the mediator follows the VMs' priorities")
    void schedulingOrderFollowsPriorities(GuestVms vms, MediatorHandle mediator) throws Exception {
        Mediator m =
                mediator.inProcessMediator().orElseThrow(() -> new MediatorFailure("needs the in-process mediator"));
        GuestVm aHigh = vms.get("a-high");
        GuestVm aLow = vms.get("a-low");
        GuestVm bHigh = vms.get("b-high");
        RequestDeadlines deadlines = aLow.agent().deadlines();
        for (GuestVm vm : List.of(aHigh, aLow, bHigh)) {
            Reporting.doStep(
                    "device of " + vm.name() + " linked (vm_id " + vm.spec().vmId() + ")", () -> {
                        try {
                            if (!m.awaitBound(
                                    (int) vm.spec().vmId(),
                                    vm.agent().deadlines().link())) {
                                throw new MediatorFailure("vm_id " + vm.spec().vmId() + " never bound on the mediator");
                            }
                        } catch (InterruptedException e) {
                            Thread.currentThread().interrupt();
                            throw new IllegalStateException(e);
                        }
                    });
        }
        for (int round = 1; round <= ROUNDS; round++) {
            int requestId = 1000 + round;
            int r = round;
            Reporting.doStep("round " + round + ": hold the workers, queue one request from each VM, release", () -> {
                List<CompletableFuture<AgentRun>> runs = new ArrayList<>();
                long heldMs;
                // a hold that releases itself before the devices could give up on a held request
                try (MediatorHandle.Hold hold = mediator.hold(deadlines.maxHold())) {
                    // a-low first, and queued before a-high even starts: a FIFO scheduler would run it first
                    runs.add(start(aLow, r, requestId));
                    if (!m.awaitQueued(1, deadlines.maxHold())) {
                        throw new InfrastructureFailure("round " + r + ": a-low's request_id=" + requestId
                                + " was not queued within the longest hold " + deadlines.maxHold() + " ("
                                + deadlines.describe() + ")");
                    }
                    runs.add(start(aHigh, r, requestId));
                    runs.add(start(bHigh, r, requestId));
                    boolean queued = m.awaitQueued(3, deadlines.maxHold());
                    heldMs = hold.held().toMillis();
                    if (!queued || hold.expired()) {
                        throw new InfrastructureFailure("round " + r + ": a-high's and b-high's requests were not"
                                + " queued while the harness held a-low's request_id=" + requestId + " for its"
                                + " longest hold " + hold.max() + " (" + deadlines.describe()
                                + "): the host is too slow for this hold");
                    }
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new IllegalStateException(e);
                }
                List<GuestVm> order = List.of(aLow, aHigh, bHigh);
                for (int i = 0; i < runs.size(); i++) {
                    GuestVm vm = order.get(i);
                    AgentRun run = runs.get(i)
                            .orTimeout(
                                    vm.agent()
                                            .commandDeadline()
                                            .plusMillis(HOLD_MS)
                                            .toMillis(),
                                    TimeUnit.MILLISECONDS)
                            .join();
                    List<VectorAddResult> lines = run.ofType("vector-add").stream()
                            .map(VectorAddResult::of)
                            .toList();
                    VectorAddResult v = lines.isEmpty() ? null : lines.get(0);
                    boolean timedOut = v != null && Faults.timedOut(v);
                    if (timedOut && vm == aLow) {
                        // the request waited in the queue the harness held: the hold's doing, not the product's
                        throw new InfrastructureFailure(vm.agent()
                                .timeoutMessage(
                                        requestId, "in round " + r + " after the harness held it " + heldMs + " ms"));
                    }
                    if (timedOut) {
                        throw new ProtocolFailure(
                                vm.agent().timeoutMessage(requestId, "in round " + r + " after its release") + ": "
                                        + v);
                    }
                    if (!run.ok() || v == null || !v.correct()) {
                        throw new ProtocolFailure("round " + r + ": vector-add on VM '" + vm.name() + "' request_id="
                                + requestId + " failed: " + run.diagnostics() + " " + lines);
                    }
                }
            });
        }

        // what the mediator reports: STATS_REPLY's "last" ([vm, request_id, priority] in start order) ...
        JsonNode stats = mediator.stats();
        Reporting.attachJson("mediator stats after the rounds", mediator.statsJson());
        List<long[]> reported = new ArrayList<>();
        for (JsonNode e : stats.path("last")) {
            reported.add(new long[] {
                e.get(0).longValue(), e.get(1).longValue(), e.get(2).longValue()
            });
        }
        // ... and its execution log (pool and effective class as well)
        List<Stats.Executed> log = m.executionLog();
        StringBuilder order = new StringBuilder();
        for (int round = 1; round <= ROUNDS; round++) {
            int requestId = 1000 + round;
            long hi = seqOf(reported, 101, requestId);
            long lo = seqOf(reported, 102, requestId);
            long b = seqOf(reported, 201, requestId);
            order.append("round ")
                    .append(round)
                    .append(": a-high #")
                    .append(hi)
                    .append(", a-low #")
                    .append(lo)
                    .append(", b-high #")
                    .append(b)
                    .append('\n');
            if (hi < 0 || lo < 0 || b < 0) {
                throw new MediatorFailure(
                        "round " + round + ": the mediator did not report all three requests: " + stats.path("last"));
            }
            if (hi > lo) {
                throw new MediatorFailure("round " + round + ": the mediator ran a-low (priority low) before a-high "
                        + "(priority high) in pool A: " + order);
            }
            Stats.Executed eh = executed(log, 101, requestId);
            Stats.Executed el = executed(log, 102, requestId);
            Stats.Executed eb = executed(log, 201, requestId);
            assertThat(eh.seq())
                    .as("execution log: a-high before a-low, round " + round)
                    .isLessThan(el.seq());
            assertThat(eh.pool()).isEqualTo(Pool.A);
            assertThat(el.pool()).isEqualTo(Pool.A);
            assertThat(eb.pool()).isEqualTo(Pool.B);
            assertThat(eh.priority()).isEqualTo(Priority.HIGH);
            assertThat(el.priority()).isEqualTo(Priority.LOW);
        }
        Reporting.attachText("scheduling order per round (position in the mediator's report)", order.toString());
        // the same as pictures: which VM, pool and priority ran when (and waited how long), and the latencies
        java.util.function.IntFunction<String> names = vm -> vm == 101 ? "a-high" : vm == 102 ? "a-low" : "b-high";
        Charts.attachSvg("mediator schedule of the rounds", Charts.schedule("mediator schedule", log, names));
        Charts.attachSvg(
                "mediator wait + run per request", Charts.latencyCdf("mediator wait + run per request", log, names));
        // every request is in the per-request log lines too
        assertThat(mediator.requestLogLines().stream()
                        .filter(l -> l.contains("request_id=100"))
                        .count())
                .as("per-request log lines of the rounds")
                .isGreaterThanOrEqualTo(3L * ROUNDS);
    }

    private static CompletableFuture<AgentRun> start(GuestVm vm, int seed, int requestId) {
        // the agent's --timeout-ms and the host's deadline come from the device's timeout_ms (RequestDeadlines)
        return Reporting.async(
                "agent-" + vm.name(),
                () -> vm.agent()
                        .run(
                                "vector-add",
                                "--elements",
                                "17",
                                "--seed",
                                Integer.toString(seed),
                                "--request-id",
                                Integer.toString(requestId)));
    }

    /** Position of (vm, request id) in the reported order, -1 if absent. */
    static long seqOf(List<long[]> reported, long vm, long requestId) {
        for (int i = 0; i < reported.size(); i++) {
            if (reported.get(i)[0] == vm && reported.get(i)[1] == requestId) {
                return i;
            }
        }
        return -1;
    }

    static Stats.Executed executed(List<Stats.Executed> log, int vm, int requestId) {
        return log.stream()
                .filter(e -> e.vmId() == vm && e.requestId() == requestId)
                .findFirst()
                .orElseThrow(() -> new MediatorFailure("execution log lacks vm " + vm + " request " + requestId));
    }
}

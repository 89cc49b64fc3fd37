package dev.vgpuhil.harness.it;

import static org.assertj.core.api.Assertions.assertThat;

import dev.vgpuhil.common.Setting;
import dev.vgpuhil.harness.agent.AgentRun;
import dev.vgpuhil.harness.agent.VectorAddResult;
import dev.vgpuhil.harness.junit.Faults;
import dev.vgpuhil.harness.junit.GuestVm;
import dev.vgpuhil.harness.junit.GuestVms;
import dev.vgpuhil.harness.junit.MediatorHandle;
import dev.vgpuhil.harness.junit.VgpuVm;
import dev.vgpuhil.harness.junit.WithMediator;
import dev.vgpuhil.harness.report.ProtocolFailure;
import dev.vgpuhil.harness.report.Reporting;
import dev.vgpuhil.protocol.VgpuProtocol;
import io.qameta.allure.Epic;
import io.qameta.allure.Feature;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

/**
 * Soak: three VMs in mixed pools and priorities keep one mediator (a child process) busy for {@code vgpu.soak.duration}
 * (short in CI, an hour nightly); half-way the mediator is restarted (SIGTERM, a new daemon on the same socket). Per
 * VM the books must balance: every request sent is answered (DONE with the right sum) or errored with a link error
 * (MEDIATOR_UNAVAILABLE or SHUTDOWN, around the restart) — none lost (the agent never gave up, no line missing), none
 * mismatched; and every answer the guest saw is one the mediator logged as DONE for that VM and request id.
 */
@Epic("end to end")
@Feature("soak")
@WithMediator(childProcess = true, workersPerPool = 1)
@VgpuVm(name = "a-high", pool = 'A', priority = "high", vmId = 501)
@VgpuVm(name = "a-low", pool = 'A', priority = "low", vmId = 502)
@VgpuVm(name = "b-medium", pool = 'B', priority = "medium", vmId = 503)
class SoakIT {
    /** Requests per agent command: long enough to outweigh the agent's JVM start, short enough to end soon. */
    static final int BATCH = 150;
    /** The guest's pause after an errored request (rides out the restart's relink instead of racing it). */
    static final int BACKOFF_MS = 200;
    /** Request sizes, one per VM (up to the 127 elements that fit the request buffer). */
    static final int[] ELEMENTS = {127, 1, 64, 33, 100, 17, 8};

    /** One VM's books. */
    static final class Books {
        final String vm;
        long sent;
        long answered;
        long errored;
        long mismatched;
        long lost;
        final Set<Long> answeredIds = new HashSet<>();
        final List<String> problems = new ArrayList<>();

        Books(String vm) {
            this.vm = vm;
        }

        @Override
        public String toString() {
            return vm + ": sent " + sent + " = answered " + answered + " + errored " + errored + "; lost " + lost
                    + ", mismatched " + mismatched;
        }
    }

    @Test
    @DisplayName("three VMs, mixed pools and priorities, a mediator restart half-way: nothing lost, nothing wrong")
    void soak(GuestVms vms, MediatorHandle mediator) throws Exception {
        Duration duration = Setting.SOAK_DURATION.duration();
        for (GuestVm vm : vms.all()) {
            ReconnectIT.awaitDeviceLinked(mediator, vm);
        }
        long end = System.nanoTime() + duration.toNanos();
        Map<String, Books> books = new LinkedHashMap<>();
        List<CompletableFuture<Void>> loops = new ArrayList<>();
        for (GuestVm vm : vms.all()) {
            Books b = new Books(vm.name());
            books.put(vm.name(), b);
            loops.add(Reporting.async("soak-" + vm.name(), () -> {
                loop(vm, b, end);
                return null;
            }));
        }
        Reporting.doStep(
                "let the load run for half of " + duration + ", then restart the mediator while requests flow", () -> {
                    sleepUntil(end - duration.toNanos() / 2);
                    // requests come in batches (an agent JVM start between them): restart within one, so the
                    // restart meets requests in flight, not a quiet moment
                    long until = System.nanoTime()
                            + vms.all().get(0).agent().commandDeadline().toNanos();
                    long last = ReconnectIT.completed(mediator);
                    while (System.nanoTime() < until) {
                        sleepUntil(System.nanoTime() + 100_000_000L);
                        long now = ReconnectIT.completed(mediator);
                        if (last >= 0 && now - last >= 5) {
                            break;
                        }
                        last = now;
                    }
                    mediator.restart();
                });
        for (CompletableFuture<Void> f : loops) {
            // each loop ends by the soak's end plus one last agent command
            f.get(
                    duration.plus(vms.all().get(0).agent().commandDeadline())
                            .plus(vms.all().get(0).deadlines().scaled(Duration.ofSeconds(60)))
                            .toMillis(),
                    TimeUnit.MILLISECONDS);
        }
        Reporting.attachText(
                "books per VM",
                String.join("\n", books.values().stream().map(Books::toString).toList()));

        // the mediator's side: every DONE the guest saw is one it logged for that VM and request id
        Map<Long, Set<Long>> mediatorDone = new LinkedHashMap<>();
        Pattern line = Pattern.compile("request vm=(\\d+) .* request_id=(\\d+) .* outcome=DONE");
        for (String l : mediator.requestLogLines()) {
            Matcher m = line.matcher(l);
            if (m.find()) {
                mediatorDone
                        .computeIfAbsent(Long.parseLong(m.group(1)), k -> new HashSet<>())
                        .add(Long.parseLong(m.group(2)));
            }
        }
        assertThat(mediator.incarnations()).as("restarted half-way").isGreaterThanOrEqualTo(2);
        for (GuestVm vm : vms.all()) {
            Books b = books.get(vm.name());
            assertThat(b.problems).as("%s", b).isEmpty();
            assertThat(b.lost).as("lost requests, %s", b).isZero();
            assertThat(b.mismatched).as("mismatched results, %s", b).isZero();
            assertThat(b.sent).as("the books balance: %s", b).isEqualTo(b.answered + b.errored);
            assertThat(b.answered).as("%s answered something", b).isPositive();
            Set<Long> logged = mediatorDone.getOrDefault(vm.spec().vmId(), Set.of());
            Set<Long> unlogged = new HashSet<>(b.answeredIds);
            unlogged.removeAll(logged);
            assertThat(unlogged)
                    .as(
                            "answers VM '%s' saw that the mediator never logged as DONE for vm %d",
                            vm.name(), vm.spec().vmId())
                    .isEmpty();
        }
    }

    /** Agent commands of BATCH requests each, until the soak's end; request ids unique per VM. */
    private static void loop(GuestVm vm, Books b, long end) {
        int call = 0;
        while (System.nanoTime() < end || call == 0) {
            call++;
            long firstId = (long) call * 100_000L;
            AgentRun run = Faults.guarded(
                    vm,
                    null,
                    () -> vm.agent()
                            .run(
                                    "vector-add",
                                    "--elements",
                                    Integer.toString(ELEMENTS[(int) (vm.spec().vmId() % ELEMENTS.length)]),
                                    "--seed",
                                    Long.toString(vm.spec().vmId() * 1000 + b.sent),
                                    "--repeat",
                                    Integer.toString(BATCH),
                                    "--request-id",
                                    Long.toString(firstId),
                                    "--backoff-ms",
                                    Integer.toString(BACKOFF_MS)));
            List<VectorAddResult> rs =
                    run.ofType("vector-add").stream().map(VectorAddResult::of).toList();
            b.sent += BATCH;
            if (rs.size() < BATCH) { // a line missing: the request never completed where the agent could see
                b.lost += BATCH - rs.size();
                b.problems.add("the agent reported " + rs.size() + " of " + BATCH + " requests: " + run.diagnostics());
            }
            for (VectorAddResult r : rs) {
                if (r.timedOut()) {
                    b.lost++;
                    b.problems.add(vm.agent().timeoutMessage(r.requestId(), "in the soak"));
                } else if (r.status() == VgpuProtocol.STATUS_DONE && r.errorCode() == 0) {
                    if (r.correct()) {
                        b.answered++;
                        b.answeredIds.add(r.requestId());
                    } else {
                        b.mismatched++;
                        b.problems.add("mismatched: " + r);
                    }
                } else if (r.status() == VgpuProtocol.STATUS_ERROR
                        && (r.errorCode() == VgpuProtocol.ERR_MEDIATOR_UNAVAILABLE
                                || r.errorCode() == VgpuProtocol.ERR_SHUTDOWN)) {
                    b.errored++;
                } else {
                    b.errored++;
                    b.problems.add("unexpected outcome: " + r);
                }
            }
            if (!b.problems.isEmpty()) {
                throw new ProtocolFailure("soak on VM '" + vm.name() + "': " + b.problems.get(0) + " (" + b + ")");
            }
        }
    }

    private static void sleepUntil(long nanoTime) {
        long left;
        while ((left = nanoTime - System.nanoTime()) > 0) {
            try {
                Thread.sleep(Math.max(1, left / 1_000_000));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
        }
    }
}

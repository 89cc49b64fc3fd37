package dev.vgpuhil.mediator;

import static dev.vgpuhil.protocol.VgpuProtocol.*;
import static org.assertj.core.api.Assertions.assertThat;

import dev.vgpuhil.protocol.ComputeRequest;
import dev.vgpuhil.protocol.Frame;
import dev.vgpuhil.protocol.Pool;
import dev.vgpuhil.protocol.Priority;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

/** The scheduling rules, deterministic: a manual clock and a single taker, no threads, no sleeps. */
class SchedulerTest {
    final AtomicLong clock = new AtomicLong(1_000_000_000L);
    final Job.ReplySink sink = f -> true;

    Scheduler scheduler(int cap, Duration aging) {
        return new Scheduler(cap, aging, clock::get);
    }

    static Frame req(int vm, int pool, int prio, int id) {
        return Frame.of(MSG_REQUEST, vm, pool, prio, id, 0, Wire.echo(id).encode());
    }

    void submit(Scheduler s, int vm, int pool, int prio, int id) {
        assertThat(s.submit(req(vm, pool, prio, id), ComputeRequest.echo(new byte[1]), sink))
                .isEqualTo(Scheduler.Admission.ACCEPTED);
    }

    static List<Integer> drain(Scheduler s, int pool, int n) throws InterruptedException {
        List<Integer> ids = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            ids.add(s.take(Pool.fromWire(pool).orElseThrow()).requestId());
        }
        return ids;
    }

    @Test
    void highBeforeMediumBeforeLowAndFifoWithinAClass() throws Exception {
        Scheduler s = scheduler(64, Duration.ZERO);
        submit(s, 1, POOL_A, PRIORITY_LOW, 1);
        submit(s, 1, POOL_A, PRIORITY_MEDIUM, 2);
        submit(s, 1, POOL_A, PRIORITY_HIGH, 3);
        submit(s, 1, POOL_A, PRIORITY_LOW, 4);
        submit(s, 1, POOL_A, PRIORITY_HIGH, 5);
        submit(s, 1, POOL_A, PRIORITY_MEDIUM, 6);
        assertThat(drain(s, POOL_A, 6)).containsExactly(3, 5, 2, 6, 1, 4);
    }

    @Test
    void poolsAreSeparateQueues() throws Exception {
        Scheduler s = scheduler(64, Duration.ZERO);
        submit(s, 1, POOL_A, PRIORITY_LOW, 1);
        submit(s, 1, POOL_B, PRIORITY_HIGH, 2);
        submit(s, 1, POOL_A, PRIORITY_LOW, 3);
        assertThat(s.depth(Pool.A)).isEqualTo(2);
        assertThat(s.depth(Pool.B)).isEqualTo(1);
        assertThat(drain(s, POOL_A, 2)).containsExactly(1, 3);
        assertThat(drain(s, POOL_B, 1)).containsExactly(2);
    }

    @Test
    void aFloodCannotStarveAnotherVmOfTheSameClass() throws Exception {
        Scheduler s = scheduler(64, Duration.ZERO);
        for (int i = 0; i < 10; i++) {
            submit(s, 7, POOL_A, PRIORITY_MEDIUM, 100 + i); // vm 7 floods first
        }
        submit(s, 3, POOL_A, PRIORITY_MEDIUM, 300);
        submit(s, 3, POOL_A, PRIORITY_MEDIUM, 301);
        submit(s, 9, POOL_A, PRIORITY_MEDIUM, 900);
        // each VM gets a turn before any VM gets a second one; ties in arrival order
        assertThat(drain(s, POOL_A, 13))
                .containsExactly(100, 300, 900, 101, 301, 102, 103, 104, 105, 106, 107, 108, 109);
    }

    @Test
    void fifoAcrossVmsWhenNobodyFloods() throws Exception {
        Scheduler s = scheduler(64, Duration.ZERO);
        // vm_ids deliberately out of numeric order: arrival order decides
        submit(s, 9, POOL_A, PRIORITY_LOW, 1);
        submit(s, 3, POOL_A, PRIORITY_LOW, 2);
        submit(s, 5, POOL_A, PRIORITY_LOW, 3);
        submit(s, 1, POOL_A, PRIORITY_LOW, 4);
        assertThat(drain(s, POOL_A, 4)).containsExactly(1, 2, 3, 4);
        // and again after some service: a later arrival never overtakes an earlier one of another VM
        submit(s, 5, POOL_A, PRIORITY_LOW, 5);
        submit(s, 3, POOL_A, PRIORITY_LOW, 6);
        assertThat(drain(s, POOL_A, 2)).containsExactly(5, 6);
    }

    @Test
    void aVmArrivingDuringAFloodIsServedNext() throws Exception {
        Scheduler s = scheduler(64, Duration.ZERO);
        for (int i = 0; i < 10; i++) {
            submit(s, 1, POOL_B, PRIORITY_HIGH, i);
        }
        assertThat(drain(s, POOL_B, 4)).containsExactly(0, 1, 2, 3);
        submit(s, 2, POOL_B, PRIORITY_HIGH, 50);
        submit(s, 2, POOL_B, PRIORITY_HIGH, 51);
        assertThat(drain(s, POOL_B, 5)).containsExactly(50, 4, 51, 5, 6);
    }

    @Test
    void aClosedConnectionsRemovedWorkLeavesNoDebt() throws Exception {
        Scheduler s = scheduler(64, Duration.ZERO);
        Job.ReplySink gone = f -> false;
        for (int i = 0; i < 5; i++) {
            assertThat(s.submit(req(4, POOL_A, 0, 40 + i), ComputeRequest.echo(new byte[1]), gone))
                    .isEqualTo(Scheduler.Admission.ACCEPTED);
        }
        assertThat(s.removeIf(j -> j.replyTo() == gone)).hasSize(5);
        submit(s, 6, POOL_A, 0, 60);
        submit(s, 4, POOL_A, 0, 41); // vm 4 reconnected: its tag restarts at V, not behind its dropped work
        submit(s, 6, POOL_A, 0, 61);
        assertThat(drain(s, POOL_A, 3)).containsExactly(60, 41, 61);
    }

    @Test
    void agingMovesAWaitingRequestUpOneClassPerInterval() throws Exception {
        Scheduler s = scheduler(64, Duration.ofMillis(100));
        submit(s, 1, POOL_A, PRIORITY_LOW, 1);
        clock.addAndGet(Duration.ofMillis(100).toNanos()); // low has waited one interval: now medium
        submit(s, 2, POOL_A, PRIORITY_MEDIUM, 2);
        submit(s, 3, POOL_A, PRIORITY_HIGH, 3);
        Job first = s.take(Pool.A);
        assertThat(first.requestId()).isEqualTo(3);
        // request 1 (aged to medium, older) and 2 (medium): same tag, arrival order → 1
        assertThat(s.take(Pool.A).requestId()).isEqualTo(1);
        assertThat(s.take(Pool.A).requestId()).isEqualTo(2);
    }

    @Test
    void twoIntervalsLiftLowAboveFreshHigh() throws Exception {
        Scheduler s = scheduler(64, Duration.ofMillis(100));
        submit(s, 5, POOL_A, PRIORITY_LOW, 1);
        clock.addAndGet(Duration.ofMillis(199).toNanos());
        submit(s, 6, POOL_A, PRIORITY_HIGH, 2);
        Job j = s.take(Pool.A);
        assertThat(j.requestId()).isEqualTo(2); // 199 ms: low is only medium yet
        submit(s, 6, POOL_A, PRIORITY_HIGH, 3);
        clock.addAndGet(Duration.ofMillis(1).toNanos()); // 200 ms: low reaches high, and is older
        submit(s, 6, POOL_A, PRIORITY_HIGH, 4);
        // high class holds vm 5 (aged, tag 0) and vm 6 (tags 1, 2 after request 2 ran): vm 5 first
        Job aged = s.take(Pool.A);
        assertThat(aged.requestId()).isEqualTo(1);
        assertThat(s.effectiveClass(aged, clock.get())).isEqualTo(Priority.HIGH);
        assertThat(drain(s, POOL_A, 2)).containsExactly(3, 4);
    }

    @Test
    void withoutAgingLowWaitsBehindEveryHigh() throws Exception {
        Scheduler s = scheduler(64, Duration.ZERO);
        submit(s, 1, POOL_A, PRIORITY_LOW, 1);
        clock.addAndGet(Duration.ofHours(1).toNanos());
        submit(s, 2, POOL_A, PRIORITY_HIGH, 2);
        assertThat(drain(s, POOL_A, 2)).containsExactly(2, 1);
    }

    @Test
    void queueCapIsPerVmAndFreedByTaking() throws Exception {
        Scheduler s = scheduler(2, Duration.ZERO);
        submit(s, 1, POOL_A, 0, 1);
        submit(s, 1, POOL_B, 0, 2);
        assertThat(s.submit(req(1, POOL_A, 0, 3), ComputeRequest.echo(new byte[1]), sink))
                .isEqualTo(Scheduler.Admission.QUEUE_FULL);
        submit(s, 2, POOL_A, 0, 4); // another VM is not affected
        s.take(Pool.B);
        submit(s, 1, POOL_A, 0, 5);
    }

    @Test
    void shutdownHandsBackQueuedJobsInArrivalOrderAndRefusesNewOnes() throws Exception {
        Scheduler s = scheduler(8, Duration.ZERO);
        submit(s, 1, POOL_A, 0, 1);
        submit(s, 2, POOL_B, 2, 2);
        submit(s, 1, POOL_A, 2, 3);
        assertThat(s.shutdown()).extracting(Job::requestId).containsExactly(1, 2, 3);
        assertThat(s.take(Pool.A)).isNull();
        assertThat(s.submit(req(1, POOL_A, 0, 4), ComputeRequest.echo(new byte[1]), sink))
                .isEqualTo(Scheduler.Admission.SHUTDOWN);
    }

    // ---------------------------------------------------------------- running on the caller's thread (slots)

    /** Records what the scheduler hands the caller to run, without finishing it (the slot stays taken). */
    static final class Ran implements Scheduler.Runner {
        final List<Job> jobs = new ArrayList<>();

        @Override
        public void run(Pool pool, Job job) {
            assertThat(job.pool()).isEqualTo(pool);
            jobs.add(job);
        }
    }

    Scheduler.Admission submitRunning(Scheduler s, Ran ran, int vm, int pool, int prio, int id) {
        return s.submit(req(vm, pool, prio, id), ComputeRequest.echo(new byte[1]), sink, ran);
    }

    @Test
    void anIdlePoolRunsTheRequestOnTheCallerWithoutQueueingIt() {
        Scheduler s = new Scheduler(64, Duration.ZERO, clock::get, 1);
        Ran ran = new Ran();
        assertThat(submitRunning(s, ran, 1, POOL_A, PRIORITY_LOW, 1)).isEqualTo(Scheduler.Admission.ACCEPTED);
        assertThat(ran.jobs).extracting(Job::requestId).containsExactly(1);
        assertThat(s.depth()).isZero();
        // pool A's one slot is taken now: the next request of A queues, one of B runs
        assertThat(submitRunning(s, ran, 2, POOL_A, PRIORITY_HIGH, 2)).isEqualTo(Scheduler.Admission.ACCEPTED);
        assertThat(submitRunning(s, ran, 3, POOL_B, PRIORITY_LOW, 3)).isEqualTo(Scheduler.Admission.ACCEPTED);
        assertThat(ran.jobs).extracting(Job::requestId).containsExactly(1, 3);
        assertThat(s.depth(Pool.A)).isEqualTo(1);
    }

    @Test
    void theFinisherTakesTheNextJobByTheSameRules() {
        Scheduler s = new Scheduler(64, Duration.ZERO, clock::get, 1);
        Ran ran = new Ran();
        submitRunning(s, ran, 1, POOL_A, PRIORITY_MEDIUM, 1); // runs, holds A's slot
        submitRunning(s, ran, 2, POOL_A, PRIORITY_LOW, 2);
        submitRunning(s, ran, 3, POOL_A, PRIORITY_HIGH, 3);
        submitRunning(s, ran, 2, POOL_A, PRIORITY_HIGH, 4);
        assertThat(ran.jobs).hasSize(1);
        // high first (3 then 4: vm 2 and vm 3 fair, 3 arrived first), then low; the slot passes job to job
        assertThat(s.finish(Pool.A, true).requestId()).isEqualTo(3);
        assertThat(s.finish(Pool.A, true).requestId()).isEqualTo(4);
        assertThat(s.finish(Pool.A, true).requestId()).isEqualTo(2);
        assertThat(s.finish(Pool.A, true)).isNull();
        assertThat(s.depth()).isZero();
        // the pool is idle again: the next request runs on the caller
        submitRunning(s, ran, 1, POOL_A, PRIORITY_LOW, 5);
        assertThat(ran.jobs).extracting(Job::requestId).containsExactly(1, 5);
    }

    @Test
    void aFinisherThatMayNotRunMoreLeavesTheJobToAWorker() throws Exception {
        Scheduler s = new Scheduler(64, Duration.ZERO, clock::get, 1);
        Ran ran = new Ran();
        submitRunning(s, ran, 1, POOL_A, PRIORITY_LOW, 1);
        submitRunning(s, ran, 1, POOL_A, PRIORITY_LOW, 2);
        assertThat(s.finish(Pool.A, false)).isNull();
        assertThat(s.take(Pool.A).requestId()).isEqualTo(2); // free slot, queued job: the worker gets it at once
    }

    @Test
    void pausedPoolsQueueEvenWithAFreeSlotAndResumeInPriorityOrder() throws Exception {
        Scheduler s = new Scheduler(64, Duration.ZERO, clock::get, 1);
        Ran ran = new Ran();
        s.pause();
        submitRunning(s, ran, 1, POOL_A, PRIORITY_LOW, 1);
        submitRunning(s, ran, 2, POOL_A, PRIORITY_HIGH, 2);
        assertThat(ran.jobs).isEmpty();
        assertThat(s.depth(Pool.A)).isEqualTo(2);
        s.resume();
        assertThat(drainFinishing(s, POOL_A, 2)).containsExactly(2, 1);
    }

    @Test
    void theQueueCapHoldsForRunnersToo() {
        Scheduler s = new Scheduler(1, Duration.ZERO, clock::get, 1);
        Ran ran = new Ran();
        submitRunning(s, ran, 1, POOL_A, 0, 1); // runs: not queued, not counted against the cap
        assertThat(submitRunning(s, ran, 1, POOL_A, 0, 2)).isEqualTo(Scheduler.Admission.ACCEPTED);
        assertThat(submitRunning(s, ran, 1, POOL_A, 0, 3)).isEqualTo(Scheduler.Admission.QUEUE_FULL);
        s.shutdown();
        assertThat(submitRunning(s, ran, 1, POOL_B, 0, 4)).isEqualTo(Scheduler.Admission.SHUTDOWN);
    }

    /** take + finish, as a worker does. */
    static List<Integer> drainFinishing(Scheduler s, int pool, int n) throws InterruptedException {
        Pool p = Pool.fromWire(pool).orElseThrow();
        List<Integer> ids = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            ids.add(s.take(p).requestId());
            assertThat(s.finish(p, false)).isNull();
        }
        return ids;
    }
}

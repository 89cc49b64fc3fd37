package dev.vgpuhil.harness.it;

import static org.assertj.core.api.Assertions.assertThat;

import dev.vgpuhil.harness.Json;
import dev.vgpuhil.harness.agent.Selftest;
import dev.vgpuhil.harness.agent.VectorAddResult;
import dev.vgpuhil.harness.junit.GuestVm;
import dev.vgpuhil.harness.junit.MediatorHandle;
import dev.vgpuhil.harness.junit.VgpuVm;
import dev.vgpuhil.harness.junit.WithMediator;
import dev.vgpuhil.harness.report.ProtocolFailure;
import dev.vgpuhil.harness.report.Reporting;
import io.qameta.allure.Epic;
import io.qameta.allure.Feature;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The guide's end-to-end flow with the mediator: client -> MMIO -> vgpu-stub -> socket -> mediator (CPU) and
 * back through the response buffer; random inputs of several sizes up to the buffer's limit (127 elements),
 * polling and interrupt-driven; the mediator's counters agree with what the guest saw.
 */
@Epic("end to end")
@Feature("vector add through the mediator")
@WithMediator
@VgpuVm(name = "compute", pool = 'B', priority = "high", vmId = 200, devices = 2)
class VectorAddIT {

    @ParameterizedTest(name = "{0} elements, {1}")
    @CsvSource({"1, polling", "17, polling", "64, polling", "127, polling",
                "1, interrupt", "17, interrupt", "64, interrupt", "127, interrupt"})
    @DisplayName("vector-add on random inputs is correct")
    void vectorAddIsCorrect(int elements, String mode, GuestVm vm, MediatorHandle mediator) {
        long seed = ThreadLocalRandom.current().nextLong(1, Long.MAX_VALUE);
        Reporting.attachText("seed", Long.toString(seed));
        long before = completed(mediator);
        List<VectorAddResult> results = vm.agent(0).vectorAdd(elements, seed, mode.equals("interrupt"), 3);
        assertThat(results).hasSize(3);
        for (VectorAddResult r : results) {
            if (!r.done() || !r.correct() || r.elements() != elements) {
                throw new ProtocolFailure("vector-add " + elements + " elements (" + mode + ", seed " + seed + "): " + r);
            }
        }
        long after = completed(mediator);
        assertThat(after - before).as("requests the mediator completed for this test").isEqualTo(3);
    }

    @Test
    @DisplayName("selftest with the mediator: test 10 completes (STATUS done) instead of MEDIATOR_UNAVAILABLE")
    void selftestWithMediator(GuestVm vm) {
        Selftest s = vm.agent(1).selftest("--expect-pool", "B", "--expect-priority", "high", "--expect-vm", "200",
                "--mediator", "present");
        s.requireAllPassed(15);
        assertThat(s.check("valid_doorbell_with_mediator")).as("test 10 with a mediator").isPresent();
    }

    @Test
    @DisplayName("garbage from the guest (bad lengths, bad opcodes, odd access sizes, doorbells) does not break the device")
    void garbageThenVectorAdd(GuestVm vm, MediatorHandle mediator) {
        vm.writeGarbage(vm.device(0), 4711, true);
        assertThat(vm.isRunning()).as("QEMU still running").isTrue();
        List<VectorAddResult> results = vm.agent(0).vectorAdd(127, 99, false, 2);
        for (VectorAddResult r : results) {
            if (!r.done() || !r.correct()) {
                throw new ProtocolFailure("vector-add after garbage: " + r);
            }
        }
        assertThat(mediator.isRunning()).as("mediator still running").isTrue();
    }

    static long completed(MediatorHandle m) {
        return Json.getLong(m.stats(), "completed");
    }
}

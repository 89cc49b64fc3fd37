package dev.vgpuhil.harness.it;

import static org.assertj.core.api.Assertions.assertThat;

import dev.vgpuhil.harness.agent.Selftest;
import dev.vgpuhil.harness.agent.VectorAddResult;
import dev.vgpuhil.harness.fixtures.GarbageWriter;
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
    @CsvSource({
        "1, polling", "17, polling", "64, polling", "127, polling",
        "1, interrupt", "17, interrupt", "64, interrupt", "127, interrupt"
    })
    @DisplayName("vector-add on random inputs is correct")
    void vectorAddIsCorrect(int elements, String mode, GuestVm vm, MediatorHandle mediator) {
        long seed = ThreadLocalRandom.current().nextLong(1, Long.MAX_VALUE);
        Reporting.attachText("seed", Long.toString(seed));
        boolean irq = mode.equals("interrupt");
        long before = completed(mediator);
        String interruptsBefore = irq ? procInterrupts(vm) : null;
        List<VectorAddResult> results = vm.agent(0).vectorAdd(elements, seed, irq, 3);
        assertThat(results).hasSize(3);
        for (VectorAddResult r : results) {
            if (!r.done() || !r.correct() || r.elements() != elements) {
                throw new ProtocolFailure(
                        "vector-add " + elements + " elements (" + mode + ", seed " + seed + "): " + r);
            }
            assertThat(r.completion())
                    .as("how the agent learned of the completion")
                    .isEqualTo(irq ? "interrupt" : "status-poll");
        }
        if (irq) {
            requireRealInterrupts(vm, results, interruptsBefore);
        }
        long after = completed(mediator);
        assertThat(after - before)
                .as("requests the mediator completed for this test")
                .isEqualTo(3);
    }

    /**
     * Each request woke the agent with its own interrupt: the uio count went up by exactly one per request, and the
     * guest kernel's own count for the IRQ line (/proc/interrupts, the uio_pci_generic line) went up by at least as
     * many.
     */
    static void requireRealInterrupts(GuestVm vm, List<VectorAddResult> results, String interruptsBefore) {
        for (VectorAddResult r : results) {
            if (!r.interruptDriven()) {
                throw new ProtocolFailure("vector-add --irq: no interrupt for this request: " + r + " " + r.raw());
            }
        }
        int irq = results.get(0).linuxIrq();
        assertThat(results)
                .as("one IRQ line and one uio device for all requests")
                .allMatch(r ->
                        r.linuxIrq() == irq && r.uio().equals(results.get(0).uio()));
        for (int i = 1; i < results.size(); i++) {
            assertThat(results.get(i).irqCount())
                    .as("uio interrupt count after request %d", i + 1)
                    .isEqualTo(results.get(i - 1).irqCount() + 1);
        }
        String interruptsAfter = procInterrupts(vm);
        long before = uioLineCount(interruptsBefore, irq);
        long after = uioLineCount(interruptsAfter, irq);
        Reporting.attachText("/proc/interrupts before and after", interruptsBefore + "\n---\n" + interruptsAfter);
        if (after < 0) {
            throw new ProtocolFailure("/proc/interrupts in the guest has no uio_pci_generic line for IRQ " + irq + ":\n"
                    + interruptsAfter);
        }
        assertThat(after - Math.max(before, 0))
                .as(
                        "guest kernel's interrupt count of IRQ %d (uio_pci_generic), " + "before %d, after %d",
                        irq, before, after)
                .isGreaterThanOrEqualTo(results.size());
        Reporting.progress("vector-add --irq: " + results.size() + " interrupts on guest IRQ " + irq + " ("
                + results.get(0).uio() + "), uio count now "
                + results.get(results.size() - 1).irqCount()
                + ", /proc/interrupts " + Math.max(before, 0) + " -> " + after);
    }

    static String procInterrupts(GuestVm vm) {
        var r = vm.shell().exec("cat /proc/interrupts", vm.deadlines().scaled(java.time.Duration.ofSeconds(30)));
        if (!r.ok()) {
            throw new ProtocolFailure("cat /proc/interrupts in the guest failed: " + r);
        }
        return r.stdout();
    }

    /**
     * The count (all CPUs) of IRQ {@code irq} in /proc/interrupts text if its line names uio_pci_generic, -1 if
     * there is no such line. Line format: {@code " 21:  5  0  IO-APIC  21-fasteoi  uio_pci_generic"}.
     */
    static long uioLineCount(String procInterrupts, int irq) {
        for (String line : procInterrupts.split("\n")) {
            String[] f = line.trim().split("\\s+");
            if (f.length < 2 || !f[0].equals(irq + ":") || !line.contains("uio_pci_generic")) {
                continue;
            }
            long sum = 0;
            for (int i = 1; i < f.length && f[i].matches("\\d+"); i++) {
                sum += Long.parseLong(f[i]);
            }
            return sum;
        }
        return -1;
    }

    @Test
    @DisplayName("selftest with the mediator: test 10 completes (STATUS done) instead of MEDIATOR_UNAVAILABLE")
    void selftestWithMediator(GuestVm vm) {
        Selftest s = vm.agent(1)
                .selftest(
                        "--expect-pool",
                        "B",
                        "--expect-priority",
                        "high",
                        "--expect-vm",
                        "200",
                        "--mediator",
                        "present");
        s.requireAllPassed(15);
        assertThat(s.check("valid_doorbell_with_mediator"))
                .as("test 10 with a mediator")
                .isPresent();
    }

    @Test
    @DisplayName(
            "garbage from the guest (bad lengths, bad opcodes, odd access sizes, doorbells) does not break the device")
    void garbageThenVectorAdd(GuestVm vm, MediatorHandle mediator) {
        GarbageWriter.write(vm.shell(), vm.device(0), 4711, true);
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
        return m.stats().required("completed").asLong();
    }
}

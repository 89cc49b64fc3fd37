package dev.vgpuhil.harness.it;

import com.fasterxml.jackson.databind.JsonNode;
import dev.vgpuhil.harness.agent.BenchResult;
import dev.vgpuhil.harness.agent.Probe;
import dev.vgpuhil.harness.agent.Selftest;
import dev.vgpuhil.harness.agent.VectorAddResult;
import dev.vgpuhil.harness.junit.GuestVm;
import dev.vgpuhil.harness.junit.MediatorHandle;
import dev.vgpuhil.harness.junit.VgpuVm;
import dev.vgpuhil.harness.junit.WithMediator;
import dev.vgpuhil.harness.report.MediatorFailure;
import dev.vgpuhil.harness.report.ProtocolFailure;
import dev.vgpuhil.harness.report.Reporting;
import io.qameta.allure.Epic;
import io.qameta.allure.Feature;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

/**
 * The main job ({@code bin/vgpu-hil run}): boot a VM with the device, start the mediator, run the guest flows
 * (probe, selftest, vector-add polling and interrupt-driven, bench), write a summary next to the Allure results.
 * Every phase prints a line with its time; with -Dvgpu.progress=serial the boot's serial lines too.
 */
@Epic("main job")
@Feature("the guide's communication flow, end to end")
@WithMediator
@VgpuVm(name = "main", pool = 'B', priority = "high", vmId = 200)
class MainJobIT {

    @Test
    @DisplayName("main job: boot, mediator, selftest, vector-add, bench")
    void mainJob(GuestVm vm, MediatorHandle mediator) throws IOException {
        List<String> summary = new ArrayList<>();
        summary.add("vgpu-hil main job, " + Instant.now());
        summary.add("VM '" + vm.name() + "': boot to SSH " + vm.bootTime().toMillis() + " ms, accelerator "
                + vm.accelerator() + ", QEMU " + vm.qemuVersion() + ", device hosting "
                + vm.machine().deviceHosting().map(h -> h.label()).orElse("none"));
        summary.add("mediator: " + mediator + " pid " + mediator.pid());

        Probe p = vm.agent().probe();
        if (p.vendor() != 0x1234 || p.device() != 0x5647 || p.vmId() != 200 || !"B".equals(p.poolId())) {
            throw new ProtocolFailure("probe found an unexpected device: " + p.raw());
        }
        summary.add("probe: " + p.bdf() + " vendor 0x1234 device 0x5647 rev " + p.revision() + " pool " + p.poolId()
                + " priority " + p.priority() + " vm_id " + p.vmId());

        Selftest s = vm.agent()
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
        summary.add("selftest (with mediator): " + s.passed() + " passed, " + s.failed() + " failed");

        long seed = ThreadLocalRandom.current().nextLong(1, Long.MAX_VALUE);
        for (boolean irq : new boolean[] {false, true}) {
            for (int n : new int[] {1, 17, 64, 127}) {
                List<VectorAddResult> rs = vm.agent().vectorAdd(n, seed + n, irq, 2);
                for (VectorAddResult r : rs) {
                    if (!r.done() || !r.correct() || (irq && !r.interruptDriven())) {
                        throw new ProtocolFailure(
                                "vector-add " + n + " elements (" + (irq ? "irq" : "polling") + "): " + r);
                    }
                }
                VectorAddResult last = rs.get(rs.size() - 1);
                summary.add("vector-add " + n + " elements, " + (irq ? "interrupt-driven" : "polling") + ": "
                        + rs.size() + " correct, "
                        + rs.stream().mapToLong(VectorAddResult::micros).max().orElse(0)
                        + " us max"
                        + (irq
                                ? ", guest IRQ " + last.linuxIrq() + " via " + last.uio() + ", interrupt count "
                                        + last.irqCount()
                                : ""));
            }
        }

        BenchResult b = vm.agent().bench(200);
        if (b.errors() != 0 || b.count() != 200) {
            throw new ProtocolFailure("bench: " + b.raw());
        }
        summary.add(String.format(
                "bench: %d echo doorbells, p50 %.0f us, p99 %.0f us", b.count(), b.p50Micros(), b.p99Micros()));

        JsonNode stats = mediator.stats();
        long completed = stats.required("completed").asLong();
        if (completed < 16 + 200) {
            throw new MediatorFailure("the mediator completed only " + completed + " requests: " + stats);
        }
        summary.add("mediator: completed " + completed + ", failed "
                + stats.required("failed").asLong() + ", backend "
                + stats.path("backend").asText());

        String text = String.join("\n", summary) + "\n";
        Reporting.attachText("main job summary", text);
        Path out = Reporting.resultsDir().resolveSibling("runs").resolve("main-job-summary.txt");
        Files.createDirectories(out.getParent());
        Files.writeString(out, text);
        Reporting.progress("summary:\n" + text + "(also in " + out + ")");
    }
}

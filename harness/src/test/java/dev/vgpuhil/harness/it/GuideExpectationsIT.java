package dev.vgpuhil.harness.it;

import static org.assertj.core.api.Assertions.assertThat;

import dev.vgpuhil.harness.agent.GuideTestProgram;
import dev.vgpuhil.harness.agent.Selftest;
import dev.vgpuhil.harness.fixtures.GarbageWriter;
import dev.vgpuhil.harness.junit.GuestVm;
import dev.vgpuhil.harness.junit.VgpuVm;
import dev.vgpuhil.harness.report.ProtocolFailure;
import dev.vgpuhil.harness.report.Reporting;
import io.qameta.allure.Epic;
import io.qameta.allure.Feature;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

/**
 * The guide's "Expected output (without mediator running)", in a real guest: tests 1-8 pass, test 9 ERROR +
 * INVALID_LENGTH, test 10 ERROR + MEDIATOR_UNAVAILABLE, test 11 pass, 15+ checks, 0 failures. Two independent
 * clients, the Java agent and the guide's own C program, each on a fresh vgpu-stub of the same guest (the checks
 * need a device nobody used yet), must agree check by check. A third device takes garbage from the guest and must
 * still pass the whole self-test afterwards.
 */
@Epic("end to end")
@Feature("guide expectations without a mediator")
@VgpuVm(name = "guide", pool = 'B', priority = "high", vmId = 200, mediator = false, devices = 3)
class GuideExpectationsIT {
    static final String[] EXPECT = {"--expect-pool", "B", "--expect-priority", "high", "--expect-vm", "200"};

    @Test
    @DisplayName("agent selftest and the guide's C program: guide's results, identical check by check")
    void bothClientsMeetTheGuideAndAgree(GuestVm vm) {
        Selftest agent = vm.agent(0).selftest(concat(EXPECT, "--mediator", "absent"));
        Selftest c = GuideTestProgram.run(vm.shell(), vm.name(), concat(EXPECT, "--bdf", vm.device(1)));

        for (Selftest s : new Selftest[] {agent, c}) {
            Reporting.step(s.client() + ": 15+ checks, 0 failures", () -> s.requireAllPassed(15));
            Reporting.doStep(
                    s.client() + ": test 9 zero-length doorbell -> ERROR + INVALID_LENGTH",
                    () -> requireActual(s, "zero_length_doorbell", "STATUS=3 ERROR_CODE=1"));
            Reporting.doStep(
                    s.client() + ": test 10 valid doorbell -> ERROR + MEDIATOR_UNAVAILABLE",
                    () -> requireActual(s, "valid_doorbell_no_mediator", "STATUS=3 ERROR_CODE=2"));
            for (String name : new String[] {
                "pci_ids",
                "pci_revision",
                "pool_id",
                "priority",
                "vm_id",
                "protocol_ver",
                "capabilities",
                "status_idle",
                "error_code_clear",
                "doorbell_reads_zero",
                "scratch_rw",
                "request_len_rw",
                "request_id_rw",
                "readonly_ignore_writes",
                "request_buffer_rw",
                "response_buffer_ro",
                "irq_status_latched",
                "timestamp_set"
            }) {
                assertThat(s.require(name).pass()).as(s.client() + " " + name).isTrue();
            }
        }
        Reporting.doStep("both clients agree check by check", () -> GuideTestProgram.requireAgreement(agent, c));
    }

    @Test
    @DisplayName(
            "garbage register and buffer writes from the guest leave the device working: full selftest passes after")
    void garbageDoesNotBreakTheDevice(GuestVm vm) {
        String bdf = vm.device(2);
        GarbageWriter.write(vm.shell(), bdf, 20260, false);
        Selftest after = vm.agent(2).selftest(concat(EXPECT, "--mediator", "absent"));
        after.requireAllPassed(15);
        assertThat(vm.isRunning()).as("QEMU still running after the garbage").isTrue();
    }

    private static void requireActual(Selftest s, String check, String actual) {
        Selftest.Check c = s.require(check);
        if (!c.pass() || !actual.equals(c.actual())) {
            throw new ProtocolFailure(s.client() + " " + check + ": expected " + actual + ", got " + c);
        }
    }

    static String[] concat(String[] a, String... b) {
        String[] r = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, r, a.length, b.length);
        return r;
    }
}

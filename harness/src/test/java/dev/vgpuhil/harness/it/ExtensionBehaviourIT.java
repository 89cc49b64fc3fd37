package dev.vgpuhil.harness.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.platform.engine.discovery.DiscoverySelectors.selectClass;

import dev.vgpuhil.harness.Categories;
import dev.vgpuhil.harness.junit.GuestVm;
import dev.vgpuhil.harness.junit.VgpuVm;
import dev.vgpuhil.harness.report.BootFailure;
import dev.vgpuhil.harness.report.ProtocolFailure;
import dev.vgpuhil.qemu.machine.MachineBootException;
import dev.vgpuhil.qemu.machine.QemuMachineException;
import io.qameta.allure.Epic;
import io.qameta.allure.Feature;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.platform.testkit.engine.EngineExecutionResults;
import org.junit.platform.testkit.engine.EngineTestKit;
import org.junit.platform.testkit.engine.Event;

/**
 * The extensions themselves, on real guests, by running small test classes through the Jupiter engine:
 * a boot that QEMU refuses is a {@link BootFailure} carrying the launcher's exception, in the "Boot failure"
 * category, remembered for the class's later tests (no second boot), with the run directory kept; a test that
 * fails on a good VM keeps that VM's run directory, a passing one does not.
 */
@Epic("harness")
@Feature("JUnit extensions")
class ExtensionBehaviourIT {

    @Test
    @DisplayName(
            "a refused boot: BootFailure with the launcher's exception as cause, category Boot failure, run dir kept")
    void refusedBoot() throws Exception {
        EngineExecutionResults r = EngineTestKit.engine("junit-jupiter")
                .configurationParameter(Fixture.PARAMETER, "true")
                .selectors(selectClass(BrokenBoot.class))
                .execute();
        List<Event> failed = r.testEvents().failed().list();
        assertThat(failed).hasSize(2);
        Throwable first = failed.get(0)
                .getPayload(org.junit.platform.engine.TestExecutionResult.class)
                .orElseThrow()
                .getThrowable()
                .orElseThrow();
        Throwable second = failed.get(1)
                .getPayload(org.junit.platform.engine.TestExecutionResult.class)
                .orElseThrow()
                .getThrowable()
                .orElseThrow();
        assertThat(first)
                .isInstanceOf(BootFailure.class)
                .hasMessageStartingWith("boot failure: VM 'broken'")
                .hasCauseInstanceOf(QemuMachineException.class);
        assertThat(second)
                .as("the class's second test fails with the remembered failure, no second boot")
                .isSameAs(first);
        // it says what happened: QEMU's exit code and its own refusal (stderr tail), in the message itself ...
        assertThat(first.getMessage())
                .as("exit code in the message")
                .containsPattern("exit(ed)? .*code [1-9]")
                .as("QEMU's stderr tail (the refusal of timeout_ms=0) in the message")
                .contains("timeout_ms");
        // ... and the launcher's MachineBootException is in the cause chain, with the same diagnostics
        MachineBootException boot = causeChain(first).stream()
                .filter(MachineBootException.class::isInstance)
                .map(MachineBootException.class::cast)
                .findFirst()
                .orElseThrow(() -> new AssertionError("no MachineBootException in the cause chain of " + first));
        assertThat(boot.exitStatus()).as("QEMU's exit status").isPresent();
        assertThat(boot.exitStatus().get().exitValue()).isNotZero();
        assertThat(boot.stderrTail()).contains("timeout_ms");
        assertThat(boot.getMessage())
                .contains(boot.exitStatus().get().toString())
                .contains("timeout_ms");
        assertThat(Categories.matching(first.getMessage())).containsExactly("Boot failure");
        Path runDir = ((QemuMachineException) first.getCause()).runDir();
        assertThat(runDir).as("run directory kept after a failed boot").isDirectory();
        assertThat(Files.readString(runDir.resolve("qemu.stderr.log"))).contains("timeout_ms");
        GuestVmTrees.delete(runDir);
    }

    @Test
    @DisplayName("a failed test keeps its VM's run directory; a passing one does not")
    void runDirectoryKeptOnFailure() throws Exception {
        EngineExecutionResults r = EngineTestKit.engine("junit-jupiter")
                .configurationParameter(Fixture.PARAMETER, "true")
                .selectors(selectClass(FailsOnAGoodVm.class))
                .execute();
        r.testEvents().assertStatistics(s -> s.started(1).failed(1));
        Throwable t = r.testEvents()
                .failed()
                .list()
                .get(0)
                .getPayload(org.junit.platform.engine.TestExecutionResult.class)
                .orElseThrow()
                .getThrowable()
                .orElseThrow();
        assertThat(t).isInstanceOf(ProtocolFailure.class);
        assertThat(Categories.matching(t.getMessage())).containsExactly("Protocol failure");
        assertThat(FailsOnAGoodVm.runDir)
                .as("run directory of the failed test's VM")
                .isDirectory();
        assertThat(FailsOnAGoodVm.runDir.resolve("serial.log")).isRegularFile();
        GuestVmTrees.delete(FailsOnAGoodVm.runDir);

        EngineTestKit.engine("junit-jupiter")
                .configurationParameter(Fixture.PARAMETER, "true")
                .selectors(selectClass(PassesOnAGoodVm.class))
                .execute()
                .testEvents()
                .assertStatistics(s -> s.started(1).succeeded(1));
        assertThat(PassesOnAGoodVm.runDir)
                .as("run directory of a passing test's VM is removed")
                .doesNotExist();
    }

    static List<Throwable> causeChain(Throwable t) {
        List<Throwable> out = new java.util.ArrayList<>();
        for (Throwable c = t; c != null && !out.contains(c); c = c.getCause()) {
            out.add(c);
        }
        return out;
    }

    /** QEMU refuses the device (timeout_ms must be at least 1). */
    @Fixture
    @VgpuVm(
            name = "broken",
            mediator = false,
            extraQemuArgs = {"-device", "vgpu-stub,timeout_ms=0"})
    static class BrokenBoot {
        @Test
        void first(GuestVm vm) {
            throw new AssertionError("must not run");
        }

        @Test
        void second(GuestVm vm) {
            throw new AssertionError("must not run");
        }
    }

    @Fixture
    @VgpuVm(name = "keep-me", mediator = false)
    static class FailsOnAGoodVm {
        static Path runDir;

        @Test
        void fails(GuestVm vm) {
            runDir = vm.machine().runDir();
            throw new ProtocolFailure("deliberate failure to check that the run directory is kept");
        }
    }

    @Fixture
    @VgpuVm(name = "drop-me", mediator = false, perClass = false)
    static class PassesOnAGoodVm {
        static Path runDir;

        @Test
        void passes(GuestVm vm) {
            runDir = vm.machine().runDir();
            assertThat(vm.isRunning()).isTrue();
        }
    }

    /** Deletes a kept run directory once checked. */
    static final class GuestVmTrees {
        static void delete(Path dir) throws java.io.IOException {
            try (var s = Files.walk(dir)) {
                s.sorted(java.util.Comparator.reverseOrder())
                        .forEach(p -> p.toFile().delete());
            }
        }
    }
}

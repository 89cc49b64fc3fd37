package dev.vgpuhil.harness.junit;

import dev.vgpuhil.harness.agent.VectorAddResult;
import dev.vgpuhil.harness.report.InfrastructureFailure;
import dev.vgpuhil.harness.report.ProtocolFailure;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.function.Supplier;

/**
 * Tells infrastructure faults from product faults when something fails: a killed or stopped mediator, a QEMU that is
 * gone, a guest whose kernel panicked are {@link InfrastructureFailure}s (Allure: broken, category Infrastructure
 * failure); a wrong or failed result with everything around it healthy is a {@link ProtocolFailure} (failed).
 */
public final class Faults {
    private Faults() {}

    /** The infrastructure faults present now, of the VMs and the mediator (mediator may be null). */
    public static List<String> present(List<GuestVm> vms, MediatorHandle mediator) {
        List<String> out = new ArrayList<>();
        for (GuestVm vm : vms) {
            vm.fault().ifPresent(out::add);
        }
        if (mediator != null) {
            mediator.fault().ifPresent(out::add);
        }
        return out;
    }

    /**
     * Runs {@code body}; when it fails while an infrastructure fault is present, the failure becomes an
     * {@link InfrastructureFailure} naming the fault (with the original as cause), otherwise it stays as it is.
     */
    public static <T> T guarded(GuestVm vm, MediatorHandle mediator, Supplier<T> body) {
        try {
            return body.get();
        } catch (RuntimeException | AssertionError e) {
            List<String> faults = present(List.of(vm), mediator);
            if (faults.isEmpty() || e instanceof InfrastructureFailure) {
                throw e;
            }
            throw new InfrastructureFailure(String.join("; ", faults), e);
        }
    }

    /** The agent gave up waiting, or the device answered TIMEOUT: either deadline passed. */
    public static boolean timedOut(VectorAddResult r) {
        return r.timedOut()
                || r.status() == dev.vgpuhil.protocol.VgpuProtocol.STATUS_ERROR
                        && r.errorCode() == dev.vgpuhil.protocol.VgpuProtocol.ERR_TIMEOUT;
    }

    /**
     * Every result DONE and correct (a timeout's message names the VM, the request id and both deadlines); else an {@link InfrastructureFailure} when a fault is present, a
     * {@link ProtocolFailure} when none is.
     */
    public static void requireCorrect(List<VectorAddResult> rs, GuestVm vm, MediatorHandle mediator, String when) {
        Optional<VectorAddResult> bad =
                rs.stream().filter(r -> !r.done() || !r.correct()).findFirst();
        if (rs.isEmpty() || bad.isPresent()) {
            String what = bad.filter(Faults::timedOut)
                    .map(r -> vm.agent().timeoutMessage(r.requestId(), when) + ": " + r)
                    .orElse("vector-add on VM '" + vm.name() + "' " + when + ": "
                            + bad.map(VectorAddResult::toString).orElse("no result"));
            List<String> faults = present(List.of(vm), mediator);
            if (!faults.isEmpty()) {
                throw new InfrastructureFailure(String.join("; ", faults) + " — " + what);
            }
            throw new ProtocolFailure(what);
        }
    }
}

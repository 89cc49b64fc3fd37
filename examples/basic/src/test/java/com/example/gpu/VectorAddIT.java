package com.example.gpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vgpuhil.harness.agent.Agent;
import dev.vgpuhil.harness.agent.Probe;
import dev.vgpuhil.harness.agent.VectorAddResult;
import dev.vgpuhil.harness.junit.MediatorHandle;
import dev.vgpuhil.harness.junit.VgpuVm;
import dev.vgpuhil.harness.junit.WithMediator;
import java.util.List;
import org.junit.jupiter.api.Test;

/** One guest with the vgpu-stub device, linked to a mediator-lite: what a user's first test looks like. */
@WithMediator
@VgpuVm(pool = 'B', priority = "high", vmId = 200)
class VectorAddIT {

    @Test
    void theGuestSeesTheDeviceWithItsProperties(Agent agent) {
        Probe p = agent.probe();
        assertEquals(0x1234, p.vendor(), "PCI vendor");
        assertEquals(0x5647, p.device(), "PCI device");
        assertEquals("B", p.poolId(), "POOL_ID");
        assertEquals(200, p.vmId(), "VM_ID");
    }

    @Test
    void aVectorAddComesBackRightThroughTheMediator(Agent agent, MediatorHandle mediator) {
        List<VectorAddResult> results = agent.vectorAdd(127, 42L);
        assertTrue(!results.isEmpty(), "the agent ran at least one request");
        for (VectorAddResult r : results) {
            assertTrue(r.done() && r.correct(), "request " + r.requestId() + ": " + r);
            assertEquals(127, r.elements());
        }
        assertEquals(List.of(200L), List.copyOf(mediator.boundVms()), "VMs bound to the mediator");
    }
}

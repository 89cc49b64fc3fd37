package dev.vgpuhil.harness.junit;

import static org.assertj.core.api.Assertions.assertThat;

import dev.vgpuhil.mediator.MediatorClient;
import dev.vgpuhil.protocol.ComputeRequest;
import dev.vgpuhil.protocol.Frame;
import dev.vgpuhil.protocol.VgpuProtocol;
import io.qameta.allure.Epic;
import io.qameta.allure.Feature;
import java.time.Duration;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

/**
 * mediator-lite with the CUDA backend in its container, the GPUs given by a device request: runs only where the
 * engine has the NVIDIA runtime; elsewhere the extension skips it with the reason (no engine, or no nvidia runtime
 * and what to install).
 */
@Epic("containers")
@Feature("mediator-lite in a container")
@WithMediator(runtime = MediatorRuntime.CONTAINER, backend = "cuda")
class ContainerCudaMediatorIT {
    private static final Duration T = Duration.ofSeconds(30);

    @Test
    @DisplayName("a vector add on the GPU through the container's socket")
    void vectorAddOnTheGpu(MediatorHandle mediator) throws Exception {
        try (MediatorClient c = MediatorClient.connect(mediator.socketPath(), T)) {
            assertThat(c.hello(4244, VgpuProtocol.POOL_A, VgpuProtocol.PRIORITY_HIGH, T)
                            .status())
                    .isEqualTo(VgpuProtocol.ERR_NONE);
            Frame reply = c.request(1, ComputeRequest.vectorAdd(new float[] {1, 2}, new float[] {3, 4}), T);
            assertThat(reply.status()).isEqualTo(VgpuProtocol.ERR_NONE);
            assertThat(ComputeRequest.toFloats(reply.payload())).containsExactly(4f, 6f);
        }
        assertThat(mediator.log()).contains("backend cuda");
    }
}

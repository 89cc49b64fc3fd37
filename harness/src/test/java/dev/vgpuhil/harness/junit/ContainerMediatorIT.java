package dev.vgpuhil.harness.junit;

import static org.assertj.core.api.Assertions.assertThat;

import dev.vgpuhil.containers.ContainerEngine;
import dev.vgpuhil.containers.ContainerReaper;
import dev.vgpuhil.mediator.MediatorClient;
import dev.vgpuhil.protocol.ComputeRequest;
import dev.vgpuhil.protocol.Frame;
import dev.vgpuhil.protocol.VgpuProtocol;
import io.qameta.allure.Epic;
import io.qameta.allure.Feature;
import java.nio.file.Files;
import java.time.Duration;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;

/**
 * mediator-lite in its own image ({@code @WithMediator(runtime = CONTAINER)}): a client of this JVM is admitted
 * through the bind-mounted socket (the container runs as this uid), computes, reads the stats over the socket, and
 * the mediator survives a restart; the container is labelled for the reaper and gone after a stop. Skipped, saying
 * so, where no container engine answers.
 */
@Epic("containers")
@Feature("mediator-lite in a container")
@WithMediator(runtime = MediatorRuntime.CONTAINER)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class ContainerMediatorIT {
    private static final Duration T = Duration.ofSeconds(10);

    @Test
    @Order(1)
    @DisplayName("a HELLO and a vector add through the container's socket; stats over the socket count it")
    void computesThroughTheBindMountedSocket(MediatorHandle mediator) throws Exception {
        assertThat(mediator.runtime()).isEqualTo(MediatorRuntime.CONTAINER);
        assertThat(Files.getAttribute(mediator.socketPath(), "unix:uid"))
                .as("the socket belongs to this JVM's uid")
                .isEqualTo(Files.getAttribute(mediator.socketPath().getParent(), "unix:uid"));
        long before = mediator.stats().path("completed").asLong();
        try (MediatorClient c = MediatorClient.connect(mediator.socketPath(), T)) {
            Frame ack = c.hello(4242, VgpuProtocol.POOL_A, VgpuProtocol.PRIORITY_HIGH, T);
            assertThat(ack.status()).isEqualTo(VgpuProtocol.ERR_NONE);
            Frame reply = c.request(1, ComputeRequest.vectorAdd(new float[] {1, 2, 3}, new float[] {10, 20, 30}), T);
            assertThat(reply.status()).isEqualTo(VgpuProtocol.ERR_NONE);
        }
        assertThat(mediator.stats().path("completed").asLong() - before).isEqualTo(1);
        assertThat(mediator.log()).contains("ready socket=" + mediator.socketPath());
    }

    @Test
    @Order(2)
    @DisplayName("the container carries the reaper's labels and a restart serves on the same path")
    void labelledAndRestartable(MediatorHandle mediator) throws Exception {
        long pid = mediator.pid();
        var labels = ContainerEngine.client()
                .listContainersCmd()
                .withLabelFilter(java.util.Map.of(ContainerReaper.RUN, ContainerReaper.runId()))
                .exec();
        assertThat(labels).as("one running container of this run").hasSize(1);
        assertThat(labels.get(0).getLabels())
                .containsEntry(
                        ContainerReaper.OWNER_PID,
                        Long.toString(ProcessHandle.current().pid()));
        mediator.restart();
        assertThat(mediator.pid()).isNotEqualTo(pid);
        assertThat(mediator.incarnations()).isGreaterThanOrEqualTo(2);
        try (MediatorClient c = MediatorClient.connect(mediator.socketPath(), T)) {
            assertThat(c.hello(4243, VgpuProtocol.POOL_B, VgpuProtocol.PRIORITY_LOW, T)
                            .status())
                    .isEqualTo(VgpuProtocol.ERR_NONE);
        }
    }
}

package dev.vgpuhil.harness.junit;

import static dev.vgpuhil.protocol.VgpuProtocol.*;
import static org.assertj.core.api.Assertions.assertThat;

import dev.vgpuhil.mediator.MediatorClient;
import dev.vgpuhil.protocol.ComputeRequest;
import dev.vgpuhil.protocol.Frame;
import java.time.Duration;
import org.junit.jupiter.api.Test;

/**
 * {@code @WithMediator(command = ...)} with a real separate mediator program: mediator-lite's jar started as the
 * user's command (relative to the module directory, the test JVM's working directory), under the contract only:
 * no mediator-lite option but the backend; socket path and aging come as {@code --socket} and VGPU_MEDIATOR_*.
 */
@WithMediator(command = "java -jar ../mediator-lite/target/mediator-lite.jar --backend cpu", agingMs = 0)
class WithMediatorCommandTest {
    static final Duration T = Duration.ofSeconds(30);

    @Test
    void theUsersProgramServesOnTheSocketItWasGivenAndSurvivesARestart(MediatorHandle m) throws Exception {
        assertThat(m.command()).startsWith("java -jar");
        assertThat(m.isRunning()).isTrue();
        long firstPid = m.pid();
        assertThat(firstPid)
                .as("a separate program")
                .isNotEqualTo(ProcessHandle.current().pid());
        try (MediatorClient c = MediatorClient.connect(m.socketPath(), T)) {
            assertThat(c.hello(7, POOL_A, PRIORITY_HIGH, T).status()).isEqualTo(ERR_NONE);
            Frame r = c.request(1, ComputeRequest.vectorAdd(new float[] {1f, 2f}, new float[] {0.5f, 4f}), T);
            assertThat(r.status()).isEqualTo(ERR_NONE);
            assertThat(ComputeRequest.toFloats(r.payload())).containsExactly(1.5f, 6f);
        }
        // the stats over the socket are the program's own: its pid, and the aging it was given by environment
        assertThat(m.stats().path("pid").asLong()).isEqualTo(firstPid);
        assertThat(m.log())
                .as("its output lands in the handle's log, with the aging the environment gave")
                .contains("aging_ms=0");

        m.restart();
        assertThat(m.pid()).as("a new process after the restart").isNotEqualTo(firstPid);
        assertThat(ProcessHandle.of(firstPid).map(ProcessHandle::isAlive).orElse(false))
                .as("the first process is reaped")
                .isFalse();
        try (MediatorClient c = MediatorClient.connect(m.socketPath(), T)) {
            assertThat(c.hello(7, POOL_A, PRIORITY_HIGH, T).status()).isEqualTo(ERR_NONE);
            assertThat(c.request(2, ComputeRequest.echo(new byte[] {4, 2}), T).payload())
                    .containsExactly(4, 2);
        }
        assertThat(m.incarnations()).isEqualTo(2);
    }
}

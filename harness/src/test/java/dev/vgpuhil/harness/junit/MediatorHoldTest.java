package dev.vgpuhil.harness.junit;

import static org.assertj.core.api.Assertions.assertThat;

import dev.vgpuhil.mediator.BackendChoice;
import dev.vgpuhil.mediator.MediatorClient;
import dev.vgpuhil.protocol.ComputeRequest;
import dev.vgpuhil.protocol.Frame;
import dev.vgpuhil.protocol.VgpuProtocol;
import java.time.Duration;
import org.junit.jupiter.api.Test;

/** A scheduler hold never outlasts its bound: a held request runs once the hold expires, no release needed. */
class MediatorHoldTest {
    @Test
    void aHoldReleasesItselfAtItsBound() throws Exception {
        try (MediatorHandle m = new MediatorHandle(BackendChoice.CPU, false, Duration.ZERO, 1).start();
                MediatorClient c = MediatorClient.connect(m.socketPath(), Duration.ofSeconds(10))) {
            assertThat(c.hello(7, VgpuProtocol.POOL_A, VgpuProtocol.PRIORITY_LOW, Duration.ofSeconds(10))
                            .status())
                    .isZero();
            MediatorHandle.Hold hold = m.hold(Duration.ofMillis(300));
            try {
                Frame reply = c.request(1, ComputeRequest.echo(new byte[] {1, 2, 3}), Duration.ofSeconds(30));
                assertThat(reply.status()).isZero();
                assertThat(hold.expired())
                        .as("answered only because the hold expired")
                        .isTrue();
                assertThat(hold.held()).isGreaterThanOrEqualTo(Duration.ofMillis(300));
            } finally {
                hold.close();
                hold.close(); // safe twice
            }
            assertThat(c.request(2, ComputeRequest.echo(new byte[] {4}), Duration.ofSeconds(30))
                            .status())
                    .isZero();
        }
    }
}

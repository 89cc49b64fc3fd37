package dev.vgpuhil.qemu.machine;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import java.time.Duration;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/** {@link Waits#retrying}: the one retry loop of readiness checks such as the harness's SSH login. */
class RetryingWaitTest {
    @Test
    void retriesUntilAnAttemptSucceeds() {
        try (QemuMachine vm =
                TestMachines.bareKernel("retry-ok").failOnSerial(null).start()) {
            AtomicInteger tries = new AtomicInteger();
            String got = vm.waits(Duration.ofSeconds(30))
                    .retrying(
                            "the third try",
                            left -> {
                                assertThat(left).isPositive().isLessThanOrEqualTo(Duration.ofSeconds(30));
                                if (tries.incrementAndGet() < 3) {
                                    throw new IllegalStateException("try " + tries.get() + " refused");
                                }
                                return "ok";
                            },
                            Duration.ofMillis(50));
            assertThat(got).isEqualTo("ok");
            assertThat(tries).hasValue(3);
        }
    }

    @Test
    void endsAtOnceWhenQemuDiesAndNamesTheLastAttempt() {
        try (QemuMachine vm =
                TestMachines.bareKernel("retry-dies").failOnSerial(null).start()) {
            long t0 = System.nanoTime();
            MachineDiedException e = catchThrowableOfType(
                    () -> vm.waits(Duration.ofSeconds(60))
                            .retrying(
                                    "a login that never works",
                                    left -> {
                                        vm.kill();
                                        throw new IllegalStateException("connection refused");
                                    },
                                    Duration.ofSeconds(1)),
                    MachineDiedException.class);
            assertThat(Duration.ofNanos(System.nanoTime() - t0)).isLessThan(Duration.ofSeconds(15));
            assertThat(e)
                    .hasMessageContaining("QEMU exited")
                    .hasMessageContaining("a login that never works")
                    .hasMessageContaining("last attempt: connection refused");
        }
    }

    @Test
    void endsAtOnceOnTheFatalSerialLineAndTimesOutWithTheLastAttempt() {
        try (QemuMachine vm = TestMachines.bareKernel("retry-panic").start()) {
            MachineDiedException e = catchThrowableOfType(
                    () -> vm.waits(Duration.ofSeconds(60))
                            .retrying(
                                    "ssh",
                                    left -> {
                                        throw new IllegalStateException("not yet");
                                    },
                                    Duration.ofMillis(200)),
                    MachineDiedException.class);
            assertThat(e).hasMessageContaining("the guest printed a fatal line").hasMessageContaining("Kernel panic");
        }
        try (QemuMachine vm =
                TestMachines.bareKernel("retry-timeout").failOnSerial(null).start()) {
            WaitTimeoutException e = catchThrowableOfType(
                    () -> vm.waits(Duration.ofSeconds(2))
                            .retrying(
                                    "ssh",
                                    left -> {
                                        throw new IllegalStateException("still refused");
                                    },
                                    Duration.ofMillis(200)),
                    WaitTimeoutException.class);
            assertThat(e).hasMessageContaining("waiting for ssh").hasMessageContaining("last attempt: still refused");
        }
    }
}

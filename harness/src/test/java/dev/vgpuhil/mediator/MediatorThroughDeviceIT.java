package dev.vgpuhil.mediator;

import static dev.vgpuhil.protocol.VgpuProtocol.*;
import static org.assertj.core.api.Assertions.assertThat;

import dev.vgpuhil.protocol.ComputeRequest;
import dev.vgpuhil.protocol.Pool;
import dev.vgpuhil.protocol.Priority;
import dev.vgpuhil.qemu.QemuBinary;
import dev.vgpuhil.qemu.qtest.QtestSession;
import dev.vgpuhil.qemu.qtest.VgpuDevice;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * End to end through the real device: QEMU with vgpu-stub under qtest (no guest code), its own reconnecting
 * client chardev to a real mediator-lite over a Unix socket. Doorbell → REQUEST frame → scheduler → CPU
 * backend → RESPONSE → STATUS done with the result in the response buffer. Needs the QEMU built by
 * vgpu-stub/build-qemu.sh (QemuBinary.locate); it fails, not skips, without it, as qemu-launcher's device tests do.
 * It lives in the harness, in the daemon's package (ChrootedQemuIT uses its package-private parts), so that
 * mediator-lite does not depend on qemu-launcher and the two modules build side by side.
 */
@Tag("qtest")
class MediatorThroughDeviceIT {
    static final Duration WAIT = Duration.ofSeconds(20);
    static QemuBinary qemu;

    @TempDir
    Path dir;

    Mediator mediator;
    final List<QtestSession> machines = new ArrayList<>();

    /** {@code n} floats from {@code base} in steps of 0.5: operands whose sums are exact in float32. */
    static float[] ramp(int n, float base) {
        float[] f = new float[n];
        for (int i = 0; i < n; i++) {
            f[i] = base + i * 0.5f;
        }
        return f;
    }

    @BeforeAll
    static void locateQemu() {
        qemu = QemuBinary.locate();
    }

    @AfterEach
    void stop() {
        machines.forEach(QtestSession::close);
        if (mediator != null) {
            mediator.close();
        }
    }

    Mediator startMediator(MediatorConfig.Builder b) throws Exception {
        mediator = new Mediator(b.socketPath(dir.resolve("mediator.sock"))
                .backend(BackendChoice.CPU)
                .logFile(dir.resolve("m.log"))
                .build());
        mediator.start();
        return mediator;
    }

    /** A qtest QEMU whose vgpu-stub talks to our mediator; returns once the mediator has bound its vm_id. */
    VgpuDevice device(int vmId, char pool, String priority, boolean expectBound) throws Exception {
        QtestSession qtest = QtestSession.builder(qemu)
                .device("vgpu-stub,socket=" + mediator.socketPath() + ",vm_id=" + vmId + ",pool_id=" + pool
                        + ",priority=" + priority + ",timeout_ms=30000")
                .start();
        machines.add(qtest);
        VgpuDevice dev = VgpuDevice.attach(qtest);
        if (expectBound) {
            assertThat(mediator.awaitBound(vmId, WAIT))
                    .as("vgpu-stub vm %d said HELLO to the mediator", vmId)
                    .isTrue();
        }
        return dev;
    }

    /**
     * Rings the doorbell; while the device has not yet processed the HELLO_ACK it answers MEDIATOR_UNAVAILABLE at
     * once (DEVICE.md doorbell rule 3): ring again until the link is ready. Any other state (BUSY, or already
     * DONE/ERROR when the mediator answered within the qtest round trip) means the request went out.
     */
    static void submitWhenLinkReady(VgpuDevice dev, byte[] payload, int requestId) throws InterruptedException {
        long deadline = System.nanoTime() + WAIT.toNanos();
        while (true) {
            dev.submit(payload, requestId);
            if (dev.status() != STATUS_ERROR || dev.errorCode() != ERR_MEDIATOR_UNAVAILABLE) {
                return;
            }
            if (System.nanoTime() > deadline) {
                throw new AssertionError("the device's mediator link never became ready");
            }
            Thread.sleep(10);
        }
    }

    @Test
    void doorbellToMediatorToStatusDoneWithTheVectorAddResult() throws Exception {
        startMediator(MediatorConfig.builder());
        VgpuDevice dev = device(200, 'B', "high", true);
        float[] a = ramp(VECTOR_ADD_MAX_ELEMENTS, 1.25f);
        float[] b = ramp(VECTOR_ADD_MAX_ELEMENTS, -7.75f);
        byte[] request = ComputeRequest.vectorAdd(a, b).encode();
        assertThat(request).hasSize(REQ_BUFFER_SIZE);
        submitWhenLinkReady(dev, request, 0xC0FFEE);
        assertThat(dev.awaitNotBusy(WAIT)).isEqualTo(STATUS_DONE);
        assertThat(dev.errorCode()).isEqualTo(ERR_NONE);
        assertThat(dev.readReg(REG_RESPONSE_LEN)).isEqualTo(4 * VECTOR_ADD_MAX_ELEMENTS);
        float[] sum = ComputeRequest.toFloats(dev.readResponse(4 * VECTOR_ADD_MAX_ELEMENTS));
        for (int i = 0; i < sum.length; i++) {
            assertThat(sum[i]).as("element %d", i).isEqualTo(a[i] + b[i]);
        }
        assertThat(dev.readReg(REG_IRQ_STATUS) & IRQ_STATUS_COMPLETE).isNotZero();
        // the mediator saw it as vm 200, pool B, high, with the REQUEST_ID the device sent
        assertThat(mediator.executionLog()).singleElement().satisfies(e -> {
            assertThat(e.vmId()).isEqualTo(200);
            assertThat(e.pool()).isEqualTo(Pool.B);
            assertThat(e.priority()).isEqualTo(Priority.HIGH);
            assertThat(e.requestId()).isEqualTo(0xC0FFEE);
        });
        // and a second request on the same connection
        submitWhenLinkReady(dev, ComputeRequest.checksum("123456789".getBytes()).encode(), 2);
        assertThat(dev.awaitNotBusy(WAIT)).isEqualTo(STATUS_DONE);
        assertThat(java.nio.ByteBuffer.wrap(dev.readResponse(4))
                        .order(java.nio.ByteOrder.LITTLE_ENDIAN)
                        .getInt())
                .isEqualTo(0xCBF43926);
    }

    @Test
    void aMediatorErrorCodeReachesTheErrorCodeRegister() throws Exception {
        startMediator(MediatorConfig.builder());
        VgpuDevice dev = device(7, 'A', "low", true);
        byte[] badOpcode = java.nio.ByteBuffer.allocate(12)
                .order(java.nio.ByteOrder.LITTLE_ENDIAN)
                .putInt(99)
                .putInt(4)
                .array();
        submitWhenLinkReady(dev, badOpcode, 1);
        assertThat(dev.awaitNotBusy(WAIT)).isEqualTo(STATUS_ERROR);
        assertThat(dev.errorCode()).isEqualTo(ERR_BAD_OPCODE);
        // the connection went on: the next request is served
        float[] x = {1f, 2f, 3f};
        submitWhenLinkReady(dev, ComputeRequest.scale(2f, x).encode(), 2);
        assertThat(dev.awaitNotBusy(WAIT)).isEqualTo(STATUS_DONE);
        assertThat(ComputeRequest.toFloats(dev.readResponse(12))).containsExactly(2f, 4f, 6f);
    }

    /**
     * Two VMs, two QEMUs, one pool: with the workers held, the low-priority device rings first and the
     * high-priority one second; released, the mediator runs the high one first. Both get the right sums.
     */
    @Test
    void priorityOrderAcrossTwoDevices() throws Exception {
        startMediator(MediatorConfig.builder().aging(Duration.ZERO));
        VgpuDevice low = device(11, 'A', "low", true);
        VgpuDevice high = device(22, 'A', "high", true);
        mediator.pauseScheduling();
        float[] a = ramp(64, 0.5f);
        float[] b1 = ramp(64, 100f);
        float[] b2 = ramp(64, -100f);
        submitWhenLinkReady(low, ComputeRequest.vectorAdd(a, b1).encode(), 1);
        assertThat(mediator.awaitQueued(1, WAIT)).isTrue();
        submitWhenLinkReady(high, ComputeRequest.vectorAdd(a, b2).encode(), 2);
        assertThat(mediator.awaitQueued(2, WAIT)).isTrue();
        mediator.resumeScheduling();
        assertThat(low.awaitNotBusy(WAIT)).isEqualTo(STATUS_DONE);
        assertThat(high.awaitNotBusy(WAIT)).isEqualTo(STATUS_DONE);
        assertThat(mediator.executionLog()).extracting(Stats.Executed::vmId).containsExactly(22, 11);
        float[] s1 = ComputeRequest.toFloats(low.readResponse(256));
        float[] s2 = ComputeRequest.toFloats(high.readResponse(256));
        for (int i = 0; i < 64; i++) {
            assertThat(s1[i]).isEqualTo(a[i] + b1[i]);
            assertThat(s2[i]).isEqualTo(a[i] + b2[i]);
        }
    }

    /** A device whose priority is above its tenant ceiling is refused at HELLO: its doorbells never reach a worker. */
    @Test
    void aDeviceAboveItsTenantCeilingIsNeverServed() throws Exception {
        startMediator(MediatorConfig.builder().tenants(TenantPolicy.of(Map.of(5, Priority.LOW))));
        VgpuDevice dev = device(5, 'A', "high", false);
        long deadline = System.nanoTime() + WAIT.toNanos();
        while (mediator.stats().errorCounts().getOrDefault("NOT_PERMITTED", 0L) == 0 && System.nanoTime() < deadline) {
            Thread.sleep(10);
        }
        assertThat(mediator.stats().errorCounts()).containsKey("NOT_PERMITTED");
        dev.submit(ComputeRequest.echo(new byte[] {1, 2, 3}).encode(), 9);
        assertThat(dev.awaitNotBusy(WAIT)).isEqualTo(STATUS_ERROR);
        assertThat(dev.errorCode()).isEqualTo(ERR_MEDIATOR_UNAVAILABLE);
        assertThat(mediator.stats().completed()).isZero();
        assertThat(mediator.boundVms()).isEmpty();
    }
}

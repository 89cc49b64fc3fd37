package dev.vgpuhil.harness.bench;

import static dev.vgpuhil.protocol.VgpuProtocol.*;

import dev.vgpuhil.mediator.MediatorClient;
import dev.vgpuhil.protocol.ComputeRequest;
import dev.vgpuhil.protocol.Frame;
import dev.vgpuhil.qemu.DeviceHosting;
import dev.vgpuhil.qemu.QemuBinary;
import dev.vgpuhil.qemu.VfioUserServer;
import dev.vgpuhil.qemu.qtest.QtestSession;
import dev.vgpuhil.qemu.qtest.VfioUserCompanion;
import dev.vgpuhil.qemu.qtest.VgpuDevice;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Random;
import org.awaitility.Awaitility;
import org.awaitility.core.ConditionTimeoutException;

/** Host-side round-trip measurements: the mediator's echo over its socket, and the device driven by qtest. */
public final class RoundTrips {
    private RoundTrips() {}

    /** Echo requests straight over the mediator socket (the floor of every doorbell round trip). */
    public static Percentiles mediatorEcho(Path socket, int count, int bytes, int warmup) throws IOException {
        byte[] data = new byte[bytes];
        new Random(1).nextBytes(data);
        ComputeRequest echo = ComputeRequest.echo(data);
        try (MediatorClient c = MediatorClient.connect(socket, Duration.ofSeconds(10))) {
            Frame ack = c.hello(9001, POOL_A, PRIORITY_HIGH, Duration.ofSeconds(5));
            if (ack.msgType() != MSG_HELLO_ACK || ack.status() != ERR_NONE) {
                throw new IOException("mediator refused HELLO: " + ack);
            }
            long[] t = new long[count];
            for (int i = -warmup; i < count; i++) {
                long t0 = System.nanoTime();
                Frame r = c.request(i + warmup + 1, echo, Duration.ofSeconds(10));
                long dt = System.nanoTime() - t0;
                if (r.status() != ERR_NONE || r.payload().length != bytes) {
                    throw new IOException("echo failed: " + r);
                }
                if (i >= 0) {
                    t[i] = dt;
                }
            }
            return Percentiles.of(t);
        }
    }

    /** Results of the qtest measurement: doorbell round trips and, as their floor, plain register reads. */
    public record QtestResult(Percentiles doorbell, Percentiles registerRead, int errors) {}

    /**
     * A qtest QEMU with vgpu-stub linked to the mediator: echo requests through the request buffer, doorbell,
     * STATUS polled until done, response read back; and the qtest channel's own cost (SCRATCH reads).
     */
    public static QtestResult qtestEcho(QemuBinary qemu, Path socket, int count, int bytes, int warmup) {
        byte[] data = new byte[bytes];
        new Random(2).nextBytes(data);
        byte[] payload = ComputeRequest.echo(data).encode();
        List<String> props = List.of("pool_id=A", "priority=high", "vm_id=9002", "socket=" + socket);
        QtestSession.Builder builder = QtestSession.builder(qemu);
        if (qemu.hosting() == DeviceHosting.VFIO_USER) {
            builder.companion(new VfioUserCompanion(VfioUserServer.locateBinary(), props, null));
        } else {
            builder.device("vgpu-stub," + String.join(",", props));
        }
        try (QtestSession q = builder.start()) {
            VgpuDevice dev = VgpuDevice.attach(q);
            // the link comes up asynchronously (connect + HELLO/ACK): ring until a request completes
            int[] linkStatus = {-1};
            try {
                Awaitility.await("mediator link of the qtest device")
                        .atMost(Duration.ofSeconds(15))
                        .pollDelay(Duration.ZERO)
                        .pollInterval(Duration.ofMillis(50))
                        .pollInSameThread()
                        .until(() -> {
                            dev.submit(payload, 1);
                            linkStatus[0] = dev.awaitNotBusy(Duration.ofSeconds(10));
                            return linkStatus[0] == STATUS_DONE;
                        });
            } catch (ConditionTimeoutException e) {
                throw new IllegalStateException("Mediator link of the qtest device never came up: STATUS="
                        + linkStatus[0] + " ERROR_CODE=" + dev.errorCode());
            }
            int errors = 0;
            long[] t = new long[count];
            for (int i = -warmup; i < count; i++) {
                long t0 = System.nanoTime();
                dev.submit(payload, i + warmup + 2);
                int st = spinNotBusy(dev, Duration.ofSeconds(10));
                byte[] resp = dev.readResponse(bytes);
                long dt = System.nanoTime() - t0;
                if (st != STATUS_DONE || !java.util.Arrays.equals(resp, data)) {
                    errors++;
                }
                if (i >= 0) {
                    t[i] = dt;
                }
            }
            long[] r = new long[count];
            for (int i = -warmup; i < count; i++) {
                long t0 = System.nanoTime();
                dev.readReg(REG_SCRATCH);
                long dt = System.nanoTime() - t0;
                if (i >= 0) {
                    r[i] = dt;
                }
            }
            return new QtestResult(Percentiles.of(t), Percentiles.of(r), errors);
        }
    }

    /** Polls STATUS back to back (VgpuDevice.awaitNotBusy sleeps between polls, which would be measured too). */
    static int spinNotBusy(VgpuDevice dev, Duration deadline) {
        long end = System.nanoTime() + deadline.toNanos();
        int st;
        while ((st = dev.status()) == STATUS_BUSY) {
            if (System.nanoTime() > end) {
                throw new IllegalStateException("vgpu-stub STATUS still BUSY after " + deadline);
            }
        }
        return st;
    }
}

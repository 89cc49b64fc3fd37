package dev.vgpuhil.qemu.device;

import static dev.vgpuhil.protocol.VgpuProtocol.*;
import static org.assertj.core.api.Assertions.assertThat;

import dev.vgpuhil.common.FuzzCampaign;
import dev.vgpuhil.protocol.ComputeRequest;
import dev.vgpuhil.protocol.Frame;
import dev.vgpuhil.qemu.qtest.PciBus;
import dev.vgpuhil.qemu.qtest.QtestSession;
import dev.vgpuhil.qemu.qtest.VgpuDevice;
import io.qameta.allure.Allure;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The device under a seeded storm, on every hosting: MMIO of every size (1, 2, 4, 8) and alignment over BAR0 (and
 * just past it), PCI config writes (COMMAND, MSI control, address and data), doorbells with random lengths and
 * request ids, virtual-clock steps, interrupt register writes - while a hostile mediator peer on a real Unix socket
 * answers with garbage, wrong request ids, bad magic, oversized payload lengths, truncated frames then a close,
 * silence, byte-by-byte delivery, undefined status codes, unexpected message types and stray HELLO_ACKs. The
 * registers keep their documented ranges throughout (STATUS 0-3, ERROR_CODE a defined code, RESPONSE_LEN at most
 * 1024); after each case the peer behaves and one request completes with the right bytes; QEMU (or the vfio-user
 * server) never dies and its stderr holds no sanitizer report (the nightly runs this on an ASan+UBSan QEMU).
 *
 * <p>A case is a function of its seed ({@link FuzzCampaign}): a failure prints the seed and its replay command, and
 * the seed goes into {@link #regression}'s list.
 */
@Tag("qtest")
@Tag("device")
@Tag("fuzz")
@OnEveryHosting
@DisplayName("vgpu-stub fuzzer: random MMIO, config writes, doorbells and clock steps against a hostile mediator")
class DeviceFuzzTest {
    /** This test's one budget: the peer's waits and the reconnects derive from it. */
    private final DeviceBudget budget = DeviceBudget.now();

    private final Duration waitFor = budget.waitFor();
    /** The device reconnects about once a second; a loaded machine may need several tries. */
    private final Duration reconnect = budget.reconnect();

    private static final Duration CI_DURATION = Duration.ofSeconds(6);
    private static final int TIMEOUT_MS = 200;
    private static final int GOOD_REQUEST_ID = 0x600D_0001;
    private static final long MSI_RAM = 0x200000; // ordinary guest RAM

    @TempDir
    Path tmp;

    private MediatorPeer peer;
    private VgpuMachine m;
    private VgpuDevice dev;
    private QtestSession q;
    private PciBus pci;
    private int msiCap;
    private MediatorPeer.Connection conn;
    private boolean greeted;
    private Frame lastRequest;
    private boolean memoryOn = true;
    private final Counts counts = new Counts();

    /** What the cases did, for the report. */
    private static final class Counts {
        long ops;
        long mmio;
        long doorbells;
        long peerActions;
        long linkDrops;
        long deviceDrops;
        long completed;

        @Override
        public String toString() {
            return String.format(
                    "%d ops (%d MMIO, %d doorbells, %d peer actions), links closed: %d by the peer, %d by the device;"
                            + " %d good requests completed",
                    ops, mmio, doorbells, peerActions, linkDrops, deviceDrops, completed);
        }
    }

    @BeforeEach
    void start() throws Exception {
        peer = new MediatorPeer(tmp.resolve("mediator.sock"), budget);
        m = VgpuMachine.withMediator(
                peer.socket(), "vm_id=300", "pool_id=A", "priority=low", "timeout_ms=" + TIMEOUT_MS);
        dev = m.dev;
        q = m.qtest;
        pci = dev.pci();
        msiCap = pci.findCapability(dev.address(), PciBus.CAP_ID_MSI).orElseThrow();
        conn = peer.acceptAndGreet(waitFor);
        greeted = true;
        settle();
    }

    @AfterEach
    void stop() throws Exception {
        try {
            assertNoSanitizerReport("at the end");
        } finally {
            m.close();
            peer.close();
        }
    }

    @ParameterizedTest(name = "seed {0}")
    @ValueSource(longs = {1L, 42L, 0xF00DL})
    @DisplayName("regression seeds (a seed that once failed is kept here)")
    void regression(long seed) throws Exception {
        fuzzCase(seed);
    }

    @Test
    @DisplayName("new seeds for -Dvgpu.fuzz.duration (default 6 s per hosting), or the one -Dvgpu.fuzz.seed")
    void fuzz(DeviceHosting hosting) {
        FuzzCampaign.Outcome o = FuzzCampaign.fromSettings(getClass(), "qemu-launcher", CI_DURATION)
                .run(this::fuzzCase);
        String summary = hosting.name() + ": " + o + "; " + counts;
        System.out.println("[device fuzz] " + summary);
        Allure.addAttachment("device fuzz campaign", summary);
        assertThat(counts.completed).as("good requests after the storms").isEqualTo(o.cases());
        assertThat(counts.peerActions).as("the peer misbehaved").isPositive();
    }

    private void fuzzCase(long seed) throws Exception {
        SplittableRandom r = new SplittableRandom(seed);
        int ops = 20 + r.nextInt(100);
        for (int i = 0; i < ops; i++) {
            String where = "seed " + seed + " op " + i;
            op(r);
            counts.ops++;
            assertAlive(where);
            if (memoryOn) {
                checkRegisters(where);
            }
        }
        completeOneRequest("seed " + seed);
        assertAlive("seed " + seed + " at the end");
        assertNoSanitizerReport("seed " + seed);
    }

    private void op(SplittableRandom r) throws Exception {
        drainFrames();
        switch (r.nextInt(16)) {
            case 0, 1, 2 -> mmioWrite(r);
            case 3, 4 -> mmioRead(r);
            case 5 -> commandWrite(r);
            case 6 -> msiWrite(r);
            case 7, 8, 9 -> doorbell(r);
            case 10 -> q.clockStep(1 + DeviceBudget.stepNs(r.nextInt(2 * TIMEOUT_MS)) + r.nextInt(1_000_000));
            case 11 -> dev.writeReg(r.nextBoolean() ? REG_IRQ_CTRL : REG_IRQ_STATUS, r.nextInt());
            default -> peerAction(r);
        }
    }

    /** A write of 1, 2, 4 or 8 bytes at any offset of BAR0 (sometimes crossing its end). */
    private void mmioWrite(SplittableRandom r) {
        counts.mmio++;
        int size = 1 << r.nextInt(4);
        long addr = dev.bar0() + offset(r, size);
        long v = r.nextLong();
        switch (size) {
            case 1 -> q.writeb(addr, (int) v & 0xff);
            case 2 -> q.writew(addr, (int) v & 0xffff);
            case 4 -> q.writel(addr, (int) v);
            default -> q.writeq(addr, v);
        }
    }

    private void mmioRead(SplittableRandom r) {
        counts.mmio++;
        int size = 1 << r.nextInt(4);
        long addr = dev.bar0() + offset(r, size);
        switch (size) {
            case 1 -> q.readb(addr);
            case 2 -> q.readw(addr);
            case 4 -> q.readl(addr);
            default -> q.readq(addr);
        }
    }

    /** Mostly registers and buffer edges, any alignment; now and then past BAR0's end. */
    private static long offset(SplittableRandom r, int size) {
        return switch (r.nextInt(5)) {
            case 0 -> r.nextInt(REG_AREA_SIZE);
            case 1 -> REQ_BUFFER_OFFSET - 4 + r.nextInt(8);
            case 2 -> RESP_BUFFER_OFFSET - 4 + r.nextInt(8);
            case 3 -> BAR0_SIZE - size - 4 + r.nextInt(12);
            default -> r.nextInt(BAR0_SIZE - size + 1);
        };
    }

    /** PCI COMMAND: memory decoding usually stays on (else the storm mostly hits nothing). */
    private void commandWrite(SplittableRandom r) {
        int v = r.nextInt(0x10000);
        if (r.nextInt(4) != 0) {
            v |= PciBus.COMMAND_MEMORY;
        }
        pci.writeConfig16(dev.address(), PciBus.COMMAND, v);
        memoryOn = (v & PciBus.COMMAND_MEMORY) != 0;
    }

    /** MSI control, address and data: enable/disable, vectors, targets in RAM, at the LAPIC or anywhere. */
    private void msiWrite(SplittableRandom r) {
        switch (r.nextInt(4)) {
            case 0 -> pci.writeConfig16(dev.address(), msiCap + 2, r.nextInt(0x10000));
            case 1 -> pci.writeConfig16(dev.address(), msiCap + 2, r.nextBoolean() ? 1 : 0);
            case 2 -> {
                long target = switch (r.nextInt(3)) {
                    case 0 -> MSI_RAM + 4L * r.nextInt(64);
                    case 1 -> 0xFEE00000L;
                    default -> r.nextLong() & 0xFFFFFFFCL;
                };
                pci.writeConfig32(dev.address(), msiCap + 4, (int) target);
                pci.writeConfig32(dev.address(), msiCap + 8, 0);
            }
            default -> pci.writeConfig16(dev.address(), msiCap + 12, r.nextInt(0x10000));
        }
    }

    private void doorbell(SplittableRandom r) {
        counts.doorbells++;
        if (r.nextBoolean()) {
            byte[] b = new byte[1 + r.nextInt(REQ_BUFFER_SIZE)];
            r.nextBytes(b);
            if (r.nextBoolean()) {
                b = ComputeRequest.echo(Arrays.copyOf(b, Math.min(b.length, REQ_BUFFER_SIZE - 8)))
                        .encode();
            }
            dev.writeRequest(b);
        }
        int len = switch (r.nextInt(6)) {
            case 0 -> 0;
            case 1 -> REQ_BUFFER_SIZE + r.nextInt(3);
            case 2 -> r.nextInt();
            case 3 -> REQ_BUFFER_SIZE;
            default -> 1 + r.nextInt(REQ_BUFFER_SIZE);
        };
        dev.writeReg(REG_REQUEST_LEN, len);
        dev.writeReg(REG_REQUEST_ID, r.nextInt(4) == 0 ? GOOD_REQUEST_ID : r.nextInt());
        dev.writeReg(REG_DOORBELL, r.nextInt(5) == 0 ? r.nextInt() : DOORBELL_RING);
    }

    /** The peer misbehaves (or, now and then, behaves). */
    private void peerAction(SplittableRandom r) throws Exception {
        counts.peerActions++;
        if (conn != null && conn.closedByDevice()) {
            counts.deviceDrops++;
            conn.close();
            conn = null;
        }
        if (conn == null) {
            conn = peer.tryAccept();
            greeted = false;
            if (conn == null) {
                return; // the device has not reconnected yet
            }
        }
        if (!greeted) {
            Frame hello = conn.pollFrame(waitFor);
            if (hello == null) {
                return;
            }
            int how = r.nextInt(6);
            int status = how == 0 ? 1 + r.nextInt(0x20) : ERR_NONE;
            Frame ack = hello.reply(MSG_HELLO_ACK, status, null).withRequestId(0);
            if (how == 1) {
                ack = ack.withVersion(0x00020000); // another major: a refusal
            }
            if (how != 2) { // 2: silence, the link never becomes ready
                try {
                    conn.send(ack);
                    greeted = status == ERR_NONE && how != 1;
                } catch (java.io.IOException e) {
                    dropLink();
                }
            }
            return;
        }
        Frame req = lastRequest != null
                ? lastRequest
                : Frame.of(MSG_REQUEST, 300, POOL_A, PRIORITY_LOW, r.nextInt(), 0, new byte[8]);
        byte[] result = new byte[r.nextInt(RESP_BUFFER_SIZE + 1)];
        r.nextBytes(result);
        try {
            misbehave(r, req, result);
        } catch (java.io.IOException e) {
            dropLink(); // the device had closed this link already (it drops streams it cannot trust)
        }
    }

    private void misbehave(SplittableRandom r, Frame req, byte[] result) throws Exception {
        switch (r.nextInt(13)) {
            case 0 -> conn.send(req.reply(MSG_RESPONSE, ERR_NONE, result));
            case 1 ->
                conn.send(
                        req.withRequestId(req.requestId() + 1 + r.nextInt(1000)).reply(MSG_RESPONSE, ERR_NONE, result));
            case 2 -> { // bad magic
                byte[] w = req.reply(MSG_RESPONSE, ERR_NONE, result).encode();
                w[r.nextInt(4)] ^= (byte) (1 + r.nextInt(255));
                conn.sendRaw(w);
            }
            case 3 -> { // payload_len over the limit, then some of it
                byte[] w = req.reply(MSG_RESPONSE, ERR_NONE, new byte[0]).encode();
                int len = MAX_PAYLOAD + 1 + r.nextInt(1 << 20);
                ByteBuffer.wrap(w).order(ByteOrder.LITTLE_ENDIAN).putInt(HeaderOffsets.PAYLOAD_LEN, len);
                conn.sendRaw(w);
                byte[] more = new byte[r.nextInt(2048)];
                r.nextBytes(more);
                conn.sendRaw(more);
            }
            case 4 -> {
                byte[] g = new byte[1 + r.nextInt(300)];
                r.nextBytes(g);
                conn.sendRaw(g);
            }
            case 5 -> { // truncation, then close
                byte[] w = req.reply(MSG_RESPONSE, ERR_NONE, result).encode();
                conn.sendRaw(Arrays.copyOf(w, r.nextInt(w.length)));
                dropLink();
            }
            case 6 -> Thread.sleep(r.nextInt(20)); // silence
            case 7 -> { // byte by byte, the device reading between the bytes
                byte[] w = req.reply(MSG_RESPONSE, ERR_NONE, Arrays.copyOf(result, r.nextInt(64)))
                        .encode();
                for (byte b : w) {
                    conn.sendRaw(new byte[] {b});
                    q.readl(dev.bar0() + REG_SCRATCH);
                }
            }
            case 8 -> { // a status that is no VGPU_ERR_*
                int status = r.nextBoolean() ? 0xFFFFFFFF : ERR_SHUTDOWN + 1 + r.nextInt(0x1000);
                conn.send(req.reply(MSG_RESPONSE, status, null));
            }
            case 9 -> conn.send(req.reply(pickType(r), ERR_NONE, Arrays.copyOf(result, r.nextInt(32))));
            case 10 -> conn.send(req.reply(MSG_HELLO_ACK, r.nextBoolean() ? ERR_NONE : ERR_NOT_PERMITTED, null));
            case 11 -> conn.send(req.reply(MSG_RESPONSE, 1 + r.nextInt(ERR_SHUTDOWN), null));
            default -> dropLink();
        }
    }

    private static int pickType(SplittableRandom r) {
        int[] types = {0, MSG_HELLO, MSG_REQUEST, MSG_STATS_REQUEST, MSG_STATS_REPLY, 7, 0xFFFF};
        return types[r.nextInt(types.length)];
    }

    private void dropLink() throws java.io.IOException {
        counts.linkDrops++;
        conn.close();
        conn = null;
        greeted = false;
    }

    /** Takes what the device has sent; the last REQUEST is what the peer answers (rightly or wrongly) next. */
    private void drainFrames() throws Exception {
        if (conn == null) {
            return;
        }
        Frame f;
        while ((f = conn.pollFrame(Duration.ZERO)) != null) {
            if (f.msgType() == MSG_REQUEST) {
                lastRequest = f;
            }
        }
    }

    /** The registers stay inside what DEVICE.md allows, whatever came before. */
    private void checkRegisters(String where) {
        int status = dev.status();
        assertThat(status).as("%s: STATUS", where).isBetween(STATUS_IDLE, STATUS_ERROR);
        int error = dev.errorCode();
        assertThat(error).as("%s: ERROR_CODE", where).isBetween(ERR_NONE, ERR_SHUTDOWN);
        assertThat(dev.readReg(REG_RESPONSE_LEN)).as("%s: RESPONSE_LEN", where).isBetween(0, RESP_BUFFER_SIZE);
        assertThat(dev.readReg(REG_POOL_ID))
                .as("%s: POOL_ID (a constant)", where)
                .isEqualTo(POOL_A);
    }

    /** After the storm the peer behaves: one request must complete with the right bytes. */
    private void completeOneRequest(String where) throws Exception {
        pci.enable(dev.address(), PciBus.COMMAND_MEMORY);
        memoryOn = true;
        byte[] payload = ComputeRequest.echo(where.getBytes(java.nio.charset.StandardCharsets.UTF_8))
                .encode();
        byte[] answer = ("answer to " + where).getBytes(java.nio.charset.StandardCharsets.UTF_8);
        long end = System.nanoTime() + reconnect.toNanos();
        int attempt = 0;
        while (true) {
            attempt++;
            assertThat(System.nanoTime())
                    .as("%s: one good request within %s (attempt %d)", where, reconnect, attempt)
                    .isLessThan(end);
            passDeadlineIfBusy();
            if (conn == null || conn.closedByDevice() || !greeted) {
                if (conn != null) {
                    conn.close();
                }
                conn = peer.acceptAndGreet(reconnect);
                greeted = true;
                settle();
            }
            drainFrames();
            dev.writeReg(REG_IRQ_STATUS, 0xFFFFFFFF);
            dev.submit(payload, GOOD_REQUEST_ID);
            if (dev.status() == STATUS_ERROR) {
                // the link the storm left behind is not ready (dropped, refused, not yet seen as closed): anew
                assertThat(dev.errorCode()).as("%s: doorbell refused", where).isEqualTo(ERR_MEDIATOR_UNAVAILABLE);
                dropLink();
                continue;
            }
            Frame f;
            do {
                f = conn.pollFrame(waitFor);
            } while (f != null && !(f.msgType() == MSG_REQUEST && f.requestId() == GOOD_REQUEST_ID));
            if (f == null) {
                dropLink(); // the device closed this link; it reconnects
                continue;
            }
            assertThat(f.payload()).as("%s: the REQUEST frame's payload", where).isEqualTo(payload);
            try {
                conn.send(f.reply(MSG_RESPONSE, ERR_NONE, answer));
            } catch (java.io.IOException e) {
                dropLink();
                continue;
            }
            int status = dev.awaitNotBusy(waitFor);
            if (status == STATUS_ERROR && dev.errorCode() == ERR_MEDIATOR_UNAVAILABLE) {
                dropLink(); // the device saw an earlier close only now
                continue;
            }
            if (status == STATUS_ERROR
                    && dev.errorCode() == ERR_TIMEOUT
                    && DeviceHostings.current().vfioUser()) {
                // the fuzzer's short deadline runs on the host clock there: a loaded host passed it before the
                // reply came; the budget decides how often that may happen
                continue;
            }
            assertThat(status)
                    .as("%s: STATUS (error %d)", where, dev.errorCode())
                    .isEqualTo(STATUS_DONE);
            assertThat(dev.readReg(REG_RESPONSE_LEN)).isEqualTo(answer.length);
            assertThat(dev.readResponse(answer.length))
                    .as("%s: the response bytes", where)
                    .isEqualTo(answer);
            counts.completed++;
            lastRequest = null;
            return;
        }
    }

    private void passDeadlineIfBusy() {
        if (dev.status() == STATUS_BUSY) {
            DeviceHostings.current().passReplyDeadline(q, dev, TIMEOUT_MS, budget);
            assertThat(dev.status()).as("not BUSY after the reply deadline").isNotEqualTo(STATUS_BUSY);
        }
    }

    private void settle() {
        dev.readReg(REG_SCRATCH);
        dev.readReg(REG_SCRATCH);
        m.settle();
    }

    private void assertAlive(String where) {
        assertThat(q.isAlive())
                .as("%s: QEMU alive (exit %s); stderr:\n%s", where, q.exitCode(), q.stderrTail())
                .isTrue();
    }

    /** No AddressSanitizer/UBSan report in QEMU's stderr or in a vfio-user server's log of this run. */
    private void assertNoSanitizerReport(String where) throws Exception {
        List<String> markers = List.of("ERROR: AddressSanitizer", "runtime error:", "ERROR: LeakSanitizer");
        assertThat(q.stderr()).as("%s: QEMU stderr", where).doesNotContain(markers);
        try (Stream<Path> logs = Files.list(q.runDir())) {
            for (Path log : logs.filter(p -> p.getFileName().toString().startsWith("vfio-user"))
                    .filter(p -> p.getFileName().toString().endsWith(".log"))
                    .toList()) {
                assertThat(Files.readString(log)).as("%s: %s", where, log).doesNotContain(markers);
            }
        }
    }
}

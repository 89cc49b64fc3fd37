package dev.vgpuhil.qemu.device;

import static dev.vgpuhil.protocol.VgpuProtocol.*;
import static org.assertj.core.api.Assertions.assertThat;

import dev.vgpuhil.protocol.ComputeRequest;
import dev.vgpuhil.protocol.Frame;
import dev.vgpuhil.qemu.qtest.QmpTestClient;
import dev.vgpuhil.qemu.qtest.VgpuDevice;
import io.qameta.allure.Allure;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * DEVICE.md "Mediator link": the device against a test peer playing the mediator over a real Unix socket.
 * Time-outs are driven by the virtual clock (clock_step); only reconnection runs in real time.
 */
@Tag("qtest")
@Tag("device")
@OnEveryHosting
@DisplayName("vgpu-stub <-> mediator link (peer over a real Unix socket)")
class MediatorLinkTest {
    /** This test's one budget (CI failed once with a fixed 10 s on the vfio-user hosting at load 20-50). */
    final DeviceBudget budget = DeviceBudget.now();
    /** Every real-time wait of the test. */
    final Duration waitFor = budget.waitFor();
    /** The reply deadline in virtual ms the in-QEMU timeout tests step through (vfio-user: the budget's). */
    static final int TIMEOUT_MS = 1000;

    static final int VM_ID = 200;

    @TempDir
    Path tmp;

    MediatorPeer peer;
    VgpuMachine m;
    VgpuDevice dev;

    @BeforeEach
    void start() throws Exception {
        peer = new MediatorPeer(tmp.resolve("mediator.sock"), budget);
        m = VgpuMachine.withMediator(
                peer.socket(),
                "pool_id=B",
                "priority=high",
                "vm_id=" + VM_ID,
                "timeout_ms=" + budget.timeoutMs(DeviceHostings.current(), TIMEOUT_MS));
        dev = m.dev;
    }

    @AfterEach
    void stop() throws Exception {
        m.close();
        peer.close();
    }

    /**
     * After the peer's HELLO_ACK has been written, two qtest round trips are two QEMU main-loop iterations: the ACK
     * bytes are already readable, so the device has processed them when the second reply arrives.
     */
    private void settle() {
        dev.readReg(REG_SCRATCH);
        dev.readReg(REG_SCRATCH);
    }

    private MediatorPeer.Connection greeted() throws Exception {
        MediatorPeer.Connection c = peer.acceptAndGreet(waitFor);
        settle();
        return c;
    }

    private static byte[] echoPayload(String text) {
        return ComputeRequest.echo(text.getBytes(StandardCharsets.UTF_8)).encode();
    }

    @Test
    @DisplayName("HELLO carries version, vm_id, pool, priority and no payload")
    void hello() throws Exception {
        MediatorPeer.Connection c = greeted();
        Frame h = c.hello;
        assertThat(h.magic()).isEqualTo(SOCKET_MAGIC);
        assertThat(h.version()).isEqualTo(PROTOCOL_VERSION);
        assertThat(h.vmId()).isEqualTo(VM_ID);
        assertThat(h.poolId()).isEqualTo(POOL_B);
        assertThat(h.priority()).isEqualTo(PRIORITY_HIGH);
        assertThat(h.payloadLen()).isZero();
        assertThat(h.status()).isZero();
    }

    @Test
    @DisplayName(
            "correct reply: STATUS done, RESPONSE_LEN and bytes right; the REQUEST frame had the right header and payload")
    void correctReply() throws Exception {
        MediatorPeer.Connection c = greeted();
        byte[] payload = echoPayload("hello vgpu");
        dev.submit(payload, 0x1234ABCD);
        assertThat(dev.status()).isEqualTo(STATUS_BUSY);
        assertThat(dev.errorCode()).isZero();
        Frame req = c.expectFrame(waitFor);
        Allure.step("REQUEST frame header and payload", () -> {
            assertThat(req.magic()).isEqualTo(SOCKET_MAGIC);
            assertThat(req.version()).isEqualTo(PROTOCOL_VERSION);
            assertThat(req.msgType()).isEqualTo(MSG_REQUEST);
            assertThat(req.flags()).isEqualTo(FLAG_NONE);
            assertThat(req.vmId()).isEqualTo(VM_ID);
            assertThat(req.poolId()).isEqualTo(POOL_B);
            assertThat(req.priority()).isEqualTo(PRIORITY_HIGH);
            assertThat(req.reserved()).isZero();
            assertThat(req.requestId()).isEqualTo(0x1234ABCD);
            assertThat(req.payloadLen()).isEqualTo(payload.length);
            assertThat(req.status()).isZero();
            assertThat(req.payload()).isEqualTo(payload);
        });
        assertThat(dev.timestamp()).as("no completion yet").isZero();
        Thread.sleep(30); // so that a timestamp taken at the doorbell would be visibly too early
        long beforeReplyNs = System.currentTimeMillis() * 1_000_000L;
        byte[] result = "the answer: 42".getBytes(StandardCharsets.UTF_8);
        c.send(req.reply(MSG_RESPONSE, ERR_NONE, result));
        assertThat(dev.awaitNotBusy(waitFor)).isEqualTo(STATUS_DONE);
        long afterNs = (System.currentTimeMillis() + 1) * 1_000_000L;
        assertThat(dev.errorCode()).isEqualTo(ERR_NONE);
        assertThat(dev.readReg(REG_RESPONSE_LEN)).isEqualTo(result.length);
        assertThat(dev.readResponse(result.length)).isEqualTo(result);
        assertThat(dev.readReg(REG_IRQ_STATUS)).isEqualTo(IRQ_STATUS_COMPLETE);
        assertThat(dev.timestamp())
                .as("TIMESTAMP = host clock at completion, not at the doorbell")
                .isBetween(beforeReplyNs, afterNs);
    }

    @Test
    @DisplayName("a reply arriving in fragments is accumulated: BUSY until the last byte, then DONE")
    void fragmentedReply() throws Exception {
        MediatorPeer.Connection c = greeted();
        dev.submit(echoPayload("frag"), 0x51);
        Frame req = c.expectFrame(waitFor);
        byte[] result = new byte[300];
        for (int i = 0; i < result.length; i++) {
            result[i] = (byte) (i * 5 + 1);
        }
        byte[] wire = req.reply(MSG_RESPONSE, ERR_NONE, result).encode();
        int[] cuts = {1, 7, 31, 32, 33, 200, wire.length - 1}; // inside the header, at its end, inside the payload
        int from = 0;
        for (int cut : cuts) {
            c.sendRaw(Arrays.copyOfRange(wire, from, cut));
            from = cut;
            settle();
            assertThat(dev.status())
                    .as("after %d of %d bytes", cut, wire.length)
                    .isEqualTo(STATUS_BUSY);
        }
        c.sendRaw(Arrays.copyOfRange(wire, from, wire.length));
        assertThat(dev.awaitNotBusy(waitFor)).isEqualTo(STATUS_DONE);
        assertThat(dev.readReg(REG_RESPONSE_LEN)).isEqualTo(result.length);
        assertThat(dev.readResponse(result.length)).isEqualTo(result);
    }

    @Test
    @DisplayName("several frames in one write: a stray reply, then the matching one, are taken apart correctly")
    void coalescedFrames() throws Exception {
        MediatorPeer.Connection c = greeted();
        dev.submit(echoPayload("two in one"), 0x61);
        // a refused doorbell sends no frame: say so instead of waiting for one
        assertThat(dev.status())
                .as("doorbell accepted (error %d)", dev.errorCode())
                .isEqualTo(STATUS_BUSY);
        Frame req = c.expectFrame(waitFor);
        byte[] stray = req.withRequestId(0x60)
                .reply(MSG_RESPONSE, ERR_NONE, "stale".getBytes())
                .encode();
        byte[] right = req.reply(MSG_RESPONSE, ERR_NONE, "fresh!".getBytes()).encode();
        byte[] both = Arrays.copyOf(stray, stray.length + right.length);
        System.arraycopy(right, 0, both, stray.length, right.length);
        c.sendRaw(both);
        assertThat(dev.awaitNotBusy(waitFor)).isEqualTo(STATUS_DONE);
        assertThat(dev.readResponse(dev.readReg(REG_RESPONSE_LEN))).isEqualTo("fresh!".getBytes());
    }

    @ParameterizedTest(name = "msg_type {0}")
    @ValueSource(ints = {0, MSG_HELLO, MSG_REQUEST, MSG_STATS_REQUEST, MSG_STATS_REPLY, 99})
    @DisplayName("a reply with a message type the device never expects: STATUS error + PROTOCOL, link dropped")
    void unexpectedMessageType(int msgType) throws Exception {
        MediatorPeer.Connection c = greeted();
        dev.submit(echoPayload("abc"), 71);
        Frame req = c.expectFrame(waitFor);
        c.send(Frame.of(msgType, VM_ID, POOL_B, PRIORITY_HIGH, 71, ERR_NONE, null));
        assertThat(dev.awaitNotBusy(waitFor)).isEqualTo(STATUS_ERROR);
        assertThat(dev.errorCode()).isEqualTo(ERR_PROTOCOL);
        assertThat(c.awaitClosedByDevice(waitFor)).isTrue();
        assertThat(req.requestId()).isEqualTo(71);
    }

    @Test
    @DisplayName("a reply with a bad magic: STATUS error + PROTOCOL")
    void badMagic() throws Exception {
        MediatorPeer.Connection c = greeted();
        dev.submit(echoPayload("abc"), 72);
        Frame req = c.expectFrame(waitFor);
        c.send(req.reply(MSG_RESPONSE, ERR_NONE, "x".getBytes()).withMagic(0x12345678));
        assertThat(dev.awaitNotBusy(waitFor)).isEqualTo(STATUS_ERROR);
        assertThat(dev.errorCode()).isEqualTo(ERR_PROTOCOL);
        assertThat(dev.readReg(REG_RESPONSE_LEN)).isZero();
    }

    @Test
    @DisplayName("full-size request (1024 bytes) and full-size reply (1024 bytes) pass intact")
    void fullSize() throws Exception {
        MediatorPeer.Connection c = greeted();
        byte[] payload = new byte[REQ_BUFFER_SIZE];
        for (int i = 0; i < payload.length; i++) {
            payload[i] = (byte) (i * 13);
        }
        dev.submit(payload, 7);
        Frame req = c.expectFrame(waitFor);
        assertThat(req.payload()).isEqualTo(payload);
        byte[] result = new byte[RESP_BUFFER_SIZE];
        Arrays.fill(result, (byte) 0xC3);
        c.send(req.reply(MSG_RESPONSE, ERR_NONE, result));
        assertThat(dev.awaitNotBusy(waitFor)).isEqualTo(STATUS_DONE);
        assertThat(dev.readReg(REG_RESPONSE_LEN)).isEqualTo(RESP_BUFFER_SIZE);
        assertThat(dev.readResponse(RESP_BUFFER_SIZE)).isEqualTo(result);
    }

    @Test
    @DisplayName("a vector add computed by the peer comes back as the guest expects")
    void vectorAddRoundTrip() throws Exception {
        MediatorPeer.Connection c = greeted();
        ComputeRequest add = ComputeRequest.vectorAdd(new float[] {1f, 2f, 3f}, new float[] {10f, 20f, 30f});
        dev.submit(add.encode(), 99);
        Frame req = c.expectFrame(waitFor);
        ComputeRequest got = ComputeRequest.decode(req.payload());
        assertThat(got).isEqualTo(add);
        float[] ops = ComputeRequest.toFloats(got.operands());
        float[] sum = new float[got.count()];
        for (int i = 0; i < sum.length; i++) {
            sum[i] = ops[i] + ops[i + sum.length];
        }
        c.send(req.reply(MSG_RESPONSE, ERR_NONE, ComputeRequest.toBytes(sum)));
        assertThat(dev.awaitNotBusy(waitFor)).isEqualTo(STATUS_DONE);
        assertThat(ComputeRequest.toFloats(dev.readResponse(dev.readReg(REG_RESPONSE_LEN))))
                .containsExactly(11f, 22f, 33f);
    }

    @Test
    @DisplayName("reply with a non-zero status: STATUS error, ERROR_CODE = status, RESPONSE_LEN 0")
    void errorStatusReply() throws Exception {
        MediatorPeer.Connection c = greeted();
        dev.submit(echoPayload("x"), 5);
        Frame req = c.expectFrame(waitFor);
        c.send(req.reply(MSG_RESPONSE, ERR_BACKEND, null));
        assertThat(dev.awaitNotBusy(waitFor)).isEqualTo(STATUS_ERROR);
        assertThat(dev.errorCode()).isEqualTo(ERR_BACKEND);
        assertThat(dev.readReg(REG_RESPONSE_LEN)).isZero();
        assertThat(dev.readReg(REG_IRQ_STATUS)).isEqualTo(IRQ_STATUS_COMPLETE | IRQ_STATUS_ERROR);
    }

    @ParameterizedTest(name = "status 0x{0}")
    @ValueSource(strings = {"FFFFFFFF", "7F", "0E"})
    @DisplayName("reply with an undefined status: STATUS error, ERROR_CODE PROTOCOL; the link stays up")
    void undefinedStatusReply(String hex) throws Exception {
        int status = Integer.parseUnsignedInt(hex, 16);
        MediatorPeer.Connection c = greeted();
        dev.submit(echoPayload("x"), 6);
        Frame req = c.expectFrame(waitFor);
        c.send(req.reply(MSG_RESPONSE, status, "ignored".getBytes()));
        assertThat(dev.awaitNotBusy(waitFor)).isEqualTo(STATUS_ERROR);
        assertThat(dev.errorCode()).as("never the mediator's raw status").isEqualTo(ERR_PROTOCOL);
        assertThat(dev.readReg(REG_RESPONSE_LEN)).isZero();
        assertThat(dev.readReg(REG_IRQ_STATUS)).isEqualTo(IRQ_STATUS_COMPLETE | IRQ_STATUS_ERROR);
        dev.writeReg(REG_IRQ_STATUS, IRQ_STATUS_COMPLETE | IRQ_STATUS_ERROR);
        Allure.step("the same connection serves the next request", () -> assertSucceeds(c, 7));
    }

    @ParameterizedTest(name = "status {0}")
    @ValueSource(ints = {ERR_BACKEND, ERR_SHUTDOWN})
    @DisplayName("reply with a defined error status: ERROR_CODE is that status")
    void definedStatusReply(int status) throws Exception {
        MediatorPeer.Connection c = greeted();
        dev.submit(echoPayload("x"), 8);
        Frame req = c.expectFrame(waitFor);
        c.send(req.reply(MSG_RESPONSE, status, null));
        assertThat(dev.awaitNotBusy(waitFor)).isEqualTo(STATUS_ERROR);
        assertThat(dev.errorCode()).isEqualTo(status);
    }

    @Test
    @DisplayName("reply with a wrong request_id is discarded; the right reply afterwards completes")
    void wrongRequestId() throws Exception {
        MediatorPeer.Connection c = greeted();
        dev.submit(echoPayload("abc"), 1000);
        Frame req = c.expectFrame(waitFor);
        c.send(req.withRequestId(999).reply(MSG_RESPONSE, ERR_NONE, "wrong".getBytes()));
        settle();
        assertThat(dev.status()).as("still waiting after the stray reply").isEqualTo(STATUS_BUSY);
        c.send(req.reply(MSG_RESPONSE, ERR_NONE, "right".getBytes()));
        assertThat(dev.awaitNotBusy(waitFor)).isEqualTo(STATUS_DONE);
        assertThat(dev.readResponse(dev.readReg(REG_RESPONSE_LEN))).isEqualTo("right".getBytes());
    }

    @Test
    @DisplayName("garbage bytes: STATUS error + PROTOCOL, the device drops the link and reconnects")
    void garbage() throws Exception {
        MediatorPeer.Connection c = greeted();
        dev.submit(echoPayload("abc"), 1);
        c.expectFrame(waitFor);
        byte[] junk = new byte[64];
        Arrays.fill(junk, (byte) 0x77);
        c.sendRaw(junk);
        assertThat(dev.awaitNotBusy(waitFor)).isEqualTo(STATUS_ERROR);
        assertThat(dev.errorCode()).isEqualTo(ERR_PROTOCOL);
        assertThat(c.awaitClosedByDevice(waitFor))
                .as("the device closed the untrusted connection")
                .isTrue();
        Allure.step("reconnects, and the next request succeeds", () -> {
            MediatorPeer.Connection again = greeted();
            assertSucceeds(again, 2);
        });
    }

    @Test
    @DisplayName("payload_len 1025 in a reply: STATUS error + PROTOCOL")
    void oversizedPayloadLen() throws Exception {
        MediatorPeer.Connection c = greeted();
        dev.submit(echoPayload("abc"), 3);
        Frame req = c.expectFrame(waitFor);
        byte[] header = Arrays.copyOf(
                req.reply(MSG_RESPONSE, ERR_NONE, null).withPayloadLen(1025).encode(), 32);
        c.sendRaw(header);
        try {
            c.sendRaw(new byte[1025]); // for a device that reads the whole frame before judging it
        } catch (java.io.IOException alreadyDropped) {
            // a device that judged the header alone may have closed the connection already: also correct
        }
        assertThat(dev.awaitNotBusy(waitFor)).isEqualTo(STATUS_ERROR);
        assertThat(dev.errorCode()).isEqualTo(ERR_PROTOCOL);
        assertThat(dev.readReg(REG_RESPONSE_LEN)).isZero();
    }

    @Test
    @DisplayName("reply with another protocol major version: STATUS error + PROTOCOL")
    void wrongMajorVersion() throws Exception {
        MediatorPeer.Connection c = greeted();
        dev.submit(echoPayload("abc"), 4);
        Frame req = c.expectFrame(waitFor);
        c.send(req.reply(MSG_RESPONSE, ERR_NONE, "x".getBytes()).withVersion(0x00020000));
        assertThat(dev.awaitNotBusy(waitFor)).isEqualTo(STATUS_ERROR);
        assertThat(dev.errorCode()).isEqualTo(ERR_PROTOCOL);
    }

    @Test
    @InQemuOnly("the reply deadline on QEMU's virtual clock; over vfio-user it runs on the host clock and clock_step "
            + "does not reach it (VfioUserQemuTest.deadlineOnHostClock, VfioUserServerTest.deadlineOnHostClock)")
    @DisplayName(
            "silence: STATUS error + TIMEOUT exactly when timeout_ms of virtual time has passed; a late reply is discarded")
    void timeout() throws Exception {
        MediatorPeer.Connection c = greeted();
        dev.submit(echoPayload("abc"), 11);
        Frame req = c.expectFrame(waitFor);
        m.qtest.clockStep(DeviceBudget.stepNs(TIMEOUT_MS - 1));
        assertThat(dev.status()).as("1 ms before the deadline").isEqualTo(STATUS_BUSY);
        m.qtest.clockStep(DeviceBudget.stepNs(2));
        assertThat(dev.status()).isEqualTo(STATUS_ERROR);
        assertThat(dev.errorCode()).isEqualTo(ERR_TIMEOUT);
        c.send(req.reply(MSG_RESPONSE, ERR_NONE, "late".getBytes()));
        settle();
        assertThat(dev.status()).isEqualTo(STATUS_ERROR);
        assertThat(dev.errorCode()).isEqualTo(ERR_TIMEOUT);
        assertThat(dev.readReg(REG_RESPONSE_LEN)).isZero();
        assertThat(dev.readResponse(4)).isNotEqualTo("late".getBytes());
        Allure.step("the link is still usable after a timeout", () -> assertSucceeds(c, 12));
    }

    @Test
    @InQemuOnly("the reply deadline on QEMU's virtual clock; over vfio-user it runs on the host clock and clock_step "
            + "does not reach it (VfioUserQemuTest.deadlineOnHostClock, VfioUserServerTest.deadlineOnHostClock)")
    @DisplayName("a refused doorbell while busy neither restarts nor cancels the in-flight request's deadline")
    void busyDoorbellKeepsDeadline() throws Exception {
        MediatorPeer.Connection c = greeted();
        dev.submit(echoPayload("abc"), 14);
        c.expectFrame(waitFor);
        m.qtest.clockStep(DeviceBudget.stepNs(TIMEOUT_MS / 2));
        dev.writeReg(REG_REQUEST_ID, 15);
        dev.ringDoorbell();
        assertThat(dev.errorCode()).isEqualTo(ERR_BUSY);
        m.qtest.clockStep(DeviceBudget.stepNs(TIMEOUT_MS / 2 + 1));
        assertThat(dev.status()).as("timed out on the first request's deadline").isEqualTo(STATUS_ERROR);
        assertThat(dev.errorCode()).isEqualTo(ERR_TIMEOUT);
    }

    @Test
    @InQemuOnly("the reply deadline on QEMU's virtual clock; over vfio-user it runs on the host clock and clock_step "
            + "does not reach it (VfioUserQemuTest.deadlineOnHostClock, VfioUserServerTest.deadlineOnHostClock)")
    @DisplayName("awaitNotBusyStepping drives the timeout through the virtual clock")
    void timeoutBySteppingPoll() throws Exception {
        MediatorPeer.Connection c = greeted();
        long t0 = m.qtest.clockNow();
        dev.submit(echoPayload("abc"), 13);
        c.expectFrame(waitFor);
        assertThat(dev.awaitNotBusyStepping(100_000_000L, waitFor)).isEqualTo(STATUS_ERROR);
        assertThat(dev.errorCode()).isEqualTo(ERR_TIMEOUT);
        assertThat(m.qtest.clockNow() - t0).isGreaterThanOrEqualTo(DeviceBudget.stepNs(TIMEOUT_MS));
    }

    @Test
    @DisplayName("peer disconnects mid-request: STATUS error + MEDIATOR_UNAVAILABLE")
    void disconnectMidRequest() throws Exception {
        MediatorPeer.Connection c = greeted();
        dev.submit(echoPayload("abc"), 21);
        c.expectFrame(waitFor);
        c.close();
        assertThat(dev.awaitNotBusy(waitFor)).isEqualTo(STATUS_ERROR);
        assertThat(dev.errorCode()).isEqualTo(ERR_MEDIATOR_UNAVAILABLE);
    }

    @Test
    @DisplayName(
            "peer restart: doorbell while it is gone fails at once; the device reconnects and the next request succeeds")
    void peerRestart() throws Exception {
        MediatorPeer.Connection c = greeted();
        assertSucceeds(c, 31);
        c.close();
        peer.stopListening();
        settle();
        dev.submit(echoPayload("nobody home"), 32);
        // the device may see the hang-up only after this doorbell (a loaded host, QEMU 10's chardev): the request
        // then fails when the link goes down, with the same error
        int status = dev.status() == STATUS_BUSY ? dev.awaitNotBusy(waitFor) : dev.status();
        assertThat(status).isEqualTo(STATUS_ERROR);
        assertThat(dev.errorCode()).isEqualTo(ERR_MEDIATOR_UNAVAILABLE);
        peer.listen();
        long t0 = System.nanoTime();
        MediatorPeer.Connection again = greeted(); // reconnect runs on real time
        Allure.addAttachment("reconnect wall time", String.format("%.2f s", (System.nanoTime() - t0) / 1e9));
        assertSucceeds(again, 33);
    }

    @Test
    @DisplayName("HELLO_ACK refused: the device disconnects and a doorbell gives MEDIATOR_UNAVAILABLE")
    void helloAckRefused() throws Exception {
        MediatorPeer.Connection c = peer.accept(waitFor);
        Frame hello = c.expectFrame(waitFor);
        assertThat(hello.msgType()).isEqualTo(MSG_HELLO);
        c.send(hello.reply(MSG_HELLO_ACK, ERR_NOT_PERMITTED, null));
        assertThat(c.awaitClosedByDevice(waitFor)).isTrue();
        dev.submit(echoPayload("abc"), 41);
        assertThat(dev.status()).isEqualTo(STATUS_ERROR);
        assertThat(dev.errorCode()).isEqualTo(ERR_MEDIATOR_UNAVAILABLE);
    }

    @Test
    @DisplayName("HELLO_ACK with another major version is a refusal too")
    void helloAckWrongMajor() throws Exception {
        MediatorPeer.Connection c = peer.accept(waitFor);
        Frame hello = c.expectFrame(waitFor);
        c.send(hello.reply(MSG_HELLO_ACK, ERR_NONE, null).withVersion(0x00020000));
        settle();
        dev.submit(echoPayload("abc"), 42);
        assertThat(dev.status()).isEqualTo(STATUS_ERROR);
        assertThat(dev.errorCode()).isEqualTo(ERR_MEDIATOR_UNAVAILABLE);
    }

    @Test
    @DisplayName("doorbell before HELLO_ACK: MEDIATOR_UNAVAILABLE at once")
    void doorbellBeforeAck() throws Exception {
        MediatorPeer.Connection c = peer.accept(waitFor);
        c.expectFrame(waitFor); // HELLO, deliberately not answered
        dev.submit(echoPayload("abc"), 43);
        assertThat(dev.status()).isEqualTo(STATUS_ERROR);
        assertThat(dev.errorCode()).isEqualTo(ERR_MEDIATOR_UNAVAILABLE);
    }

    @Test
    @DisplayName("doorbell while busy: refused with ERROR_CODE BUSY, the in-flight request is undisturbed")
    void doorbellWhileBusy() throws Exception {
        MediatorPeer.Connection c = greeted();
        byte[] first = echoPayload("first");
        dev.submit(first, 51);
        Frame req = c.expectFrame(waitFor);
        dev.writeRequest(echoPayload("second!!"));
        dev.writeReg(REG_REQUEST_ID, 52);
        dev.ringDoorbell();
        assertThat(dev.status()).isEqualTo(STATUS_BUSY);
        assertThat(dev.errorCode()).isEqualTo(ERR_BUSY);
        assertThat(dev.readReg(REG_IRQ_STATUS))
                .as("a refused doorbell is no completion")
                .isZero();
        c.send(req.reply(MSG_RESPONSE, ERR_NONE, "one".getBytes()));
        assertThat(dev.awaitNotBusy(waitFor)).isEqualTo(STATUS_DONE);
        assertThat(dev.errorCode()).isZero();
        assertThat(dev.readResponse(3)).isEqualTo("one".getBytes());
        assertThat(req.requestId()).isEqualTo(51);
        assertThat(req.payload()).isEqualTo(first);
        Allure.step("no second REQUEST frame was sent", () -> {
            dev.submit(echoPayload("third"), 53);
            assertThat(dev.readReg(REG_RESPONSE_LEN))
                    .as("RESPONSE_LEN reset by the new doorbell")
                    .isZero();
            assertThat(dev.errorCode()).isZero();
            assertThat(c.expectFrame(waitFor).requestId())
                    .as("next frame is the third request")
                    .isEqualTo(53);
        });
    }

    @Test
    @DisplayName("a RESPONSE with no request in flight is discarded without harm")
    void unsolicitedFrames() throws Exception {
        MediatorPeer.Connection c = greeted();
        c.send(Frame.of(MSG_RESPONSE, VM_ID, POOL_B, PRIORITY_HIGH, 77, ERR_NONE, "stray".getBytes()));
        settle();
        assertThat(dev.status()).isEqualTo(STATUS_IDLE);
        assertThat(dev.readReg(REG_RESPONSE_LEN)).isZero();
        assertSucceeds(c, 78);
    }

    private void assertSucceeds(MediatorPeer.Connection c, int requestId) throws Exception {
        byte[] payload = echoPayload("ok-" + requestId);
        dev.writeReg(REG_IRQ_STATUS, 0xFFFFFFFF);
        dev.submit(payload, requestId);
        Frame req = c.expectFrame(waitFor);
        assertThat(req.requestId()).isEqualTo(requestId);
        byte[] result = ByteBuffer.allocate(4)
                .order(ByteOrder.LITTLE_ENDIAN)
                .putInt(requestId)
                .array();
        c.send(req.reply(MSG_RESPONSE, ERR_NONE, result));
        assertThat(dev.awaitNotBusy(waitFor)).isEqualTo(STATUS_DONE);
        assertThat(dev.readResponse(4)).isEqualTo(result);
    }

    @Test
    @DisplayName("a mediator started after the VM is picked up (client chardev reconnects), and serves requests")
    void mediatorStartedAfterVm() throws Exception {
        Path late = tmp.resolve("late.sock");
        try (VgpuMachine vm = VgpuMachine.withMediator(late, "vm_id=5")) {
            vm.dev.writeRequest(echoPayload("early"));
            vm.dev.writeReg(REG_REQUEST_LEN, echoPayload("early").length);
            vm.dev.ringDoorbell();
            assertThat(vm.dev.status()).as("no mediator yet").isEqualTo(STATUS_ERROR);
            assertThat(vm.dev.errorCode()).isEqualTo(ERR_MEDIATOR_UNAVAILABLE);
            try (MediatorPeer latePeer = new MediatorPeer(late, budget)) {
                MediatorPeer.Connection c = latePeer.acceptAndGreet(waitFor);
                assertThat(c.hello.vmId()).isEqualTo(5);
                vm.dev.readReg(REG_SCRATCH);
                vm.dev.readReg(REG_SCRATCH);
                vm.dev.submit(echoPayload("late"), 6);
                Frame req = c.expectFrame(waitFor);
                c.send(req.reply(MSG_RESPONSE, ERR_NONE, "served".getBytes()));
                assertThat(vm.dev.awaitNotBusy(waitFor)).isEqualTo(STATUS_DONE);
                assertThat(vm.dev.readResponse(6)).isEqualTo("served".getBytes());
            }
        }
    }

    @Test
    @InQemuOnly("the reply deadline on QEMU's virtual clock; over vfio-user it runs on the host clock and clock_step "
            + "does not reach it (VfioUserQemuTest.deadlineOnHostClock, VfioUserServerTest.deadlineOnHostClock)")
    @DisplayName("without timeout_ms the reply deadline is the documented default, 5000 ms of virtual time")
    void defaultTimeout() throws Exception {
        Path sock = tmp.resolve("default-timeout.sock");
        try (MediatorPeer p = new MediatorPeer(sock, budget);
                VgpuMachine vm = VgpuMachine.withMediator(sock)) {
            MediatorPeer.Connection c = p.acceptAndGreet(waitFor);
            vm.dev.readReg(REG_SCRATCH);
            vm.dev.readReg(REG_SCRATCH);
            vm.dev.submit(echoPayload("wait for me"), 81);
            c.expectFrame(waitFor);
            vm.qtest.clockStep(DeviceBudget.stepNs(4_999));
            assertThat(vm.dev.status()).as("at 4999 ms").isEqualTo(STATUS_BUSY);
            vm.qtest.clockStep(DeviceBudget.stepNs(2));
            assertThat(vm.dev.status()).as("at 5001 ms").isEqualTo(STATUS_ERROR);
            assertThat(vm.dev.errorCode()).isEqualTo(ERR_TIMEOUT);
        }
    }

    @Test
    @DisplayName(
            "a mediator that stops reading never blocks the vCPU: doorbells keep answering, the queue is bounded, frames stay intact")
    void stuckMediatorNeverBlocks() throws Exception {
        Path sock = tmp.resolve("stuck.sock");
        try (MediatorPeer p = new MediatorPeer(sock, budget);
                VgpuMachine vm = VgpuMachine.withMediator(sock, "timeout_ms=1")) {
            MediatorPeer.Connection c = p.acceptUnread(waitFor);
            Frame hello = c.readFrameNow();
            assertThat(hello.msgType()).isEqualTo(MSG_HELLO);
            c.send(hello.reply(MSG_HELLO_ACK, ERR_NONE, null).withRequestId(0));
            vm.dev.readReg(REG_SCRATCH);
            vm.dev.readReg(REG_SCRATCH);
            byte[] payload = new byte[REQ_BUFFER_SIZE];
            vm.dev.writeRequest(payload);
            vm.dev.writeReg(REG_REQUEST_LEN, payload.length);
            int sent = 0;
            long t0 = System.nanoTime();
            // the socket buffer (~200 KiB) fills first, then the device's own queue (bounded): at that point a
            // doorbell must fail at once with MEDIATOR_UNAVAILABLE instead of queueing or blocking
            while (true) {
                // ~100 frames fill a default 208 KiB socket buffer; 20000 (20 MiB) means the device queues without
                // bound
                assertThat(sent)
                        .as("doorbells before the device refused to queue more")
                        .isLessThan(20_000);
                vm.dev.writeReg(REG_REQUEST_ID, sent + 1);
                vm.dev.ringDoorbell();
                // (over vfio-user 1 ms of host time may already have passed: a TIMEOUT means it was sent)
                if (vm.dev.status() == STATUS_ERROR && vm.dev.errorCode() != ERR_TIMEOUT) {
                    assertThat(vm.dev.errorCode()).isEqualTo(ERR_MEDIATOR_UNAVAILABLE);
                    break;
                }
                sent++;
                // time out this request so the next doorbell is accepted (virtual clock, or real time over vfio-user)
                DeviceHostings.current().passReplyDeadline(vm.qtest, vm.dev, 1, budget);
                assertThat(vm.dev.errorCode()).isEqualTo(ERR_TIMEOUT);
            }
            Allure.addAttachment(
                    "stuck mediator",
                    String.format(
                            "%d REQUEST frames queued before refusal, %.2f s", sent, (System.nanoTime() - t0) / 1e9));
            assertThat(sent)
                    .as("some frames were accepted before the queue filled")
                    .isGreaterThan(16);
            final int queued = sent;
            Allure.step("the mediator reads again: every queued frame arrives whole and in order", () -> {
                c.startReading();
                for (int i = 1; i <= queued; i++) {
                    Frame f = c.expectFrame(waitFor);
                    assertThat(f.msgType()).isEqualTo(MSG_REQUEST);
                    assertThat(f.requestId()).isEqualTo(i);
                    assertThat(f.payloadLen()).isEqualTo(REQ_BUFFER_SIZE);
                }
            });
            Allure.step("and the link works again", () -> {
                vm.dev.writeReg(REG_REQUEST_ID, 100_000);
                vm.dev.ringDoorbell();
                if (DeviceHostings.current().vfioUser()) {
                    // the 1 ms deadline runs on the host clock there: it may pass before STATUS is read, and the
                    // request was sent all the same; the frame arriving whole is the proof that the link works
                    int status = vm.dev.status();
                    assertThat(status == STATUS_BUSY || status == STATUS_ERROR && vm.dev.errorCode() == ERR_TIMEOUT)
                            .as(
                                    "BUSY, or timed out on the host clock (status %d, error %d)",
                                    status, vm.dev.errorCode())
                            .isTrue();
                    Frame req = c.expectFrame(waitFor);
                    assertThat(req.requestId()).isEqualTo(100_000);
                    return;
                }
                assertThat(vm.dev.status()).isEqualTo(STATUS_BUSY);
                Frame req = c.expectFrame(waitFor);
                assertThat(req.requestId()).isEqualTo(100_000);
                c.send(req.reply(MSG_RESPONSE, ERR_NONE, "back".getBytes()));
                assertThat(vm.dev.awaitNotBusy(waitFor)).isEqualTo(STATUS_DONE);
            });
        }
    }

    @Test
    @InQemuOnly("chardev= is a QEMU chardev; the vfio-user server connects to the mediator's socket itself "
            + "(VfioUserServerTest.mediatorReconnect)")
    @DisplayName("chardev= property: a user-made socket chardev is used instead of socket=")
    void userChardev() throws Exception {
        Path sock = tmp.resolve("user-chardev.sock");
        try (MediatorPeer p = new MediatorPeer(sock, budget);
                VgpuMachine vm = VgpuMachine.start(
                        List.of("chardev=med", "vm_id=9"), List.of("-chardev", "socket,id=med,path=" + sock))) {
            MediatorPeer.Connection c = p.acceptAndGreet(waitFor);
            assertThat(c.hello.vmId()).isEqualTo(9);
            vm.dev.readReg(REG_SCRATCH);
            vm.dev.readReg(REG_SCRATCH);
            vm.dev.submit(echoPayload("via chardev"), 91);
            Frame req = c.expectFrame(waitFor);
            c.send(req.reply(MSG_RESPONSE, ERR_NONE, "ok".getBytes()));
            assertThat(vm.dev.awaitNotBusy(waitFor)).isEqualTo(STATUS_DONE);
            assertThat(vm.dev.readResponse(2)).isEqualTo("ok".getBytes());
        }
    }

    @Test
    @DisplayName("system_reset with a request in flight: registers back to reset values, the late reply is discarded")
    void resetForgetsInflightRequest() throws Exception {
        Path sock = tmp.resolve("reset.sock");
        try (MediatorPeer p = new MediatorPeer(sock, budget);
                VgpuMachine vm = VgpuMachine.attach(
                        VgpuMachine.builder(List.of("socket=" + sock)).withQmp().start());
                QmpTestClient qmp = QmpTestClient.connect(vm.qtest.qmpSocket(), waitFor)) {
            MediatorPeer.Connection c = p.acceptAndGreet(waitFor);
            vm.dev.readReg(REG_SCRATCH);
            vm.dev.readReg(REG_SCRATCH);
            vm.dev.writeReg(REG_SCRATCH, 0x5C5C);
            vm.dev.submit(echoPayload("doomed"), 0xD00D);
            Frame req = c.expectFrame(waitFor);
            assertThat(vm.dev.status()).isEqualTo(STATUS_BUSY);
            qmp.execute("{\"execute\":\"system_reset\"}", waitFor);
            qmp.awaitEvent("RESET", waitFor);
            VgpuDevice d = VgpuDevice.attach(vm.qtest); // reset cleared BAR0 and the COMMAND register
            assertThat(d.status()).isEqualTo(STATUS_IDLE);
            assertThat(d.readReg(REG_SCRATCH)).isZero();
            assertThat(d.readReg(REG_REQUEST_ID)).isZero();
            c.send(req.reply(MSG_RESPONSE, ERR_NONE, "too late".getBytes()));
            settleOn(d);
            assertThat(d.status())
                    .as("the reply of a request reset away is discarded")
                    .isEqualTo(STATUS_IDLE);
            assertThat(d.readReg(REG_RESPONSE_LEN)).isZero();
            d.submit(echoPayload("after reset"), 0xD00E);
            Frame next = c.expectFrame(waitFor);
            assertThat(next.requestId()).isEqualTo(0xD00E);
            c.send(next.reply(MSG_RESPONSE, ERR_NONE, "alive".getBytes()));
            assertThat(d.awaitNotBusy(waitFor)).isEqualTo(STATUS_DONE);
        }
    }

    private static void settleOn(VgpuDevice d) {
        d.readReg(REG_SCRATCH);
        d.readReg(REG_SCRATCH);
    }

    @Test
    @DisplayName("the peer's socket path is where the device connects (socket= property)")
    void socketProperty() throws Exception {
        assertThat(Files.exists(peer.socket())).isTrue();
        greeted();
    }
}

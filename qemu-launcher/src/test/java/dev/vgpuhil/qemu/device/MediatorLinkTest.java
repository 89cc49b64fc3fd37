package dev.vgpuhil.qemu.device;

import static dev.vgpuhil.protocol.VgpuProtocol.*;
import static org.assertj.core.api.Assertions.assertThat;

import dev.vgpuhil.protocol.ComputeRequest;
import dev.vgpuhil.protocol.Frame;
import dev.vgpuhil.qemu.qtest.VgpuDevice;
import io.qameta.allure.Allure;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * DEVICE.md "Mediator link": the device against a test peer playing the mediator over a real Unix socket.
 * Time-outs are driven by the virtual clock (clock_step); only reconnection runs in real time.
 */
@Tag("qtest")
@Tag("device")
@DisplayName("vgpu-stub <-> mediator link (peer over a real Unix socket)")
class MediatorLinkTest {
    static final Duration WAIT = Duration.ofSeconds(10);
    static final int TIMEOUT_MS = 1000;
    static final int VM_ID = 200;

    @TempDir
    Path tmp;
    MediatorPeer peer;
    VgpuMachine m;
    VgpuDevice dev;

    @BeforeEach
    void start() throws Exception {
        peer = new MediatorPeer(tmp.resolve("mediator.sock"));
        m = VgpuMachine.withMediator(peer.socket(), "pool_id=B", "priority=high", "vm_id=" + VM_ID,
                "timeout_ms=" + TIMEOUT_MS);
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
        MediatorPeer.Connection c = peer.acceptAndGreet(WAIT);
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
    @DisplayName("correct reply: STATUS done, RESPONSE_LEN and bytes right; the REQUEST frame had the right header and payload")
    void correctReply() throws Exception {
        MediatorPeer.Connection c = greeted();
        byte[] payload = echoPayload("hello vgpu");
        dev.submit(payload, 0x1234ABCD);
        assertThat(dev.status()).isEqualTo(STATUS_BUSY);
        assertThat(dev.errorCode()).isZero();
        Frame req = c.expectFrame(WAIT);
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
        byte[] result = "the answer: 42".getBytes(StandardCharsets.UTF_8);
        c.send(req.reply(MSG_RESPONSE, ERR_NONE, result));
        assertThat(dev.awaitNotBusy(WAIT)).isEqualTo(STATUS_DONE);
        assertThat(dev.errorCode()).isEqualTo(ERR_NONE);
        assertThat(dev.readReg(REG_RESPONSE_LEN)).isEqualTo(result.length);
        assertThat(dev.readResponse(result.length)).isEqualTo(result);
        assertThat(dev.readReg(REG_IRQ_STATUS)).isEqualTo(IRQ_STATUS_COMPLETE);
        assertThat(dev.timestamp()).isNotZero();
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
        Frame req = c.expectFrame(WAIT);
        assertThat(req.payload()).isEqualTo(payload);
        byte[] result = new byte[RESP_BUFFER_SIZE];
        Arrays.fill(result, (byte) 0xC3);
        c.send(req.reply(MSG_RESPONSE, ERR_NONE, result));
        assertThat(dev.awaitNotBusy(WAIT)).isEqualTo(STATUS_DONE);
        assertThat(dev.readReg(REG_RESPONSE_LEN)).isEqualTo(RESP_BUFFER_SIZE);
        assertThat(dev.readResponse(RESP_BUFFER_SIZE)).isEqualTo(result);
    }

    @Test
    @DisplayName("a vector add computed by the peer comes back as the guest expects")
    void vectorAddRoundTrip() throws Exception {
        MediatorPeer.Connection c = greeted();
        ComputeRequest add = ComputeRequest.vectorAdd(new float[] {1f, 2f, 3f}, new float[] {10f, 20f, 30f});
        dev.submit(add.encode(), 99);
        Frame req = c.expectFrame(WAIT);
        ComputeRequest got = ComputeRequest.decode(req.payload());
        assertThat(got).isEqualTo(add);
        float[] ops = ComputeRequest.toFloats(got.operands());
        float[] sum = new float[got.count()];
        for (int i = 0; i < sum.length; i++) {
            sum[i] = ops[i] + ops[i + sum.length];
        }
        c.send(req.reply(MSG_RESPONSE, ERR_NONE, ComputeRequest.toBytes(sum)));
        assertThat(dev.awaitNotBusy(WAIT)).isEqualTo(STATUS_DONE);
        assertThat(ComputeRequest.toFloats(dev.readResponse(dev.readReg(REG_RESPONSE_LEN))))
                .containsExactly(11f, 22f, 33f);
    }

    @Test
    @DisplayName("reply with a non-zero status: STATUS error, ERROR_CODE = status, RESPONSE_LEN 0")
    void errorStatusReply() throws Exception {
        MediatorPeer.Connection c = greeted();
        dev.submit(echoPayload("x"), 5);
        Frame req = c.expectFrame(WAIT);
        c.send(req.reply(MSG_RESPONSE, ERR_BACKEND, null));
        assertThat(dev.awaitNotBusy(WAIT)).isEqualTo(STATUS_ERROR);
        assertThat(dev.errorCode()).isEqualTo(ERR_BACKEND);
        assertThat(dev.readReg(REG_RESPONSE_LEN)).isZero();
        assertThat(dev.readReg(REG_IRQ_STATUS)).isEqualTo(IRQ_STATUS_COMPLETE | IRQ_STATUS_ERROR);
    }

    @Test
    @DisplayName("reply with a wrong request_id is discarded; the right reply afterwards completes")
    void wrongRequestId() throws Exception {
        MediatorPeer.Connection c = greeted();
        dev.submit(echoPayload("abc"), 1000);
        Frame req = c.expectFrame(WAIT);
        c.send(req.withRequestId(999).reply(MSG_RESPONSE, ERR_NONE, "wrong".getBytes()));
        settle();
        assertThat(dev.status()).as("still waiting after the stray reply").isEqualTo(STATUS_BUSY);
        c.send(req.reply(MSG_RESPONSE, ERR_NONE, "right".getBytes()));
        assertThat(dev.awaitNotBusy(WAIT)).isEqualTo(STATUS_DONE);
        assertThat(dev.readResponse(dev.readReg(REG_RESPONSE_LEN))).isEqualTo("right".getBytes());
    }

    @Test
    @DisplayName("garbage bytes: STATUS error + PROTOCOL, the device drops the link and reconnects")
    void garbage() throws Exception {
        MediatorPeer.Connection c = greeted();
        dev.submit(echoPayload("abc"), 1);
        c.expectFrame(WAIT);
        byte[] junk = new byte[64];
        Arrays.fill(junk, (byte) 0x77);
        c.sendRaw(junk);
        assertThat(dev.awaitNotBusy(WAIT)).isEqualTo(STATUS_ERROR);
        assertThat(dev.errorCode()).isEqualTo(ERR_PROTOCOL);
        assertThat(c.awaitClosedByDevice(WAIT)).as("the device closed the untrusted connection").isTrue();
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
        Frame req = c.expectFrame(WAIT);
        byte[] header = Arrays.copyOf(req.reply(MSG_RESPONSE, ERR_NONE, null).withPayloadLen(1025).encode(), 32);
        c.sendRaw(header);
        try {
            c.sendRaw(new byte[1025]); // for a device that reads the whole frame before judging it
        } catch (java.io.IOException alreadyDropped) {
            // a device that judged the header alone may have closed the connection already: also correct
        }
        assertThat(dev.awaitNotBusy(WAIT)).isEqualTo(STATUS_ERROR);
        assertThat(dev.errorCode()).isEqualTo(ERR_PROTOCOL);
        assertThat(dev.readReg(REG_RESPONSE_LEN)).isZero();
    }

    @Test
    @DisplayName("reply with another protocol major version: STATUS error + PROTOCOL")
    void wrongMajorVersion() throws Exception {
        MediatorPeer.Connection c = greeted();
        dev.submit(echoPayload("abc"), 4);
        Frame req = c.expectFrame(WAIT);
        c.send(req.reply(MSG_RESPONSE, ERR_NONE, "x".getBytes()).withVersion(0x00020000));
        assertThat(dev.awaitNotBusy(WAIT)).isEqualTo(STATUS_ERROR);
        assertThat(dev.errorCode()).isEqualTo(ERR_PROTOCOL);
    }

    @Test
    @DisplayName("silence: STATUS error + TIMEOUT exactly when timeout_ms of virtual time has passed; a late reply is discarded")
    void timeout() throws Exception {
        MediatorPeer.Connection c = greeted();
        dev.submit(echoPayload("abc"), 11);
        Frame req = c.expectFrame(WAIT);
        m.qtest.clockStep((TIMEOUT_MS - 1) * 1_000_000L);
        assertThat(dev.status()).as("1 ms before the deadline").isEqualTo(STATUS_BUSY);
        m.qtest.clockStep(2_000_000L);
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
    @DisplayName("awaitNotBusyStepping drives the timeout through the virtual clock")
    void timeoutBySteppingPoll() throws Exception {
        MediatorPeer.Connection c = greeted();
        long t0 = m.qtest.clockNow();
        dev.submit(echoPayload("abc"), 13);
        c.expectFrame(WAIT);
        assertThat(dev.awaitNotBusyStepping(100_000_000L, WAIT)).isEqualTo(STATUS_ERROR);
        assertThat(dev.errorCode()).isEqualTo(ERR_TIMEOUT);
        assertThat(m.qtest.clockNow() - t0).isGreaterThanOrEqualTo(TIMEOUT_MS * 1_000_000L);
    }

    @Test
    @DisplayName("peer disconnects mid-request: STATUS error + MEDIATOR_UNAVAILABLE")
    void disconnectMidRequest() throws Exception {
        MediatorPeer.Connection c = greeted();
        dev.submit(echoPayload("abc"), 21);
        c.expectFrame(WAIT);
        c.close();
        assertThat(dev.awaitNotBusy(WAIT)).isEqualTo(STATUS_ERROR);
        assertThat(dev.errorCode()).isEqualTo(ERR_MEDIATOR_UNAVAILABLE);
    }

    @Test
    @DisplayName("peer restart: doorbell while it is gone fails at once; the device reconnects and the next request succeeds")
    void peerRestart() throws Exception {
        MediatorPeer.Connection c = greeted();
        assertSucceeds(c, 31);
        c.close();
        peer.stopListening();
        settle();
        dev.submit(echoPayload("nobody home"), 32);
        assertThat(dev.status()).isEqualTo(STATUS_ERROR);
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
        MediatorPeer.Connection c = peer.accept(WAIT);
        Frame hello = c.expectFrame(WAIT);
        assertThat(hello.msgType()).isEqualTo(MSG_HELLO);
        c.send(hello.reply(MSG_HELLO_ACK, ERR_NOT_PERMITTED, null));
        assertThat(c.awaitClosedByDevice(WAIT)).isTrue();
        dev.submit(echoPayload("abc"), 41);
        assertThat(dev.status()).isEqualTo(STATUS_ERROR);
        assertThat(dev.errorCode()).isEqualTo(ERR_MEDIATOR_UNAVAILABLE);
    }

    @Test
    @DisplayName("HELLO_ACK with another major version is a refusal too")
    void helloAckWrongMajor() throws Exception {
        MediatorPeer.Connection c = peer.accept(WAIT);
        Frame hello = c.expectFrame(WAIT);
        c.send(hello.reply(MSG_HELLO_ACK, ERR_NONE, null).withVersion(0x00020000));
        settle();
        dev.submit(echoPayload("abc"), 42);
        assertThat(dev.status()).isEqualTo(STATUS_ERROR);
        assertThat(dev.errorCode()).isEqualTo(ERR_MEDIATOR_UNAVAILABLE);
    }

    @Test
    @DisplayName("doorbell before HELLO_ACK: MEDIATOR_UNAVAILABLE at once")
    void doorbellBeforeAck() throws Exception {
        MediatorPeer.Connection c = peer.accept(WAIT);
        c.expectFrame(WAIT); // HELLO, deliberately not answered
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
        Frame req = c.expectFrame(WAIT);
        dev.writeRequest(echoPayload("second!!"));
        dev.writeReg(REG_REQUEST_ID, 52);
        dev.ringDoorbell();
        assertThat(dev.status()).isEqualTo(STATUS_BUSY);
        assertThat(dev.errorCode()).isEqualTo(ERR_BUSY);
        assertThat(dev.readReg(REG_IRQ_STATUS)).as("a refused doorbell is no completion").isZero();
        c.send(req.reply(MSG_RESPONSE, ERR_NONE, "one".getBytes()));
        assertThat(dev.awaitNotBusy(WAIT)).isEqualTo(STATUS_DONE);
        assertThat(dev.errorCode()).isZero();
        assertThat(dev.readResponse(3)).isEqualTo("one".getBytes());
        assertThat(req.requestId()).isEqualTo(51);
        assertThat(req.payload()).isEqualTo(first);
        Allure.step("no second REQUEST frame was sent", () -> {
            dev.submit(echoPayload("third"), 53);
            assertThat(dev.readReg(REG_RESPONSE_LEN)).as("RESPONSE_LEN reset by the new doorbell").isZero();
            assertThat(dev.errorCode()).isZero();
            assertThat(c.expectFrame(WAIT).requestId()).as("next frame is the third request").isEqualTo(53);
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
        Frame req = c.expectFrame(WAIT);
        assertThat(req.requestId()).isEqualTo(requestId);
        byte[] result = ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt(requestId).array();
        c.send(req.reply(MSG_RESPONSE, ERR_NONE, result));
        assertThat(dev.awaitNotBusy(WAIT)).isEqualTo(STATUS_DONE);
        assertThat(dev.readResponse(4)).isEqualTo(result);
    }

    @Test
    @DisplayName("the peer's socket path is where the device connects (socket= property)")
    void socketProperty() throws Exception {
        assertThat(Files.exists(peer.socket())).isTrue();
        greeted();
    }
}

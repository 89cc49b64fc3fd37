package dev.vgpuhil.mediator;

import static dev.vgpuhil.mediator.Wire.T;
import static dev.vgpuhil.protocol.VgpuProtocol.*;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.vgpuhil.protocol.ComputeRequest;
import dev.vgpuhil.protocol.Frame;
import dev.vgpuhil.protocol.Pool;
import dev.vgpuhil.protocol.Priority;
import java.io.EOFException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The protocol conversation and every malformed-frame class, over real Unix sockets. */
class MediatorProtocolTest {
    @TempDir
    Path dir;

    Mediator mediator;

    @BeforeEach
    void start() throws Exception {
        mediator = new Mediator(MediatorConfig.builder()
                .socketPath(dir.resolve("m.sock"))
                .backend(BackendChoice.CPU)
                .tenants(TenantPolicy.of(Map.of(1, Priority.HIGH, 2, Priority.MEDIUM, 3, Priority.LOW)))
                .build());
        mediator.start();
    }

    @AfterEach
    void stop() {
        mediator.close();
    }

    MediatorClient client() throws Exception {
        return MediatorClient.connect(mediator.socketPath(), T);
    }

    MediatorClient helloed(int vm, int prio) throws Exception {
        MediatorClient c = client();
        Frame ack = c.hello(vm, POOL_A, prio, T);
        assertThat(ack.status()).as("HELLO_ACK status").isEqualTo(ERR_NONE);
        return c;
    }

    /** After an error reply the connection must still serve a good request. */
    static void assertStillServes(MediatorClient c, int vm, int prio) throws Exception {
        Frame ok = c.exchange(Wire.request(vm, POOL_A, prio, 999, Wire.echo(999)), T);
        assertThat(ok.status()).isEqualTo(ERR_NONE);
        assertThat(ok.requestId()).isEqualTo(999);
    }

    @Test
    void helloAckCarriesNegotiatedVersionAndEchoesHeader() throws Exception {
        try (MediatorClient c = client()) {
            c.send(Frame.of(MSG_HELLO, 1, POOL_B, PRIORITY_HIGH, 77, 0, null).withVersion(0x00010005));
            Frame ack = c.receive(T);
            assertThat(ack.msgType()).isEqualTo(MSG_HELLO_ACK);
            assertThat(ack.status()).isEqualTo(ERR_NONE);
            assertThat(ack.version()).isEqualTo(0x00010000); // minor = min(5, 0)
            assertThat(ack.vmId()).isEqualTo(1);
            assertThat(ack.poolId()).isEqualTo(POOL_B);
            assertThat(ack.priority()).isEqualTo(PRIORITY_HIGH);
        }
    }

    @Test
    void helloWithOtherMajorGetsVersionAndTheConnectionGoesOn() throws Exception {
        try (MediatorClient c = client()) {
            c.send(Frame.of(MSG_HELLO, 1, POOL_A, PRIORITY_LOW, 0, 0, null).withVersion(0x00020000));
            Frame ack = c.receive(T);
            assertThat(ack.msgType()).isEqualTo(MSG_HELLO_ACK);
            assertThat(ack.status()).isEqualTo(ERR_VERSION);
            // not bound: a request is refused, and a HELLO with the right major is accepted on the same stream
            assertThat(c.exchange(Wire.request(1, POOL_A, 0, 4, Wire.echo(4)), T)
                            .status())
                    .isEqualTo(ERR_PROTOCOL);
            assertThat(c.hello(1, POOL_A, PRIORITY_LOW, T).status()).isEqualTo(ERR_NONE);
            assertStillServes(c, 1, PRIORITY_LOW);
        }
    }

    @Test
    void helloFromUnknownVmIsNotPermittedAndTheConnectionGoesOn() throws Exception {
        try (MediatorClient c = client()) {
            Frame ack = c.hello(42, POOL_A, PRIORITY_LOW, T);
            assertThat(ack.status()).isEqualTo(ERR_NOT_PERMITTED);
            assertThat(mediator.boundVms()).isEmpty();
            assertThat(c.exchange(Wire.request(42, POOL_A, 0, 4, Wire.echo(4)), T)
                            .status())
                    .isEqualTo(ERR_PROTOCOL);
            assertThat(c.hello(1, POOL_A, PRIORITY_LOW, T).status()).isEqualTo(ERR_NONE);
            assertStillServes(c, 1, PRIORITY_LOW);
        }
    }

    @Test
    void helloAboveTenantCeilingIsNotPermittedAndTheConnectionGoesOn() throws Exception {
        try (MediatorClient c = client()) {
            Frame ack = c.hello(3, POOL_A, PRIORITY_MEDIUM, T);
            assertThat(ack.status()).isEqualTo(ERR_NOT_PERMITTED);
            assertThat(c.hello(3, POOL_A, PRIORITY_LOW, T).status()).isEqualTo(ERR_NONE);
            assertThat(mediator.boundVms()).containsExactly(3);
            assertStillServes(c, 3, PRIORITY_LOW);
        }
    }

    @Test
    void helloWithBadPoolOrPriorityIsProtocolAndTheConnectionGoesOn() throws Exception {
        try (MediatorClient c = client()) {
            assertThat(c.hello(1, 'C', PRIORITY_LOW, T).status()).isEqualTo(ERR_PROTOCOL);
            assertThat(c.hello(1, POOL_A, 3, T).status()).isEqualTo(ERR_PROTOCOL);
            assertThat(c.hello(1, POOL_B, PRIORITY_HIGH, T).status()).isEqualTo(ERR_NONE);
            assertStillServes(c, 1, PRIORITY_LOW);
        }
    }

    @Test
    void framesClaimingOtherVmIdsDoNotGrowThePerVmCounters() throws Exception {
        try (MediatorClient c = helloed(2, PRIORITY_LOW)) {
            for (int i = 0; i < 500; i++) {
                c.send(Wire.request(10_000 + i, POOL_A, PRIORITY_LOW, i, Wire.echo(i)));
            }
            for (int i = 0; i < 500; i++) {
                assertThat(c.receive(T).status()).isEqualTo(ERR_NOT_PERMITTED);
            }
            assertStillServes(c, 2, PRIORITY_LOW);
        }
        String json = mediator.statsJson();
        assertThat(json).contains("\"vms\":{\"2\":[1,0]}", "\"NOT_PERMITTED\":500");
    }

    @Test
    void payloadLenShorterThanTheBytesSentDesynchronisesOnlyThatConnection() throws Exception {
        try (MediatorClient good = helloed(1, PRIORITY_LOW);
                MediatorClient c = helloed(2, PRIORITY_LOW)) {
            // header says 8 payload bytes (opcode ECHO, count 12) but 20 follow: the request is short of its
            // operands (BAD_PAYLOAD); the 12 extra bytes start the next "header", which has no magic
            Frame liar = Wire.request(2, POOL_A, 0, 1, ComputeRequest.echo(new byte[12]))
                    .withPayloadLen(8);
            c.sendRaw(liar.encode());
            c.sendRaw(Wire.request(2, POOL_A, 0, 2, Wire.echo(2)).encode());
            Frame first = c.receive(T);
            assertThat(first.requestId()).isEqualTo(1);
            assertThat(first.status()).isEqualTo(ERR_BAD_PAYLOAD);
            assertThat(c.receive(T).status()).isEqualTo(ERR_PROTOCOL);
            assertThat(c.closedByPeer(T)).isTrue();
            assertStillServes(good, 1, PRIORITY_LOW);
        }
    }

    @Test
    void requestClaimingAnotherVmIsRefusedAndConnectionContinues() throws Exception {
        try (MediatorClient c = helloed(2, PRIORITY_LOW)) {
            Frame r = c.exchange(Wire.request(1, POOL_A, PRIORITY_LOW, 5, Wire.echo(5)), T);
            assertThat(r.msgType()).isEqualTo(MSG_RESPONSE);
            assertThat(r.status()).isEqualTo(ERR_NOT_PERMITTED);
            assertThat(r.requestId()).isEqualTo(5);
            assertStillServes(c, 2, PRIORITY_LOW);
        }
    }

    @Test
    void requestAboveCeilingIsRefusedAndConnectionContinues() throws Exception {
        try (MediatorClient c = helloed(2, PRIORITY_LOW)) {
            Frame r = c.exchange(Wire.request(2, POOL_A, PRIORITY_HIGH, 6, Wire.echo(6)), T);
            assertThat(r.status()).isEqualTo(ERR_NOT_PERMITTED);
            assertStillServes(c, 2, PRIORITY_MEDIUM);
        }
    }

    @Test
    void requestBeforeHelloIsProtocolErrorAndConnectionContinues() throws Exception {
        try (MediatorClient c = client()) {
            Frame r = c.exchange(Wire.request(1, POOL_A, PRIORITY_LOW, 9, Wire.echo(9)), T);
            assertThat(r.status()).isEqualTo(ERR_PROTOCOL);
            assertThat(r.requestId()).isEqualTo(9);
            assertThat(c.hello(1, POOL_A, PRIORITY_LOW, T).status()).isEqualTo(ERR_NONE);
            assertStillServes(c, 1, PRIORITY_LOW);
        }
    }

    @Test
    void repeatedHelloIsRefusedButBindingStays() throws Exception {
        try (MediatorClient c = helloed(1, PRIORITY_LOW)) {
            Frame again = c.hello(2, POOL_A, PRIORITY_LOW, T);
            assertThat(again.msgType()).isEqualTo(MSG_HELLO_ACK);
            assertThat(again.status()).isEqualTo(ERR_PROTOCOL);
            assertThat(c.exchange(Wire.request(2, POOL_A, PRIORITY_LOW, 1, Wire.echo(1)), T)
                            .status())
                    .isEqualTo(ERR_NOT_PERMITTED);
            assertStillServes(c, 1, PRIORITY_LOW);
        }
    }

    @Test
    void computesEveryOpcodeAndEchoesTheHeader() throws Exception {
        try (MediatorClient c = helloed(1, PRIORITY_HIGH)) {
            float[] a = Wire.floats(127, 1.25f);
            float[] b = Wire.floats(127, -3.5f);
            Frame r = c.exchange(Wire.request(1, POOL_B, PRIORITY_HIGH, 0xCAFEF00D, ComputeRequest.vectorAdd(a, b)), T);
            assertThat(r.status()).isEqualTo(ERR_NONE);
            assertThat(r.msgType()).isEqualTo(MSG_RESPONSE);
            assertThat(r.requestId()).isEqualTo(0xCAFEF00D);
            assertThat(r.vmId()).isEqualTo(1);
            assertThat(r.poolId()).isEqualTo(POOL_B);
            assertThat(r.priority()).isEqualTo(PRIORITY_HIGH);
            float[] sum = ComputeRequest.toFloats(r.payload());
            assertThat(sum).hasSize(127);
            for (int i = 0; i < 127; i++) {
                assertThat(sum[i]).isEqualTo(a[i] + b[i]);
            }
            float[] x = {1f, -2f, 3.5f};
            float[] y = {10f, 20f, 30f};
            assertThat(ComputeRequest.toFloats(c.exchange(Wire.request(1, POOL_A, 0, 2, ComputeRequest.scale(2f, x)), T)
                            .payload()))
                    .containsExactly(2f, -4f, 7f);
            assertThat(ComputeRequest.toFloats(
                            c.exchange(Wire.request(1, POOL_A, 0, 3, ComputeRequest.saxpy(3f, x, y)), T)
                                    .payload()))
                    .containsExactly(13f, 14f, 40.5f);
            byte[] text = "123456789".getBytes(StandardCharsets.US_ASCII);
            Frame crc = c.exchange(Wire.request(1, POOL_A, 0, 4, ComputeRequest.checksum(text)), T);
            assertThat(ByteBuffer.wrap(crc.payload())
                            .order(ByteOrder.LITTLE_ENDIAN)
                            .getInt())
                    .isEqualTo(0xCBF43926);
            Frame echo = c.exchange(Wire.request(1, POOL_A, 0, 5, ComputeRequest.echo(text)), T);
            assertThat(echo.payload()).isEqualTo(text);
        }
    }

    @Test
    void wrongMagicGetsProtocolAndClosesOnlyThatConnection() throws Exception {
        try (MediatorClient good = helloed(1, PRIORITY_LOW);
                MediatorClient bad = helloed(2, PRIORITY_LOW)) {
            bad.send(Wire.request(2, POOL_A, 0, 1, Wire.echo(1)).withMagic(0x12345678));
            assertThat(bad.receive(T).status()).isEqualTo(ERR_PROTOCOL);
            assertThat(bad.closedByPeer(T)).isTrue();
            assertStillServes(good, 1, PRIORITY_LOW);
        }
    }

    @Test
    void randomBytesCloseThatConnectionOnly() throws Exception {
        Random rnd = new Random(1234);
        try (MediatorClient good = helloed(1, PRIORITY_LOW)) {
            for (int round = 0; round < 20; round++) {
                try (MediatorClient bad = client()) {
                    byte[] junk = new byte[64 + rnd.nextInt(2000)];
                    rnd.nextBytes(junk);
                    bad.sendRaw(junk);
                    // junk starts with a wrong magic: one PROTOCOL reply, then end of stream
                    assertThat(bad.receive(T).status()).isEqualTo(ERR_PROTOCOL);
                    assertThat(bad.closedByPeer(T)).isTrue();
                }
            }
            assertStillServes(good, 1, PRIORITY_LOW);
        }
    }

    @Test
    void oversizedPayloadLengthGetsProtocolAndCloses() throws Exception {
        try (MediatorClient c = helloed(1, PRIORITY_LOW)) {
            c.send(Wire.request(1, POOL_A, 0, 1, Wire.echo(1)).withPayloadLen(1025));
            Frame r = c.receive(T);
            assertThat(r.status()).isEqualTo(ERR_PROTOCOL);
            assertThat(c.closedByPeer(T)).isTrue();
        }
    }

    @Test
    void wrongVersionOnRequestGetsVersionAndContinues() throws Exception {
        try (MediatorClient c = helloed(1, PRIORITY_LOW)) {
            Frame r = c.exchange(Wire.request(1, POOL_A, 0, 3, Wire.echo(3)).withVersion(0x00070000), T);
            assertThat(r.status()).isEqualTo(ERR_VERSION);
            assertStillServes(c, 1, PRIORITY_LOW);
        }
    }

    @Test
    void badOpcodeCountMismatchAndShortPayloadsGetPreciseCodes() throws Exception {
        try (MediatorClient c = helloed(1, PRIORITY_LOW)) {
            assertThat(c.exchange(Wire.request(1, POOL_A, 0, 1, Wire.rawPayload(99, 4, 4)), T)
                            .status())
                    .isEqualTo(ERR_BAD_OPCODE);
            // vector add of 10 elements needs 80 operand bytes; 16 given: the length lies about the count
            assertThat(c.exchange(Wire.request(1, POOL_A, 0, 2, Wire.rawPayload(OP_VECTOR_ADD, 10, 16)), T)
                            .status())
                    .isEqualTo(ERR_BAD_PAYLOAD);
            assertThat(c.exchange(Wire.request(1, POOL_A, 0, 3, Wire.rawPayload(OP_SAXPY, 1, 8)), T)
                            .status())
                    .isEqualTo(ERR_BAD_PAYLOAD);
            assertThat(c.exchange(Wire.request(1, POOL_A, 0, 4, new byte[] {1, 0, 0, 0}), T)
                            .status())
                    .isEqualTo(ERR_BAD_PAYLOAD);
            assertThat(c.exchange(Wire.request(1, POOL_A, 0, 5, new byte[0]), T).status())
                    .isEqualTo(ERR_INVALID_LENGTH);
            assertStillServes(c, 1, PRIORITY_LOW);
            assertThat(mediator.stats().errorCounts())
                    .containsEntry("BAD_OPCODE", 1L)
                    .containsEntry("BAD_PAYLOAD", 3L)
                    .containsEntry("INVALID_LENGTH", 1L);
        }
    }

    @Test
    void badHeaderFieldsGetProtocolAndContinue() throws Exception {
        try (MediatorClient c = helloed(1, PRIORITY_LOW)) {
            Frame good = Wire.request(1, POOL_A, 0, 1, Wire.echo(1));
            Frame[] bad = {
                new Frame(good.magic(), good.version(), 9, 0, 1, POOL_A, 0, 0, 1, good.payloadLen(), 0, good.payload()),
                new Frame(
                        good.magic(),
                        good.version(),
                        MSG_RESPONSE,
                        0,
                        1,
                        POOL_A,
                        0,
                        0,
                        1,
                        good.payloadLen(),
                        0,
                        good.payload()),
                new Frame(
                        good.magic(),
                        good.version(),
                        MSG_REQUEST,
                        1,
                        1,
                        POOL_A,
                        0,
                        0,
                        1,
                        good.payloadLen(),
                        0,
                        good.payload()),
                new Frame(
                        good.magic(),
                        good.version(),
                        MSG_REQUEST,
                        0,
                        1,
                        POOL_A,
                        0,
                        7,
                        1,
                        good.payloadLen(),
                        0,
                        good.payload()),
                good.withStatus(3),
                new Frame(
                        good.magic(),
                        good.version(),
                        MSG_REQUEST,
                        0,
                        1,
                        'C',
                        0,
                        0,
                        1,
                        good.payloadLen(),
                        0,
                        good.payload()),
                new Frame(
                        good.magic(),
                        good.version(),
                        MSG_REQUEST,
                        0,
                        1,
                        POOL_A,
                        3,
                        0,
                        1,
                        good.payloadLen(),
                        0,
                        good.payload()),
            };
            for (Frame f : bad) {
                assertThat(c.exchange(f, T).status()).as(f.toString()).isEqualTo(ERR_PROTOCOL);
            }
            assertStillServes(c, 1, PRIORITY_LOW);
        }
    }

    @Test
    void truncatedHeaderAndVanishingMidFrameHurtNobodyElse() throws Exception {
        try (MediatorClient good = helloed(1, PRIORITY_LOW)) {
            try (MediatorClient c = client()) {
                c.sendRaw(java.util.Arrays.copyOf(
                        Frame.of(MSG_HELLO, 2, POOL_A, 0, 0, 0, null).encode(), 20));
            }
            try (MediatorClient c = helloed(2, PRIORITY_LOW)) {
                byte[] whole = Wire.request(2, POOL_A, 0, 1, ComputeRequest.echo(new byte[500]))
                        .encode();
                c.sendRaw(java.util.Arrays.copyOf(whole, 100)); // header says 508 payload bytes; 68 sent
            }
            // a client that sends half a frame and stays silent holds only its own reader
            try (MediatorClient silent = client()) {
                silent.sendRaw(new byte[10]);
                assertStillServes(good, 1, PRIORITY_LOW);
            }
            assertStillServes(good, 1, PRIORITY_LOW);
        }
    }

    @Test
    void statsWorkWithoutHelloAndFitOneFrame() throws Exception {
        try (MediatorClient c = helloed(1, PRIORITY_HIGH)) {
            for (int i = 0; i < 300; i++) {
                assertThat(c.exchange(Wire.request(1, POOL_A, 2, i, Wire.echo(i)), T)
                                .status())
                        .isEqualTo(ERR_NONE);
            }
        }
        try (MediatorClient anon = client()) {
            anon.send(Frame.of(MSG_STATS_REQUEST, 0, 0, 0, 17, 0, null));
            Frame reply = anon.receive(T);
            assertThat(reply.msgType()).isEqualTo(MSG_STATS_REPLY);
            assertThat(reply.requestId()).isEqualTo(17);
            assertThat(reply.payloadLen()).isLessThanOrEqualTo(MAX_PAYLOAD);
            String json = new String(reply.payload(), StandardCharsets.UTF_8);
            assertThat(json)
                    .contains(
                            "\"completed\":300",
                            "\"backend\":\"cpu\"",
                            "\"1\":[300,0]",
                            "[1,299,2]",
                            "\"truncated\":true",
                            "\"p99_us\":");
            assertThat(json).startsWith("{").endsWith("}");
        }
        assertThat(mediator.executionLog()).hasSize(300);
    }

    @Test
    void statsListTheVmsBoundByHelloAndForgetClosedOnes() throws Exception {
        try (MediatorClient anon = client()) {
            try (MediatorClient three = helloed(3, PRIORITY_LOW);
                    MediatorClient one = helloed(1, PRIORITY_HIGH);
                    MediatorClient refused = client()) {
                assertThat(refused.hello(9, POOL_A, PRIORITY_LOW, T).status()).isEqualTo(ERR_NOT_PERMITTED);
                assertThat(anon.stats(T)).contains("\"connections\":4", "\"bound\":2", "\"bound_vms\":[1,3]");
                assertThat(mediator.boundVms()).containsExactly(1, 3);
            }
            long deadline = System.nanoTime() + T.toNanos();
            while (mediator.connectionCount() > 1 && System.nanoTime() < deadline) {
                Thread.sleep(10);
            }
            assertThat(anon.stats(T)).contains("\"bound\":0", "\"bound_vms\":[]");
        }
    }

    @Test
    void readsReplyTypeOfClientFramesAsProtocol() throws Exception {
        try (MediatorClient c = client()) {
            c.send(Frame.of(MSG_STATS_REQUEST, 0, 0, 0, 1, 0, new byte[3]));
            Frame r = c.receive(T);
            assertThat(r.msgType()).isEqualTo(MSG_STATS_REPLY);
            assertThat(r.status()).isEqualTo(ERR_PROTOCOL);
            c.send(Frame.of(MSG_HELLO, 1, POOL_A, 0, 0, 0, new byte[4]));
            Frame ack = c.receive(T);
            assertThat(ack.msgType()).isEqualTo(MSG_HELLO_ACK);
            assertThat(ack.status()).isEqualTo(ERR_PROTOCOL);
            // the payload was read whole, so the stream is intact: the connection goes on
            assertThat(c.hello(1, POOL_A, PRIORITY_LOW, T).status()).isEqualTo(ERR_NONE);
            assertStillServes(c, 1, PRIORITY_LOW);
        }
    }

    @Test
    void closedConnectionIsNoticed() throws Exception {
        try (MediatorClient c = helloed(1, PRIORITY_LOW)) {
            assertStillServes(c, 1, PRIORITY_LOW);
        }
        long deadline = System.nanoTime() + T.toNanos();
        while (mediator.connectionCount() > 0 && System.nanoTime() < deadline) {
            Thread.sleep(10);
        }
        assertThat(mediator.connectionCount()).isZero();
        assertThatThrownBy(() -> {
                    try (MediatorClient c = client()) {
                        c.send(Wire.request(1, POOL_A, 0, 1, Wire.rawPayload(OP_ECHO, 0, 0))
                                .withMagic(0));
                        assertThat(c.receive(T).status()).isEqualTo(ERR_PROTOCOL);
                        c.receive(T);
                    }
                })
                .isInstanceOf(EOFException.class);
    }

    @Test
    void thePerVmTableIsCappedEvenForClientsCyclingThroughVmIds() {
        Stats st = new Stats("cpu", pool -> 0, () -> 0, List::of);
        for (int vm = 0; vm < Stats.MAX_VMS_TRACKED + 100; vm++) {
            st.answered(vm, Pool.A, ERR_NONE, 1000);
        }
        String json = st.toJson();
        assertThat(json).contains("\"vms_other\":[100,0]", "\"completed\":" + (Stats.MAX_VMS_TRACKED + 100));
        assertThat(json.split("\\],\"")).hasSizeLessThan(Stats.MAX_VMS_TRACKED + 20);
    }

    /**
     * Fuzz inside the framing: right magic, every other header field and the payload random (payload_len within
     * 1024 and true). Each such frame is readable, so each gets exactly one reply and the connection goes on.
     */
    @Test
    void everyReadableRandomFrameGetsExactlyOneReplyAndTheConnectionGoesOn() throws Exception {
        Random rnd = new Random(99);
        int[] versions = {PROTOCOL_VERSION, 0x00010007, 0x00020000, 0, rnd.nextInt()};
        try (MediatorClient good = helloed(1, PRIORITY_LOW);
                MediatorClient c = client()) {
            for (int i = 0; i < 3000; i++) {
                int len = rnd.nextInt(4) == 0 ? rnd.nextInt(MAX_PAYLOAD + 1) : rnd.nextInt(64);
                byte[] payload = new byte[len];
                rnd.nextBytes(payload);
                if (len >= 8 && rnd.nextBoolean()) { // plausible request headers now and then
                    ByteBuffer.wrap(payload)
                            .order(ByteOrder.LITTLE_ENDIAN)
                            .putInt(rnd.nextInt(6))
                            .putInt(rnd.nextInt(200));
                }
                Frame f = new Frame(
                        SOCKET_MAGIC,
                        versions[rnd.nextInt(versions.length)],
                        rnd.nextInt(8),
                        rnd.nextInt(8) == 0 ? rnd.nextInt(65536) : 0,
                        rnd.nextInt(4),
                        rnd.nextBoolean() ? (rnd.nextBoolean() ? POOL_A : POOL_B) : rnd.nextInt(256),
                        rnd.nextInt(4),
                        rnd.nextInt(8) == 0 ? rnd.nextInt(65536) : 0,
                        i,
                        len,
                        rnd.nextInt(8) == 0 ? rnd.nextInt() : 0,
                        payload);
                Frame r = c.exchange(f, T);
                assertThat(r.magic()).isEqualTo(SOCKET_MAGIC);
                assertThat(r.requestId()).as("reply to %s", f).isEqualTo(i);
                assertThat(r.msgType()).isIn(MSG_HELLO_ACK, MSG_RESPONSE, MSG_STATS_REPLY);
            }
            assertStillServes(good, 1, PRIORITY_LOW);
            // the fuzzed connection is still open and answers a STATS_REQUEST
            assertThat(c.stats(T)).startsWith("{");
        }
    }
}

package dev.vgpuhil.mediator;

import static dev.vgpuhil.mediator.Wire.T;
import static dev.vgpuhil.protocol.VgpuProtocol.*;
import static org.assertj.core.api.Assertions.assertThat;

import dev.vgpuhil.common.FuzzCampaign;
import dev.vgpuhil.protocol.ComputeRequest;
import dev.vgpuhil.protocol.Frame;
import io.qameta.allure.Allure;
import java.io.EOFException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.zip.CRC32;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * A structure-aware, seeded fuzzer of the frame protocol (the equivalent of a coverage-guided one the issue allows:
 * every field of the header and of a compute request is drawn near and past its limits) against an in-process
 * mediator over real sockets, several connections at once, each delivered whole, coalesced, in random fragments or
 * byte by byte. A model of Connection's rules predicts each answer: every whole readable frame gets exactly one
 * reply with its request_id and the reply type of its message type; a well-formed request on a bound connection
 * gets DONE with the right result bytes (echo, checksum, vector add); a bad magic or an oversized payload_len gets
 * PROTOCOL and the close, after the answers of every request accepted before it. After each case no connection is left, the mediator still serves a fresh client, and its
 * log has no internal error.
 *
 * <p>A case is a function of its seed ({@link FuzzCampaign}); a failing seed prints its replay command and goes
 * into {@link #regression}'s list.
 */
@Tag("fuzz")
@DisplayName("mediator frame fuzzer: seeded, structure-aware, checked against a model of the protocol")
class MediatorFuzzTest {
    private static final Duration CI_DURATION = Duration.ofSeconds(5);
    private static final AtomicInteger NEXT_VM = new AtomicInteger(1000);

    @TempDir
    Path dir;

    private Mediator mediator;
    private Path log;
    private ExecutorService pool;
    private final AtomicLong frames = new AtomicLong();
    private final AtomicLong done = new AtomicLong();
    private final AtomicLong refused = new AtomicLong();
    private final AtomicLong breakers = new AtomicLong();

    @BeforeEach
    void start() throws Exception {
        log = dir.resolve("mediator.log");
        mediator = new Mediator(MediatorConfig.builder()
                .socketPath(dir.resolve("m.sock"))
                .backend(BackendChoice.CPU)
                .requestLog(false)
                .logFile(log)
                .build());
        mediator.start();
        pool = Executors.newCachedThreadPool();
    }

    @AfterEach
    void stop() {
        pool.shutdownNow();
        mediator.close();
    }

    @ParameterizedTest(name = "seed {0}")
    @ValueSource(longs = {1L, 2L, 3L, 0xBADF00DL})
    @DisplayName("regression seeds (a seed that once failed is kept here)")
    void regression(long seed) throws Exception {
        fuzzCase(seed);
    }

    @Test
    @DisplayName("new seeds for -Dvgpu.fuzz.duration (default 5 s), or the one -Dvgpu.fuzz.seed")
    void fuzz() {
        FuzzCampaign.Outcome o = FuzzCampaign.fromSettings(getClass(), "mediator-lite", CI_DURATION)
                .run(this::fuzzCase);
        String summary =
                o + "; frames " + frames + ", DONE " + done + ", refused " + refused + ", stream breakers " + breakers;
        System.out.println("[mediator fuzz] " + summary);
        Allure.addAttachment("mediator fuzz campaign", summary);
        assertThat(done.get()).as("well-formed requests were served").isPositive();
        assertThat(refused.get()).as("malformed frames were refused").isPositive();
    }

    private void fuzzCase(long seed) throws Exception {
        SplittableRandom r = new SplittableRandom(seed);
        int n = 1 + r.nextInt(4);
        List<Future<?>> running = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            SplittableRandom own = r.split();
            String where = "seed " + seed + " connection " + i;
            running.add(pool.submit(() -> {
                connection(own, where);
                return null;
            }));
        }
        for (Future<?> f : running) {
            try {
                f.get(2 * T.toMillis(), java.util.concurrent.TimeUnit.MILLISECONDS);
            } catch (java.util.concurrent.ExecutionException e) {
                if (e.getCause() instanceof Exception ex) {
                    throw ex;
                }
                throw new AssertionError(e.getCause());
            }
        }
        long end = System.nanoTime() + T.toNanos();
        while (mediator.connectionCount() > 0 && System.nanoTime() < end) {
            Thread.sleep(5);
        }
        assertThat(mediator.connectionCount())
                .as("seed %d: connections left open", seed)
                .isZero();
        assertThat(mediator.isRunning()).isTrue();
        try (MediatorClient good = MediatorClient.connect(mediator.socketPath(), T)) {
            assertThat(good.hello(7, POOL_A, PRIORITY_LOW, T).status()).isEqualTo(ERR_NONE);
            Frame reply = good.request(1, Wire.echo(1), T);
            assertThat(reply.status()).isEqualTo(ERR_NONE);
            assertThat(reply.payload()).isEqualTo(Wire.echo(1).operands());
        }
        assertThat(Files.readString(log)).as("seed %d: mediator log", seed).doesNotContain("internal error");
    }

    /** What the model says one frame must get back. */
    private record Expect(int requestId, int replyType, Integer status, byte[] result) {}

    /** One client connection: frames from the seed, predicted answers, checked. */
    private void connection(SplittableRandom r, String where) throws Exception {
        int vm = NEXT_VM.getAndIncrement();
        int pool = r.nextBoolean() ? POOL_A : POOL_B;
        int prio = r.nextInt(3);
        boolean bound = false;
        List<byte[]> wire = new ArrayList<>();
        Map<Integer, Expect> expected = new HashMap<>();
        boolean breaks = false; // the last frame makes the stream unreadable: PROTOCOL, then the close
        boolean desync = false; // the last frame lies about its length: nothing can be predicted after it
        int count = 1 + r.nextInt(50);
        int id = r.nextInt();
        for (int i = 0; i < count && !breaks && !desync; i++) {
            id++;
            frames.incrementAndGet();
            // frames after which nothing more can be read (9-13) end a connection: rarer, so the others get far
            int kind = i == 0 && r.nextInt(4) != 0 ? 0 : r.nextInt(12) == 0 ? 9 + r.nextInt(5) : r.nextInt(9);
            switch (kind) {
                case 0 -> { // HELLO, valid or not
                    boolean valid = r.nextInt(4) != 0;
                    int p = valid ? pool : r.nextInt(256);
                    int q = valid ? prio : r.nextInt(256);
                    Frame h = Frame.of(MSG_HELLO, vm, p, q, id, 0, null);
                    wire.add(h.encode());
                    boolean ok = !bound && (p == POOL_A || p == POOL_B) && q <= PRIORITY_HIGH;
                    if (ok) {
                        pool = p;
                        prio = q;
                        bound = true;
                    }
                    expected.put(id, new Expect(id, MSG_HELLO_ACK, ok ? ERR_NONE : ERR_PROTOCOL, null));
                }
                case 1, 2, 3, 4 -> { // a well-formed request
                    ComputeRequest req = request(r);
                    wire.add(Frame.of(MSG_REQUEST, vm, pool, prio, id, 0, req.encode())
                            .encode());
                    expected.put(
                            id,
                            bound
                                    ? new Expect(id, MSG_RESPONSE, ERR_NONE, result(req))
                                    : new Expect(id, MSG_RESPONSE, ERR_PROTOCOL, null));
                }
                case 5 -> { // a request with a broken compute payload (opcode, count, length)
                    byte[] p = brokenPayload(r);
                    wire.add(Frame.of(MSG_REQUEST, vm, pool, prio, id, 0, p).encode());
                    expected.put(id, new Expect(id, MSG_RESPONSE, null, null)); // some error
                }
                case 6 -> { // a header field that must be 0 or right: flags, reserved, status, version, vm, pool
                    Frame f = Frame.of(
                            MSG_REQUEST, vm, pool, prio, id, 0, Wire.echo(1).encode());
                    int field = r.nextInt(5);
                    f = switch (field) {
                        case 0 ->
                            new Frame(
                                    SOCKET_MAGIC,
                                    PROTOCOL_VERSION,
                                    MSG_REQUEST,
                                    1 + r.nextInt(0xffff),
                                    vm,
                                    pool,
                                    prio,
                                    0,
                                    id,
                                    f.payloadLen(),
                                    0,
                                    f.payload());
                        case 1 ->
                            new Frame(
                                    SOCKET_MAGIC,
                                    PROTOCOL_VERSION,
                                    MSG_REQUEST,
                                    0,
                                    vm,
                                    pool,
                                    prio,
                                    1 + r.nextInt(0xffff),
                                    id,
                                    f.payloadLen(),
                                    0,
                                    f.payload());
                        case 2 -> f.withStatus(1 + r.nextInt(Integer.MAX_VALUE));
                        case 3 -> f.withVersion((2 + r.nextInt(100)) << 16);
                        default ->
                            Frame.of(
                                    MSG_REQUEST,
                                    vm + 1,
                                    pool,
                                    prio,
                                    id,
                                    0,
                                    Wire.echo(1).encode());
                    };
                    wire.add(f.encode());
                    expected.put(id, new Expect(id, MSG_RESPONSE, null, null));
                }
                case 7 -> { // STATS_REQUEST (with or without a payload)
                    boolean withPayload = r.nextInt(4) == 0;
                    wire.add(Frame.of(MSG_STATS_REQUEST, vm, pool, prio, id, 0, withPayload ? new byte[3] : null)
                            .encode());
                    expected.put(id, new Expect(id, MSG_STATS_REPLY, withPayload ? ERR_PROTOCOL : ERR_NONE, null));
                }
                case 8 -> { // a type clients never send
                    int[] types = {0, MSG_HELLO_ACK, MSG_RESPONSE, MSG_STATS_REPLY, 7, 0xffff};
                    int t = types[r.nextInt(types.length)];
                    wire.add(Frame.of(t, vm, pool, prio, id, 0, null).encode());
                    expected.put(id, new Expect(id, MSG_RESPONSE, ERR_PROTOCOL, null));
                }
                case 9 -> { // bad magic: PROTOCOL, closed
                    wire.add(Frame.of(MSG_REQUEST, vm, pool, prio, id, 0, null)
                            .withMagic(r.nextInt())
                            .encode());
                    expected.put(id, new Expect(id, MSG_RESPONSE, ERR_PROTOCOL, null));
                    breaks = true;
                }
                case 10 -> { // payload_len over the limit: PROTOCOL, closed
                    Frame f = Frame.of(MSG_REQUEST, vm, pool, prio, id, 0, null)
                            .withPayloadLen(MAX_PAYLOAD + 1 + r.nextInt(Integer.MAX_VALUE - MAX_PAYLOAD));
                    wire.add(f.encode());
                    expected.put(id, new Expect(id, MSG_RESPONSE, ERR_PROTOCOL, null));
                    breaks = true;
                }
                case 11 -> { // a payload_len that lies (still <= 1024): the stream is out of step from here
                    byte[] p = Wire.echo(1).encode();
                    wire.add(Frame.of(MSG_REQUEST, vm, pool, prio, id, 0, p)
                            .withPayloadLen(r.nextInt(MAX_PAYLOAD + 1))
                            .encode());
                    desync = true;
                }
                case 12 -> { // a truncated frame, then we go away
                    byte[] w = Frame.of(
                                    MSG_REQUEST,
                                    vm,
                                    pool,
                                    prio,
                                    id,
                                    0,
                                    Wire.echo(2).encode())
                            .encode();
                    wire.add(Arrays.copyOf(w, r.nextInt(w.length)));
                    desync = true;
                }
                default -> { // garbage
                    byte[] g = new byte[1 + r.nextInt(100)];
                    r.nextBytes(g);
                    wire.add(g);
                    desync = true;
                }
            }
        }
        try (MediatorClient c = MediatorClient.connect(mediator.socketPath(), T)) {
            deliver(c, r, wire);
            if (desync) {
                return; // whatever comes back; the mediator must just survive it (checked by the case)
            }
            Map<Integer, Expect> open = new HashMap<>(expected);
            while (!open.isEmpty()) {
                Frame reply;
                try {
                    reply = c.receive(T);
                } catch (EOFException e) {
                    // after an unreadable frame the mediator still answers every request it had accepted before
                    // it closes (Connection): an end of stream with answers missing is a lost reply
                    throw new AssertionError(
                            where + ": closed with " + open.size() + " answers missing: " + open.values(), e);
                }
                assertThat(reply.magic()).as("%s: reply magic", where).isEqualTo(SOCKET_MAGIC);
                Expect e = open.remove(reply.requestId());
                assertThat(e)
                        .as(
                                "%s: a reply (type %d status %d) for request_id %d, sent once and answered once",
                                where, reply.msgType(), reply.status(), reply.requestId())
                        .isNotNull();
                assertThat(reply.msgType())
                        .as("%s: reply type for %d", where, e.requestId())
                        .isEqualTo(e.replyType());
                if (e.status() != null) {
                    assertThat(reply.status())
                            .as("%s: status for %d", where, e.requestId())
                            .isEqualTo(e.status());
                } else {
                    assertThat(reply.status())
                            .as("%s: an error for %d", where, e.requestId())
                            .isBetween(1, ERR_SHUTDOWN);
                }
                if (reply.status() == ERR_NONE && reply.msgType() == MSG_RESPONSE) {
                    done.incrementAndGet();
                } else if (reply.status() != ERR_NONE) {
                    refused.incrementAndGet();
                }
                if (e.result() != null) {
                    assertThat(reply.payload())
                            .as("%s: result of %d", where, e.requestId())
                            .isEqualTo(e.result());
                }
            }
            if (breaks) {
                breakers.incrementAndGet();
                assertThat(c.closedByPeer(T))
                        .as("%s: closed after an unreadable frame", where)
                        .isTrue();
            }
        }
    }

    /** Whole frames one by one, all in one write, in random fragments, or (short streams) byte by byte. */
    private static void deliver(MediatorClient c, SplittableRandom r, List<byte[]> wire) throws IOException {
        ByteBuffer all =
                ByteBuffer.allocate(wire.stream().mapToInt(b -> b.length).sum());
        wire.forEach(all::put);
        byte[] bytes = all.array();
        try {
            switch (r.nextInt(4)) {
                case 0 -> {
                    for (byte[] w : wire) {
                        c.sendRaw(w);
                    }
                }
                case 1 -> c.sendRaw(bytes);
                case 2 -> {
                    int off = 0;
                    while (off < bytes.length) {
                        int n = Math.min(bytes.length - off, 1 + r.nextInt(64));
                        c.sendRaw(Arrays.copyOfRange(bytes, off, off + n));
                        off += n;
                    }
                }
                default -> {
                    int n = Math.min(bytes.length, 200);
                    for (int i = 0; i < n; i++) {
                        c.sendRaw(new byte[] {bytes[i]});
                    }
                    c.sendRaw(Arrays.copyOfRange(bytes, n, bytes.length));
                }
            }
        } catch (IOException e) {
            // closed on us mid-stream (after an unreadable frame): what was sent before is still answered
        }
    }

    private static ComputeRequest request(SplittableRandom r) {
        switch (r.nextInt(4)) {
            case 0 -> {
                byte[] b = new byte[1 + r.nextInt(MAX_PAYLOAD - REQUEST_HEADER_SIZE)];
                r.nextBytes(b);
                return ComputeRequest.echo(b);
            }
            case 1 -> {
                byte[] b = new byte[r.nextInt(MAX_PAYLOAD - REQUEST_HEADER_SIZE + 1)];
                r.nextBytes(b);
                return ComputeRequest.checksum(b);
            }
            case 2 -> {
                int n = 1 + r.nextInt(VECTOR_ADD_MAX_ELEMENTS);
                return ComputeRequest.vectorAdd(floats(r, n), floats(r, n));
            }
            default -> {
                byte[] b = new byte[0];
                return ComputeRequest.echo(b);
            }
        }
    }

    /** The CPU backend's answer, computed here independently. */
    private static byte[] result(ComputeRequest req) {
        switch (req.opcode()) {
            case OP_ECHO -> {
                return req.operands();
            }
            case OP_CHECKSUM -> {
                CRC32 crc = new CRC32();
                crc.update(req.operands());
                return ByteBuffer.allocate(4)
                        .order(ByteOrder.LITTLE_ENDIAN)
                        .putInt((int) crc.getValue())
                        .array();
            }
            case OP_VECTOR_ADD -> {
                float[] ab = ComputeRequest.toFloats(req.operands());
                int n = req.count();
                float[] sum = new float[n];
                for (int i = 0; i < n; i++) {
                    sum[i] = ab[i] + ab[n + i];
                }
                return ComputeRequest.toBytes(sum);
            }
            default -> throw new IllegalArgumentException("no model for opcode " + req.opcode());
        }
    }

    private static float[] floats(SplittableRandom r, int n) {
        float[] f = new float[n];
        for (int i = 0; i < n; i++) {
            f[i] = (float) (r.nextDouble() * 2000 - 1000);
        }
        return f;
    }

    /** A compute payload whose opcode, count or operand length is wrong. */
    private static byte[] brokenPayload(SplittableRandom r) {
        int opcode = r.nextInt(3) == 0 ? 5 + r.nextInt(1000) : r.nextInt(5);
        int count = switch (r.nextInt(4)) {
            case 0 -> -1 - r.nextInt(Integer.MAX_VALUE);
            case 1 -> VECTOR_ADD_MAX_ELEMENTS + 1 + r.nextInt(1000);
            default -> r.nextInt(300);
        };
        int operands = r.nextInt(MAX_PAYLOAD - REQUEST_HEADER_SIZE + 1);
        long right = opcode <= OP_CHECKSUM && count >= 0 ? ComputeRequest.expectedOperandBytes(opcode, count) : -1;
        if (right == operands) {
            operands = operands == 0 ? 1 : operands - 1;
        }
        return ByteBuffer.allocate(REQUEST_HEADER_SIZE + operands)
                .order(ByteOrder.LITTLE_ENDIAN)
                .putInt(opcode)
                .putInt(count)
                .array();
    }
}

package dev.vgpuhil.qemu.device;

import static dev.vgpuhil.protocol.VgpuProtocol.*;
import static dev.vgpuhil.qemu.device.VfioUserClient.*;
import static org.assertj.core.api.Assertions.assertThat;

import dev.vgpuhil.common.FuzzCampaign;
import dev.vgpuhil.protocol.ComputeRequest;
import dev.vgpuhil.protocol.Frame;
import dev.vgpuhil.qemu.VfioUserServer;
import io.qameta.allure.Allure;
import java.io.EOFException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * vgpu-stub-vfio-user against a seeded stream of malformed and out-of-order vfio-user messages from a client written
 * here (bad sizes, unknown commands and message types, region accesses out of range, lying argsz, fds where none
 * belong and too many of them, commands before VERSION, a second VERSION), over its real socket. After every round
 * (one client connection) the server must be alive - or have exited 0 because a negotiated client hung up, its
 * documented rule - with as many open fds as before the round; its log holds no sanitizer report (a server built
 * by {@code build.sh --sanitize} and given by {@code -Dvgpu.vfioUser.server} is checked the same way); and at the
 * end a well-formed client completes a doorbell round trip with the right bytes.
 *
 * <p>A case is a pure function of its seed ({@link FuzzCampaign}); a failing seed is printed with its replay command
 * and goes into {@link #regression}'s list.
 */
@Tag("fuzz")
@DisplayName("vgpu-stub-vfio-user fuzzer: malformed and out-of-order vfio-user messages, fds where none belong")
class VfioUserServerFuzzTest {
    /** The campaign's length by default: not a wait (those come from {@link #budget}). */
    private static final Duration CI_DURATION = Duration.ofSeconds(5);

    private static final int MAX_MSG = 8192; // VFU_MAX_MSG_SIZE
    private static final int ROUNDS_PER_CASE = 6;
    private static final int DEVICE_TIMEOUT_MS = 50;
    private static final int GOOD_REQUEST_ID = 0x7E57_600D;

    /** This test's one budget: every wait on the server, the peer and a client derives from it. */
    private final DeviceBudget budget = DeviceBudget.now();

    private final Duration waitFor = budget.waitFor();

    @TempDir
    Path dir;

    private MediatorPeer peer;
    private VfioUserServer server;
    private MediatorPeer.Connection mediator;
    private int baselineFds;
    private final List<int[]> openFds = new ArrayList<>();
    private final Stats stats = new Stats();

    /** What the rounds did, for the report (a fuzzer that never reaches a path is visible here). */
    private static final class Stats {
        int rounds;
        int messages;
        int errorReplies;
        int okReplies;
        int fdsPassed;
        int closedByServer;
        int cleanExits;
        int serverStarts;

        @Override
        public String toString() {
            return String.format(
                    "rounds %d, messages %d, ok replies %d, error replies %d, fds passed %d, connections closed by the"
                            + " server %d, clean exits after a negotiated hang-up %d, server starts %d",
                    rounds, messages, okReplies, errorReplies, fdsPassed, closedByServer, cleanExits, serverStarts);
        }
    }

    @AfterEach
    void stop() throws Exception {
        for (int[] fds : openFds) {
            for (int f : fds) {
                FdPassingSocket.closeFd(f);
            }
        }
        if (server != null) {
            server.close();
        }
        if (peer != null) {
            peer.close();
        }
    }

    @ParameterizedTest(name = "seed {0}")
    @ValueSource(longs = {1L, 2L, 0x5EEDL, -7L})
    @DisplayName("regression seeds (a seed that once failed is kept here)")
    void regression(long seed) throws Exception {
        startServer();
        fuzzCase(seed);
        wellFormedClientWorks();
    }

    @Test
    @DisplayName("new seeds for -Dvgpu.fuzz.duration (default 5 s), or the one -Dvgpu.fuzz.seed; then a good client")
    void fuzz() throws Exception {
        startServer();
        FuzzCampaign campaign = FuzzCampaign.fromSettings(getClass(), "qemu-launcher", CI_DURATION);
        FuzzCampaign.Outcome o = campaign.run(this::fuzzCase);
        String summary = o + "; " + stats + "; server " + server.config().binary();
        System.out.println("[vfio-user fuzz] " + summary);
        Allure.addAttachment("vfio-user fuzz campaign", summary);
        assertThat(stats.okReplies).as("the fuzzer reached the handlers").isPositive();
        assertThat(stats.errorReplies).as("the fuzzer reached the checks").isPositive();
        wellFormedClientWorks();
    }

    private void startServer() throws Exception {
        if (peer == null) {
            peer = new MediatorPeer(dir.resolve("mediator.sock"), budget);
        }
        Path sock = dir.resolve("vgpu.sock");
        Files.deleteIfExists(sock);
        server = VfioUserServer.start(new VfioUserServer.Config(
                VfioUserServer.locateBinary(),
                sock,
                peer.socket(),
                'B',
                "high",
                200,
                DEVICE_TIMEOUT_MS,
                dir.resolve("server.log")));
        stats.serverStarts++;
        mediator = peer.acceptAndGreet(waitFor);
        baselineFds = awaitFdCount(-1);
    }

    /** One case: a few rounds, each one connection, every choice drawn from the seed. */
    private void fuzzCase(long seed) throws Exception {
        SplittableRandom r = new SplittableRandom(seed);
        for (int round = 0; round < ROUNDS_PER_CASE; round++) {
            if (!server.isAlive()) {
                startServer();
            }
            round(r, "seed " + seed + " round " + round);
        }
    }

    private void round(SplittableRandom r, String where) throws Exception {
        stats.rounds++;
        boolean negotiated = false;
        boolean maybeNegotiated = false;
        boolean closedByServer = false;
        int negotiateAt = r.nextInt(5) == 0 ? -1 : r.nextBoolean() ? 0 : r.nextInt(6);
        int messages = 1 + r.nextInt(40);
        try (FdPassingSocket c = FdPassingSocket.connect(server.socket())) {
            int id = r.nextInt(0x10000);
            for (int i = 0; i < messages && !closedByServer; i++) {
                id = (id + 1) & 0xffff;
                try {
                    if (i == negotiateAt) {
                        negotiated |= negotiate(c, id, r);
                        continue;
                    }
                    Message m = randomMessage(r, id);
                    if (m.lyingSize) {
                        // the stream cannot be parsed from here on: bytes that fill any message the server believes
                        // in, then headers of size 0xffffffff; the server must close the connection
                        send(c, m);
                        send(c, new Message(filled(MAX_MSG + 32, (byte) 0xff), new int[0], false, false, 0, 0));
                        assertThat(c.awaitClosedByPeer(waitFor))
                                .as("%s: the server closes a stream it cannot parse", where)
                                .isTrue();
                        closedByServer = true;
                        break;
                    }
                    send(c, m);
                    // a VERSION without a reply (NO_REPLY) may have negotiated as well
                    maybeNegotiated |= m.command == VERSION && !m.expectsReply && (m.flags & 0xf) == 0;
                    if (m.expectsReply) {
                        Reply rep = readReply(c);
                        assertThat(rep.id()).as("%s: reply id", where).isEqualTo(m.id);
                        assertThat(rep.command()).as("%s: reply command", where).isEqualTo(m.command);
                        assertThat(rep.flags() & 0xf)
                                .as("%s: reply type", where)
                                .isEqualTo(FLAG_REPLY);
                        if (rep.isError()) {
                            stats.errorReplies++;
                            assertThat(rep.error()).as("%s: an errno", where).isBetween(1, 200);
                        } else {
                            stats.okReplies++;
                            negotiated |= m.command == VERSION;
                        }
                    }
                } catch (EOFException e) {
                    closedByServer = true; // e.g. a VERSION of another major: the server drops the client
                }
            }
            if (!closedByServer && maybeNegotiated && !negotiated) {
                // a VERSION without reply may have negotiated: a well-formed command tells (EINVAL before VERSION)
                id = (id + 1) & 0xffff;
                byte[] p = le(16).putInt(16).array();
                try {
                    send(
                            c,
                            new Message(
                                    header(id, DEVICE_GET_INFO, 32, 0, p),
                                    new int[0],
                                    true,
                                    false,
                                    id,
                                    DEVICE_GET_INFO));
                    negotiated = !readReply(c).isError();
                } catch (EOFException e) {
                    closedByServer = true;
                }
            }
            if (!closedByServer && r.nextBoolean()) {
                // end with a header the server cannot believe: it drops us and keeps serving
                try {
                    send(
                            c,
                            new Message(
                                    le(16).putShort((short) 1)
                                            .putShort((short) 1)
                                            .putInt(8)
                                            .array(),
                                    new int[0],
                                    false,
                                    false,
                                    0,
                                    0));
                } catch (EOFException e) {
                    // closed already
                }
                assertThat(c.awaitClosedByPeer(waitFor))
                        .as("%s: size 8 closes", where)
                        .isTrue();
                closedByServer = true;
            }
        }
        if (closedByServer) {
            stats.closedByServer++;
        }
        checkServerAfterRound(where, !closedByServer && negotiated);
    }

    private void checkServerAfterRound(String where, boolean mustExit) throws Exception {
        if (mustExit) {
            // documented: the server exits (status 0) when a negotiated client - QEMU - hangs up
            Integer exit = server.awaitExit(waitFor);
            assertThat(exit)
                    .as("%s: exit status after a negotiated client hung up", where)
                    .isEqualTo(0);
            assertThat(Files.readString(server.log())).contains("hung up: exiting");
            assertNoSanitizerReport(where + " (at exit)");
            stats.cleanExits++;
            return;
        }
        assertNoSanitizerReport(where);
        assertThat(server.isAlive())
                .as("%s: the server is alive (log tail:\n%s)", where, server.logTail())
                .isTrue();
        int now = awaitFdCount(baselineFds);
        assertThat(now)
                .as("%s: open fds of the server (before the round %d)", where, baselineFds)
                .isEqualTo(baselineFds);
    }

    private void assertNoSanitizerReport(String where) throws IOException {
        String log = Files.readString(server.log());
        assertThat(log)
                .as("%s: sanitizer report in %s", where, server.log())
                .doesNotContain("ERROR: AddressSanitizer", "runtime error:", "ERROR: LeakSanitizer");
    }

    /** The server's open fd count, waiting up to one budget wait for it to become {@code want} (-1: settle, then read). */
    private int awaitFdCount(int want) throws Exception {
        Path fdDir = Path.of("/proc", Long.toString(server.process().pid()), "fd");
        long end = System.nanoTime() + waitFor.toNanos();
        int last = -1;
        int stable = 0;
        while (System.nanoTime() < end) {
            int n;
            try (Stream<Path> s = Files.list(fdDir)) {
                n = (int) s.count();
            } catch (java.nio.file.NoSuchFileException e) {
                throw new AssertionError(
                        "the server exited (status " + server.awaitExit(waitFor) + "); log tail:\n" + server.logTail());
            }
            if (want >= 0 && n == want) {
                return n;
            }
            stable = n == last ? stable + 1 : 0;
            last = n;
            if (want < 0 && stable >= 3) {
                return n;
            }
            Thread.sleep(10);
        }
        return last;
    }

    private boolean negotiate(FdPassingSocket c, int id, SplittableRandom r) throws IOException {
        byte[] caps = "{\"capabilities\":{\"max_msg_fds\":8,\"max_data_xfer_size\":4096}}\0"
                .getBytes(StandardCharsets.US_ASCII);
        byte[] p = le(4 + caps.length)
                .putShort((short) 0)
                .putShort((short) 0)
                .put(caps)
                .array();
        send(c, new Message(header(id, VERSION, 16 + p.length, 0, p), new int[0], true, false, id, VERSION));
        Reply rep = readReply(c);
        assertThat(rep.id()).isEqualTo(id);
        if (rep.isError()) {
            stats.errorReplies++; // a second VERSION
            return false;
        }
        stats.okReplies++;
        return true;
    }

    /** A message as sent: bytes (header included), fds, whether a reply must come, and whether its size lies. */
    private record Message(
            byte[] bytes, int[] fds, boolean expectsReply, boolean lyingSize, int id, int command, int flags) {
        Message(byte[] bytes, int[] fds, boolean expectsReply, boolean lyingSize, int id, int command) {
            this(bytes, fds, expectsReply, lyingSize, id, command, 0);
        }
    }

    private Message randomMessage(SplittableRandom r, int id) throws IOException {
        int command = pick(r, new int[] {
            VERSION,
            DMA_MAP,
            DMA_UNMAP,
            DEVICE_GET_INFO,
            DEVICE_GET_REGION_INFO,
            6,
            DEVICE_GET_IRQ_INFO,
            DEVICE_SET_IRQS,
            REGION_READ,
            REGION_WRITE,
            11,
            12,
            DEVICE_RESET,
            14,
            15,
            16,
            17,
            18,
            0,
            19,
            0xffff
        });
        if (r.nextInt(20) == 0) {
            command = r.nextInt(0x10000);
        }
        byte[] payload = payload(r, command);
        if (r.nextInt(8) == 0) {
            payload = mutate(r, payload);
        }
        int flags = switch (r.nextInt(20)) {
            case 0 -> FLAG_NO_REPLY;
            case 1 -> FLAG_REPLY;
            case 2 -> FLAG_ERROR;
            case 3 -> r.nextInt();
            case 4 -> 2 + r.nextInt(14); // another message type
            default -> 0;
        };
        int[] fds = new int[0];
        int f = r.nextInt(12);
        if (f == 0) {
            fds = eventfds(1 + r.nextInt(3));
        } else if (f == 1 && r.nextInt(4) == 0) {
            fds = eventfds(9 + r.nextInt(4)); // more than max_msg_fds
        }
        int size = 16 + payload.length;
        boolean lying = r.nextInt(40) == 0;
        if (lying) {
            size = switch (r.nextInt(4)) {
                case 0 -> r.nextInt(16);
                case 1 -> MAX_MSG + 1 + r.nextInt(1 << 20);
                case 2 -> Math.max(16, size - 1 - r.nextInt(Math.max(1, payload.length)));
                default -> Math.min(MAX_MSG, size + 1 + r.nextInt(64));
            };
            lying = size != 16 + payload.length;
        }
        if (16 + payload.length > MAX_MSG && !lying) {
            lying = true; // a message over the server's limit: it closes the connection
        }
        boolean reply = !lying && (flags & 0xf) == 0 && (flags & FLAG_NO_REPLY) == 0;
        return new Message(header(id, command, size, flags, payload), fds, reply, lying, id, command, flags);
    }

    private int[] eventfds(int n) throws IOException {
        int[] fds = new int[n];
        for (int i = 0; i < n; i++) {
            fds[i] = FdPassingSocket.eventfd();
        }
        openFds.add(fds);
        return fds;
    }

    private static byte[] header(int id, int command, int size, int flags, byte[] payload) {
        return le(16 + payload.length)
                .putShort((short) id)
                .putShort((short) command)
                .putInt(size)
                .putInt(flags)
                .putInt(0)
                .put(payload)
                .array();
    }

    /** A payload shaped for {@code command}, with fields drawn near and past their limits. */
    private static byte[] payload(SplittableRandom r, int command) {
        switch (command) {
            case VERSION -> {
                byte[] json = pick(
                                r,
                                List.of(
                                        "{\"capabilities\":{\"max_msg_fds\":8}}\0",
                                        "{\"capabilities\":{\"max_msg_fds\":}}\0",
                                        "{}",
                                        "{\"capabilities\":{\"max_data_xfer_size\":99999999999999999999}}\0",
                                        "\0",
                                        ""))
                        .getBytes(StandardCharsets.US_ASCII);
                return le(4 + json.length)
                        .putShort((short) (r.nextInt(4) == 0 ? r.nextInt(3) : 0))
                        .putShort((short) r.nextInt(3))
                        .put(json)
                        .array();
            }
            case DMA_MAP -> {
                return le(32).putInt(argsz(r, 32))
                        .putInt(r.nextInt(8) == 0 ? r.nextInt() : r.nextInt(4))
                        .putLong(r.nextLong())
                        .putLong(address(r))
                        .putLong(r.nextInt(4) == 0 ? r.nextLong() : 0x1000L * r.nextInt(64))
                        .array();
            }
            case DMA_UNMAP -> {
                return le(24).putInt(argsz(r, 24))
                        .putInt(r.nextInt(4) == 0 ? 2 : r.nextInt(8) == 0 ? r.nextInt() : 0)
                        .putLong(address(r))
                        .putLong(r.nextInt(4) == 0 ? r.nextLong() : 0x1000L * r.nextInt(64))
                        .array();
            }
            case DEVICE_GET_INFO -> {
                return le(16).putInt(argsz(r, 16)).array();
            }
            case DEVICE_GET_REGION_INFO -> {
                return le(32).putInt(argsz(r, 32))
                        .putInt(r.nextInt(8) == 0 ? r.nextInt() : 0)
                        .putInt(r.nextInt(8) == 0 ? r.nextInt() : r.nextInt(12))
                        .array();
            }
            case DEVICE_GET_IRQ_INFO -> {
                return le(16).putInt(argsz(r, 16))
                        .putInt(0)
                        .putInt(r.nextInt(8) == 0 ? r.nextInt() : r.nextInt(7))
                        .array();
            }
            case DEVICE_SET_IRQS -> {
                int extra = r.nextInt(3);
                ByteBuffer b = le(20 + extra)
                        .putInt(argsz(r, 20 + extra))
                        .putInt(r.nextInt(6) == 0 ? r.nextInt() : (1 << r.nextInt(3)) | (8 << r.nextInt(3)))
                        .putInt(r.nextInt(8) == 0 ? r.nextInt() : r.nextInt(6))
                        .putInt(r.nextInt(8) == 0 ? r.nextInt() : r.nextInt(2))
                        .putInt(r.nextInt(8) == 0 ? r.nextInt() : r.nextInt(3));
                for (int i = 0; i < extra; i++) {
                    b.put((byte) r.nextInt(2));
                }
                return b.array();
            }
            case REGION_READ, REGION_WRITE -> {
                int region = r.nextInt(6) == 0 ? r.nextInt(12) : r.nextBoolean() ? BAR0 : CONFIG;
                int limit = region == CONFIG ? 256 : BAR0_SIZE;
                long offset = switch (r.nextInt(6)) {
                    case 0 -> r.nextLong();
                    case 1 -> limit - r.nextInt(9);
                    case 2 -> 0xFFFFFFFFFFFFFFF0L + r.nextInt(16);
                    default -> r.nextInt(limit);
                };
                int count = switch (r.nextInt(8)) {
                    case 0 -> 0;
                    case 1 -> r.nextInt(MAX_MSG);
                    case 2 -> r.nextInt();
                    default -> pick(r, new int[] {1, 2, 4, 8, 3, 16, 64});
                };
                ByteBuffer b;
                if (command == REGION_WRITE) {
                    int dataLen = r.nextInt(6) == 0 ? r.nextInt(128) : Math.max(0, Math.min(count, 4096));
                    byte[] data = new byte[dataLen];
                    r.nextBytes(data);
                    if (region == BAR0 && offset == REG_DOORBELL && r.nextBoolean()) {
                        data = le(4).putInt(DOORBELL_RING).array();
                    }
                    b = le(16 + data.length)
                            .putLong(offset)
                            .putInt(region)
                            .putInt(count)
                            .put(data);
                } else {
                    b = le(16).putLong(offset).putInt(region).putInt(count);
                }
                return b.array();
            }
            case DEVICE_RESET -> {
                return r.nextInt(4) == 0 ? new byte[1 + r.nextInt(8)] : new byte[0];
            }
            default -> {
                byte[] b = new byte[r.nextInt(4) == 0 ? r.nextInt(MAX_MSG) : r.nextInt(64)];
                r.nextBytes(b);
                return b;
            }
        }
    }

    private static int argsz(SplittableRandom r, int right) {
        return switch (r.nextInt(10)) {
            case 0 -> r.nextInt(right);
            case 1 -> r.nextInt();
            case 2 -> right + r.nextInt(64);
            default -> right;
        };
    }

    private static long address(SplittableRandom r) {
        return switch (r.nextInt(5)) {
            case 0 -> r.nextLong();
            case 1 -> -0x1000L * (1 + r.nextInt(4));
            default -> 0x100000L + 0x1000L * r.nextInt(32);
        };
    }

    private static byte[] mutate(SplittableRandom r, byte[] p) {
        switch (r.nextInt(3)) {
            case 0 -> {
                return Arrays.copyOf(p, r.nextInt(p.length + 1)); // truncated
            }
            case 1 -> {
                byte[] longer = Arrays.copyOf(p, p.length + 1 + r.nextInt(64));
                return longer; // trailing bytes
            }
            default -> {
                byte[] q = p.clone();
                if (q.length > 0) {
                    q[r.nextInt(q.length)] ^= (byte) (1 << r.nextInt(8));
                }
                return q;
            }
        }
    }

    private void send(FdPassingSocket c, Message m) throws IOException {
        stats.messages++;
        stats.fdsPassed += m.fds.length;
        c.send(m.bytes, m.fds, () -> drainQuietly(c), waitFor);
        for (int f : m.fds) {
            FdPassingSocket.closeFd(f); // ours: the server has its own copies now
        }
        openFds.removeIf(a -> a == m.fds);
    }

    private static void drainQuietly(FdPassingSocket c) {
        try {
            c.readAvailable();
        } catch (IOException e) {
            // closed: the send will fail next and say so
        }
    }

    private Reply readReply(FdPassingSocket c) throws IOException {
        long end = System.nanoTime() + waitFor.toNanos();
        ByteBuffer h = ByteBuffer.wrap(c.readFully(16, end)).order(ByteOrder.LITTLE_ENDIAN);
        int size = h.getInt(4);
        assertThat(size).as("reply size").isBetween(16, MAX_MSG + 16);
        byte[] payload = c.readFully(size - 16, end);
        return new Reply(h.getShort(0) & 0xffff, h.getShort(2) & 0xffff, h.getInt(8), h.getInt(12), payload);
    }

    /** After the campaign: a well-formed client (VfioUserClient) negotiates and completes a doorbell round trip. */
    private void wellFormedClientWorks() throws Exception {
        if (!server.isAlive()) {
            startServer();
        }
        try (VfioUserClient c = VfioUserClient.connect(server.socket(), budget)) {
            c.negotiate();
            long end = System.nanoTime() + waitFor.toNanos();
            while (c.readBar32(REG_STATUS) == STATUS_BUSY) { // a fuzzed doorbell times out after 50 ms
                assertThat(System.nanoTime())
                        .as("STATUS still BUSY after %s", budget)
                        .isLessThan(end);
                Thread.sleep(5);
            }
            byte[] req = ComputeRequest.echo("after the fuzzer".getBytes(StandardCharsets.UTF_8))
                    .encode();
            c.write(BAR0, REQ_BUFFER_OFFSET, req);
            c.writeBar32(REG_REQUEST_LEN, req.length);
            c.writeBar32(REG_REQUEST_ID, GOOD_REQUEST_ID);
            c.writeBar32(REG_DOORBELL, DOORBELL_RING);
            Frame f;
            int skipped = 0;
            do { // the fuzzer's own doorbells went to the peer before
                f = mediator.expectFrame(waitFor);
                assertThat(skipped++).as("frames before ours").isLessThan(100_000);
            } while (f.msgType() != MSG_REQUEST || f.requestId() != GOOD_REQUEST_ID);
            assertThat(f.payload()).isEqualTo(req);
            byte[] answer = "fuzzed and fine".getBytes(StandardCharsets.UTF_8);
            mediator.send(f.reply(MSG_RESPONSE, ERR_NONE, answer));
            int status;
            while ((status = c.readBar32(REG_STATUS)) == STATUS_BUSY) {
                assertThat(System.nanoTime()).as("reply within %s", budget).isLessThan(end + waitFor.toNanos());
                Thread.sleep(2);
            }
            assertThat(status)
                    .as("STATUS (error %d)", c.readBar32(REG_ERROR_CODE))
                    .isEqualTo(STATUS_DONE);
            assertThat(c.readBar32(REG_RESPONSE_LEN)).isEqualTo(answer.length);
            assertThat(c.read(BAR0, RESP_BUFFER_OFFSET, answer.length)).isEqualTo(answer);
        }
        assertNoSanitizerReport("the well-formed client");
    }

    private static byte[] filled(int n, byte b) {
        byte[] a = new byte[n];
        Arrays.fill(a, b);
        return a;
    }

    private static int pick(SplittableRandom r, int[] options) {
        return options[r.nextInt(options.length)];
    }

    private static <T> T pick(SplittableRandom r, List<T> options) {
        return options.get(r.nextInt(options.size()));
    }
}

package dev.vgpuhil.qemu.device;

import static dev.vgpuhil.protocol.VgpuProtocol.*;
import static dev.vgpuhil.qemu.device.VfioUserClient.*;
import static org.assertj.core.api.Assertions.assertThat;

import dev.vgpuhil.common.BoundProcesses;
import dev.vgpuhil.protocol.ComputeRequest;
import dev.vgpuhil.protocol.Frame;
import dev.vgpuhil.qemu.VfioUserServer;
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
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * vgpu-stub-vfio-user on its own, over its real socket, without QEMU: the vfio-user commands and their checks
 * (malformed messages get an error reply and the connection keeps serving; a stream that cannot be trusted is
 * closed and the next client is served with the device state kept), the lifetime rules (exit when a negotiated
 * client hangs up, on SIGTERM and when the parent dies), the command line, and the mediator side through a
 * {@link MediatorPeer} (HELLO, a doorbell round trip, the reply deadline on the host clock, reconnect).
 */
class VfioUserServerTest {
    /** This test's one budget: every wait (the server, the client, the peer) derives from it. */
    private final DeviceBudget budget = DeviceBudget.now();

    private final Duration waitFor = budget.waitFor();
    private static final int ENOENT = 2;
    private static final int EINVAL = 22;
    private static final int EEXIST = 17;
    private static final int ENOSYS = 38;

    @TempDir
    Path dir;

    private final List<AutoCloseable> open = new ArrayList<>();

    @AfterEach
    void closeAll() throws Exception {
        for (int i = open.size() - 1; i >= 0; i--) {
            open.get(i).close();
        }
    }

    private VfioUserServer server(String... extra) throws IOException {
        VfioUserServer s = VfioUserServer.start(new VfioUserServer.Config(
                VfioUserServer.locateBinary(),
                dir.resolve("vgpu.sock"),
                dir.resolve("mediator.sock"),
                'B',
                "high",
                200,
                null,
                dir.resolve("server.log"),
                List.of(extra)));
        open.add(s);
        return s;
    }

    private VfioUserClient client(VfioUserServer s) throws IOException {
        VfioUserClient c = VfioUserClient.connect(s.socket(), budget);
        open.add(c);
        return c;
    }

    private static int u16(byte[] b, int off) {
        return (b[off] & 0xff) | (b[off + 1] & 0xff) << 8;
    }

    @Test
    @DisplayName("VERSION, device/region/IRQ info and config space show the vgpu-stub's identity (vgpu_protocol.h)")
    void identity() throws Exception {
        VfioUserServer s = server();
        VfioUserClient c = client(s);
        Reply v = c.negotiate();
        assertThat(v.le().getShort(0)).as("major").isZero();
        assertThat(v.le().getShort(2)).as("minor").isZero();
        String caps = new String(v.payload(), 4, v.payload().length - 5, StandardCharsets.US_ASCII);
        assertThat(caps).contains("\"max_msg_fds\":8", "\"max_data_xfer_size\":4096", "\"pgsizes\":4096");
        assertThat(v.payload()[v.payload().length - 1]).as("NUL-terminated").isZero();

        ByteBuffer info = c.call(DEVICE_GET_INFO, le(16).putInt(16).array()).le();
        assertThat(info.getInt(4)).as("flags RESET|PCI").isEqualTo(3);
        assertThat(info.getInt(8)).as("regions").isEqualTo(9);
        assertThat(info.getInt(12)).as("irqs").isEqualTo(5);
        for (int index = 0; index < 9; index++) {
            ByteBuffer r = c.call(
                            DEVICE_GET_REGION_INFO,
                            le(32).putInt(32).putInt(0).putInt(index).array())
                    .le();
            long expected = index == BAR0 ? BAR0_SIZE : index == CONFIG ? 256 : 0;
            assertThat(r.getLong(16)).as("size of region %d", index).isEqualTo(expected);
            assertThat(r.getInt(4))
                    .as("flags of region %d (read|write, no mmap)", index)
                    .isEqualTo(expected > 0 ? 3 : 0);
        }
        ByteBuffer intx = c.call(
                        DEVICE_GET_IRQ_INFO,
                        le(16).putInt(16).putInt(0).putInt(0).array())
                .le();
        assertThat(intx.getInt(4)).as("INTx: eventfd, maskable, automasked").isEqualTo(1 | 2 | 4);
        assertThat(intx.getInt(12)).isEqualTo(1);
        ByteBuffer msi = c.call(
                        DEVICE_GET_IRQ_INFO,
                        le(16).putInt(16).putInt(0).putInt(1).array())
                .le();
        assertThat(msi.getInt(12)).as("MSI vectors").isEqualTo(1);
        ByteBuffer msix = c.call(
                        DEVICE_GET_IRQ_INFO,
                        le(16).putInt(16).putInt(0).putInt(2).array())
                .le();
        assertThat(msix.getInt(12)).as("no MSI-X").isZero();

        byte[] cfg = c.read(CONFIG, 0, 256);
        assertThat(u16(cfg, 0)).isEqualTo(PCI_VENDOR_ID);
        assertThat(u16(cfg, 2)).isEqualTo(PCI_DEVICE_ID);
        assertThat(cfg[8] & 0xff).isEqualTo(PCI_REVISION);
        assertThat(u16(cfg, 0x0a)).isEqualTo(PCI_CLASS);
        assertThat(u16(cfg, 6) & 0x10).as("STATUS.CAP_LIST").isNotZero();
        assertThat(cfg[0x34] & 0xff).as("capability pointer").isEqualTo(0x40);
        assertThat(cfg[0x40] & 0xff).as("MSI capability id").isEqualTo(0x05);
        assertThat(u16(cfg, 0x42)).as("MSI flags: 64-bit, 1 vector, disabled").isEqualTo(0x0080);
        assertThat(cfg[0x3d] & 0xff).as("interrupt pin A").isEqualTo(1);
        // BAR sizing: all ones read back as the 4 KiB mask, memory, 32-bit, non-prefetchable
        c.write(CONFIG, 0x10, le(4).putInt(-1).array());
        assertThat(ByteBuffer.wrap(c.read(CONFIG, 0x10, 4))
                        .order(ByteOrder.LITTLE_ENDIAN)
                        .getInt())
                .isEqualTo(~(BAR0_SIZE - 1));
        // vendor id is read-only
        c.write(CONFIG, 0, le(2).putShort((short) 0x1111).array());
        assertThat(u16(c.read(CONFIG, 0, 2), 0)).isEqualTo(PCI_VENDOR_ID);

        assertThat(c.readBar32(REG_POOL_ID)).isEqualTo(POOL_B);
        assertThat(c.readBar32(REG_PRIORITY)).isEqualTo(PRIORITY_HIGH);
        assertThat(c.readBar32(REG_VM_ID)).isEqualTo(200);
        assertThat(c.readBar32(REG_PROTOCOL_VER)).isEqualTo(PROTOCOL_VERSION);
        c.writeBar32(REG_SCRATCH, 0xCAFEF00D);
        assertThat(c.readBar32(REG_SCRATCH)).isEqualTo(0xCAFEF00D);
    }

    @Test
    @DisplayName("malformed commands get an error reply (errno) and change nothing; the same connection keeps serving")
    void malformedCommandsGetErrors() throws Exception {
        VfioUserServer s = server();
        VfioUserClient c = client(s);
        assertThat(c.call(DEVICE_GET_INFO, le(16).putInt(16).array()).error())
                .as("a command before VERSION")
                .isEqualTo(EINVAL);
        byte[] badJson = "{\"capabilities\":{\"max_msg_fds\":}}\0".getBytes(StandardCharsets.US_ASCII);
        Reply bad =
                c.call(VERSION, le(4 + badJson.length).putInt(0).put(badJson).array());
        assertThat(bad.isError()).isTrue();
        assertThat(bad.error()).as("VERSION with broken JSON").isEqualTo(EINVAL);
        byte[] noNul = "{}".getBytes(StandardCharsets.US_ASCII);
        assertThat(c.call(VERSION, le(4 + noNul.length).putInt(0).put(noNul).array())
                        .error())
                .as("VERSION JSON without its NUL")
                .isEqualTo(EINVAL);
        c.negotiate();
        assertThat(c.call(VERSION, le(4).putInt(0).array()).error())
                .as("a second VERSION")
                .isEqualTo(EINVAL);

        assertThat(c.call(99, new byte[0]).error()).as("unknown command").isEqualTo(ENOSYS);
        for (int cmd : new int[] {
            DMA_MAP,
            DMA_UNMAP,
            DEVICE_GET_INFO,
            DEVICE_GET_REGION_INFO,
            DEVICE_GET_IRQ_INFO,
            DEVICE_SET_IRQS,
            REGION_READ,
            REGION_WRITE
        }) {
            assertThat(c.call(cmd, new byte[] {1, 2, 3}).error())
                    .as("command %d with a 3-byte payload", cmd)
                    .isEqualTo(EINVAL);
        }
        assertThat(c.call(DEVICE_RESET, new byte[4]).error())
                .as("RESET with a payload")
                .isEqualTo(EINVAL);
        assertThat(c.call(
                                DEVICE_GET_REGION_INFO,
                                le(32).putInt(32).putInt(0).putInt(9).array())
                        .error())
                .as("region index 9")
                .isEqualTo(EINVAL);
        assertThat(c.call(REGION_READ, access(3, 0, 4).array()).error())
                .as("read of an empty region")
                .isEqualTo(EINVAL);
        assertThat(c.call(REGION_READ, access(CONFIG, 254, 4).array()).error())
                .as("read past config space")
                .isEqualTo(EINVAL);
        assertThat(c.call(REGION_READ, access(BAR0, 0xffc, 8).array()).error())
                .as("read past BAR0")
                .isEqualTo(EINVAL);
        assertThat(c.call(REGION_READ, access(BAR0, 0, 0).array()).error())
                .as("count 0")
                .isEqualTo(EINVAL);
        assertThat(c.call(REGION_WRITE, access(BAR0, REG_SCRATCH, 4).array()).error())
                .as("write whose data is missing")
                .isEqualTo(EINVAL);
        assertThat(c.call(
                                DEVICE_SET_IRQS,
                                le(20).putInt(20)
                                        .putInt(1 | 2 | 32)
                                        .putInt(0)
                                        .putInt(0)
                                        .putInt(1)
                                        .array())
                        .error())
                .as("SET_IRQS with two data flags")
                .isEqualTo(EINVAL);
        assertThat(c.call(
                                DEVICE_SET_IRQS,
                                le(20).putInt(20)
                                        .putInt(1 | 32)
                                        .putInt(0)
                                        .putInt(0)
                                        .putInt(2)
                                        .array())
                        .error())
                .as("SET_IRQS beyond INTx's one vector")
                .isEqualTo(EINVAL);

        ByteBuffer map =
                le(32).putInt(32).putInt(3).putLong(0).putLong(0x100000).putLong(0x10000);
        assertThat(c.call(DMA_MAP, map.array()).isError()).isFalse();
        ByteBuffer overlap =
                le(32).putInt(32).putInt(3).putLong(0).putLong(0x108000).putLong(0x1000);
        assertThat(c.call(DMA_MAP, overlap.array()).error())
                .as("overlapping DMA window")
                .isEqualTo(EEXIST);
        ByteBuffer notMapped = le(24).putInt(24).putInt(0).putLong(0x900000).putLong(0x1000);
        assertThat(c.call(DMA_UNMAP, notMapped.array()).error())
                .as("unmap of nothing")
                .isEqualTo(ENOENT);
        ByteBuffer partial = le(24).putInt(24).putInt(0).putLong(0x100000).putLong(0x1000);
        assertThat(c.call(DMA_UNMAP, partial.array()).error())
                .as("unmap of part of a window")
                .isEqualTo(EINVAL);
        ByteBuffer exact = le(24).putInt(24).putInt(0).putLong(0x100000).putLong(0x10000);
        Reply unmapped = c.call(DMA_UNMAP, exact.array());
        assertThat(unmapped.isError()).isFalse();
        assertThat(unmapped.payload()).as("the reply echoes the entry").isEqualTo(exact.array());

        // a posted write (NO_REPLY) takes effect without a reply; a reply-typed message is dropped
        c.send(
                4000,
                REGION_WRITE,
                FLAG_NO_REPLY,
                le(20).putLong(REG_SCRATCH)
                        .putInt(BAR0)
                        .putInt(4)
                        .putInt(0x5151)
                        .array());
        c.send(4001, REGION_READ, FLAG_REPLY, access(BAR0, 0, 4).array());
        assertThat(c.readBar32(REG_SCRATCH))
                .as("the next reply is for this read")
                .isEqualTo(0x5151);
        assertThat(s.isAlive()).isTrue();
    }

    @Test
    @DisplayName("a stream that cannot be trusted is closed; the next client is served and finds the device state kept")
    void brokenStreamsAreClosed() throws Exception {
        VfioUserServer s = server();
        VfioUserClient first = client(s);
        first.negotiate();
        first.writeBar32(REG_SCRATCH, 0x600DF00D);
        first.sendRaw(le(16).putShort((short) 1)
                .putShort((short) REGION_READ)
                .putInt(8)
                .putInt(0)
                .putInt(0)
                .array());
        assertThat(first.awaitClosedByServer(waitFor))
                .as("message size smaller than its header")
                .isTrue();

        List<byte[]> garbage = List.of(
                filled(64, (byte) 0xff), // size 0xffffffff
                le(16).putShort((short) 1)
                        .putShort((short) VERSION)
                        .putInt(1 << 20)
                        .array(), // 1 MiB message
                le(20).putShort((short) 1)
                        .putShort((short) VERSION)
                        .putInt(20)
                        .putInt(0)
                        .putInt(0)
                        .putShort((short) 7)
                        .putShort((short) 0)
                        .array()); // protocol major 7
        for (byte[] g : garbage) {
            VfioUserClient c = client(s);
            c.sendRaw(g);
            assertThat(c.awaitClosedByServer(waitFor))
                    .as("closed after %s", Arrays.toString(Arrays.copyOf(g, 8)))
                    .isTrue();
            assertThat(s.isAlive()).isTrue();
        }
        VfioUserClient good = client(s);
        good.negotiate();
        assertThat(good.readBar32(REG_SCRATCH))
                .as("device state kept across clients")
                .isEqualTo(0x600DF00D);
        assertThat(good.readBar32(REG_VM_ID)).isEqualTo(200);
    }

    private static byte[] filled(int n, byte b) {
        byte[] a = new byte[n];
        Arrays.fill(a, b);
        return a;
    }

    @Test
    @DisplayName("the server exits (status 0, socket removed) when a negotiated client - QEMU - hangs up")
    void exitsWhenClientHangsUp() throws Exception {
        VfioUserServer s = server();
        VfioUserClient probe = client(s);
        probe.close(); // hung up before VERSION: not QEMU, keep serving
        VfioUserClient c = client(s);
        c.negotiate();
        assertThat(s.isAlive()).isTrue();
        c.close();
        assertThat(s.awaitExit(waitFor)).isEqualTo(0);
        assertThat(s.socket()).doesNotExist();
        assertThat(Files.readString(s.log())).contains("hung up: exiting");
    }

    @Test
    @DisplayName("SIGTERM: exit status 0 and the socket removed")
    void sigterm() throws Exception {
        VfioUserServer s = server();
        s.process().destroy();
        assertThat(s.awaitExit(waitFor)).isEqualTo(0);
        assertThat(s.socket()).doesNotExist();
    }

    @Test
    @DisplayName("the server exits when its parent dies (PR_SET_PDEATHSIG), also with no client")
    void exitsWithParent() throws Exception {
        Path sock = dir.resolve("orphan.sock");
        Path pidFile = dir.resolve("server.pid");
        // the parent: a shell that starts the server, writes its pid and then just waits; setsid takes the server
        // out of the shell's process group, so only its parent-death signal (not the group reaper) can end it
        Process parent = BoundProcesses.start(new ProcessBuilder(
                "bash",
                "-c",
                "setsid \"$0\" --socket \"$1\" --mediator \"$2\" 2>>\"$3\" & echo $! > \"$4\"; exec sleep 600",
                VfioUserServer.locateBinary().toString(),
                sock.toString(),
                dir.resolve("m.sock").toString(),
                dir.resolve("orphan.log").toString(),
                pidFile.toString()));
        open.add(() -> BoundProcesses.kill(parent, waitFor));
        long end = System.nanoTime() + waitFor.toNanos();
        while (!(Files.exists(sock)
                && Files.exists(pidFile)
                && !Files.readString(pidFile).isBlank())) {
            assertThat(System.nanoTime()).as("server started within %s", budget).isLessThan(end);
            Thread.sleep(10);
        }
        ProcessHandle server = ProcessHandle.of(
                        Long.parseLong(Files.readString(pidFile).strip()))
                .orElseThrow();
        assertThat(server.isAlive()).isTrue();
        parent.destroyForcibly(); // SIGKILL: no chance to pass anything on
        assertThat(server.onExit()
                        .get(waitFor.toMillis(), java.util.concurrent.TimeUnit.MILLISECONDS)
                        .isAlive())
                .isFalse();
        assertThat(sock).as("socket removed on the way out").doesNotExist();
    }

    @ParameterizedTest(name = "{0} {1}")
    @DisplayName("bad options are refused with status 2 and a message naming the option")
    @CsvSource({
        "--pool, C, --pool must be A or B",
        "--priority, urgent, '--priority must be low, medium, high'",
        "--vm-id, -1, --vm-id must be an integer",
        "--vm-id, 4294967296, --vm-id must be an integer",
        "--timeout-ms, 0, --timeout-ms must be an integer >= 1",
        "--bogus, x, unknown or incomplete option"
    })
    void badOptions(String option, String value, String message) throws Exception {
        BoundProcesses.Result r = BoundProcesses.run(
                List.of(
                        VfioUserServer.locateBinary().toString(),
                        "--socket",
                        dir.resolve("x.sock").toString(),
                        "--mediator",
                        dir.resolve("m.sock").toString(),
                        option,
                        value),
                waitFor);
        assertThat(r.exitCode()).isEqualTo(2);
        assertThat(r.stderr()).contains(message);
        assertThat(dir.resolve("x.sock")).doesNotExist();
    }

    @Test
    @DisplayName("--socket and --mediator are required")
    void requiredOptions() throws Exception {
        BoundProcesses.Result r = BoundProcesses.run(
                List.of(VfioUserServer.locateBinary().toString(), "--mediator", "/tmp/m.sock"), waitFor);
        assertThat(r.exitCode()).isEqualTo(2);
        assertThat(r.stderr()).contains("--socket is required");
    }

    @Test
    @DisplayName("mediator: HELLO with the identity, a doorbell round trip, the reply read back over vfio-user")
    void doorbellRoundTrip() throws Exception {
        MediatorPeer peer = new MediatorPeer(dir.resolve("mediator.sock"), budget);
        open.add(peer);
        VfioUserServer s = server();
        MediatorPeer.Connection m = peer.acceptAndGreet(waitFor);
        assertThat(m.hello.vmId()).isEqualTo(200);
        assertThat(m.hello.poolId()).isEqualTo(POOL_B);
        assertThat(m.hello.priority()).isEqualTo(PRIORITY_HIGH);
        VfioUserClient c = client(s);
        c.negotiate();
        byte[] req = ComputeRequest.echo("over vfio-user".getBytes(StandardCharsets.UTF_8))
                .encode();
        c.write(BAR0, REQ_BUFFER_OFFSET, req);
        c.writeBar32(REG_REQUEST_LEN, req.length);
        c.writeBar32(REG_REQUEST_ID, 0x77);
        c.writeBar32(REG_DOORBELL, DOORBELL_RING);
        assertThat(c.readBar32(REG_STATUS)).isEqualTo(STATUS_BUSY);
        Frame f = m.expectFrame(waitFor);
        assertThat(f.msgType()).isEqualTo(MSG_REQUEST);
        assertThat(f.requestId()).isEqualTo(0x77);
        assertThat(f.payload()).isEqualTo(req);
        byte[] answer = "echoed".getBytes(StandardCharsets.UTF_8);
        m.send(f.reply(MSG_RESPONSE, ERR_NONE, answer));
        awaitStatus(c, STATUS_DONE, waitFor);
        assertThat(c.readBar32(REG_RESPONSE_LEN)).isEqualTo(answer.length);
        assertThat(c.read(BAR0, RESP_BUFFER_OFFSET, 4)).isEqualTo(Arrays.copyOf(answer, 4));
        assertThat(c.readBar32(REG_IRQ_STATUS) & IRQ_STATUS_COMPLETE).isNotZero();
    }

    @Test
    @DisplayName(
            "the reply deadline runs on the host clock: a silent mediator gives TIMEOUT after timeout-ms of real time")
    void deadlineOnHostClock() throws Exception {
        MediatorPeer peer = new MediatorPeer(dir.resolve("mediator.sock"), budget);
        open.add(peer);
        VfioUserServer s = server("--timeout-ms", "400");
        MediatorPeer.Connection m = peer.acceptAndGreet(waitFor);
        VfioUserClient c = client(s);
        c.negotiate();
        byte[] req = ComputeRequest.echo(new byte[] {1}).encode();
        c.write(BAR0, REQ_BUFFER_OFFSET, req);
        c.writeBar32(REG_REQUEST_LEN, req.length);
        long t0 = System.nanoTime();
        c.writeBar32(REG_DOORBELL, DOORBELL_RING);
        m.expectFrame(waitFor); // the request went out; no answer follows
        awaitStatus(c, STATUS_ERROR, waitFor);
        long waitedMs = (System.nanoTime() - t0) / 1_000_000;
        assertThat(c.readBar32(REG_ERROR_CODE)).isEqualTo(ERR_TIMEOUT);
        assertThat(waitedMs).as("not before the deadline").isGreaterThanOrEqualTo(400);
    }

    @Test
    @DisplayName(
            "a mediator that goes away fails the request in flight (MEDIATOR_UNAVAILABLE); a new one is found within seconds")
    void mediatorReconnect() throws Exception {
        MediatorPeer peer = new MediatorPeer(dir.resolve("mediator.sock"), budget);
        open.add(peer);
        VfioUserServer s = server();
        MediatorPeer.Connection m = peer.acceptAndGreet(waitFor);
        VfioUserClient c = client(s);
        c.negotiate();
        byte[] req = ComputeRequest.echo(new byte[] {7}).encode();
        c.write(BAR0, REQ_BUFFER_OFFSET, req);
        c.writeBar32(REG_REQUEST_LEN, req.length);
        c.writeBar32(REG_DOORBELL, DOORBELL_RING);
        m.expectFrame(waitFor);
        peer.stopListening();
        m.close();
        awaitStatus(c, STATUS_ERROR, waitFor);
        assertThat(c.readBar32(REG_ERROR_CODE)).isEqualTo(ERR_MEDIATOR_UNAVAILABLE);
        peer.listen();
        MediatorPeer.Connection again = peer.acceptAndGreet(waitFor);
        assertThat(again.hello.vmId()).isEqualTo(200);
        c.writeBar32(REG_DOORBELL, DOORBELL_RING);
        Frame f = again.expectFrame(waitFor);
        again.send(f.reply(MSG_RESPONSE, ERR_NONE, new byte[] {7}));
        awaitStatus(c, STATUS_DONE, waitFor);
    }

    /*
     * No wait for HELLO_ACK is needed before a doorbell: the peer's ACK is in the server's socket before the
     * client's VERSION is sent, and the server's loop reads the mediator before the client in each turn.
     */

    private void awaitStatus(VfioUserClient c, int status, Duration deadline) throws Exception {
        long end = System.nanoTime() + deadline.toNanos();
        int now;
        while ((now = c.readBar32(REG_STATUS)) != status) {
            assertThat(System.nanoTime())
                    .as("STATUS %d (now %d) within %s (%s)", status, now, deadline, budget)
                    .isLessThan(end);
            Thread.sleep(5);
        }
    }
}

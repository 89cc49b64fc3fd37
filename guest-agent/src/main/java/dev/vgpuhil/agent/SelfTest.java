package dev.vgpuhil.agent;

import static dev.vgpuhil.protocol.VgpuProtocol.*;

import java.io.PrintStream;

/**
 * {@code selftest}: every check of the guide's guest test program, in its order, with the names and numbers of
 * vgpu-stub/DEVICE.md "The self-test". The C program vgpu-stub/guest-test/test_vgpu_enhanced.c runs the same checks
 * with the same expected/actual texts; the mapping is the identity on (test number, check name):
 *
 * <pre>
 *   C line:    [PASS] test 5: scratch_rw: SCRATCH read/write (expected E; actual A)
 *   JSON line: {"type":"check","test":5,"name":"scratch_rw","check":"scratch_rw","pass":true,
 *               "description":"SCRATCH read/write","expected":"E","actual":"A"}
 *
 *   test 1  pci_ids, pci_revision             test 7  readonly_ignore_writes
 *   test 2  pool_id, priority, vm_id          test 8  request_buffer_rw, response_buffer_ro, reserved_area (extra)
 *   test 3  protocol_ver, capabilities        test 9  zero_length_doorbell
 *   test 4  status_idle, error_code_clear,    test 10 valid_doorbell_no_mediator
 *           doorbell_reads_zero                       (--mediator present: valid_doorbell_with_mediator)
 *   test 5  scratch_rw                        test 11 irq_status_latched, timestamp_set
 *   test 6  request_len_rw, request_id_rw, irq_ctrl_rw (extra)
 * </pre>
 *
 * 22 checks: DEVICE.md's 20 plus irq_ctrl_rw and reserved_area (asked for by the guide: IRQ_CTRL read/write,
 * reserved area harmless). The checks expect a fresh device (first user after boot): STATUS idle, ERROR_CODE 0.
 */
final class SelfTest {
    /** Expected values; null/-1 = "any plausible value". */
    static final class Expect {
        Integer pool;
        Integer priority;
        Long vmId;
        boolean mediator;
        long timeoutNanos = 10_000_000_000L;
    }

    private final Vgpu v;
    private final PciDevice dev;
    private final Expect expect;
    private final PrintStream out;
    int passed;
    int failed;

    SelfTest(Vgpu v, PciDevice dev, Expect expect, PrintStream out) {
        this.v = v;
        this.dev = dev;
        this.expect = expect;
        this.out = out;
    }

    /** Runs every check, then the summary line; returns the number of failed checks. */
    int run() {
        test1Identity();
        test2Config();
        test3Version();
        test4InitialState();
        test5Scratch();
        test6RwRegisters();
        test7ReadOnly();
        test8Buffers();
        test9ZeroLength();
        test10ValidDoorbell();
        test11CompletionState();
        out.println(
                Json.of("summary").num("passed", passed).num("failed", failed).line());
        out.flush();
        return failed;
    }

    private void check(int test, String name, String description, boolean ok, String expected, String actual) {
        out.println(Json.of("check")
                .num("test", test)
                .str("name", name)
                .str("check", name)
                .bool("pass", ok)
                .str("description", description)
                .str("expected", expected)
                .str("actual", actual)
                .line());
        out.flush();
        if (ok) {
            passed++;
        } else {
            failed++;
        }
    }

    private static String h8(int x) {
        return Hex.h8(x);
    }

    private void test1Identity() {
        String e = Hex.hex(PCI_VENDOR_ID, 4) + ":" + Hex.hex(PCI_DEVICE_ID, 4);
        String a = Hex.hex(dev.vendor & 0xFFFF, 4) + ":" + Hex.hex(dev.device & 0xFFFF, 4);
        check(
                1,
                "pci_ids",
                "PCI vendor:device (sysfs)",
                dev.vendor == PCI_VENDOR_ID && dev.device == PCI_DEVICE_ID,
                e,
                a);
        a = dev.revision < 0 ? "unreadable" : Hex.hex(dev.revision, 2);
        check(1, "pci_revision", "PCI revision (sysfs)", dev.revision == PCI_REVISION, Hex.hex(PCI_REVISION, 2), a);
    }

    private void test2Config() {
        int pool = v.reg(REG_POOL_ID);
        int prio = v.reg(REG_PRIORITY);
        int vm = v.reg(REG_VM_ID);

        if (expect.pool != null) {
            check(2, "pool_id", "POOL_ID register", pool == expect.pool, h8(expect.pool), h8(pool));
        } else {
            check(
                    2,
                    "pool_id",
                    "POOL_ID register",
                    pool == POOL_A || pool == POOL_B,
                    h8(POOL_A) + " or " + h8(POOL_B),
                    h8(pool));
        }
        if (expect.priority != null) {
            check(2, "priority", "PRIORITY register", prio == expect.priority, h8(expect.priority), h8(prio));
        } else {
            check(
                    2,
                    "priority",
                    "PRIORITY register",
                    prio >= PRIORITY_LOW && prio <= PRIORITY_HIGH,
                    h8(PRIORITY_LOW) + ".." + h8(PRIORITY_HIGH),
                    h8(prio));
        }
        if (expect.vmId != null) {
            int want = (int) expect.vmId.longValue();
            check(2, "vm_id", "VM_ID register", vm == want, h8(want), h8(vm));
        } else {
            check(2, "vm_id", "VM_ID register", true, "any", h8(vm));
        }
    }

    private void test3Version() {
        int ver = v.reg(REG_PROTOCOL_VER);
        int caps = v.reg(REG_CAPABILITIES);
        int want = CAP_BASIC | CAP_IRQ | CAP_MSI | CAP_TIMESTAMP;
        check(3, "protocol_ver", "PROTOCOL_VER register", ver == PROTOCOL_VERSION, h8(PROTOCOL_VERSION), h8(ver));
        check(
                3,
                "capabilities",
                "CAPABILITIES has BASIC, IRQ, MSI, TIMESTAMP",
                (caps & want) == want,
                h8(want),
                h8(caps));
    }

    private void test4InitialState() {
        int st = v.reg(REG_STATUS);
        check(4, "status_idle", "STATUS idle at start", st == STATUS_IDLE, h8(0), h8(st));
        int err = v.reg(REG_ERROR_CODE);
        check(4, "error_code_clear", "ERROR_CODE 0 at start", err == ERR_NONE, h8(0), h8(err));
        int db = v.reg(REG_DOORBELL);
        check(4, "doorbell_reads_zero", "DOORBELL reads 0", db == 0, h8(0), h8(db));
    }

    private void test5Scratch() {
        int[] pattern = {0xDEADBEEF, 0x12345678, 0, 0xFFFFFFFF};
        StringBuilder e = new StringBuilder();
        StringBuilder a = new StringBuilder();
        boolean ok = true;
        for (int p : pattern) {
            v.setReg(REG_SCRATCH, p);
            int got = v.reg(REG_SCRATCH);
            Hex.append8(e, p);
            Hex.append8(a, got);
            ok &= got == p;
        }
        check(5, "scratch_rw", "SCRATCH read/write", ok, e.toString(), a.toString());
    }

    private void test6RwRegisters() {
        v.setReg(REG_REQUEST_LEN, 0x123);
        int x = v.reg(REG_REQUEST_LEN);
        check(6, "request_len_rw", "REQUEST_LEN read/write", x == 0x123, h8(0x123), h8(x));

        v.setReg(REG_REQUEST_ID, 0xA5A5F00D);
        x = v.reg(REG_REQUEST_ID);
        check(6, "request_id_rw", "REQUEST_ID read/write", x == 0xA5A5F00D, h8(0xA5A5F00D), h8(x));

        // Clear any latched IRQ_STATUS first so that enabling cannot assert INTx.
        v.setReg(REG_IRQ_STATUS, 0xFFFFFFFF);
        StringBuilder e = new StringBuilder();
        StringBuilder a = new StringBuilder();
        boolean ok = true;
        int[][] steps = {{IRQ_CTRL_ENABLE, IRQ_CTRL_ENABLE}, {0xFFFFFFFF, IRQ_CTRL_ENABLE}, {0, 0}};
        for (int[] s : steps) {
            v.setReg(REG_IRQ_CTRL, s[0]);
            x = v.reg(REG_IRQ_CTRL);
            Hex.append8(e, s[1]);
            Hex.append8(a, x);
            ok &= x == s[1];
        }
        check(6, "irq_ctrl_rw", "IRQ_CTRL read/write (bit 0 only)", ok, e.toString(), a.toString());
    }

    private void test7ReadOnly() {
        int[] ro = {
            REG_STATUS,
            REG_POOL_ID,
            REG_PRIORITY,
            REG_VM_ID,
            REG_ERROR_CODE,
            REG_RESPONSE_LEN,
            REG_PROTOCOL_VER,
            REG_CAPABILITIES,
            REG_TIMESTAMP_LO,
            REG_TIMESTAMP_HI
        };
        int[] before = new int[ro.length];
        for (int i = 0; i < ro.length; i++) {
            before[i] = v.reg(ro[i]);
        }
        for (int off : ro) {
            v.setReg(off, 0x5A5A5A5A);
        }
        StringBuilder e = new StringBuilder();
        StringBuilder a = new StringBuilder();
        boolean ok = true;
        for (int i = 0; i < ro.length; i++) {
            int after = v.reg(ro[i]);
            Hex.append8(e, before[i]);
            Hex.append8(a, after);
            ok &= after == before[i];
        }
        check(
                7,
                "readonly_ignore_writes",
                "writes to STATUS..CAPABILITIES, TIMESTAMP_LO/HI ignored",
                ok,
                e.toString(),
                a.toString());
    }

    /** Request-buffer pattern: byte i of the buffer is (i ^ 0x5a) & 0xff; word i packs bytes 4i..4i+3 LE. */
    static int patternWord(int i) {
        int w = 0;
        for (int k = 0; k < 4; k++) {
            w |= ((4 * i + k) ^ 0x5A) << (8 * k) & (0xFF << (8 * k));
        }
        return w;
    }

    private void test8Buffers() {
        int words = REQ_BUFFER_SIZE / 4;
        for (int i = 0; i < words; i++) {
            v.setReg(REQ_BUFFER_OFFSET + 4 * i, patternWord(i));
        }
        String e = REQ_BUFFER_SIZE + " bytes (i ^ 0x5a)";
        String a = e;
        boolean ok = true;
        for (int i = 0; i < words; i++) {
            int x = v.reg(REQ_BUFFER_OFFSET + 4 * i);
            if (x != patternWord(i)) {
                a = "mismatch at +" + Hex.hex(4 * i, 3) + ": " + h8(x);
                ok = false;
                break;
            }
        }
        check(8, "request_buffer_rw", "request buffer pattern read back", ok, e, a);

        int[] before = new int[16];
        for (int i = 0; i < 16; i++) {
            before[i] = v.reg(RESP_BUFFER_OFFSET + 4 * i);
        }
        v.setReg(RESP_BUFFER_OFFSET, 0x04030201);
        v.setReg(RESP_BUFFER_OFFSET + 4, 0x08070605);
        ok = true;
        a = "unchanged";
        for (int i = 0; i < 16; i++) {
            int x = v.reg(RESP_BUFFER_OFFSET + 4 * i);
            if (x != before[i]) {
                a = "changed at +" + Hex.hex(4 * i, 3) + ": " + h8(before[i]) + " -> " + h8(x);
                ok = false;
                break;
            }
        }
        check(8, "response_buffer_ro", "write to response buffer ignored", ok, "unchanged", a);

        v.setReg(RESERVED_OFFSET, 0xFFFFFFFF);
        v.setReg(BAR0_SIZE - 4, 0xFFFFFFFF);
        int r0 = v.reg(RESERVED_OFFSET);
        int r1 = v.reg(BAR0_SIZE - 4);
        check(
                8,
                "reserved_area",
                "reserved area reads 0 after writes",
                r0 == 0 && r1 == 0,
                h8(0) + " " + h8(0),
                h8(r0) + " " + h8(r1));
    }

    private void test9ZeroLength() {
        v.setReg(REG_REQUEST_LEN, 0);
        v.setReg(REG_DOORBELL, DOORBELL_RING);
        int st = v.waitNotBusy(System.nanoTime() + expect.timeoutNanos);
        int err = v.reg(REG_ERROR_CODE);
        check(
                9,
                "zero_length_doorbell",
                "REQUEST_LEN 0 + doorbell -> ERROR + INVALID_LENGTH",
                st == STATUS_ERROR && err == ERR_INVALID_LENGTH,
                "STATUS=" + STATUS_ERROR + " ERROR_CODE=" + ERR_INVALID_LENGTH,
                "STATUS=" + Integer.toUnsignedString(st) + " ERROR_CODE=" + Integer.toUnsignedString(err));
    }

    /**
     * A valid 16-byte request: VECTOR_ADD of one element, 1.5 + 2.25 = 3.75. Without a mediator the device fails it
     * at once with MEDIATOR_UNAVAILABLE; with one it must complete with that sum.
     */
    private void test10ValidDoorbell() {
        float sum = 1.5f + 2.25f;
        v.writeRequest(Requests.vectorAdd(new float[] {1.5f}, new float[] {2.25f}));
        v.setReg(REG_REQUEST_LEN, Requests.vectorAddLength(1));
        v.setReg(REG_REQUEST_ID, 0x7E570000 | (int) (ProcessHandle.current().pid() & 0xFFFF));
        v.setReg(REG_DOORBELL, DOORBELL_RING);
        int st = v.waitNotBusy(System.nanoTime() + expect.timeoutNanos);
        int err = v.reg(REG_ERROR_CODE);
        String stErr = "STATUS=" + Integer.toUnsignedString(st) + " ERROR_CODE=" + Integer.toUnsignedString(err);
        if (!expect.mediator) {
            check(
                    10,
                    "valid_doorbell_no_mediator",
                    "16-byte request + doorbell, no mediator -> ERROR + MEDIATOR_UNAVAILABLE",
                    st == STATUS_ERROR && err == ERR_MEDIATOR_UNAVAILABLE,
                    "STATUS=" + STATUS_ERROR + " ERROR_CODE=" + ERR_MEDIATOR_UNAVAILABLE,
                    stErr);
            return;
        }
        int rlen = v.reg(REG_RESPONSE_LEN);
        int result = v.reg(RESP_BUFFER_OFFSET);
        int want = Float.floatToRawIntBits(sum);
        check(
                10,
                "valid_doorbell_with_mediator",
                "16-byte vector add + doorbell, mediator -> DONE with 1.5+2.25",
                st == STATUS_DONE && err == ERR_NONE && rlen == 4 && result == want,
                "STATUS=" + STATUS_DONE + " ERROR_CODE=" + ERR_NONE + " RESPONSE_LEN=4 RESULT=" + h8(want),
                stErr + " RESPONSE_LEN=" + Integer.toUnsignedString(rlen) + " RESULT=" + h8(result));
    }

    private void test11CompletionState() {
        int irq = v.reg(REG_IRQ_STATUS);
        v.setReg(REG_IRQ_STATUS, 0xFFFFFFFF);
        int cleared = v.reg(REG_IRQ_STATUS);
        check(
                11,
                "irq_status_latched",
                "IRQ_STATUS latched COMPLETE, W1C clears it",
                (irq & IRQ_STATUS_COMPLETE) != 0 && cleared == 0,
                "COMPLETE set, then 0x00000000",
                h8(irq) + ", then " + h8(cleared));

        int lo = v.reg(REG_TIMESTAMP_LO);
        int hi = v.reg(REG_TIMESTAMP_HI);
        check(
                11,
                "timestamp_set",
                "TIMESTAMP_HI:LO set by the completion",
                (hi | lo) != 0,
                "nonzero",
                h8(hi) + Hex.hex(lo & 0xFFFFFFFFL, 8).substring(2));
    }
}

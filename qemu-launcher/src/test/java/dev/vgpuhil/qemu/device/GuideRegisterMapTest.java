package dev.vgpuhil.qemu.device;

import static org.assertj.core.api.Assertions.assertThat;

import dev.vgpuhil.qemu.qtest.PciBus;
import dev.vgpuhil.qemu.qtest.QtestSession;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * A client that knows ONLY the guide (../shared/seed/vgpu-stub-v2-guide.txt): its register map table is copied
 * below verbatim, and every offset, access kind and value this test uses is parsed out of that text. Nothing comes
 * from vgpu_protocol.h, VgpuProtocol or VgpuDevice (none of them is imported). The guide gives no PCI vendor or
 * device ID, so the device is found by what the guide does give: "PCI revision: 0x02" and "BAR0 — 4096 bytes".
 * Generic PCI (config mechanism #1, BAR sizing) comes from PciBus, which knows nothing about this device.
 *
 * <p>Two harness choices are not from the guide: the device gets {@code socket=<absent path>} so that a mediator
 * someone runs at the default path cannot change the no-mediator results, and BAR0 is placed at 0xE0000000.
 */
@Tag("qtest")
@Tag("device")
@OnEveryHosting
@DisplayName("a client using only the guide's register map finds everything where the guide says")
class GuideRegisterMapTest {

    /** The guide's "REGISTER MAP (BAR0 — 4096 bytes)" rows, verbatim. */
    static final String GUIDE_TABLE = """
              0x000   DOORBELL         WO    Write 1 to submit request
              0x004   STATUS           RO    0=idle 1=busy 2=done 3=error
              0x008   POOL_ID          RO    ASCII 'A'(0x41) or 'B'(0x42)
              0x00C   PRIORITY         RO    0=low 1=medium 2=high
              0x010   VM_ID            RO    Unsigned 32-bit VM identifier
              0x014   ERROR_CODE       RO    Error detail when STATUS=3
              0x018   REQUEST_LEN      RW    Guest sets request byte count
              0x01C   RESPONSE_LEN     RO    Host sets response byte count
              0x020   PROTOCOL_VER     RO    0x00010000 (v1.0)
              0x024   CAPABILITIES     RO    Feature bits (bit 0 = basic)
              0x028   IRQ_CTRL         RW    Interrupt enable (future)
              0x02C   IRQ_STATUS       RW1C  Interrupt status (future)
              0x030   REQUEST_ID       RW    Request tracking number
              0x034   TIMESTAMP_LO     RO    Completion time low 32 bits
              0x038   TIMESTAMP_HI     RO    Completion time high 32 bits
              0x03C   SCRATCH          RW    R/W test register

              0x040   REQUEST BUFFER   RW    1024 bytes for request payload
              0x440   RESPONSE BUFFER  RO    1024 bytes for response data
              0x840   RESERVED         --    1976 bytes (future use)
            """;
    /** From the guide: "REGISTER MAP (BAR0 — 4096 bytes)" and "PCI revision: 0x02". */
    static final String GUIDE_BAR0_LINE = "REGISTER MAP (BAR0 — 4096 bytes)";

    static final String GUIDE_REVISION_LINE = "PCI revision: 0x02";
    /** The guide's STEP 3 device arguments. */
    static final String GUIDE_DEVICE_ARGS = "pool_id=B,priority=high,vm_id=200";

    record Row(int offset, String name, String access, String description) {}

    static final Map<String, Row> ROWS = parse(GUIDE_TABLE);

    static Map<String, Row> parse(String table) {
        Pattern row = Pattern.compile("^\\s*0x([0-9A-Fa-f]{3})\\s+(\\S+(?: BUFFER)?)\\s+(WO|RO|RW1C|RW|--)\\s+(.*)$");
        Map<String, Row> rows = new LinkedHashMap<>();
        for (String line : table.lines().filter(l -> !l.isBlank()).toList()) {
            Matcher mt = row.matcher(line);
            if (!mt.matches()) {
                throw new IllegalStateException("unparsable guide row: " + line);
            }
            rows.put(
                    mt.group(2),
                    new Row(
                            Integer.parseInt(mt.group(1), 16),
                            mt.group(2),
                            mt.group(3),
                            mt.group(4).strip()));
        }
        return rows;
    }

    static Row row(String name) {
        Row r = ROWS.get(name);
        if (r == null) {
            throw new IllegalArgumentException("the guide has no row " + name);
        }
        return r;
    }

    /** "0=idle 1=busy 2=done 3=error" -> code of {@code word}. */
    static int code(String rowName, String word) {
        Matcher mt = Pattern.compile("(\\d+)=" + Pattern.quote(word) + "\\b")
                .matcher(row(rowName).description());
        if (!mt.find()) {
            throw new IllegalArgumentException("the guide's " + rowName + " row has no value for " + word);
        }
        return Integer.parseInt(mt.group(1));
    }

    static int firstHex(String text) {
        Matcher mt = Pattern.compile("0x([0-9A-Fa-f]+)").matcher(text);
        if (!mt.find()) {
            throw new IllegalArgumentException("no hex number in: " + text);
        }
        return (int) Long.parseLong(mt.group(1), 16);
    }

    static int bytesOf(String rowName) {
        Matcher mt = Pattern.compile("(\\d+) bytes").matcher(row(rowName).description());
        if (!mt.find()) {
            throw new IllegalArgumentException("the guide's " + rowName + " row gives no size");
        }
        return Integer.parseInt(mt.group(1));
    }

    static int bar0Size() {
        Matcher mt = Pattern.compile("(\\d+) bytes").matcher(GUIDE_BAR0_LINE);
        assertThat(mt.find()).isTrue();
        return Integer.parseInt(mt.group(1));
    }

    static int revision() {
        return firstHex(GUIDE_REVISION_LINE);
    }

    QtestSession q;
    PciBus pci;
    PciBus.PciAddress addr;
    long bar;

    @BeforeEach
    void start() {
        List<String> props = new java.util.ArrayList<>(List.of(GUIDE_DEVICE_ARGS.split(",")));
        props.add("socket=" + VgpuMachine.absentSocket());
        q = DeviceHostings.current().qtest(props).start();
        pci = new PciBus(q);
        List<PciBus.PciAddress> matches = new ArrayList<>();
        for (int slot = 0; slot < 32; slot++) {
            for (int fn = 0; fn < 8; fn++) {
                PciBus.PciAddress a = new PciBus.PciAddress(0, slot, fn);
                if ((pci.readConfig32(a, PciBus.VENDOR_ID) & 0xFFFF) == 0xFFFF) {
                    continue;
                }
                if (pci.readConfig8(a, PciBus.REVISION_ID) == revision()
                        && (pci.readBar(a, 0) & 1) == 0
                        && pci.sizeBar(a, 0) == bar0Size()) {
                    matches.add(a);
                }
            }
        }
        assertThat(matches)
                .as("functions with revision 0x%02x and a %d-byte memory BAR0", revision(), bar0Size())
                .hasSize(1);
        addr = matches.get(0);
        bar = PciBus.MMIO_WINDOW_START;
        pci.mapMemoryBar(addr, 0, bar);
        pci.enable(addr, PciBus.COMMAND_MEMORY);
    }

    @AfterEach
    void stop() {
        q.close();
    }

    int reg(String name) {
        return q.readl(bar + row(name).offset());
    }

    void setReg(String name, int value) {
        q.writel(bar + row(name).offset(), value);
    }

    @Test
    @DisplayName(
            "the guide's table: 16 registers, 4 bytes apart from 0x000, then the two 1 KiB buffers and the reserved rest of BAR0")
    void guideTableIsWhatTheGuideSays() {
        List<Row> regs = ROWS.values().stream()
                .filter(r -> !r.name().contains("BUFFER") && !r.name().equals("RESERVED"))
                .toList();
        assertThat(regs).hasSize(16);
        for (int i = 0; i < regs.size(); i++) {
            assertThat(regs.get(i).offset()).as(regs.get(i).name()).isEqualTo(4 * i);
        }
        assertThat(row("REQUEST BUFFER").offset()).isEqualTo(16 * 4);
        assertThat(row("RESPONSE BUFFER").offset())
                .isEqualTo(row("REQUEST BUFFER").offset() + bytesOf("REQUEST BUFFER"));
        assertThat(row("RESERVED").offset()).isEqualTo(row("RESPONSE BUFFER").offset() + bytesOf("RESPONSE BUFFER"));
        assertThat(row("RESERVED").offset() + bytesOf("RESERVED")).isLessThanOrEqualTo(bar0Size());
    }

    static Stream<String> registerNames() {
        return ROWS.values().stream()
                .filter(r -> !r.name().contains("BUFFER") && !r.name().equals("RESERVED"))
                .map(Row::name);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("registerNames")
    @DisplayName(
            "every register behaves as its guide access kind says (WO reads 0, RO ignores writes, RW keeps, RW1C clears)")
    void accessKind(String name) {
        Row r = row(name);
        int before = reg(name);
        switch (r.access()) {
            case "WO" -> {
                assertThat(before).as("a write-only register reads 0").isZero();
                setReg(name, 0); // "Write 1 to submit": 0 submits nothing
                assertThat(reg("STATUS")).isEqualTo(code("STATUS", "idle"));
            }
            case "RO" -> {
                for (int v : new int[] {0xFFFFFFFF, 0x5A5A5A5A, 0}) {
                    setReg(name, v);
                    assertThat(reg(name)).as("%s after writing 0x%08x", name, v).isEqualTo(before);
                }
            }
            case "RW" -> {
                int[] values = name.equals("IRQ_CTRL")
                        ? new int[] {1, 0} // "Interrupt enable": one bit
                        : new int[] {0xDEADBEEF, 0x12345678, 0, 0xFFFFFFFF};
                for (int v : values) {
                    setReg(name, v);
                    assertThat(reg(name)).as("%s keeps 0x%08x", name, v).isEqualTo(v);
                }
            }
            case "RW1C" -> {
                ringWithLength(0); // a completion, so there is something to clear
                int pending = reg(name);
                assertThat(pending).as("status bits after a completion").isNotZero();
                setReg(name, 0);
                assertThat(reg(name)).as("writing 0 clears nothing").isEqualTo(pending);
                setReg(name, pending);
                assertThat(reg(name))
                        .as("writing back the set bits clears them")
                        .isZero();
            }
            default -> throw new AssertionError("unknown access kind " + r.access());
        }
    }

    @Test
    @DisplayName(
            "STEP 3 device args pool_id=B,priority=high,vm_id=200 read back as the guide's encodings; PROTOCOL_VER, CAPABILITIES bit 0, STATUS idle")
    void identityValues() {
        Matcher pool = Pattern.compile("'B'\\((0x[0-9A-Fa-f]+)\\)")
                .matcher(row("POOL_ID").description());
        assertThat(pool.find()).isTrue();
        assertThat(reg("POOL_ID")).as("POOL_ID 'B'").isEqualTo(firstHex(pool.group(1)));
        assertThat(reg("PRIORITY")).as("PRIORITY high").isEqualTo(code("PRIORITY", "high"));
        assertThat(reg("VM_ID")).isEqualTo(200);
        assertThat(reg("PROTOCOL_VER")).isEqualTo(firstHex(row("PROTOCOL_VER").description()));
        assertThat(reg("CAPABILITIES") & 1).as("bit 0 = basic").isEqualTo(1);
        assertThat(reg("STATUS")).isEqualTo(code("STATUS", "idle"));
        assertThat(reg("DOORBELL")).isZero();
    }

    @Test
    @DisplayName("request buffer RW over its 1024 bytes; response buffer RO; reserved area harmless")
    void buffers() {
        int reqOff = row("REQUEST BUFFER").offset();
        int reqLen = bytesOf("REQUEST BUFFER");
        byte[] pattern = new byte[reqLen];
        for (int i = 0; i < reqLen; i++) {
            pattern[i] = (byte) (i * 7 + 3);
        }
        q.memwrite(bar + reqOff, pattern);
        assertThat(q.memread(bar + reqOff, reqLen)).isEqualTo(pattern);

        int respOff = row("RESPONSE BUFFER").offset();
        int respLen = bytesOf("RESPONSE BUFFER");
        byte[] resp = q.memread(bar + respOff, respLen);
        q.memwrite(bar + respOff, pattern);
        assertThat(q.memread(bar + respOff, respLen)).as("RO response buffer").isEqualTo(resp);

        int resOff = row("RESERVED").offset();
        int resLen = bytesOf("RESERVED");
        byte[] reserved = q.memread(bar + resOff, resLen);
        byte[] junk = new byte[resLen];
        Arrays.fill(junk, (byte) 0xA5);
        q.memwrite(bar + resOff, junk);
        assertThat(q.memread(bar + resOff, resLen))
                .as("reserved area unchanged by writes")
                .isEqualTo(reserved);
        assertThat(q.memread(bar + reqOff, reqLen))
                .as("request buffer untouched")
                .isEqualTo(pattern);
        assertThat(reg("VM_ID")).isEqualTo(200);
    }

    private void ringWithLength(int len) {
        setReg("REQUEST_LEN", len);
        setReg("DOORBELL", 1);
    }

    @Test
    @DisplayName(
            "the guide's flow without a mediator: test 9 (zero length) and test 10 (valid) end in STATUS error with two different ERROR_CODEs; TIMESTAMP is the completion time")
    void guideFlowWithoutMediator() {
        int error = code("STATUS", "error");
        assertThat(reg("TIMESTAMP_LO") | reg("TIMESTAMP_HI"))
                .as("no completion yet")
                .isZero();

        ringWithLength(0);
        assertThat(reg("STATUS")).as("test 9: ERROR").isEqualTo(error);
        int invalidLength = reg("ERROR_CODE");
        assertThat(invalidLength)
                .as("test 9: ERROR_CODE INVALID_LENGTH (some non-zero code)")
                .isNotZero();

        byte[] request = "sixteen bytes!!!".getBytes();
        q.memwrite(bar + row("REQUEST BUFFER").offset(), request); // 1. request to the buffer
        ringWithLength(request.length); // 2. REQUEST_LEN, 3. DOORBELL
        assertThat(reg("STATUS")).as("test 10: ERROR (no mediator), at once").isEqualTo(error); // 4. poll STATUS
        int mediatorUnavailable = reg("ERROR_CODE");
        assertThat(mediatorUnavailable)
                .as("test 10: MEDIATOR_UNAVAILABLE")
                .isNotZero()
                .isNotEqualTo(invalidLength);
        assertThat(reg("RESPONSE_LEN")).as("no response").isZero();
        long ts = (Integer.toUnsignedLong(reg("TIMESTAMP_HI")) << 32) | Integer.toUnsignedLong(reg("TIMESTAMP_LO"));
        assertThat(ts).as("TIMESTAMP_HI:LO = completion time").isNotZero();
    }
}

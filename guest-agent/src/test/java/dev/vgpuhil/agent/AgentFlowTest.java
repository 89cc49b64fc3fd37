package dev.vgpuhil.agent;

import static dev.vgpuhil.protocol.VgpuProtocol.*;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Command logic on {@link SimulatedVgpu} (see its note: agent logic only, not a device test). */
@DisplayName("agent command flows on a simulated BAR0")
class AgentFlowTest {
    @TempDir
    Path tmp;

    final ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    final PrintStream out = new PrintStream(bytes, true, StandardCharsets.UTF_8);

    List<String> lines() {
        String s = bytes.toString(StandardCharsets.UTF_8);
        return s.isEmpty() ? List.of() : List.of(s.split("\n"));
    }

    PciDevice vgpuDevice() throws AgentException {
        FakeSysfs fs = new FakeSysfs(tmp.resolve("sys"));
        fs.addVgpu("0000:00:03.0");
        return PciDevice.find(fs.root, null);
    }

    static Args args(String... argv) throws AgentException {
        return Args.parse(argv);
    }

    @Test
    @DisplayName("selftest, no mediator: all 22 checks pass in DEVICE.md order, then the summary")
    void selftestNoMediator() throws Exception {
        SimulatedVgpu sim = new SimulatedVgpu();
        SelfTest.Expect e = Main.expectations(
                args("selftest", "--expect-pool", "B", "--expect-priority", "high", "--expect-vm", "200"));
        int failed = new SelfTest(new Vgpu(sim), vgpuDevice(), e, out).run();
        assertThat(lines()).allSatisfy(l -> assertThat(l).doesNotContain("\"pass\":false"));
        assertThat(failed).isZero();
        List<String> names = new ArrayList<>();
        for (String l : lines()) {
            if (l.startsWith("{\"type\":\"check\"")) {
                int t = l.indexOf("\"test\":") + 7;
                int n = l.indexOf("\"name\":\"") + 8;
                names.add(l.substring(t, l.indexOf(',', t)) + " " + l.substring(n, l.indexOf('"', n)));
            }
        }
        assertThat(names)
                .containsExactly(
                        "1 pci_ids",
                        "1 pci_revision",
                        "2 pool_id",
                        "2 priority",
                        "2 vm_id",
                        "3 protocol_ver",
                        "3 capabilities",
                        "4 status_idle",
                        "4 error_code_clear",
                        "4 doorbell_reads_zero",
                        "5 scratch_rw",
                        "6 request_len_rw",
                        "6 request_id_rw",
                        "6 irq_ctrl_rw",
                        "7 readonly_ignore_writes",
                        "8 request_buffer_rw",
                        "8 response_buffer_ro",
                        "8 reserved_area",
                        "9 zero_length_doorbell",
                        "10 valid_doorbell_no_mediator",
                        "11 irq_status_latched",
                        "11 timestamp_set");
        assertThat(lines().get(lines().size() - 1)).isEqualTo("{\"type\":\"summary\",\"passed\":22,\"failed\":0}");
        assertThat(lines())
                .filteredOn(l -> l.contains("zero_length_doorbell"))
                .singleElement()
                .asString()
                .contains("\"expected\":\"STATUS=3 ERROR_CODE=1\",\"actual\":\"STATUS=3 ERROR_CODE=1\"");
        assertThat(sim.irqCtrl).isZero();
        assertThat(sim.irqStatus).isZero();
    }

    @Test
    @DisplayName("selftest --mediator present: test 10 becomes valid_doorbell_with_mediator and completes DONE")
    void selftestWithMediator() throws Exception {
        SimulatedVgpu sim = new SimulatedVgpu();
        sim.mediator = true;
        int failed = new SelfTest(
                        new Vgpu(sim), vgpuDevice(), Main.expectations(args("selftest", "--mediator", "present")), out)
                .run();
        assertThat(failed).isZero();
        assertThat(lines())
                .filteredOn(l -> l.contains("\"test\":10,"))
                .singleElement()
                .asString()
                .contains("\"name\":\"valid_doorbell_with_mediator\"")
                .contains("\"pass\":true")
                .contains("\"actual\":\"STATUS=2 ERROR_CODE=0 RESPONSE_LEN=4 RESULT=0x40700000\"");
    }

    @Test
    @DisplayName("the expectation is selectable: --mediator present without one fails test 10 (and only it)")
    void mediatorExpectedButAbsent() throws Exception {
        SimulatedVgpu sim = new SimulatedVgpu();
        int failed = new SelfTest(
                        new Vgpu(sim),
                        vgpuDevice(),
                        Main.expectations(args("selftest", "--mediator", "--timeout-ms", "200")),
                        out)
                .run();
        assertThat(failed).isEqualTo(1);
        assertThat(lines())
                .filteredOn(l -> l.contains("\"pass\":false"))
                .singleElement()
                .asString()
                .contains("valid_doorbell_with_mediator")
                .contains("\"actual\":\"STATUS=3 ERROR_CODE=2 ");
    }

    @Test
    @DisplayName("wrong configuration and a used device are reported by the checks that see them")
    void wrongExpectations() throws Exception {
        SimulatedVgpu sim = new SimulatedVgpu();
        sim.status = STATUS_ERROR; // an earlier client left the device in error
        sim.errorCode = ERR_MEDIATOR_UNAVAILABLE;
        int failed = new SelfTest(
                        new Vgpu(sim),
                        vgpuDevice(),
                        Main.expectations(
                                args("selftest", "--expect-pool", "A", "--expect-priority", "low", "--expect-vm", "7")),
                        out)
                .run();
        assertThat(failed).isEqualTo(5);
        assertThat(lines())
                .filteredOn(l -> l.contains("\"pass\":false"))
                .extracting(l -> l.substring(l.indexOf("\"name\":\"") + 8, l.indexOf("\",\"check\"")))
                .containsExactly("pool_id", "priority", "vm_id", "status_idle", "error_code_clear");
    }

    @Test
    @DisplayName("vector-add: random inputs from the seed, bit-exact check, one line per request")
    void vectorAdd() throws Exception {
        SimulatedVgpu sim = new SimulatedVgpu();
        sim.mediator = true;
        int rc = Main.vectorAdd(
                args("vector-add", "--elements", "127", "--seed", "9", "--repeat", "3", "--request-id", "100"),
                new Vgpu(sim),
                out);
        assertThat(rc).isZero();
        assertThat(lines()).hasSize(3);
        for (int i = 0; i < 3; i++) {
            assertThat(lines().get(i))
                    .startsWith("{\"type\":\"vector-add\",\"elements\":127,\"requestId\":" + (100 + i)
                            + ",\"status\":2,\"errorCode\":0,\"correct\":true,\"micros\":")
                    .contains("\"responseLen\":508,\"timedOut\":false,\"completion\":\"status-poll\"");
        }
        assertThat(sim.doorbells).isEqualTo(3);
    }

    @Test
    @DisplayName("vector-add --backoff-ms: after an errored request the next waits (a client riding out a relink)")
    void vectorAddBacksOffAfterErrors() throws Exception {
        SimulatedVgpu sim = new SimulatedVgpu(); // no mediator: every request ends MEDIATOR_UNAVAILABLE
        long t0 = System.nanoTime();
        int rc = Main.vectorAdd(
                args("vector-add", "--elements", "4", "--repeat", "3", "--backoff-ms", "150"), new Vgpu(sim), out);
        long ms = (System.nanoTime() - t0) / 1_000_000;
        assertThat(rc).isEqualTo(1);
        assertThat(lines()).hasSize(3).allSatisfy(l -> assertThat(l).contains("\"status\":3"));
        assertThat(ms).as("two back-offs between three errored requests").isGreaterThanOrEqualTo(300);
    }

    @Test
    @DisplayName("vector-add --irq=poll: IRQ_CTRL enabled, completion polled in IRQ_STATUS, cleared W1C, IRQ_CTRL off")
    void vectorAddIrqPoll() throws Exception {
        SimulatedVgpu sim = new SimulatedVgpu();
        sim.mediator = true;
        int rc = Main.vectorAdd(args("vector-add", "--elements", "4", "--irq=poll"), new Vgpu(sim), out);
        assertThat(rc).isZero();
        assertThat(lines().get(0))
                .contains("\"correct\":true")
                .contains("\"completion\":\"irq-status-poll\"")
                .contains("\"irqStatus\":1,\"irqStatusAfterClear\":0")
                .doesNotContain("irqCount");
        assertThat(sim.maxIrqCtrlSeen).isEqualTo(IRQ_CTRL_ENABLE);
        assertThat(sim.irqCtrl).isZero();
        assertThat(sim.busyPolls).isPositive();
    }

    @Test
    @DisplayName(
            "vector-add --irq: sleeps until the interrupt (no polling while busy), count per request, W1C, IRQ_CTRL off")
    void vectorAddInterrupt() throws Exception {
        SimulatedVgpu sim = new SimulatedVgpu();
        sim.mediator = true;
        sim.replyAfterPolls = 50;
        SimulatedUio uio = new SimulatedUio(sim);
        int rc = Main.vectorAdd(
                args("vector-add", "--elements", "127", "--irq", "--repeat", "3", "--seed", "5"),
                new Vgpu(sim),
                uio,
                "uio0",
                21,
                out);
        assertThat(rc).isZero();
        assertThat(lines()).hasSize(3);
        for (int i = 0; i < 3; i++) {
            assertThat(lines().get(i))
                    .contains("\"status\":2,\"errorCode\":0,\"correct\":true")
                    .contains("\"timedOut\":false,\"completion\":\"interrupt\",\"irqStatus\":1,"
                            + "\"irqStatusAfterClear\":0,\"irqCount\":" + (i + 1)
                            + ",\"irqWakeups\":1,\"uio\":\"uio0\","
                            + "\"linuxIrq\":21");
        }
        assertThat(sim.busyPolls)
                .as("STATUS/IRQ_STATUS reads while the request was in flight")
                .isZero();
        assertThat(uio.unmasks).as("one unmask per request").isEqualTo(3);
        assertThat(uio.masked)
                .as("left masked, as the driver's handler leaves it")
                .isTrue();
        assertThat(sim.irqCtrl).isZero();
        assertThat(sim.irqStatus).isZero();
        assertThat(sim.intxLevel()).isFalse();
    }

    @Test
    @DisplayName("vector-add --irq: a wake-up without IRQ_STATUS.COMPLETE is not this completion: unmask, wait again")
    void vectorAddInterruptSpurious() throws Exception {
        SimulatedVgpu sim = new SimulatedVgpu();
        sim.mediator = true;
        sim.replyAfterPolls = 50;
        SimulatedUio uio = new SimulatedUio(sim);
        uio.spurious = 1;
        int rc = Main.vectorAdd(args("vector-add", "--elements", "3", "--irq"), new Vgpu(sim), uio, "uio0", 21, out);
        assertThat(rc).isZero();
        assertThat(lines().get(0)).contains("\"correct\":true").contains("\"irqCount\":2,\"irqWakeups\":2");
        assertThat(uio.unmasks).isEqualTo(2);
    }

    @Test
    @DisplayName("vector-add --irq: a lost interrupt is a timeout (exit 1) even though the device completed")
    void vectorAddInterruptLost() throws Exception {
        SimulatedVgpu sim = new SimulatedVgpu();
        sim.mediator = true;
        SimulatedUio uio = new SimulatedUio(sim);
        uio.deliver = false;
        long t0 = System.nanoTime();
        int rc = Main.vectorAdd(
                args("vector-add", "--elements", "2", "--irq", "--timeout-ms", "100"),
                new Vgpu(sim),
                uio,
                "uio0",
                21,
                out);
        assertThat(rc).isEqualTo(1);
        assertThat((System.nanoTime() - t0) / 1_000_000).isGreaterThanOrEqualTo(90L);
        assertThat(lines().get(0))
                .contains("\"status\":2,")
                .contains("\"correct\":true")
                .contains("\"timedOut\":true,\"completion\":\"interrupt\",\"irqStatus\":1,\"irqStatusAfterClear\":0,"
                        + "\"irqCount\":-1,\"irqWakeups\":0")
                .contains("\"note\":\"the device completed (IRQ_STATUS 0x00000001) but no interrupt arrived");
    }

    @Test
    @DisplayName("vector-add --irq without an interrupt source is an error, never a silent fallback to polling")
    void vectorAddInterruptNeedsSource() {
        SimulatedVgpu sim = new SimulatedVgpu();
        sim.mediator = true;
        assertThatThrownBy(() -> Main.vectorAdd(args("vector-add", "--irq"), new Vgpu(sim), out))
                .isInstanceOf(AgentException.class)
                .hasMessageContaining("uio_pci_generic");
        assertThat(sim.doorbells).isZero();
    }

    @Test
    @DisplayName("vector-add: a wrong result bit is caught; no mediator is an error status; exit 1 both")
    void vectorAddFailures() throws Exception {
        SimulatedVgpu sim = new SimulatedVgpu();
        sim.mediator = true;
        sim.corruptResult = true;
        assertThat(Main.vectorAdd(args("vector-add", "--elements", "8"), new Vgpu(sim), out))
                .isEqualTo(1);
        assertThat(lines().get(0))
                .contains("\"status\":2")
                .contains("\"correct\":false")
                .contains("\"mismatchIndex\":0");

        SimulatedVgpu none = new SimulatedVgpu();
        assertThat(Main.vectorAdd(args("vector-add", "--elements", "8", "--irq=poll"), new Vgpu(none), out))
                .isEqualTo(1);
        assertThat(lines().get(1))
                .contains("\"status\":3,\"errorCode\":2,\"correct\":false")
                .contains("\"irqStatus\":3,\"irqStatusAfterClear\":0");

        SimulatedVgpu noMediator = new SimulatedVgpu();
        SimulatedUio uio = new SimulatedUio(noMediator);
        assertThat(Main.vectorAdd(
                        args("vector-add", "--elements", "8", "--irq"), new Vgpu(noMediator), uio, "uio0", 21, out))
                .isEqualTo(1);
        assertThat(lines().get(2))
                .as("an error completion interrupts too")
                .contains("\"status\":3,\"errorCode\":2,\"correct\":false")
                .contains("\"timedOut\":false,\"completion\":\"interrupt\",\"irqStatus\":3,\"irqStatusAfterClear\":0,"
                        + "\"irqCount\":1");
    }

    @Test
    @DisplayName("vector-add: no reply within --timeout-ms is reported as timedOut with STATUS busy")
    void vectorAddTimeout() throws Exception {
        SimulatedVgpu sim = new SimulatedVgpu();
        sim.mediator = true;
        sim.replyAfterPolls = -1;
        long t0 = System.nanoTime();
        assertThat(Main.vectorAdd(args("vector-add", "--elements", "2", "--timeout-ms", "100"), new Vgpu(sim), out))
                .isEqualTo(1);
        assertThat((System.nanoTime() - t0) / 1_000_000).isGreaterThanOrEqualTo(90L);
        assertThat(lines().get(0)).contains("\"status\":1,").contains("\"timedOut\":true");
    }

    @Test
    @DisplayName("bench: N echo round trips, percentiles, errors counted")
    void bench() throws Exception {
        SimulatedVgpu sim = new SimulatedVgpu();
        sim.mediator = true;
        assertThat(Main.bench(args("bench", "--count", "50", "--bytes", "13"), new Vgpu(sim), out))
                .isZero();
        assertThat(lines().get(0))
                .startsWith("{\"type\":\"bench\",\"count\":50,\"p50Micros\":")
                .contains(",\"errors\":0,\"op\":\"echo\",\"bytes\":13,");
        assertThat(sim.doorbells).isEqualTo(50);

        SimulatedVgpu none = new SimulatedVgpu();
        assertThat(Main.bench(args("bench", "--count", "5"), new Vgpu(none), out))
                .isEqualTo(1);
        assertThat(lines().get(1)).contains("\"errors\":5");
    }

    @Test
    @DisplayName("dump: all 16 registers by name, unsigned")
    void dump() {
        SimulatedVgpu sim = new SimulatedVgpu();
        sim.scratch = 0xFFFFFFFF;
        Main.dump(new Vgpu(sim), out);
        assertThat(lines().get(0))
                .isEqualTo("{\"type\":\"registers\",\"DOORBELL\":0,\"STATUS\":0,\"POOL_ID\":66,"
                        + "\"PRIORITY\":2,\"VM_ID\":200,\"ERROR_CODE\":0,\"REQUEST_LEN\":0,\"RESPONSE_LEN\":0,"
                        + "\"PROTOCOL_VER\":65536,\"CAPABILITIES\":15,\"IRQ_CTRL\":0,\"IRQ_STATUS\":0,\"REQUEST_ID\":0,"
                        + "\"TIMESTAMP_LO\":0,\"TIMESTAMP_HI\":0,\"SCRATCH\":4294967295}");
    }
}

package dev.vgpuhil.agent;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Path;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

@DisplayName("argument parsing: every mistake is an error line and exit 2, before the device is touched")
class ArgsTest {
    @TempDir
    Path tmp;

    @ParameterizedTest(name = "[{index}] {0} -> {1}")
    @CsvSource(
            delimiter = '|',
            value = {
                "''                                   | no command given",
                "bogus                                | unknown command 'bogus'",
                "probe --elements 3                   | unknown option --elements for probe",
                "selftest --irq                       | unknown option --irq for selftest",
                "vector-add --elements                | option --elements needs a value",
                "vector-add --elements x              | option --elements needs a number, got 'x'",
                "vector-add --elements 0              | --elements must be at least 1",
                "vector-add --elements 128            | --elements 128 is too many: at most 127 (VGPU_VECTOR_ADD_MAX_ELEMENTS)",
                "vector-add --elements 3 --elements 4 | option --elements given twice",
                "vector-add stray                     | unexpected argument 'stray' for vector-add",
                "vector-add --repeat 0                | option --repeat must be between 1 and 1000000",
                "bench --count -1                     | option --count must be between 1 and 10000000",
                "bench --op saxpy                     | option --op must be one of echo, got 'saxpy'",
                "bench --bytes 1017                   | option --bytes must be between 0 and 1016",
                "selftest --expect-pool C             | option --expect-pool must be one of A, B, got 'C'",
                "selftest --expect-priority urgent    | option --expect-priority must be one of low, medium, high, 0, 1, 2",
                "selftest --expect-vm 4294967296      | option --expect-vm must be between 0 and 4294967295",
                "selftest --mediator maybe            | option --mediator must be one of present, absent",
                "dump --timeout-ms 0                  | option --timeout-ms must be between 1 and 3600000",
                "vector-add --irq=msi                 | option --irq must be one of uio, poll, got 'msi'",
                "vector-add --irq maybe               | option --irq must be one of uio, poll, got 'maybe'",
                "vector-add --irq=                    | option --irq needs a value after '='",
                "vector-add --irq --irq=poll          | option --irq given twice",
                "probe --irq=poll                     | unknown option --irq for probe",
                "vector-add --elements=x              | option --elements needs a number, got 'x'",
            })
    void badArguments(String line, String message) {
        String[] argv = line.isEmpty() ? new String[0] : line.split(" ");
        // a sysfs root without devices: had parsing passed, the error would be "not found" instead
        String[] withRoot = new String[argv.length + 2];
        System.arraycopy(argv, 0, withRoot, 0, argv.length);
        withRoot[argv.length] = "--sysfs";
        withRoot[argv.length + 1] = tmp.toString();
        AgentRun run = AgentRun.of(line.isEmpty() ? argv : withRoot);
        assertThat(run.exitCode).isEqualTo(2);
        assertThat(run.single())
                .startsWith("{\"type\":\"error\",\"message\":\"")
                .contains(message);
    }

    @Test
    @DisplayName("values: decimal and 0x-hex numbers, defaults, flags")
    void values() throws AgentException {
        Args a = Args.parse(new String[] {"vector-add", "--elements", "0x10", "--irq", "--seed", "-5"});
        assertThat(a.command).isEqualTo("vector-add");
        assertThat(a.number("--elements", 1, 1, 127)).isEqualTo(16);
        assertThat(a.number("--seed", 1, Long.MIN_VALUE, Long.MAX_VALUE)).isEqualTo(-5);
        assertThat(a.number("--repeat", 1, 1, 10)).isEqualTo(1);
        assertThat(a.has("--irq")).isTrue();
        assertThat(a.has("--bdf")).isFalse();
    }

    @Test
    @DisplayName("--irq alone means uio (interrupt-driven); --irq=poll / --irq poll polls IRQ_STATUS; --opt=value")
    void irqModes() throws AgentException {
        assertThat(Main.irqMode(Args.parse(new String[] {"vector-add", "--irq"})))
                .isEqualTo("uio");
        assertThat(Main.irqMode(Args.parse(new String[] {"vector-add", "--irq", "--elements", "3"})))
                .isEqualTo("uio");
        assertThat(Main.irqMode(Args.parse(new String[] {"vector-add", "--irq=uio"})))
                .isEqualTo("uio");
        assertThat(Main.irqMode(Args.parse(new String[] {"vector-add", "--irq=poll"})))
                .isEqualTo("poll");
        assertThat(Main.irqMode(Args.parse(new String[] {"vector-add", "--irq", "poll"})))
                .isEqualTo("poll");
        assertThat(Main.irqMode(Args.parse(new String[] {"vector-add"}))).isNull();
        Args a = Args.parse(new String[] {"vector-add", "--elements=0x10", "--seed=-5", "--bdf=0000:00:04.0"});
        assertThat(a.number("--elements", 1, 1, 127)).isEqualTo(16);
        assertThat(a.number("--seed", 1, Long.MIN_VALUE, Long.MAX_VALUE)).isEqualTo(-5);
        assertThat(a.string("--bdf", null)).isEqualTo("0000:00:04.0");
    }

    @Test
    @DisplayName("--mediator alone means present (like the C program's flag); with a value it is checked")
    void mediatorFlag() throws AgentException {
        assertThat(Main.expectations(Args.parse(new String[] {"selftest", "--mediator"})).mediator)
                .isTrue();
        assertThat(Main.expectations(Args.parse(new String[] {"selftest", "--mediator", "--expect-vm", "1"})).mediator)
                .isTrue();
        assertThat(Main.expectations(Args.parse(new String[] {"selftest", "--mediator", "absent"})).mediator)
                .isFalse();
        assertThat(Main.expectations(Args.parse(new String[] {"selftest"})).mediator)
                .isFalse();
    }

    @Test
    @DisplayName("expectations: pool letter, priority names and numbers, vm id")
    void expectations() throws AgentException {
        SelfTest.Expect e = Main.expectations(Args.parse(new String[] {
            "selftest", "--expect-pool", "B", "--expect-priority", "high", "--expect-vm", "200", "--timeout-ms", "2500"
        }));
        assertThat(e.pool).isEqualTo(0x42);
        assertThat(e.priority).isEqualTo(2);
        assertThat(e.vmId).isEqualTo(200L);
        assertThat(e.timeoutNanos).isEqualTo(2_500_000_000L);
        assertThat(Main.expectations(Args.parse(new String[] {"selftest", "--expect-priority", "1"})).priority)
                .isEqualTo(1);
    }

    @Test
    @DisplayName("the largest vector add that fits is accepted")
    void maxElements() throws AgentException {
        assertThat(Main.elements(Args.parse(new String[] {"vector-add", "--elements", "127"})))
                .isEqualTo(127);
        assertThat(Main.elements(Args.parse(new String[] {"vector-add"}))).isEqualTo(16);
    }

    @Test
    @DisplayName("help prints a usage line and exits 0")
    void help() {
        AgentRun run = AgentRun.of("help");
        assertThat(run.exitCode).isZero();
        assertThat(run.single()).startsWith("{\"type\":\"usage\",\"text\":\"usage: ");
        assertThatThrownBy(() -> Args.parse(new String[0])).isInstanceOf(AgentException.class);
    }
}

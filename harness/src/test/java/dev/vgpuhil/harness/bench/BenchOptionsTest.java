package dev.vgpuhil.harness.bench;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/** The benchmark's command line (picocli): defaults, every option, and refusals before anything is measured. */
class BenchOptionsTest {
    @Test
    void defaultsAndEveryOption() {
        Bench.Options d = new Bench.Options();
        new CommandLine(d).parseArgs();
        assertThat(new int[] {d.boots, d.count, d.bytes}).containsExactly(3, 1000, 64);
        assertThat(d.vfioUserQemu).isNull();
        assertThat(d.debianDisk).as("the disk guest's rows only on request").isFalse();

        Bench.Options o = new Bench.Options();
        new CommandLine(o)
                .parseArgs(
                        "--boots",
                        "2",
                        "--count",
                        "50",
                        "--bytes",
                        "128",
                        "--vfio-user-qemu",
                        "/opt/q/qemu",
                        "--debian-disk");
        assertThat(new int[] {o.boots, o.count, o.bytes}).containsExactly(2, 50, 128);
        assertThat(o.vfioUserQemu).isEqualTo(Path.of("/opt/q/qemu"));
        assertThat(o.debianDisk).isTrue();
    }

    @Test
    void badInputExitsTwoWithUsageAndMeasuresNothing() {
        for (String[] args : new String[][] {{"--boots", "0"}, {"--count", "x"}, {"--nope"}}) {
            StringWriter err = new StringWriter();
            CommandLine cli = new CommandLine(new Bench.Options()).setErr(new PrintWriter(err));
            assertThat(cli.execute(args)).as(String.join(" ", args)).isEqualTo(2);
            assertThat(err.toString()).contains("Usage: bin/vgpu-hil bench");
        }
    }

    @Test
    void helpExitsZero() {
        StringWriter out = new StringWriter();
        CommandLine cli = new CommandLine(new Bench.Options()).setOut(new PrintWriter(out));
        assertThat(cli.execute("--help")).isZero();
        assertThat(out.toString()).contains("--boots", "--count", "--bytes", "--vfio-user-qemu", "--debian-disk");
    }
}

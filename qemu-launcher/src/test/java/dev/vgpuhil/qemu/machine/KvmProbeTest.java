package dev.vgpuhil.qemu.machine;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.vgpuhil.common.BoundProcesses;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.api.parallel.Isolated;

/** The accelerator probe: its firmware, its decision on this host, and what machines do with it. */
@Isolated("looks for probe QEMUs among all of the JVM's descendants: another class's machine may be probing")
class KvmProbeTest {
    /** True where KVM is known not to run our guests: no /dev/kvm, or the kvm_pvm paravirtual module. */
    static boolean kvmKnownUnusable() {
        return !Files.exists(Path.of("/dev/kvm")) || Files.isDirectory(Path.of("/sys/module/kvm_pvm"));
    }

    @Test
    void embeddedFirmwareIsTheAssembledSource(@TempDir Path tmp) throws Exception {
        // binutils comes with build-essential, which vgpu-stub/build-qemu.sh installs: missing means a broken set-up
        assertThat(Files.isExecutable(Path.of("/usr/bin/as")) && Files.isExecutable(Path.of("/usr/bin/ld")))
                .as("binutils (as, ld) installed")
                .isTrue();
        Path src = tmp.resolve("kvm-probe.S");
        try (InputStream in = KvmProbe.class.getResourceAsStream("kvm-probe.S")) {
            Files.write(src, in.readAllBytes());
        }
        BoundProcesses.Result as = BoundProcesses.run(
                List.of("as", "--64", "-o", tmp.resolve("p.o").toString(), src.toString()), Duration.ofSeconds(30));
        assertThat(as.exitCode()).as(as.stderr()).isZero();
        BoundProcesses.Result ld = BoundProcesses.run(
                List.of(
                        "ld",
                        "-Ttext=0",
                        "--oformat=binary",
                        "-e",
                        "0",
                        "-o",
                        tmp.resolve("p.bin").toString(),
                        tmp.resolve("p.o").toString()),
                Duration.ofSeconds(30));
        assertThat(ld.exitCode()).as(ld.stderr()).isZero();
        assertThat(Files.readAllBytes(tmp.resolve("p.bin"))).isEqualTo(KvmProbe.firmware());
    }

    @Test
    void firmwareReachesLongModeUnderTcg(@TempDir Path tmp) throws Exception {
        // proves the payload itself is right, so a KVM failure is KVM's
        Path fw = tmp.resolve("fw.bin");
        Files.write(fw, KvmProbe.firmware());
        Path out = tmp.resolve("out");
        Process p = BoundProcesses.start(new ProcessBuilder(
                        TestMachines.qemu().path().toString(),
                        "-machine",
                        "q35",
                        "-accel",
                        "tcg",
                        "-m",
                        "16",
                        "-bios",
                        fw.toString(),
                        "-nodefaults",
                        "-display",
                        "none",
                        "-serial",
                        "file:" + out,
                        "-no-reboot")
                .redirectErrorStream(true)
                .redirectOutput(tmp.resolve("log").toFile()));
        try {
            long deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
            while (System.nanoTime() < deadline
                    && !(Files.exists(out)
                            && Files.readString(out, StandardCharsets.ISO_8859_1)
                                    .contains("RPLK"))) {
                Thread.sleep(20);
            }
            assertThat(Files.readString(out, StandardCharsets.ISO_8859_1)).contains("RPLK");
        } finally {
            BoundProcesses.kill(p, Duration.ofSeconds(5));
        }
    }

    @Test
    void autoDecidesWithinSecondsAndSaysWhy() {
        long t0 = System.nanoTime();
        KvmProbe.Result r = KvmProbe.probe(TestMachines.qemu(), KvmProbe.DEFAULT_TIMEOUT);
        Duration took = Duration.ofNanos(System.nanoTime() - t0);
        System.out.println("[timing] KVM probe: " + took.toMillis() + " ms -> " + r);
        assertThat(took).isLessThan(Duration.ofSeconds(8));
        assertThat(r.finding()).isNotBlank();
        if (kvmKnownUnusable()) {
            assertThat(r.usable()).isFalse();
            if (Files.isDirectory(Path.of("/sys/module/kvm_pvm"))) {
                assertThat(r.finding()).contains("kvm_pvm paravirtual KVM").contains("probe: -accel kvm -cpu host");
            }
        }
        // no probe QEMU left behind
        assertThat(ProcessHandle.current()
                        .descendants()
                        .filter(h -> h.info()
                                .command()
                                .map(c -> c.contains("qemu-system"))
                                .orElse(false))
                        .toList())
                .isEmpty();

        AcceleratorChoice c = KvmProbe.decide(TestMachines.qemu());
        assertThat(c.accelerator()).isEqualTo(r.usable() ? Accelerator.KVM : Accelerator.TCG);
        assertThat(c.toString()).startsWith(r.usable() ? "kvm (kvm works" : "tcg (kvm unusable: ");
        long t1 = System.nanoTime();
        assertThat(KvmProbe.decide(TestMachines.qemu())).isSameAs(c); // cached per JVM
        assertThat(Duration.ofNanos(System.nanoTime() - t1)).isLessThan(Duration.ofMillis(50));
    }

    @Test
    void autoMachineBootsAndReportsTheAcceleratorItUsed() {
        long t0 = System.nanoTime();
        try (QemuMachine vm = TestMachines.bareKernel("auto-accel")
                .accelerator(Accelerator.AUTO)
                .start()) {
            SerialMatch m = vm.waits().forSerialLine(Pattern.compile("Linux version"));
            System.out.println("[timing] AUTO machine to 'Linux version': "
                    + Duration.ofNanos(System.nanoTime() - t0).toMillis() + " ms, " + vm.accelerator());
            assertThat(m.line()).contains("Linux version");
            assertThat(vm.accelerator()).isEqualTo(KvmProbe.decide(TestMachines.qemu()));
            assertThat(vm.commandLine())
                    .containsSequence("-accel", vm.accelerator().accelerator().qemuName());
            assertThat(vm.runDir().resolve("machine.info"))
                    .content()
                    .contains("accelerator.reason=" + vm.accelerator().reason());
            if (kvmKnownUnusable()) {
                assertThat(vm.accelerator().accelerator()).isEqualTo(Accelerator.TCG);
                assertThat(vm.accelerator().reason()).startsWith("kvm unusable: ");
            }
        }
    }

    @Test
    void explicitKvmFailsClearlyWhereKvmDoesNotWork() {
        assumeTrue(kvmKnownUnusable(), "KVM may work on this host");
        QemuMachine vm = TestMachines.bareKernel("explicit-kvm")
                .accelerator(Accelerator.KVM)
                .machine();
        assertThatThrownBy(vm::start)
                .isInstanceOf(AcceleratorUnavailableException.class)
                .isInstanceOf(MachineBootException.class)
                .hasMessageContaining("KVM requested for machine explicit-kvm but it does not work here")
                .hasMessageContaining("kvm unusable");
        assertThat(vm.isRunning()).isFalse();
        vm.close();
    }
}

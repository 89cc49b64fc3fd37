package dev.vgpuhil.qemu.machine;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.vgpuhil.common.BoundProcesses;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Disk images, a seed drive, and run directories too deep for a Unix socket path. */
class DisksAndPathsTest {
    @Test
    void socketsMoveOutOfARunDirectoryTooDeepForUnixSockets(@TempDir Path tmp) throws Exception {
        Path deep = tmp.resolve("a-rather-long-directory-name-".repeat(4)).resolve("and-deeper");
        Path socketDir;
        try (QemuMachine vm = TestMachines.bareKernel("deep").runBaseDir(deep).start()) {
            assertThat(vm.runDir().resolve("serial.sock").toString().length()).isGreaterThan(108);
            assertThat(vm.waits().forSerialLine("Linux version").line()).contains("Linux version");
            assertThat(vm.qmp().queryStatus().running()).isTrue();
            socketDir =
                    Path.of(Files.readString(vm.runDir().resolve("sockets.txt")).trim());
            assertThat(socketDir).startsWith(Path.of("/tmp"));
            assertThat(vm.mediatorSocket()).isEqualTo(socketDir.resolve("mediator.sock"));
            assertThat(vm.runDir().resolve("serial.log")).exists();
        }
        assertThat(socketDir).doesNotExist();
    }

    @Test
    void aQcow2DiskAndASeedDriveAreAttachedWithoutTouchingTheImage(@TempDir Path tmp) throws Exception {
        Path disk = tmp.resolve("user.qcow2");
        BoundProcesses.Result r = BoundProcesses.run(
                List.of("qemu-img", "create", "-q", "-f", "qcow2", disk.toString(), "64M"), Duration.ofSeconds(30));
        assertThat(r.exitCode()).as(r.stderr()).isZero();
        Path seed = tmp.resolve("seed.img");
        Files.write(seed, new byte[1024 * 1024]);
        byte[] before = Files.readAllBytes(disk);
        try (QemuMachine vm =
                TestMachines.bareKernel("disk").disk(disk).cloudInitSeed(seed).start()) {
            assertThat(String.join(" ", vm.commandLine()))
                    .contains("file=" + disk + ",if=virtio,format=qcow2," + "snapshot=on")
                    .contains("file=" + seed + ",if=virtio,format=raw,readonly=on");
            List<JsonNode> blocks = new ArrayList<>();
            vm.qmp().execute("query-block").forEach(blocks::add);
            List<String> files = blocks.stream()
                    .map(b -> b.path("inserted"))
                    .map(i -> i.path("file").asText("") + "|"
                            + i.path("image").path("filename").asText(""))
                    .toList();
            assertThat(String.join(" ", files)).contains(seed.toString());
            assertThat(blocks)
                    .anySatisfy(b -> assertThat(b.path("inserted").path("ro").booleanValue())
                            .isTrue());
        }
        assertThat(Files.readAllBytes(disk)).isEqualTo(before);
    }
}

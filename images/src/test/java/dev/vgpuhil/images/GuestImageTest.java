package dev.vgpuhil.images;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** GuestImage without building anything: overrides, errors, command lines, console parsing, the script runner. */
class GuestImageTest {
    private static final Function<String, String> NONE = k -> null;

    @TempDir
    Path tmp;

    private Path fakeImage(String name) throws IOException {
        Path dir = Files.createDirectories(tmp.resolve(name));
        Files.write(dir.resolve("vmlinuz"), new byte[] {1});
        Files.write(dir.resolve("initramfs.img"), new byte[] {2});
        Files.writeString(
                dir.resolve("IMAGE-INFO"),
                "cache_key=abc\nkernel_version=6.1.0-x\n# comment\njava_version=17.0.15\n"
                        + "ssh_host_ed25519_key=ssh-ed25519 AAAAC3\nssh_host_ed25519_fingerprint=SHA256:x\n");
        return dir;
    }

    @Test
    void propertyOverrideWinsOverEnvironment() throws IOException {
        Path byProp = fakeImage("prop");
        Path byEnv = fakeImage("env");
        GuestImage img = GuestImage.locate(
                Map.of(dev.vgpuhil.common.Setting.IMAGE.property(), byProp.toString())::get,
                Map.of(dev.vgpuhil.common.Setting.IMAGE.env(), byEnv.toString())::get,
                Duration.ofSeconds(1));
        assertThat(img.directory()).isEqualTo(byProp);
        assertThat(img.kernel()).isEqualTo(byProp.resolve("vmlinuz"));
        assertThat(img.initramfs()).isEqualTo(byProp.resolve("initramfs.img"));
        assertThat(img.info())
                .containsEntry("cache_key", "abc")
                .containsEntry("kernel_version", "6.1.0-x")
                .containsEntry("java_version", "17.0.15")
                .doesNotContainKey("# comment");
        assertThat(img.cacheKey()).isEqualTo("abc");
        assertThat(img.hostKeys()).containsExactly("ssh-ed25519 AAAAC3");
    }

    @Test
    void environmentOverrideIsUsedWithoutProperty() throws IOException {
        Path byEnv = fakeImage("env");
        GuestImage img = GuestImage.locate(
                NONE, Map.of(dev.vgpuhil.common.Setting.IMAGE.env(), byEnv.toString())::get, Duration.ofSeconds(1));
        assertThat(img.directory()).isEqualTo(byEnv);
    }

    @Test
    void missingOverrideDirectoryGivesClearMessage() {
        Path missing = tmp.resolve("no-such-image");
        assertThatThrownBy(() -> GuestImage.locate(
                        Map.of(dev.vgpuhil.common.Setting.IMAGE.property(), missing.toString())::get,
                        NONE,
                        Duration.ofSeconds(1)))
                .isInstanceOf(GuestImageException.class)
                .hasMessageContaining(missing.toString())
                .hasMessageContaining("-Dvgpu.image")
                .hasMessageContaining("does not exist");
        assertThatThrownBy(() -> GuestImage.locate(
                        NONE,
                        Map.of(dev.vgpuhil.common.Setting.IMAGE.env(), missing.toString())::get,
                        Duration.ofSeconds(1)))
                .isInstanceOf(GuestImageException.class)
                .hasMessageContaining("VGPU_IMAGE");
    }

    @Test
    void incompleteDirectoryNamesWhatIsMissing() throws IOException {
        Path dir = Files.createDirectories(tmp.resolve("half"));
        Files.write(dir.resolve("vmlinuz"), new byte[] {1});
        assertThatThrownBy(() -> GuestImage.fromDirectory(dir))
                .isInstanceOf(GuestImageException.class)
                .hasMessageContaining("initramfs.img")
                .hasMessageContaining("IMAGE-INFO")
                .hasMessageNotContaining("vmlinuz,");
    }

    @Test
    void commandLineCarriesTheKeyAsBase64() throws IOException {
        GuestImage img = GuestImage.fromDirectory(fakeImage("img"));
        String key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDx test@host";
        String line = img.kernelCommandLine(key + "\n");
        assertThat(line).startsWith("console=ttyS0 ").contains("panic=-1").doesNotContain("vgpuhil.run=");
        String b64 = line.replaceAll(".*vgpuhil\\.authkey=(\\S+).*", "$1");
        assertThat(new String(Base64.getDecoder().decode(b64), StandardCharsets.UTF_8))
                .isEqualTo(key);
        assertThat(img.kernelCommandLine(null)).isEqualTo(GuestImage.BASE_COMMAND_LINE);
    }

    @Test
    void runCommandLineCarriesTheCommandAsBase64() throws IOException {
        GuestImage img = GuestImage.fromDirectory(fakeImage("img"));
        String cmd = "java -Xint -version; cat /proc/cpuinfo | head -1 && echo \"a b\" 'c'";
        String line = img.kernelCommandLineRun(null, cmd);
        assertThat(line).doesNotContain("authkey").contains(" vgpuhil.run=");
        String b64 = line.replaceAll(".*vgpuhil\\.run=(\\S+).*", "$1");
        assertThat(new String(Base64.getDecoder().decode(b64), StandardCharsets.UTF_8))
                .isEqualTo(cmd);
        assertThat(img.kernelCommandLineRun("ssh-ed25519 AAAA x", "true"))
                .contains("vgpuhil.authkey=")
                .contains("vgpuhil.run=");
    }

    @Test
    void commandLineChecksItsInputs() throws IOException {
        GuestImage img = GuestImage.fromDirectory(fakeImage("img"));
        assertThatThrownBy(() -> img.kernelCommandLine("ssh-ed25519 A x\nssh-rsa B y"))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("ONE");
        assertThatThrownBy(() -> img.kernelCommandLine("  ")).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> img.kernelCommandLineRun(null, " ")).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> img.kernelCommandLineRun(null, "echo " + "x".repeat(1600)))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("2047");
    }

    @Test
    void parseRunReadsOutputAndExitCode() {
        String console = "[    2.2] Run /init as init process\r\nvgpu-hil: init started\r\nvgpu-hil: ready\r\n"
                + "vgpu-hil: run begin\r\nline 1\r\nline 2\r\nvgpu-hil: run end rc=3\r\n[    3.0] reboot: Power down\r\n";
        assertThat(GuestImage.parseRun(console)).hasValueSatisfying(r -> {
            assertThat(r.exitCode()).isEqualTo(3);
            assertThat(r.output()).isEqualTo("line 1\nline 2\n");
        });
        // output without a trailing newline: the end marker follows on the same line
        assertThat(GuestImage.parseRun("vgpu-hil: run begin\nno newlinevgpu-hil: run end rc=0\n"))
                .hasValue(new GuestImage.RunOutput("no newline", 0));
        assertThat(GuestImage.parseRun("vgpu-hil: run begin\nstill running\n")).isEmpty();
        assertThat(GuestImage.parseRun("vgpu-hil: ready\n")).isEmpty();
    }

    @Test
    void failingScriptReportsItsStderrTail() throws IOException {
        Path script = tmp.resolve("fail.sh");
        Files.writeString(
                script,
                "for i in $(seq 1 100); do echo \"progress $i\" >&2; done\n"
                        + "echo 'ERROR: apt-get download failed' >&2\nexit 3\n");
        assertThatThrownBy(() -> GuestImage.runScript(script, tmp, Duration.ofSeconds(30)))
                .isInstanceOf(GuestImageException.class)
                .hasMessageContaining("exit code 3")
                .hasMessageContaining("ERROR: apt-get download failed")
                .hasMessageContaining("progress 100")
                .hasMessageNotContaining("progress 1\n");
    }

    @Test
    void scriptOverItsDeadlineIsKilled() throws Exception {
        Path pidFile = tmp.resolve("child.pid");
        Path script = tmp.resolve("slow.sh");
        Files.writeString(script, "echo building >&2\nsleep 60 &\necho $! > '" + pidFile + "'\nwait\n");
        long t0 = System.nanoTime();
        assertThatThrownBy(() -> GuestImage.runScript(script, tmp, Duration.ofSeconds(2)))
                .isInstanceOf(GuestImageException.class)
                .hasMessageContaining("did not finish within 2 s")
                .hasMessageContaining("building");
        assertThat(Duration.ofNanos(System.nanoTime() - t0)).isLessThan(Duration.ofSeconds(20));
        long child = Long.parseLong(Files.readString(pidFile).trim());
        // SIGKILL is asynchronous, and the orphan is reaped by whoever PID 1 is: gone or a zombie both count as dead
        long until = System.nanoTime() + Duration.ofSeconds(10).toNanos();
        while (running(child) && System.nanoTime() < until) {
            Thread.sleep(20);
        }
        assertThat(running(child)).as("child sleep %d killed", child).isFalse();
    }

    private static boolean running(long pid) {
        try {
            String stat = Files.readString(Path.of("/proc/" + pid + "/stat"));
            String state = stat.substring(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
            return !state.equals("Z") && !state.equals("X");
        } catch (IOException e) {
            return false;
        }
    }

    @Test
    void scriptOutputLastLineIsTheDirectory() throws IOException {
        Path script = tmp.resolve("ok.sh");
        Files.writeString(script, "echo progress >&2\necho first\necho /some/dir\necho\n");
        assertThat(GuestImage.runScript(script, tmp, Duration.ofSeconds(30))).isEqualTo(Path.of("/some/dir"));
    }

    @Test
    void theScriptsComeFromTheShippedTreeWithoutAnyRepositorySetting() throws IOException {
        org.junit.jupiter.api.Assumptions.assumeTrue(
                dev.vgpuhil.common.Setting.REPO.value().isEmpty(),
                "-Dvgpu.repo is set: the checkout is used on purpose");
        Path root = GuestImage.repoRoot();
        assertThat(root)
                .startsWith(dev.vgpuhil.common.ShippedScripts.cacheRoot().resolve("scripts"));
        assertThat(root.resolve(GuestImage.SCRIPT)).isRegularFile().isExecutable();
        assertThat(root.resolve("images/initramfs/init")).hasSameTextualContentAs(Path.of("initramfs/init"));
        assertThat(root.resolve(NoCloudSeed.SCRIPT)).isExecutable();
        assertThat(root.resolve(DebianDisk.SCRIPT)).isExecutable();
    }

    @Test
    void parseInfoKeepsOrderAndSplitsAtFirstEquals() {
        assertThat(GuestImage.parseInfo(List.of("a=1", "b=x=y", "junk", "=v", "c= 3 ")))
                .containsExactly(Map.entry("a", "1"), Map.entry("b", "x=y"), Map.entry("c", "3"));
    }
}

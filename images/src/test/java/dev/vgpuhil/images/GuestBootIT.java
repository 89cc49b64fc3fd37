package dev.vgpuhil.images;

import static org.assertj.core.api.Assertions.assertThat;

import io.qameta.allure.Allure;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Real boots of the CI guest under TCG with Debian's stock QEMU and qboot: a NIC-less run-and-power-off guest, and a
 * guest with user networking that root logs into over SSH (dropbear) with a fresh ed25519 key.
 */
@Timeout(value = 20, unit = TimeUnit.MINUTES)
class GuestBootIT {
    private static final Duration BOOT_DEADLINE = Duration.ofSeconds(120);
    private static GuestImage image;

    @TempDir
    Path tmp;

    @BeforeAll
    static void image() {
        image = GuestImage.locate();
    }

    @Test
    void runCommandPrintsBetweenMarkersAndPowersOff() throws Exception {
        String append = image.kernelCommandLineRun(
                null,
                "java -Xint -version; cat /proc/cpuinfo | head -1; test -x /usr/local/bin/test_vgpu_enhanced && echo TESTPROG_OK;"
                        + " touch /tmp/w && echo TMP_OK; test -d /sys/bus/pci/drivers/uio_pci_generic && echo UIO_OK;"
                        + " exit 7");
        String console;
        try (TcgGuest guest = TcgGuest.boot(image, append, false, tmp)) {
            long initAt = guest.await(GuestImage.MARKER_INIT_STARTED, BOOT_DEADLINE);
            long readyAt = guest.await(GuestImage.MARKER_READY, BOOT_DEADLINE);
            long endAt = guest.await(GuestImage.MARKER_RUN_END, BOOT_DEADLINE);
            int rc = guest.awaitExit(Duration.ofSeconds(30));
            long exitAt = guest.millisSinceLaunch();
            console = guest.console();
            attach("serial console (run)", console);
            System.out.printf(
                    "[images] TCG boot, no NIC: init %d ms, ready %d ms, run result (java -Xint -version) %d ms,"
                            + " QEMU exited %d ms after launch (rc %d)%n",
                    initAt, readyAt, endAt, exitAt, rc);
            assertThat(rc).as("QEMU exit code after poweroff").isZero();
        }
        assertThat(console)
                .contains(GuestImage.MARKER_INIT_STARTED, GuestImage.MARKER_READY)
                .doesNotContain(GuestImage.MARKER_NETWORK_UP)
                .doesNotContain(GuestImage.MARKER_SSH_READY);
        assertThat(console.indexOf(GuestImage.MARKER_INIT_STARTED))
                .isLessThan(console.indexOf(GuestImage.MARKER_READY));
        assertThat(console.indexOf(GuestImage.MARKER_READY)).isLessThan(console.indexOf(GuestImage.MARKER_RUN_BEGIN));
        GuestImage.RunOutput run = GuestImage.parseRun(console).orElseThrow();
        assertThat(run.exitCode()).isEqualTo(7);
        assertThat(run.output())
                .contains("openjdk version \"17.")
                .contains("interpreted mode")
                .containsPattern("(?m)^processor\\s*: 0$")
                .contains("TESTPROG_OK")
                .contains("TMP_OK")
                .as("uio_pci_generic loaded at boot")
                .contains("UIO_OK");
        assertThat(console).contains("reboot: Power down");
    }

    @Test
    void rootLogsInOverSshWithTheKeyOnly() throws Exception {
        Path key = keygen("id_ed25519");
        Path wrongKey = keygen("other_ed25519");
        String authorizedLine =
                Files.readString(key.resolveSibling("id_ed25519.pub")).strip();
        try (TcgGuest guest = TcgGuest.boot(image, image.kernelCommandLine(authorizedLine), true, tmp)) {
            int port = guest.sshPort(Duration.ofSeconds(30));
            long netAt = guest.await(GuestImage.MARKER_NETWORK_UP, BOOT_DEADLINE);
            long sshReadyAt = guest.await(GuestImage.MARKER_SSH_READY, BOOT_DEADLINE);
            long readyAt = guest.await(GuestImage.MARKER_READY, BOOT_DEADLINE);
            // first SSH answer: retried until the deadline (the marker should make the first try succeed)
            Result first = null;
            long until = System.nanoTime() + BOOT_DEADLINE.toNanos();
            while (System.nanoTime() < until) {
                first = ssh(key, port, "cat /proc/version");
                if (first.rc == 0) {
                    break;
                }
                Thread.sleep(200);
            }
            long sshAnsweredAt = guest.millisSinceLaunch();
            System.out.printf(
                    "[images] TCG boot, virtio-net: network up %d ms, ssh ready %d ms, ready %d ms,"
                            + " first SSH command answered %d ms after launch (host port %d)%n",
                    netAt, sshReadyAt, readyAt, sshAnsweredAt, port);
            assertThat(first).isNotNull();
            assertThat(first.rc).as("ssh rc; stderr %s", first.err).isZero();
            assertThat(first.out)
                    .startsWith("Linux version ")
                    .contains(image.info().get("kernel_version"));

            Result env = ssh(
                    key,
                    port,
                    "id -u; java -Xint -version 2>&1; test -x /usr/local/bin/test_vgpu_enhanced && echo PROG;"
                            + " echo x > /tmp/t && cat /tmp/t; ls /sys/bus/pci/devices | head -1");
            assertThat(env.rc).as("stderr %s", env.err).isZero();
            assertThat(env.out)
                    .startsWith("0\n")
                    .contains("openjdk version \"17.")
                    .contains("PROG\n")
                    .contains("x\n")
                    .contains("0000:00:");

            Result wrong = ssh(wrongKey, port, "true");
            assertThat(wrong.rc).isEqualTo(255);
            assertThat(wrong.err).contains("Permission denied");

            attach("serial console (ssh)", guest.console());
            assertThat(guest.console()).contains(GuestImage.MARKER_INIT_STARTED);
        }
    }

    private Path keygen(String name) throws Exception {
        Path key = tmp.resolve(name);
        Result r = run(
                List.of("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "vgpu-hil-test", "-f", key.toString()),
                Duration.ofSeconds(30));
        assertThat(r.rc).as("ssh-keygen: %s", r.err).isZero();
        return key;
    }

    private Result ssh(Path key, int port, String command) throws Exception {
        return run(
                List.of(
                        "ssh",
                        "-o",
                        "StrictHostKeyChecking=no",
                        "-o",
                        "UserKnownHostsFile=/dev/null",
                        "-o",
                        "BatchMode=yes",
                        "-o",
                        "IdentitiesOnly=yes",
                        "-o",
                        "ConnectTimeout=20",
                        "-o",
                        "LogLevel=ERROR",
                        "-F",
                        "/dev/null",
                        "-i",
                        key.toString(),
                        "-p",
                        Integer.toString(port),
                        "root@127.0.0.1",
                        command),
                Duration.ofSeconds(60));
    }

    private record Result(int rc, String out, String err) {}

    private Result run(List<String> cmd, Duration deadline) throws IOException, InterruptedException {
        Path out = Files.createTempFile(tmp, "cmd", ".out");
        Path err = Files.createTempFile(tmp, "cmd", ".err");
        Process p = new ProcessBuilder(new ArrayList<>(cmd))
                .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")))
                .redirectOutput(out.toFile())
                .redirectError(err.toFile())
                .start();
        if (!p.waitFor(deadline.toMillis(), TimeUnit.MILLISECONDS)) {
            p.destroyForcibly();
            p.waitFor(5, TimeUnit.SECONDS);
            throw new AssertionError("timed out: " + cmd);
        }
        return new Result(
                p.exitValue(),
                Files.readString(out, StandardCharsets.UTF_8),
                Files.readString(err, StandardCharsets.UTF_8));
    }

    private static void attach(String name, String text) {
        Allure.addAttachment(name, "text/plain", text, ".log");
    }
}

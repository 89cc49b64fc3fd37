package dev.vgpuhil.harness.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.platform.engine.discovery.DiscoverySelectors.selectClass;

import dev.vgpuhil.harness.GuestShell;
import dev.vgpuhil.harness.agent.Agent;
import dev.vgpuhil.harness.agent.Selftest;
import dev.vgpuhil.harness.junit.GuestChoice;
import dev.vgpuhil.harness.junit.GuestVm;
import dev.vgpuhil.harness.junit.VgpuVm;
import dev.vgpuhil.harness.report.Reporting;
import dev.vgpuhil.images.DebianDisk;
import io.qameta.allure.Epic;
import io.qameta.allure.Feature;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.HexFormat;
import java.util.List;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.platform.engine.TestExecutionResult;
import org.junit.platform.testkit.engine.EngineExecutionResults;
import org.junit.platform.testkit.engine.EngineTestKit;
import org.junit.platform.testkit.engine.Event;

/**
 * Nightly (not in the default {@code mvn verify}; {@code bin/vgpu-hil nightly} runs it): the "user's own qcow2" path
 * for real. Builds the Debian disk ({@code images/build-debian-disk.sh --cloud-init}, cached) and hands its qcow2 to
 * the harness exactly as a user would ({@code vgpu.guest=qcow2:/path}, here as a JUnit configuration parameter of a
 * small test class run through the Jupiter engine): SeaBIOS runs the disk's GRUB, cloud-init takes root's key from
 * the run's NoCloud seed, the harness waits for an SSH login with that key, checks the guest's Java and uploads the
 * agent, whose selftest must pass. The image file must be unchanged afterwards (snapshot mode).
 */
@Tag("nightly")
@Epic("harness")
@Feature("guests")
class UserImageNightlyIT {

    @Test
    @DisplayName(
            "the Debian disk as a user's qcow2: own boot loader (SeaBIOS, GRUB), NoCloud seed, SSH readiness, agent selftest")
    void debianDiskAsAUsersImage() throws Exception {
        long t0 = System.nanoTime();
        DebianDisk disk = Reporting.step(
                "the Debian disk (images/build-debian-disk.sh --cloud-init, cached)", DebianDisk::locate);
        Duration build = Duration.ofNanos(System.nanoTime() - t0);
        assertThat(disk.bootable())
                .as("the disk has its own boot loader (DISK-INFO boot_loader=): %s", disk.info())
                .isTrue();
        Path image = disk.disk();
        String before = fingerprint(image);

        OnAUsersImage.reset();
        long b0 = System.nanoTime();
        EngineExecutionResults r = EngineTestKit.engine("junit-jupiter")
                .configurationParameter(Fixture.PARAMETER, "true")
                .selectors(selectClass(OnAUsersImage.class))
                .configurationParameter(GuestChoice.PROPERTY, "qcow2:" + image)
                .execute();
        Duration run = Duration.ofNanos(System.nanoTime() - b0);
        List<Event> failed = r.testEvents().failed().list();
        if (!failed.isEmpty()) {
            Throwable t = failed.get(0)
                    .getPayload(TestExecutionResult.class)
                    .orElseThrow()
                    .getThrowable()
                    .orElseThrow();
            throw new AssertionError("the test on the user's image failed: " + t.getMessage(), t);
        }
        r.testEvents().assertStatistics(s -> s.started(1).succeeded(1));

        String timings = "Debian disk (build or cache) " + build.toSeconds()
                + " s; user image launch to SSH login as root "
                + OnAUsersImage.bootTime.toMillis() / 1000.0 + " s; agent upload " + OnAUsersImage.uploadTime.toMillis()
                + " ms; selftest " + OnAUsersImage.selftest.passed() + " passed / " + OnAUsersImage.selftest.failed()
                + " failed; whole guest part (boot, tests, shutdown) " + run.toSeconds() + " s; accelerator "
                + OnAUsersImage.accelerator;
        Reporting.attachText("timings", timings);
        System.out.println("[vgpu-hil] nightly user image: " + timings);
        assertThat(fingerprint(image))
                .as("the user's image is never written (snapshot mode)")
                .isEqualTo(before);
    }

    /** Size, mtime and SHA-256 of the image. */
    private static String fingerprint(Path image) throws Exception {
        MessageDigest sha = MessageDigest.getInstance("SHA-256");
        try (InputStream in = Files.newInputStream(image)) {
            byte[] buf = new byte[1 << 20];
            for (int n; (n = in.read(buf)) > 0; ) {
                sha.update(buf, 0, n);
            }
        }
        return Files.size(image) + " " + Files.getLastModifiedTime(image) + " "
                + HexFormat.of().formatHex(sha.digest());
    }

    /** Booted from the configuration parameter {@code vgpu.guest=qcow2:...}, as a user's run would. */
    @Fixture
    @VgpuVm(name = "user-image", pool = 'B', priority = "high", vmId = 200, mediator = false, memoryMib = 1024)
    static class OnAUsersImage {
        static volatile Duration bootTime;
        static volatile Duration uploadTime;
        static volatile Selftest selftest;
        static volatile String accelerator;

        static void reset() {
            bootTime = uploadTime = null;
            selftest = null;
            accelerator = null;
        }

        @Test
        void agentSelftestOverSsh(GuestVm vm, GuestShell shell, Agent agent) {
            assertThat(vm.guest().choice().kind()).isEqualTo(GuestChoice.Kind.QCOW2);
            assertThat(vm.guest().choice().bootsFromDisk()).isTrue();
            List<String> cmd = vm.machine().commandLine();
            assertThat(cmd).as("own boot loader under SeaBIOS").doesNotContain("-kernel", "-bios");
            assertThat(String.join(" ", cmd))
                    .contains("format=qcow2,snapshot=on")
                    .contains("format=raw,readonly=on");
            assertThat(vm.machine().serial().lines()).as("GRUB booted it").anyMatch(l -> l.contains("Booting `Debian"));

            GuestShell.Result who = shell.exec(
                    "id -u; cat /proc/cmdline; cloud-init status --long 2>&1 | head -n 5",
                    vm.deadlines().scaled(Duration.ofSeconds(60)));
            Reporting.attachText("guest: id, kernel command line, cloud-init", who.stdout() + who.stderr());
            assertThat(who.stdout().lines().findFirst()).as("logged in as root").hasValue("0");
            assertThat(who.stdout())
                    .as("no key on the kernel command line: it came from the seed")
                    .doesNotContain("vgpuhil.authkey");

            Selftest s = agent.selftest(
                    "--expect-pool", "B", "--expect-priority", "high", "--expect-vm", "200", "--mediator", "absent");
            s.requireAllPassed(15);
            GuestShell.Result ci =
                    shell.exec("cloud-init status --wait --long", vm.deadlines().scaled(Duration.ofSeconds(240)));
            Reporting.attachText("guest: cloud-init status --wait --long", ci.stdout() + ci.stderr());
            assertThat(ci.stdout()).as("cloud-init finished without errors").contains("status: done");
            bootTime = vm.bootTime();
            uploadTime = vm.agentUploadTime();
            accelerator = vm.accelerator();
            selftest = s;
        }
    }
}

package dev.vgpuhil.images;

import static org.assertj.core.api.Assertions.assertThat;

import io.qameta.allure.Allure;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The real build script: it builds, its cache answers fast, and the initramfs holds what the contract says. */
@Timeout(value = 20, unit = TimeUnit.MINUTES)
class InitramfsBuildIT {
    private static GuestImage image;
    private static Duration firstCall;
    private static Set<String> entries;

    @BeforeAll
    static void build() throws Exception {
        long t0 = System.nanoTime();
        image = GuestImage.build(GuestImage.repoRoot(), GuestImage.DEFAULT_BUILD_TIMEOUT);
        firstCall = Duration.ofNanos(System.nanoTime() - t0);
        System.out.printf(
                "[images] first build-initramfs.sh call (cold build or cache): %d ms -> %s%n",
                firstCall.toMillis(), image.directory());
        entries = new TreeSet<>(sh("lz4 -dc '" + image.initramfs() + "' | cpio -t --quiet"));
    }

    @Test
    void secondCallReturnsTheSamePathFast() {
        long t0 = System.nanoTime();
        GuestImage again = GuestImage.build(GuestImage.repoRoot(), Duration.ofMinutes(2));
        Duration second = Duration.ofNanos(System.nanoTime() - t0);
        System.out.printf("[images] cached build-initramfs.sh call: %d ms%n", second.toMillis());
        assertThat(again.directory()).isEqualTo(image.directory());
        assertThat(again.info()).isEqualTo(image.info());
        assertThat(second).as("a cached call does no build").isLessThan(Duration.ofSeconds(20));
        // and through locate(), memoised per JVM (unless an override points elsewhere)
        if (dev.vgpuhil.common.Setting.IMAGE.value().isEmpty()) {
            assertThat(GuestImage.locate().directory()).isEqualTo(image.directory());
        }
    }

    @Test
    void directoryIsKeyedAndDescribed() throws IOException {
        assertThat(image.directory().getFileName().toString())
                .isEqualTo(image.cacheKey())
                .matches("[0-9a-f]{16}");
        assertThat(image.directory().getParent().getFileName().toString()).isEqualTo("images");
        assertThat(image.info())
                .containsKeys(
                        "cache_key",
                        "kernel_version",
                        "kernel_package",
                        "java_version",
                        "jdk_package",
                        "busybox_version",
                        "test_program",
                        "initramfs_bytes",
                        "ssh_host_ed25519_key");
        assertThat(image.info().get("kernel_version")).endsWith("-cloud-amd64");
        assertThat(image.info().get("java_version")).startsWith("17.");
        assertThat(image.hostKeys()).anyMatch(k -> k.startsWith("ssh-ed25519 "));
        assertThat(Files.size(image.kernel())).isGreaterThan(1_000_000);
        // legacy lz4 frame magic 0x184C2102, little-endian
        byte[] head = new byte[4];
        try (InputStream in = Files.newInputStream(image.initramfs())) {
            assertThat(in.read(head)).isEqualTo(4);
        }
        assertThat(head).containsExactly(0x02, 0x21, 0x4C, 0x18);
        // no temporary build directory left behind
        try (var siblings = Files.list(image.directory().getParent())) {
            assertThat(siblings.map(p -> p.getFileName().toString()).filter(n -> n.startsWith(".build-")))
                    .as("leftover build dirs")
                    .isEmpty();
        }
        Allure.addAttachment(
                "IMAGE-INFO", "text/plain", Files.readString(image.directory().resolve("IMAGE-INFO")), ".txt");
        System.out.printf(
                "[images] initramfs %d bytes (%d unpacked), vmlinuz %d bytes, %d cpio entries%n",
                Files.size(image.initramfs()),
                Long.parseLong(image.info().getOrDefault("initramfs_unpacked_bytes", "0")),
                Files.size(image.kernel()),
                entries.size());
    }

    @Test
    void cpioHoldsWhatTheContractSays() throws Exception {
        assertThat(entries)
                .contains(
                        "init",
                        "bin/busybox",
                        "bin/sh",
                        "sbin/poweroff",
                        "bin/base64",
                        "sbin/insmod",
                        "sbin/ip",
                        "usr/sbin/dropbear",
                        "usr/bin/dropbearkey",
                        "usr/lib/openssh/sftp-server",
                        "usr/lib/sftp-server",
                        "etc/dropbear/dropbear_ed25519_host_key",
                        "etc/passwd",
                        "etc/group",
                        "etc/shells",
                        "opt/java/bin/java",
                        "opt/java/lib/server/libjvm.so",
                        "opt/java/lib/server/classes.jsa",
                        "opt/java/lib/modules",
                        "opt/java/release",
                        "usr/local/bin/java",
                        "usr/local/bin/test_vgpu_enhanced",
                        "lib64/ld-linux-x86-64.so.2",
                        "lib/x86_64-linux-gnu/libc.so.6",
                        "lib/x86_64-linux-gnu/libz.so.1",
                        "lib/x86_64-linux-gnu/libstdc++.so.6",
                        "lib/x86_64-linux-gnu/libtomcrypt.so.1",
                        "lib/modules/load-order",
                        "proc",
                        "sys",
                        "dev",
                        "tmp",
                        "run",
                        "root");
        // every virtio module that is not built in, in the contract's order
        List<String> order = extract("lib/modules/load-order");
        List<String> expectedOrder = new ArrayList<>();
        for (String m : List.of(
                "virtio_ring",
                "virtio",
                "virtio_pci_legacy_dev",
                "virtio_pci_modern_dev",
                "virtio_pci",
                "failover",
                "net_failover",
                "virtio_net")) {
            if (!image.info().getOrDefault("kernel_builtin", "").matches("(.* )?" + m + "( .*)?")) {
                expectedOrder.add(m + ".ko");
            }
        }
        assertThat(order).containsExactlyElementsOf(expectedOrder);
        assertThat(entries)
                .containsAll(expectedOrder.stream().map(m -> "lib/modules/" + m).toList());
        // the generic UIO PCI driver for interrupt-driven clients, uio before uio_pci_generic (which needs it)
        List<String> uioOrder = extract("lib/modules/load-order-uio");
        List<String> expectedUio = new ArrayList<>();
        for (String m : List.of("uio", "uio_pci_generic")) {
            if (!image.info().getOrDefault("kernel_builtin", "").matches("(.* )?" + m + "( .*)?")) {
                expectedUio.add(m + ".ko");
            }
        }
        assertThat(uioOrder).containsExactlyElementsOf(expectedUio);
        assertThat(entries)
                .containsAll(expectedUio.stream().map(m -> "lib/modules/" + m).toList());
        assertThat(image.info())
                .containsEntry(
                        "uio_modules",
                        String.join(
                                " ",
                                expectedUio.stream()
                                        .map(m -> m.replace(".ko", ""))
                                        .toList()));
        // the init in the image is the one in the repository
        String init = String.join("\n", extract("init"));
        String repoInit = Files.readString(GuestImage.repoRoot().resolve("images/initramfs/init"))
                .strip();
        assertThat(init.strip()).isEqualTo(repoInit);
        for (String marker : List.of(
                GuestImage.MARKER_INIT_STARTED,
                GuestImage.MARKER_NETWORK_UP,
                GuestImage.MARKER_SSH_READY,
                GuestImage.MARKER_READY,
                GuestImage.MARKER_RUN_BEGIN,
                GuestImage.MARKER_RUN_END)) {
            assertThat(init).contains(marker);
        }
        // the jlinked runtime has exactly the contract's modules
        assertThat(extract("opt/java/release")).anyMatch(l -> l.equals("MODULES=\"java.base java.logging\""));
        // the test program is static
        List<String> dyn = sh(
                "lz4 -dc '" + image.initramfs() + "' | (cd \"$(mktemp -d)\" && cpio -id --quiet"
                        + " usr/local/bin/test_vgpu_enhanced && readelf -d usr/local/bin/test_vgpu_enhanced 2>&1; rm -rf \"$PWD\")");
        assertThat(String.join("\n", dyn)).contains("There is no dynamic section");
    }

    private static List<String> extract(String entry) throws Exception {
        return sh("lz4 -dc '" + image.initramfs() + "' | cpio -i --quiet --to-stdout '" + entry + "'");
    }

    private static List<String> sh(String command) throws Exception {
        Path out = Files.createTempFile("images-it", ".out");
        try {
            Process p = new ProcessBuilder("bash", "-c", "set -o pipefail; " + command)
                    .redirectErrorStream(true)
                    .redirectOutput(out.toFile())
                    .start();
            if (!p.waitFor(2, TimeUnit.MINUTES)) {
                p.descendants().forEach(ProcessHandle::destroyForcibly);
                p.destroyForcibly();
                throw new AssertionError("timed out: " + command);
            }
            List<String> lines = Files.readAllLines(out, StandardCharsets.UTF_8);
            assertThat(p.exitValue())
                    .as("exit code of %s; output %s", command, lines)
                    .isZero();
            return lines;
        } finally {
            Files.deleteIfExists(out);
        }
    }
}

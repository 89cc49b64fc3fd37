package dev.vgpuhil.mediator;

import static dev.vgpuhil.protocol.VgpuProtocol.*;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assumptions.assumeThat;

import dev.vgpuhil.protocol.ComputeRequest;
import dev.vgpuhil.qemu.QemuBinary;
import dev.vgpuhil.qemu.qtest.QtestSession;
import dev.vgpuhil.qemu.qtest.VgpuDevice;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * QEMU confined as XCP-ng's xenopsd confines it, started through the shipped vgpu-stub/xcpng/qemu-wrapper-vgpu
 * (which adds the device from the VM's config and bind-mounts the mediator's socket directory read-only into the
 * chroot, in a private mount namespace): QEMU's own {@code -chroot DIR -runas UID:GID} (it chroots and drops to
 * {@code qemu_base + domid} after the devices are realized) in a new mount namespace. The device connects before
 * the chroot, as root; after a mediator restart it reconnects after the chroot, as the unprivileged uid, through
 * the bind mount; the mediator admits it by its {@code --allowed-uids} range. Needs root (mount namespaces, bind
 * mounts, chroot).
 */
@Tag("qtest")
@DisplayName("XCP-ng confinement: chrooted, non-root QEMU reaches the mediator through a bind mount")
class ChrootedQemuIT {
    static final Duration WAIT = Duration.ofSeconds(20);
    /** XCP-ng: qemu_base (65536 here) + domid 17. */
    static final int QEMU_UID = 65536 + 17;

    static final int DOMID = 17;
    static final int VM_ID = 200;
    static final String VM_UUID = "6f1a6a3c-0d55-4b8e-9d0e-17c0ffee0017";
    static final Path WRAPPER = dev.vgpuhil.protocol.SourceTree.path("vgpu-stub", "xcpng", "qemu-wrapper-vgpu");

    @TempDir
    Path dir;

    Path sockDir;
    Path chroot;
    Mediator mediator;
    Path mediatorLog;
    QtestSession qtest;

    @BeforeEach
    void layout() throws Exception {
        assumeThat(SocketSecurity.ownUid())
                .as("mount namespaces, bind mounts and chroot need root")
                .isZero();
        sockDir = Files.createDirectory(dir.resolve("run"));
        Files.setPosixFilePermissions(sockDir, PosixFilePermissions.fromString("rwxr-xr-x"));
        // made by the wrapper (mkdir -p of the mount point, mode 0755 with root's umask), as on a dom0
        chroot = dir.resolve("root-" + DOMID);
    }

    @AfterEach
    void stop() {
        if (qtest != null) {
            qtest.close();
        }
        if (mediator != null) {
            mediator.close();
        }
    }

    Mediator startMediator(String allowedUids) throws Exception {
        mediator = new Mediator(MediatorConfig.builder()
                .socketPath(sockDir.resolve("mediator.sock"))
                .backend(BackendChoice.CPU)
                .allowedUids(allowedUids)
                .socketMode("0666")
                .logFile(mediatorLog = dir.resolve("mediator-" + System.nanoTime() + ".log"))
                .build());
        mediator.start();
        return mediator;
    }

    /**
     * The shipped vgpu-stub/xcpng/qemu-wrapper-vgpu in front of a stand-in for xenopsd's own wrapper, which does
     * what xenopsd does minus Xen: a new mount namespace, QEMU with -chroot root-DOMID and -runas UID:GID (and it
     * drops -xen-domid, which this QEMU without Xen refuses). xenstore-read is a stand-in that names the VM.
     */
    QtestSession.Builder confinedQemu() throws Exception {
        Path qemu = QemuBinary.locate().path();
        Path xenopsdWrapper = script(
                "xenopsd-qemu-wrapper",
                "#!/bin/bash",
                "a=(); while [ $# -gt 0 ]; do if [ \"$1\" = -xen-domid ]; then shift 2; else a+=(\"$1\"); shift; fi; done",
                "exec unshare --mount -- '" + qemu + "' \"${a[@]}\" -chroot '" + chroot + "' -runas " + QEMU_UID + ":"
                        + QEMU_UID);
        Path xenstoreRead = script(
                "xenstore-read",
                "#!/bin/sh",
                "[ \"$1\" = /local/domain/" + DOMID + "/vm ] && echo /vm/" + VM_UUID + " || exit 1");
        Path confDir = Files.createDirectory(dir.resolve("conf"));
        Files.writeString(
                confDir.resolve(VM_UUID + ".conf"),
                "# vgpu-hil: test VM\n"
                        + "device=pool_id=A,priority=high,vm_id=" + VM_ID + ",timeout_ms=30000\n"
                        + "socket=" + sockDir.resolve("mediator.sock") + "\n");
        // QemuBinary takes an executable without environment: one more line that sets it and runs the shipped script
        Path entry = script(
                "qemu",
                "#!/bin/sh",
                "VGPU_WRAPPER_NEXT='" + xenopsdWrapper + "' VGPU_XENSTORE_READ='" + xenstoreRead + "' VGPU_CONF_DIR='"
                        + confDir + "' VGPU_CHROOT_BASE='" + dir + "' exec '" + WRAPPER + "' \"$@\"");
        return QtestSession.builder(QemuBinary.probe(entry)).args("-xen-domid", Integer.toString(DOMID));
    }

    Path script(String name, String... lines) throws Exception {
        Path p = dir.resolve(name);
        Files.writeString(p, String.join("\n", lines) + "\n");
        Files.setPosixFilePermissions(p, PosixFilePermissions.fromString("rwx------"));
        return p;
    }

    VgpuDevice startDevice() throws Exception {
        qtest = confinedQemu().start();
        assertThat(qtest.stderr()).contains("qemu-wrapper-vgpu: domain " + DOMID + " (VM " + VM_UUID + ")");
        return VgpuDevice.attach(qtest);
    }

    static void assertVectorAdd(VgpuDevice dev, int requestId) throws InterruptedException {
        float[] a = MediatorThroughDeviceIT.ramp(64, 1.5f);
        float[] b = MediatorThroughDeviceIT.ramp(64, -0.25f);
        MediatorThroughDeviceIT.submitWhenLinkReady(
                dev, ComputeRequest.vectorAdd(a, b).encode(), requestId);
        assertThat(dev.awaitNotBusy(WAIT)).isEqualTo(STATUS_DONE);
        float[] sum = ComputeRequest.toFloats(dev.readResponse(4 * 64));
        for (int i = 0; i < sum.length; i++) {
            assertThat(sum[i]).as("element %d", i).isEqualTo(a[i] + b[i]);
        }
    }

    @Test
    @DisplayName(
            "connects before the chroot, works, and reconnects after a mediator restart as uid qemu_base+domid inside the chroot")
    void worksAndReconnectsAfterRestart() throws Exception {
        startMediator("0,65536-131071");
        VgpuDevice dev = startDevice();
        assertThat(mediator.awaitBound(VM_ID, WAIT))
                .as("HELLO from the device (connected before the chroot)")
                .isTrue();
        assertVectorAdd(dev, 1);

        // the process really is confined: its root is the chroot, its uids are the unprivileged one
        assertThat(Files.readSymbolicLink(Path.of("/proc/" + qtest.pid() + "/root")))
                .isEqualTo(chroot);
        assertThat(Files.readAllLines(Path.of("/proc/" + qtest.pid() + "/status")))
                .filteredOn(l -> l.startsWith("Uid:"))
                .singleElement()
                .asString()
                .matches("Uid:\\s+" + QEMU_UID + "\\s+" + QEMU_UID + "\\s+" + QEMU_UID + "\\s+" + QEMU_UID);

        mediator.close();
        startMediator("0,65536-131071");
        assertThat(mediator.awaitBound(VM_ID, WAIT))
                .as("the device reconnected from inside the chroot as uid %d, through the bind mount", QEMU_UID)
                .isTrue();
        assertVectorAdd(dev, 2);
    }

    @Test
    @DisplayName("after the chroot, a uid outside --allowed-uids is refused on reconnect")
    void uidOutsideTheRangeIsRefused() throws Exception {
        startMediator("0,65536-131071");
        VgpuDevice dev = startDevice();
        assertThat(mediator.awaitBound(VM_ID, WAIT)).isTrue();
        assertVectorAdd(dev, 1);
        mediator.close();
        startMediator("0"); // root only: the device's reconnect now comes from uid 65553
        assertThat(mediator.awaitBound(VM_ID, Duration.ofSeconds(3)))
                .as("refused by --allowed-uids 0")
                .isFalse();
        assertThat(Files.readString(mediatorLog)).contains("peer user " + QEMU_UID + " is not in the allowed uids 0");
    }
}

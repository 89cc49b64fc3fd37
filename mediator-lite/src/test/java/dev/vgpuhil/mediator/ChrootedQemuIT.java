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
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * QEMU confined as XCP-ng's xenopsd confines it (vgpu-stub/xcpng/README.md): QEMU's own {@code -chroot DIR -runas
 * UID:GID} (it chroots and drops to {@code qemu_base + domid} after the devices are realized), in a new mount
 * namespace, with the mediator's socket directory bind-mounted into the chroot at the same path. The device
 * connects before the chroot, as root; after a mediator restart it reconnects after the chroot, as the
 * unprivileged uid, through the bind mount; the mediator admits it by {@code --allowed-uids} range. Needs root
 * (mount namespace, bind mount, chroot).
 */
@Tag("qtest")
@DisplayName("XCP-ng confinement: chrooted, non-root QEMU reaches the mediator through a bind mount")
class ChrootedQemuIT {
    static final Duration WAIT = Duration.ofSeconds(20);
    /** XCP-ng: qemu_base (65536 here) + domid 17. */
    static final int QEMU_UID = 65536 + 17;
    static final int VM_ID = 17;

    @TempDir
    Path dir;
    Path sockDir;
    Path chroot;
    Mediator mediator;
    Path mediatorLog;
    QtestSession qtest;

    @BeforeEach
    void layout() throws Exception {
        assumeThat(SocketSecurity.ownUid()).as("mount namespaces, bind mounts and chroot need root").isZero();
        sockDir = Files.createDirectory(dir.resolve("run"));
        chroot = Files.createDirectory(dir.resolve("root-17"));
        for (Path p : List.of(dir, sockDir, chroot)) {
            Files.setPosixFilePermissions(p, PosixFilePermissions.fromString("rwxr-xr-x"));
        }
        // the mount point: the socket directory's own path inside the chroot, searchable by the QEMU uid
        Path inside = chroot.resolve(Path.of("/").relativize(sockDir));
        Files.createDirectories(inside);
        for (Path p = inside; !p.equals(chroot); p = p.getParent()) {
            Files.setPosixFilePermissions(p, PosixFilePermissions.fromString("rwxr-xr-x"));
        }
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
        mediator = Mediator.builder().socketPath(sockDir.resolve("mediator.sock")).backend(BackendChoice.CPU)
                .allowedUids(allowedUids).socketMode("0666").logFile(mediatorLog = dir.resolve("mediator-" + System.nanoTime() + ".log"))
                .build();
        mediator.start();
        return mediator;
    }

    /**
     * The QEMU 7.2 build behind a wrapper that does what xenopsd's qemu-wrapper does, minus Xen: a private mount
     * namespace with the socket directory bind-mounted into the chroot, then QEMU with -chroot and -runas.
     */
    QemuBinary confinedQemu() throws Exception {
        Path qemu = QemuBinary.locate().path();
        Path wrapper = dir.resolve("qemu-confined");
        Files.writeString(wrapper, String.join("\n",
                "#!/bin/sh",
                "# private mount namespace (as xenopsd gives QEMU), the mediator's directory bind-mounted into the chroot",
                "exec unshare --mount --propagation private -- /bin/sh -c \\",
                "  'mount --bind \"$0\" \"$1\" && shift && exec \"$@\"' \\",
                "  '" + sockDir + "' '" + chroot.resolve(Path.of("/").relativize(sockDir)) + "' \\",
                "  '" + qemu + "' \"$@\" -chroot '" + chroot + "' -runas " + QEMU_UID + ":" + QEMU_UID,
                ""));
        Files.setPosixFilePermissions(wrapper, PosixFilePermissions.fromString("rwx------"));
        return QemuBinary.probe(wrapper);
    }

    VgpuDevice startDevice() throws Exception {
        qtest = QtestSession.builder(confinedQemu()).device("vgpu-stub,socket=" + mediator.socketPath() + ",vm_id="
                + VM_ID + ",pool_id=A,priority=high,timeout_ms=30000").start();
        return VgpuDevice.attach(qtest);
    }

    static void assertVectorAdd(VgpuDevice dev, int requestId) throws InterruptedException {
        float[] a = Wire.floats(64, 1.5f);
        float[] b = Wire.floats(64, -0.25f);
        MediatorThroughDeviceIT.submitWhenLinkReady(dev, ComputeRequest.vectorAdd(a, b).encode(), requestId);
        assertThat(dev.awaitNotBusy(WAIT)).isEqualTo(STATUS_DONE);
        float[] sum = ComputeRequest.toFloats(dev.readResponse(4 * 64));
        for (int i = 0; i < sum.length; i++) {
            assertThat(sum[i]).as("element %d", i).isEqualTo(a[i] + b[i]);
        }
    }

    @Test
    @DisplayName("connects before the chroot, works, and reconnects after a mediator restart as uid qemu_base+domid inside the chroot")
    void worksAndReconnectsAfterRestart() throws Exception {
        startMediator("0,65536-131071");
        VgpuDevice dev = startDevice();
        assertThat(mediator.awaitBound(VM_ID, WAIT)).as("HELLO from the device (connected before the chroot)").isTrue();
        assertVectorAdd(dev, 1);

        // the process really is confined: its root is the chroot, its uids are the unprivileged one
        assertThat(Files.readSymbolicLink(Path.of("/proc/" + qtest.pid() + "/root"))).isEqualTo(chroot);
        assertThat(Files.readAllLines(Path.of("/proc/" + qtest.pid() + "/status")))
                .filteredOn(l -> l.startsWith("Uid:")).singleElement().asString()
                .matches("Uid:\\s+" + QEMU_UID + "\\s+" + QEMU_UID + "\\s+" + QEMU_UID + "\\s+" + QEMU_UID);

        mediator.close();
        startMediator("0,65536-131071");
        assertThat(mediator.awaitBound(VM_ID, WAIT))
                .as("the device reconnected from inside the chroot as uid %d, through the bind mount", QEMU_UID).isTrue();
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
        assertThat(mediator.awaitBound(VM_ID, Duration.ofSeconds(3))).as("refused by --allowed-uids 0").isFalse();
        assertThat(Files.readString(mediatorLog))
                .contains("peer user " + QEMU_UID + " is not in the allowed uids 0");
    }
}

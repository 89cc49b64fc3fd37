package dev.vgpuhil.agent;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Binding to uio_pci_generic on a fake sysfs: the files the agent writes and the ones it reads. The kernel's side
 * (probe making uio/uioN, devtmpfs making /dev/uioN) is laid out by the test; the real thing runs in the guest
 * (harness VectorAddIT).
 */
@DisplayName("binding the device to uio_pci_generic (fake sysfs)")
class UioBindingTest {
    @TempDir
    Path tmp;

    FakeSysfs sysfs;
    Path dev;
    Path devfs;
    final List<String> loads = new ArrayList<>();

    @BeforeEach
    void tree() throws Exception {
        sysfs = new FakeSysfs(tmp.resolve("bus/pci/devices"));
        dev = sysfs.addVgpu("0000:00:03.0");
        devfs = Files.createDirectories(tmp.resolve("dev"));
    }

    UioBinding bind(long timeoutMs, UioBinding.ModuleLoader loader) throws AgentException {
        return UioBinding.bind(
                PciDevice.find(sysfs.root, null),
                sysfs.driversDir(),
                devfs,
                loader,
                System.nanoTime() + timeoutMs * 1_000_000);
    }

    UioBinding.ModuleLoader recording(String result) {
        return m -> {
            loads.add(m);
            return result;
        };
    }

    @Test
    @DisplayName(
            "an unbound device: driver_override = uio_pci_generic, then its address into drivers/uio_pci_generic/bind")
    void bindsUnbound() throws Exception {
        Path drv = sysfs.addUioDriver();
        sysfs.addUioDevice(dev, "uio0", 21, false);
        Files.writeString(devfs.resolve("uio0"), "");
        UioBinding b = bind(1000, recording(null));
        assertThat(FakeSysfs.read(dev.resolve("driver_override"))).isEqualTo("uio_pci_generic");
        assertThat(FakeSysfs.read(drv.resolve("bind"))).isEqualTo("0000:00:03.0");
        assertThat(b.name).isEqualTo("uio0");
        assertThat(b.node).isEqualTo(devfs.resolve("uio0"));
        assertThat(b.irq).isEqualTo(21);
        assertThat(b.boundNow).isTrue();
        assertThat(loads).as("the driver was there: no modprobe").isEmpty();
    }

    @Test
    @DisplayName("a device already bound to uio_pci_generic is used as it is (nothing written)")
    void alreadyBound() throws Exception {
        Path drv = sysfs.addUioDriver();
        sysfs.addUioDevice(dev, "uio3", 22, true);
        Files.writeString(devfs.resolve("uio3"), "");
        UioBinding b = bind(1000, recording(null));
        assertThat(b.name).isEqualTo("uio3");
        assertThat(b.boundNow).isFalse();
        assertThat(dev.resolve("driver_override")).doesNotExist();
        assertThat(FakeSysfs.read(drv.resolve("bind"))).isEmpty();
        assertThat(PciDevice.find(sysfs.root, null).driverName()).isEqualTo("uio_pci_generic");
    }

    @Test
    @DisplayName("bound to another driver: an error naming it, how to unbind, and --irq=poll")
    void otherDriver() throws Exception {
        Path other = Files.createDirectories(sysfs.driversDir().resolve("vgpu_kmd"));
        Files.createSymbolicLink(dev.resolve("driver"), other);
        assertThatThrownBy(() -> bind(1000, recording(null)))
                .isInstanceOf(AgentException.class)
                .hasMessageContaining("0000:00:03.0 is bound to the kernel driver vgpu_kmd")
                .hasMessageContaining("echo 0000:00:03.0 > /sys/bus/pci/drivers/vgpu_kmd/unbind")
                .hasMessageContaining("--irq=poll");
    }

    @Test
    @DisplayName("driver not loaded: modprobe is tried; if it stays missing, an error (never a silent fallback)")
    void driverMissing() {
        assertThatThrownBy(() -> bind(1000, recording("exit 1: modprobe: module uio_pci_generic not found")))
                .isInstanceOf(AgentException.class)
                .hasMessageContaining("--irq needs Linux's uio_pci_generic driver, which is not loaded")
                .hasMessageContaining("module uio_pci_generic not found")
                .hasMessageContaining("vgpuhil.uio=0")
                .hasMessageContaining("--irq=poll");
        assertThat(loads).containsExactly("uio_pci_generic");
        assertThatThrownBy(() -> bind(1000, null)).hasMessageContaining("modprobe uio_pci_generic: not tried");
    }

    @Test
    @DisplayName("driver loaded by the module loader: binding goes on")
    void driverLoadedOnDemand() throws Exception {
        sysfs.addUioDevice(dev, "uio0", 21, false);
        Files.writeString(devfs.resolve("uio0"), "");
        UioBinding b = bind(1000, m -> {
            loads.add(m);
            sysfs.addUioDriver();
            return null;
        });
        assertThat(b.boundNow).isTrue();
        assertThat(loads).containsExactly("uio_pci_generic");
    }

    @Test
    @DisplayName("the driver refuses the device (bind write fails): an error pointing at INTx masking and dmesg")
    void refused() throws Exception {
        Path drv = Files.createDirectories(sysfs.driversDir().resolve("uio_pci_generic"));
        Files.createDirectories(drv.resolve("bind")); // writing a directory fails, as the kernel's -ENODEV would
        assertThatThrownBy(() -> bind(1000, null))
                .isInstanceOf(AgentException.class)
                .hasMessageContaining("uio_pci_generic refused 0000:00:03.0")
                .hasMessageContaining("INTx")
                .hasMessageContaining("dmesg");
    }

    @Test
    @DisplayName("bound but no uio device or no /dev node by the deadline: an error saying which")
    void noUioDevice() throws Exception {
        sysfs.addUioDriver();
        long t0 = System.nanoTime();
        assertThatThrownBy(() -> bind(100, null))
                .isInstanceOf(AgentException.class)
                .hasMessageContaining("has no uio device");
        assertThat((System.nanoTime() - t0) / 1_000_000).isGreaterThanOrEqualTo(90L);
        sysfs.addUioDevice(dev, "uio0", 21, false);
        assertThatThrownBy(() -> bind(50, null)).hasMessageContaining(devfs.resolve("uio0") + " does not exist");
    }

    @Test
    @DisplayName("a device without an IRQ cannot interrupt: an error")
    void noIrq() throws Exception {
        sysfs.addUioDriver();
        sysfs.addUioDevice(dev, "uio0", 0, false);
        Files.writeString(devfs.resolve("uio0"), "");
        assertThatThrownBy(() -> bind(1000, null))
                .isInstanceOf(AgentException.class)
                .hasMessageContaining("has no IRQ");
    }
}

package dev.vgpuhil.agent;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

@DisplayName("device discovery in a sysfs tree (a fake one in a temp dir: the root is a parameter)")
class PciDeviceTest {
    @TempDir
    Path tmp;

    FakeSysfs sysfs;

    @BeforeEach
    void tree() {
        sysfs = new FakeSysfs(tmp.resolve("devices"));
        sysfs.addDevice("0000:00:00.0", 0x8086, 0x29c0, 0x02); // host bridge
        sysfs.addDevice("0000:00:02.0", 0x1234, 0x1111, 0x02); // same vendor (bochs display), other device
        sysfs.addDevice("0000:00:01.0", 0x1af4, 0x1000, 0x00); // virtio-net
        sysfs.addVgpu("0000:00:05.0");
        sysfs.addVgpu("0000:00:04.0");
    }

    @Test
    @DisplayName("finds every vgpu-stub by vendor and device ID, sorted by address; the first is the default")
    void findsAll() throws AgentException {
        List<PciDevice> all = PciDevice.findAll(sysfs.root);
        assertThat(all).extracting(d -> d.bdf).containsExactly("0000:00:04.0", "0000:00:05.0");
        PciDevice d = PciDevice.find(sysfs.root, null);
        assertThat(d.bdf).isEqualTo("0000:00:04.0");
        assertThat(d.vendor).isEqualTo(0x1234);
        assertThat(d.device).isEqualTo(0x5647);
        assertThat(d.revision).isEqualTo(2);
        assertThat(d.resource0()).isEqualTo(sysfs.root.resolve("0000:00:04.0").resolve("resource0"));
    }

    @Test
    @DisplayName("--bdf picks one; a missing address or another device is an error naming it")
    void byBdf() throws AgentException {
        assertThat(PciDevice.find(sysfs.root, "0000:00:05.0").bdf).isEqualTo("0000:00:05.0");
        assertThatThrownBy(() -> PciDevice.find(sysfs.root, "0000:00:09.0"))
                .isInstanceOf(AgentException.class)
                .hasMessageContaining("no PCI device 0000:00:09.0");
        assertThatThrownBy(() -> PciDevice.find(sysfs.root, "0000:00:02.0"))
                .isInstanceOf(AgentException.class)
                .hasMessageContaining("0000:00:02.0 is not a vgpu-stub (vendor 0x1234, device 0x1111");
    }

    @Test
    @DisplayName("no vgpu-stub, or no sysfs at all, is an error")
    void none() {
        FakeSysfs empty = new FakeSysfs(tmp.resolve("empty"));
        empty.addDevice("0000:00:00.0", 0x8086, 0x29c0, 0x02);
        assertThatThrownBy(() -> PciDevice.find(empty.root, null))
                .isInstanceOf(AgentException.class)
                .hasMessageContaining("vgpu-stub device not found")
                .hasMessageContaining("0x1234")
                .hasMessageContaining("0x5647");
        assertThatThrownBy(() -> PciDevice.find(tmp.resolve("nothing"), null))
                .isInstanceOf(AgentException.class)
                .hasMessageContaining("cannot list PCI devices");
    }

    @Test
    @DisplayName("entries with unreadable or garbage id files are skipped, not fatal")
    void garbage() throws Exception {
        Path d = sysfs.addVgpu("0000:00:03.0");
        Files.writeString(d.resolve("vendor"), "zzz\n");
        Files.createDirectories(sysfs.root.resolve("0000:00:03.1")); // no files at all
        assertThat(PciDevice.find(sysfs.root, null).bdf).isEqualTo("0000:00:04.0");
    }

    @Test
    @DisplayName("enable writes 1 to the enable file")
    void enable() throws AgentException {
        PciDevice d = PciDevice.find(sysfs.root, null);
        d.enable();
        assertThat(FakeSysfs.enableText(d.dir)).isEqualTo("1");
    }

    @Test
    @DisplayName("a device with a bound driver is not enabled through sysfs (the kernel says EBUSY; its driver did it)")
    void enableWithDriver() throws Exception {
        Path drv = Files.createDirectories(tmp.resolve("drivers/uio_pci_generic"));
        Path dir = sysfs.root.resolve("0000:00:04.0");
        Files.createSymbolicLink(dir.resolve("driver"), drv);
        Files.writeString(dir.resolve("irq"), "21\n");
        PciDevice d = PciDevice.find(sysfs.root, null);
        assertThat(d.driverName()).isEqualTo("uio_pci_generic");
        assertThat(d.irq()).isEqualTo(21);
        d.enable();
        assertThat(FakeSysfs.enableText(d.dir)).isEqualTo("0\n");
        PciDevice other = PciDevice.find(sysfs.root, "0000:00:05.0");
        assertThat(other.driverName()).isNull();
        assertThat(other.irq()).isEqualTo(-1);
    }

    @Test
    @DisplayName("a missing revision file reads as -1 (the self-test then fails pci_revision)")
    void noRevision() throws Exception {
        Files.delete(sysfs.root.resolve("0000:00:04.0").resolve("revision"));
        assertThat(PciDevice.find(sysfs.root, null).revision).isEqualTo(-1);
    }
}

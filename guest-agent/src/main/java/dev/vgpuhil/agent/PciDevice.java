package dev.vgpuhil.agent;

import static dev.vgpuhil.protocol.VgpuProtocol.PCI_DEVICE_ID;
import static dev.vgpuhil.protocol.VgpuProtocol.PCI_VENDOR_ID;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.AccessDeniedException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/**
 * A PCI function as sysfs shows it: {@code <root>/<bdf>/{vendor,device,revision,enable,resource0}}. The root is a
 * parameter ({@code /sys/bus/pci/devices} in the guest, a temp dir in tests).
 */
public final class PciDevice {
    public static final Path SYSFS_PCI_DEVICES = Paths.get("/sys/bus/pci/devices");

    public final String bdf;
    public final Path dir;
    /** -1 when the sysfs file is missing or unreadable. */
    public final int vendor;

    public final int device;
    public final int revision;

    PciDevice(String bdf, Path dir, int vendor, int device, int revision) {
        this.bdf = bdf;
        this.dir = dir;
        this.vendor = vendor;
        this.device = device;
        this.revision = revision;
    }

    public boolean isVgpuStub() {
        return vendor == PCI_VENDOR_ID && device == PCI_DEVICE_ID;
    }

    public Path resource0() {
        return dir.resolve("resource0");
    }

    static PciDevice read(Path root, String bdf) {
        Path dir = root.resolve(bdf);
        return new PciDevice(bdf, dir, hexFile(dir, "vendor"), hexFile(dir, "device"), hexFile(dir, "revision"));
    }

    private static int hexFile(Path dir, String name) {
        try {
            long v = Hex.parseSysfs(new String(Files.readAllBytes(dir.resolve(name)), StandardCharsets.US_ASCII));
            return v < 0 || v > Integer.MAX_VALUE ? -1 : (int) v;
        } catch (IOException e) {
            return -1;
        }
    }

    /** Every vgpu-stub under root, sorted by bus address. */
    public static List<PciDevice> findAll(Path root) throws AgentException {
        List<String> names = new ArrayList<>();
        try (DirectoryStream<Path> entries = Files.newDirectoryStream(root)) {
            for (Path p : entries) {
                names.add(p.getFileName().toString());
            }
        } catch (IOException e) {
            throw new AgentException("cannot list PCI devices in " + root + ": " + e);
        }
        Collections.sort(names);
        List<PciDevice> found = new ArrayList<>();
        for (String name : names) {
            PciDevice d = read(root, name);
            if (d.isVgpuStub()) {
                found.add(d);
            }
        }
        return found;
    }

    /** The vgpu-stub at {@code bdf}, or the first one found when bdf is null. */
    public static PciDevice find(Path root, String bdf) throws AgentException {
        if (bdf != null) {
            if (!Files.isDirectory(root.resolve(bdf))) {
                throw new AgentException("no PCI device " + bdf + " in " + root);
            }
            PciDevice d = read(root, bdf);
            if (!d.isVgpuStub()) {
                throw new AgentException(bdf + " is not a vgpu-stub (vendor " + Hex.hex(d.vendor, 4) + ", device "
                        + Hex.hex(d.device, 4) + "; want " + Hex.hex(PCI_VENDOR_ID, 4) + ":"
                        + Hex.hex(PCI_DEVICE_ID, 4) + ")");
            }
            return d;
        }
        List<PciDevice> all = findAll(root);
        if (all.isEmpty()) {
            throw new AgentException("vgpu-stub device not found: no PCI device with vendor "
                    + Hex.hex(PCI_VENDOR_ID, 4) + " device " + Hex.hex(PCI_DEVICE_ID, 4) + " in " + root);
        }
        return all.get(0);
    }

    /** The name of the kernel driver bound to the device ({@code driver} symlink), or null when none is. */
    public String driverName() {
        Path link = dir.resolve("driver");
        try {
            if (!Files.isSymbolicLink(link)) {
                return Files.isDirectory(link) ? link.toRealPath().getFileName().toString() : null;
            }
            Path target = Files.readSymbolicLink(link).getFileName();
            return target == null ? null : target.toString();
        } catch (IOException e) {
            return null;
        }
    }

    /** The Linux IRQ number of the device's INTx line ({@code irq}, decimal), or -1 when unknown. */
    public int irq() {
        try {
            String t = new String(Files.readAllBytes(dir.resolve("irq")), StandardCharsets.US_ASCII).trim();
            return Integer.parseInt(t);
        } catch (IOException | NumberFormatException e) {
            return -1;
        }
    }

    /**
     * Writes "1" to {@code enable} (turns on memory decoding of a device that has no driver). A device with a bound
     * driver (uio_pci_generic after {@code vector-add --irq}) is left alone: its driver enabled it, and the kernel
     * refuses the write with EBUSY.
     */
    public void enable() throws AgentException {
        Path f = dir.resolve("enable");
        if (driverName() != null) {
            return;
        }
        try {
            Files.write(f, new byte[] {'1'});
        } catch (AccessDeniedException e) {
            throw new AgentException("no permission to write " + f + " (run as root)");
        } catch (NoSuchFileException e) {
            throw new AgentException("cannot enable " + bdf + ": " + f + " does not exist");
        } catch (IOException e) {
            throw new AgentException("cannot enable " + bdf + " via " + f + ": " + e);
        }
    }
}

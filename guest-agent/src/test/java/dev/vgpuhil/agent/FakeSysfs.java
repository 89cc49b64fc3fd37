package dev.vgpuhil.agent;

import static dev.vgpuhil.protocol.VgpuProtocol.*;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * Test data: a directory laid out like /sys/bus/pci/devices (vendor, device, revision, enable, resource0), where
 * resource0 is a plain 4 KiB file. The agent maps it with the same mmap code it uses in the guest.
 */
final class FakeSysfs {
    final Path root;

    FakeSysfs(Path root) {
        this.root = root;
        try {
            Files.createDirectories(root);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    Path addDevice(String bdf, int vendor, int device, int revision) {
        try {
            Path d = Files.createDirectories(root.resolve(bdf));
            Files.writeString(d.resolve("vendor"), Hex.hex(vendor, 4) + "\n");
            Files.writeString(d.resolve("device"), Hex.hex(device, 4) + "\n");
            Files.writeString(d.resolve("revision"), Hex.hex(revision, 2) + "\n");
            Files.writeString(d.resolve("enable"), "0\n");
            Files.write(d.resolve("resource0"), new byte[BAR0_SIZE]);
            return d;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** {@code <root>/../drivers}: where the agent looks for uio_pci_generic (next to devices, as in /sys/bus/pci). */
    Path driversDir() {
        return root.toAbsolutePath().getParent().resolve("drivers");
    }

    /** A loaded uio_pci_generic: {@code drivers/uio_pci_generic/} with a {@code bind} file. */
    Path addUioDriver() {
        try {
            Path d = Files.createDirectories(driversDir().resolve(UioBinding.DRIVER));
            Files.writeString(d.resolve("bind"), "");
            return d;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * What binding leaves behind in sysfs: {@code <dev>/irq}, {@code <dev>/uio/<uioName>/}, and with {@code bound}
     * also the {@code driver} symlink to drivers/uio_pci_generic (which must exist then).
     */
    void addUioDevice(Path dev, String uioName, int irq, boolean bound) {
        try {
            Files.writeString(dev.resolve("irq"), irq + "\n");
            Files.write(dev.resolve("config"), config(0x0406)); // memory, bus master, INTx disabled (masked)
            Files.createDirectories(dev.resolve("uio").resolve(uioName));
            if (bound) {
                Files.createSymbolicLink(dev.resolve("driver"), driversDir().resolve(UioBinding.DRIVER));
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** 64 bytes of PCI config space: vgpu-stub's IDs, the given COMMAND, STATUS 0x0010 (capability list). */
    static byte[] config(int command) {
        ByteBuffer b = ByteBuffer.allocate(64).order(ByteOrder.LITTLE_ENDIAN);
        b.putShort(0, (short) PCI_VENDOR_ID)
                .putShort(2, (short) PCI_DEVICE_ID)
                .putShort(4, (short) command)
                .putShort(6, (short) 0x0010);
        return b.array();
    }

    /** PCI COMMAND from the {@code config} file. */
    static int command(Path dev) {
        try {
            byte[] c = Files.readAllBytes(dev.resolve("config"));
            return (c[4] & 0xFF) | (c[5] & 0xFF) << 8;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** A FIFO, standing in for /dev/uioN: a write of 4 bytes makes it readable, as an interrupt would. */
    static Path mkfifo(Path path) {
        int rc = com.sun.jna.NativeLibrary.getProcess()
                .getFunction("mkfifo")
                .invokeInt(new Object[] {path.toString(), 0600});
        if (rc != 0) {
            throw new IllegalStateException("mkfifo " + path + " failed: errno " + com.sun.jna.Native.getLastError());
        }
        return path;
    }

    static String read(Path file) {
        try {
            return Files.readString(file);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    Path addVgpu(String bdf) {
        return addDevice(bdf, PCI_VENDOR_ID, PCI_DEVICE_ID, PCI_REVISION);
    }

    /** Identity registers as a vgpu-stub with pool B, priority high, vm 200 would show them. */
    static void writeIdentity(Path dev) {
        writeReg(dev, REG_POOL_ID, POOL_B);
        writeReg(dev, REG_PRIORITY, PRIORITY_HIGH);
        writeReg(dev, REG_VM_ID, 200);
        writeReg(dev, REG_PROTOCOL_VER, PROTOCOL_VERSION);
        writeReg(dev, REG_CAPABILITIES, CAP_BASIC | CAP_IRQ | CAP_MSI | CAP_TIMESTAMP);
    }

    static void writeReg(Path dev, int offset, int value) {
        try (FileChannel ch = FileChannel.open(dev.resolve("resource0"), StandardOpenOption.WRITE)) {
            ByteBuffer b = ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt(0, value);
            ch.write(b, offset);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static String enableText(Path dev) {
        try {
            return new String(Files.readAllBytes(dev.resolve("enable")), StandardCharsets.US_ASCII);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}

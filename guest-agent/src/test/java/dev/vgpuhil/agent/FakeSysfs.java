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

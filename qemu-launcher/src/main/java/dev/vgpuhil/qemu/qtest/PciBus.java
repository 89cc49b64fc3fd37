package dev.vgpuhil.qemu.qtest;

import java.util.Optional;

/**
 * PCI configuration mechanism #1 (ports 0xCF8/0xCFC) over a qtest session, after libqos/pci.c and pci-pc.c:
 * find a device, size and place BARs, enable decoding and bus mastering, walk capabilities.
 */
public final class PciBus {
    public static final int CONFIG_ADDRESS_PORT = 0xCF8;
    public static final int CONFIG_DATA_PORT = 0xCFC;

    public static final int VENDOR_ID = 0x00;
    public static final int DEVICE_ID = 0x02;
    public static final int COMMAND = 0x04;
    public static final int STATUS = 0x06;
    public static final int REVISION_ID = 0x08;
    public static final int CLASS_PROG = 0x09;
    public static final int CLASS_DEVICE = 0x0A;
    public static final int HEADER_TYPE = 0x0E;
    public static final int BAR0 = 0x10;
    public static final int CAPABILITY_LIST = 0x34;
    public static final int INTERRUPT_LINE = 0x3C;
    public static final int INTERRUPT_PIN = 0x3D;

    public static final int COMMAND_IO = 0x1;
    public static final int COMMAND_MEMORY = 0x2;
    public static final int COMMAND_MASTER = 0x4;
    public static final int COMMAND_INTX_DISABLE = 0x400;
    public static final int STATUS_CAP_LIST = 0x10;

    public static final int CAP_ID_MSI = 0x05;
    public static final int MSI_FLAGS_ENABLE = 0x0001;
    public static final int MSI_FLAGS_64BIT = 0x0080;

    /**
     * Start of the 32-bit MMIO window libqos uses on pc/q35: inside the PCI hole, above q35's MMCONFIG area
     * (0xB0000000-0xBFFFFFFF) and below the IOAPIC/LAPIC at 0xFEC00000.
     */
    public static final long MMIO_WINDOW_START = 0xE0000000L;

    private final QtestSession qtest;

    public PciBus(QtestSession qtest) {
        this.qtest = qtest;
    }

    public QtestSession session() {
        return qtest;
    }

    /** Bus/slot/function of a device. */
    public record PciAddress(int bus, int slot, int function) {
        public PciAddress {
            if (bus < 0 || bus > 255 || slot < 0 || slot > 31 || function < 0 || function > 7) {
                throw new IllegalArgumentException("bad PCI address " + bus + ":" + slot + "." + function);
            }
        }

        public int devfn() {
            return slot << 3 | function;
        }

        @Override
        public String toString() {
            return String.format("%02x:%02x.%d", bus, slot, function);
        }
    }

    private void select(PciAddress a, int offset) {
        if (offset < 0 || offset > 0xFF) {
            throw new IllegalArgumentException("config offset out of range: " + offset);
        }
        qtest.outl(CONFIG_ADDRESS_PORT, 0x80000000 | a.bus() << 16 | a.devfn() << 8 | (offset & 0xFC));
    }

    public int readConfig8(PciAddress a, int offset) {
        select(a, offset);
        return qtest.inb(CONFIG_DATA_PORT + (offset & 3));
    }

    public int readConfig16(PciAddress a, int offset) {
        select(a, offset);
        return qtest.inw(CONFIG_DATA_PORT + (offset & 2));
    }

    public int readConfig32(PciAddress a, int offset) {
        select(a, offset);
        return qtest.inl(CONFIG_DATA_PORT);
    }

    public void writeConfig8(PciAddress a, int offset, int value) {
        select(a, offset);
        qtest.outb(CONFIG_DATA_PORT + (offset & 3), value);
    }

    public void writeConfig16(PciAddress a, int offset, int value) {
        select(a, offset);
        qtest.outw(CONFIG_DATA_PORT + (offset & 2), value);
    }

    public void writeConfig32(PciAddress a, int offset, int value) {
        select(a, offset);
        qtest.outl(CONFIG_DATA_PORT, value);
    }

    /** First device on bus 0 with these IDs (all slots and functions scanned). */
    public Optional<PciAddress> find(int vendorId, int deviceId) {
        for (int slot = 0; slot < 32; slot++) {
            for (int fn = 0; fn < 8; fn++) {
                PciAddress a = new PciAddress(0, slot, fn);
                int id = readConfig32(a, VENDOR_ID);
                if ((id & 0xFFFF) == 0xFFFF) {
                    if (fn == 0) {
                        break; // no device in this slot
                    }
                    continue;
                }
                if ((id & 0xFFFF) == vendorId && id >>> 16 == deviceId) {
                    return Optional.of(a);
                }
                if (fn == 0 && (readConfig8(a, HEADER_TYPE) & 0x80) == 0) {
                    break; // single-function device
                }
            }
        }
        return Optional.empty();
    }

    /** Raw BAR register value. */
    public int readBar(PciAddress a, int bar) {
        return readConfig32(a, BAR0 + 4 * bar);
    }

    /**
     * Size of a 32-bit memory or I/O BAR: writes all ones, reads the mask back and restores the old value.
     * Returns 0 for an unimplemented BAR.
     */
    public long sizeBar(PciAddress a, int bar) {
        int off = BAR0 + 4 * bar;
        int old = readConfig32(a, off);
        writeConfig32(a, off, 0xFFFFFFFF);
        int mask = readConfig32(a, off);
        writeConfig32(a, off, old);
        if (mask == 0) {
            return 0;
        }
        boolean io = (mask & 1) != 0;
        int addrMask = mask & (io ? ~0x3 : ~0xF);
        return Integer.toUnsignedLong(-addrMask) & (io ? 0xFFFFL : 0xFFFFFFFFL);
    }

    /** Programs a 32-bit memory BAR to {@code address} (must be aligned to its size). */
    public void mapMemoryBar(PciAddress a, int bar, long address) {
        if (address < 0 || address > 0xFFFFFFFFL) {
            throw new IllegalArgumentException("address above 4 GiB for a 32-bit BAR: 0x" + Long.toHexString(address));
        }
        writeConfig32(a, BAR0 + 4 * bar, (int) address);
    }

    /** Sets COMMAND bits (memory decoding, bus mastering...) leaving the others as they are. */
    public void enable(PciAddress a, int commandBits) {
        writeConfig16(a, COMMAND, readConfig16(a, COMMAND) | commandBits);
    }

    /** Offset of the first capability with {@code capId}, following the list from 0x34. */
    public Optional<Integer> findCapability(PciAddress a, int capId) {
        if ((readConfig16(a, STATUS) & STATUS_CAP_LIST) == 0) {
            return Optional.empty();
        }
        int ptr = readConfig8(a, CAPABILITY_LIST) & 0xFC;
        for (int hops = 0; ptr != 0 && hops < 48; hops++) { // 48 caps fill 256 bytes: a longer list is a loop
            if (readConfig8(a, ptr) == capId) {
                return Optional.of(ptr);
            }
            ptr = readConfig8(a, ptr + 1) & 0xFC;
        }
        return Optional.empty();
    }

    /**
     * Enables single-vector MSI: the device will write {@code data} to {@code address} (which may be ordinary guest
     * RAM so a test can see the write). Also enables bus mastering, which MSI writes need.
     */
    public void enableMsi(PciAddress a, long address, int data) {
        int cap = findCapability(a, CAP_ID_MSI)
                .orElseThrow(() -> new IllegalStateException("device " + a + " has no MSI capability"));
        int flags = readConfig16(a, cap + 2);
        boolean is64 = (flags & MSI_FLAGS_64BIT) != 0;
        writeConfig32(a, cap + 4, (int) address);
        if (is64) {
            writeConfig32(a, cap + 8, (int) (address >>> 32));
            writeConfig16(a, cap + 12, data);
        } else {
            if (address >>> 32 != 0) {
                throw new IllegalArgumentException("32-bit MSI cannot target 0x" + Long.toHexString(address));
            }
            writeConfig16(a, cap + 8, data);
        }
        // one vector: Multiple Message Enable (bits 6:4) stays 0
        writeConfig16(a, cap + 2, (flags & ~0x70) | MSI_FLAGS_ENABLE);
        enable(a, COMMAND_MASTER);
    }

    /**
     * The IOAPIC input (GSI) a bus-0 device's INTx pin reaches on q35 with the chipset's default routing
     * (hw/isa/lpc_ich9.c ich9_cc_init: pin of slot S goes to PIRQ E-H = (S + pin) % 4 + 4, and PIRQ n is GSI
     * 16 + n). Slots 25-31 have chipset-specific routing and are not covered.
     */
    public static int q35DefaultIntxGsi(PciAddress a, int interruptPin) {
        if (a.bus() != 0 || a.slot() > 24 || interruptPin < 1 || interruptPin > 4) {
            throw new IllegalArgumentException("no default q35 routing for " + a + " pin " + interruptPin);
        }
        return 16 + (a.slot() + interruptPin - 1) % 4 + 4;
    }

    /** Turns MSI off again (INTx is used instead). */
    public void disableMsi(PciAddress a) {
        findCapability(a, CAP_ID_MSI)
                .ifPresent(cap -> writeConfig16(a, cap + 2, readConfig16(a, cap + 2) & ~MSI_FLAGS_ENABLE));
    }
}

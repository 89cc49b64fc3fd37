package dev.vgpuhil.qemu.qtest;

import static dev.vgpuhil.protocol.VgpuProtocol.*;

import java.time.Duration;

/**
 * The vgpu-stub PCI function as seen through qtest: BAR0 placed and decoded, 32-bit register access, buffer
 * access, doorbell and completion polling. Register accesses are always 32-bit little-endian (qtest readl/writel
 * on x86 are little-endian guest accesses).
 */
public final class VgpuDevice {
    /** Where {@link #attach} places BAR0 (start of libqos' q35 MMIO window). */
    public static final long DEFAULT_BAR0_ADDRESS = PciBus.MMIO_WINDOW_START;

    private final QtestSession qtest;
    private final PciBus pci;
    private final PciBus.PciAddress address;
    private final long bar0;

    private VgpuDevice(QtestSession qtest, PciBus pci, PciBus.PciAddress address, long bar0) {
        this.qtest = qtest;
        this.pci = pci;
        this.address = address;
        this.bar0 = bar0;
    }

    /** Finds the device (by its PCI IDs), maps BAR0 at {@link #DEFAULT_BAR0_ADDRESS} and enables memory decoding. */
    public static VgpuDevice attach(QtestSession qtest) {
        return attach(qtest, DEFAULT_BAR0_ADDRESS);
    }

    public static VgpuDevice attach(QtestSession qtest, long bar0Address) {
        PciBus pci = new PciBus(qtest);
        PciBus.PciAddress a = pci.find(PCI_VENDOR_ID, PCI_DEVICE_ID)
                .orElseThrow(() -> new IllegalStateException(
                        String.format("no PCI device %04x:%04x on bus 0", PCI_VENDOR_ID, PCI_DEVICE_ID)));
        long size = pci.sizeBar(a, 0);
        if (size != BAR0_SIZE) {
            throw new IllegalStateException("BAR0 of " + a + " is " + size + " bytes, expected " + BAR0_SIZE);
        }
        pci.mapMemoryBar(a, 0, bar0Address);
        pci.enable(a, PciBus.COMMAND_MEMORY);
        return new VgpuDevice(qtest, pci, a, bar0Address);
    }

    public QtestSession session() {
        return qtest;
    }

    public PciBus pci() {
        return pci;
    }

    public PciBus.PciAddress address() {
        return address;
    }

    public long bar0() {
        return bar0;
    }

    private static void checkRegister(int offset) {
        if ((offset & 3) != 0 || offset < 0 || offset + 4 > BAR0_SIZE) {
            throw new IllegalArgumentException(
                    "register offset must be 4-aligned inside BAR0: 0x" + Integer.toHexString(offset));
        }
    }

    /** 32-bit read at a BAR0 offset. */
    public int readReg(int offset) {
        checkRegister(offset);
        return qtest.readl(bar0 + offset);
    }

    /** 32-bit write at a BAR0 offset. */
    public void writeReg(int offset, int value) {
        checkRegister(offset);
        qtest.writel(bar0 + offset, value);
    }

    /** Reads bytes anywhere in BAR0 (meant for the buffers, which accept 1-4 byte accesses). */
    public byte[] readBytes(int offset, int len) {
        checkRange(offset, len);
        return qtest.memread(bar0 + offset, len);
    }

    /** Writes bytes anywhere in BAR0 (meant for the buffers). */
    public void writeBytes(int offset, byte[] data) {
        checkRange(offset, data.length);
        qtest.memwrite(bar0 + offset, data);
    }

    private static void checkRange(int offset, int len) {
        if (offset < 0 || len < 0 || offset + len > BAR0_SIZE) {
            throw new IllegalArgumentException("range 0x" + Integer.toHexString(offset) + "+" + len + " leaves BAR0");
        }
    }

    public void writeRequest(byte[] payload) {
        if (payload.length > REQ_BUFFER_SIZE) {
            throw new IllegalArgumentException(payload.length + " bytes exceed the request buffer");
        }
        writeBytes(REQ_BUFFER_OFFSET, payload);
    }

    public byte[] readResponse(int len) {
        if (len < 0 || len > RESP_BUFFER_SIZE) {
            throw new IllegalArgumentException("response length out of range: " + len);
        }
        return readBytes(RESP_BUFFER_OFFSET, len);
    }

    public void ringDoorbell() {
        writeReg(REG_DOORBELL, DOORBELL_RING);
    }

    /** Writes the payload, REQUEST_LEN = payload length, REQUEST_ID, then rings. */
    public void submit(byte[] payload, int requestId) {
        writeRequest(payload);
        writeReg(REG_REQUEST_LEN, payload.length);
        writeReg(REG_REQUEST_ID, requestId);
        ringDoorbell();
    }

    public int status() {
        return readReg(REG_STATUS);
    }

    public int errorCode() {
        return readReg(REG_ERROR_CODE);
    }

    /** TIMESTAMP_HI:LO as one unsigned 64-bit value. */
    public long timestamp() {
        long lo = Integer.toUnsignedLong(readReg(REG_TIMESTAMP_LO));
        long hi = Integer.toUnsignedLong(readReg(REG_TIMESTAMP_HI));
        return hi << 32 | lo;
    }

    /**
     * Polls STATUS until it is not BUSY, without touching the virtual clock (so the reply timer cannot fire: use
     * this to wait for a real-time mediator reply). Returns the final STATUS; QtestException at the deadline.
     */
    public int awaitNotBusy(Duration wallDeadline) {
        return poll(0, wallDeadline);
    }

    /**
     * Polls STATUS until it is not BUSY, advancing the virtual clock by {@code stepNs} between polls so the
     * device's reply-deadline timer fires deterministically. Returns the final STATUS.
     */
    public int awaitNotBusyStepping(long stepNs, Duration wallDeadline) {
        if (stepNs <= 0) {
            throw new IllegalArgumentException("step must be positive: " + stepNs);
        }
        return poll(stepNs, wallDeadline);
    }

    private int poll(long stepNs, Duration wallDeadline) {
        long deadline = System.nanoTime() + wallDeadline.toNanos();
        long sleepMs = 1;
        while (true) {
            int s = status();
            if (s != STATUS_BUSY) {
                return s;
            }
            if (System.nanoTime() > deadline) {
                throw new QtestException(
                        "vgpu-stub still BUSY after " + wallDeadline + " (virtual clock " + qtest.clockNow() + " ns)",
                        null,
                        qtest.stderrTail(),
                        null);
            }
            if (stepNs > 0) {
                qtest.clockStep(stepNs);
            }
            try {
                Thread.sleep(sleepMs); // real time for the mediator link's I/O to happen in QEMU's main loop
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new QtestException("interrupted while waiting for vgpu-stub");
            }
            sleepMs = Math.min(20, sleepMs * 2);
        }
    }
}

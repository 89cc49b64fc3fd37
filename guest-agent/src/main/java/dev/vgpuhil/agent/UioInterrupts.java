package dev.vgpuhil.agent;

import com.sun.jna.Function;
import com.sun.jna.Memory;
import com.sun.jna.Native;
import com.sun.jna.NativeLibrary;
import com.sun.jna.NativeLong;
import java.nio.file.Path;

/**
 * The completion interrupt through uio_pci_generic, with JNA calls into libc. The uio node ({@code /dev/uioN}) is
 * opened {@code O_RDWR|O_CLOEXEC}; {@link #await} is {@code poll(POLLIN)} on it with the remaining time, then a
 * {@code read} of 4 bytes, the total interrupt count. A read returns only for an interrupt that came after the node
 * was opened (or after the previous read), so nothing older is ever taken for the current request.
 *
 * <p>Masking: uio_pci_generic's handler masks the line by setting the INTx-disable bit (bit 10) of PCI COMMAND, and
 * the driver has no {@code irqcontrol} (a write to /dev/uioN fails with ENOSYS). So {@link #unmask()} does what the
 * kernel's UIO how-to says for this driver: it clears that bit through the device's sysfs {@code config} file - a
 * one-byte {@code pwrite} of COMMAND's high byte (offset 5) with bit 2 cleared, the byte read once at open.
 *
 * <p>Works on any files that behave like that (the host tests use a FIFO and a plain file).
 */
public final class UioInterrupts implements Interrupts {
    // Linux generic values (the same on x86-64 and arm64)
    static final int O_RDWR = 2;
    static final int O_CLOEXEC = 0x80000;
    static final short POLLIN = 1;
    static final int EINTR = 4;
    /** PCI COMMAND's high byte in config space, and INTx-disable (COMMAND bit 10) within it. */
    static final long COMMAND_HIGH = 5;

    static final int INTX_DISABLE_HIGH = 0x04;

    private final String path;
    private final String configPath;
    private final NativeLibrary libc;
    private final Function pwrite;
    private final Function poll;
    private final Function read;
    private final Memory word = new Memory(4);
    private final Memory commandHigh = new Memory(1);
    private final Memory pollfd = new Memory(8); // struct pollfd { int fd; short events; short revents; }
    private int fd;
    private int configFd;

    private UioInterrupts(String path, int fd, String configPath, int configFd, NativeLibrary libc) {
        this.path = path;
        this.fd = fd;
        this.configPath = configPath;
        this.configFd = configFd;
        this.libc = libc;
        this.pwrite = libc.getFunction("pwrite");
        this.poll = libc.getFunction("poll");
        this.read = libc.getFunction("read");
    }

    /** Opens the uio node and the device's PCI config file ({@code <device>/config}) read-write. */
    public static UioInterrupts open(Path node, Path config) throws AgentException {
        NativeLibrary libc = NativeLibrary.getProcess();
        Function open = libc.getFunction("open");
        String path = node.toString();
        int fd = open.invokeInt(new Object[] {path, O_RDWR | O_CLOEXEC});
        if (fd < 0) {
            throw new AgentException(Errno.describe("cannot open " + path, Native.getLastError(), libc));
        }
        String configPath = config.toString();
        int configFd = open.invokeInt(new Object[] {configPath, O_RDWR | O_CLOEXEC});
        if (configFd < 0) {
            int errno = Native.getLastError();
            libc.getFunction("close").invokeInt(new Object[] {fd});
            throw new AgentException(Errno.describe("cannot open " + configPath, errno, libc));
        }
        UioInterrupts u = new UioInterrupts(path, fd, configPath, configFd, libc);
        long n = libc.getFunction("pread")
                .invokeLong(new Object[] {configFd, u.commandHigh, new NativeLong(1), new NativeLong(COMMAND_HIGH)});
        if (n != 1) {
            int errno = Native.getLastError();
            u.close();
            throw new AgentException(Errno.describe(
                    "cannot read PCI COMMAND from " + configPath + " (pread returned " + n + ")", errno, libc));
        }
        u.commandHigh.setByte(0, (byte) (u.commandHigh.getByte(0) & ~INTX_DISABLE_HIGH));
        return u;
    }

    /** Clears PCI COMMAND's INTx-disable bit (which uio_pci_generic's handler set at the last interrupt). */
    @Override
    public void unmask() throws AgentException {
        check();
        long n = pwrite.invokeLong(
                new Object[] {configFd, commandHigh, new NativeLong(1), new NativeLong(COMMAND_HIGH)});
        if (n != 1) {
            int errno = Native.getLastError();
            throw new AgentException(Errno.describe(
                    "cannot re-enable the interrupt (clear INTx-disable in PCI COMMAND via " + configPath
                            + ": pwrite returned " + n + ")",
                    errno,
                    libc));
        }
    }

    @Override
    public long await(long deadlineNanos) throws AgentException {
        check();
        while (true) {
            long left = deadlineNanos - System.nanoTime();
            if (left <= 0) {
                return -1;
            }
            int ms = (int) Math.min(Integer.MAX_VALUE, (left + 999_999) / 1_000_000);
            pollfd.setInt(0, fd);
            pollfd.setShort(4, POLLIN);
            pollfd.setShort(6, (short) 0);
            int r = poll.invokeInt(new Object[] {pollfd, new NativeLong(1), ms});
            if (r < 0) {
                int errno = Native.getLastError();
                if (errno == EINTR) {
                    continue;
                }
                throw new AgentException(Errno.describe("poll on " + path + " failed", errno, libc));
            }
            if (r == 0) {
                continue; // the deadline is checked at the top
            }
            short revents = pollfd.getShort(6);
            if ((revents & POLLIN) == 0) {
                throw new AgentException("poll on " + path + " returned events 0x"
                        + Integer.toHexString(revents & 0xFFFF) + " without POLLIN (device gone, or no IRQ for it)");
            }
            long n = read.invokeLong(new Object[] {fd, word, new NativeLong(4)});
            if (n == 4) {
                return word.getInt(0) & 0xFFFFFFFFL;
            }
            int errno = Native.getLastError();
            if (n < 0 && errno == EINTR) {
                continue;
            }
            throw new AgentException(
                    Errno.describe("read of the interrupt count from " + path + " returned " + n, errno, libc));
        }
    }

    @Override
    public String describe() {
        return path;
    }

    private void check() {
        if (fd < 0) {
            throw new IllegalStateException(path + " is closed");
        }
    }

    @Override
    public void close() {
        Function close = libc.getFunction("close");
        if (fd >= 0) {
            close.invokeInt(new Object[] {fd});
            fd = -1;
        }
        if (configFd >= 0) {
            close.invokeInt(new Object[] {configFd});
            configFd = -1;
        }
    }
}

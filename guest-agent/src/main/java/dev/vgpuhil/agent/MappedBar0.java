package dev.vgpuhil.agent;

import com.sun.jna.Function;
import com.sun.jna.Native;
import com.sun.jna.NativeLibrary;
import com.sun.jna.NativeLong;
import com.sun.jna.Pointer;
import java.io.IOException;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;

/**
 * BAR0 through {@code mmap(NULL, size, PROT_READ|PROT_WRITE, MAP_SHARED, open(path, O_RDWR), 0)} - of
 * {@code /sys/bus/pci/devices/<bdf>/resource0} in the guest, of a regular file in the host tests (same code).
 *
 * <p><b>Why {@link Pointer#getInt}/{@link Pointer#setInt} are the right accesses for MMIO.</b> Each is one JNI call
 * into libjnidispatch ({@code Native.getInt/setInt}), whose body does a single 4-byte copy from/to
 * {@code peer + offset}. In the shipped JNA 5.17.0 linux-x86-64 binary that copy is compiled to exactly one
 * {@code mov (%rcx,%rdx,1),%eax} (load) / {@code mov %eax,(%rcx,%rdx,1)} (store) - a single aligned 32-bit access,
 * never split into bytes ({@code JnaAccessWidthTest} checks this by disassembling the library in the jar). And it is
 * "volatile enough": a JNI call is opaque to the JIT and the interpreter, so every Java-level read32/write32 becomes
 * exactly one hardware access, at the point of the call, in program order - none is cached, merged, hoisted out of
 * a polling loop or dropped. (The mapping of a non-prefetchable BAR is uncached, strongly ordered memory, so the
 * CPU does not reorder or combine them either.) Offsets are checked to be 4-aligned here, so no access straddles
 * two registers.
 *
 * <p>Byte order: BAR0 is little-endian; JNA accesses in native order, so on a big-endian CPU the value is swapped.
 */
public final class MappedBar0 implements Bar0 {
    // Linux generic values (identical on x86-64, arm64, and the other architectures JNA ships for Linux).
    static final int O_RDWR = 2;
    static final int PROT_READ = 1;
    static final int PROT_WRITE = 2;
    static final int MAP_SHARED = 1;

    private static final boolean SWAP = ByteOrder.nativeOrder() == ByteOrder.BIG_ENDIAN;

    private final Pointer base;
    private final long address;
    private final int size;
    private boolean closed;

    private MappedBar0(Pointer base, int size) {
        this.base = base;
        this.address = Pointer.nativeValue(base);
        this.size = size;
    }

    /** Maps the first {@code size} bytes of {@code file} shared and read-write. */
    public static MappedBar0 open(Path file, int size) throws AgentException {
        NativeLibrary libc = NativeLibrary.getProcess();
        String path = file.toString();
        // Accessing a mapping beyond the end of a file is SIGBUS (a JVM crash); sysfs gives resource0 the BAR size.
        long length;
        try {
            length = Files.size(file);
        } catch (NoSuchFileException e) {
            throw new AgentException("cannot open " + path + ": no such file");
        } catch (IOException e) {
            throw new AgentException("cannot stat " + path + ": " + e);
        }
        if (length < size) {
            throw new AgentException(path + " is " + length + " bytes, less than the " + size + " to map");
        }
        int fd = libc.getFunction("open").invokeInt(new Object[] {path, O_RDWR});
        if (fd < 0) {
            throw new AgentException(failure("cannot open " + path, Native.getLastError(), libc));
        }
        Pointer p;
        int mmapErrno;
        try {
            p = (Pointer) libc.getFunction("mmap").invoke(Pointer.class, new Object[] {
                null, new NativeLong(size), PROT_READ | PROT_WRITE, MAP_SHARED, fd, new NativeLong(0)
            });
            mmapErrno = Native.getLastError();
        } finally {
            libc.getFunction("close").invokeInt(new Object[] {fd});
        }
        if (p == null || Pointer.nativeValue(p) == -1L) {
            throw new AgentException(failure("cannot mmap " + size + " bytes of " + path, mmapErrno, libc));
        }
        return new MappedBar0(p, size);
    }

    private static String failure(String what, int errno, NativeLibrary libc) {
        String hint = errno == 1 || errno == 13 ? " (run as root)" : "";
        return Errno.describe(what, errno, libc) + hint;
    }

    @Override
    public int read32(int offset) {
        check(offset);
        int v = base.getInt(offset);
        return SWAP ? Integer.reverseBytes(v) : v;
    }

    @Override
    public void write32(int offset, int value) {
        check(offset);
        base.setInt(offset, SWAP ? Integer.reverseBytes(value) : value);
    }

    /** The mapping's address (for diagnostics). */
    public long address() {
        return address;
    }

    public int size() {
        return size;
    }

    private void check(int offset) {
        if (closed || (offset & 3) != 0 || offset < 0 || offset > size - 4) {
            throw new IllegalArgumentException(
                    closed
                            ? "BAR0 is unmapped"
                            : "BAR0 offset " + Hex.hex(offset & 0xFFFFFFFFL, 3) + " is not a 4-aligned offset below "
                                    + size);
        }
    }

    @Override
    public void close() {
        if (!closed) {
            closed = true;
            Function munmap = NativeLibrary.getProcess().getFunction("munmap");
            munmap.invokeInt(new Object[] {base, new NativeLong(size)});
        }
    }
}

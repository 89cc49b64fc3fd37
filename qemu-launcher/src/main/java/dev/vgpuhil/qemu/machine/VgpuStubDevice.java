package dev.vgpuhil.qemu.machine;

import dev.vgpuhil.protocol.Pool;
import dev.vgpuhil.protocol.Priority;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * One {@code -device vgpu-stub,...} (properties as in vgpu-stub/DEVICE.md and {@code -device vgpu-stub,help}):
 * {@code pool_id} A/B, {@code priority} low/medium/high, {@code vm_id}, {@code socket} (the mediator's Unix socket;
 * the device connects and reconnects by itself) or {@code chardev} (a socket chardev you add with
 * {@link MachineSpec.Builder#extraArgs}), {@code timeout_ms}, and the QEMU-generic {@code id} and {@code addr}.
 *
 * <p>Immutable; every setter returns a copy. Without {@link #socket} and {@link #chardev} the machine points the
 * device at {@code mediator.sock} in its own run directory (where nobody listens unless you put a mediator
 * there), never at the device's global default {@code /tmp/vgpu-mediator.sock} that another test may own.
 */
public final class VgpuStubDevice {
    private final Pool pool;
    private final Priority priority;
    private final long vmId;
    private final Path socket;
    private final String chardev;
    private final Integer timeoutMs;
    private final String id;
    private final String addr;

    private VgpuStubDevice(
            Pool pool,
            Priority priority,
            long vmId,
            Path socket,
            String chardev,
            Integer timeoutMs,
            String id,
            String addr) {
        this.pool = pool;
        this.priority = priority;
        this.vmId = vmId;
        this.socket = socket;
        this.chardev = chardev;
        this.timeoutMs = timeoutMs;
        this.id = id;
        this.addr = addr;
    }

    /** Pool A, priority low, vm_id 0, no socket given (see class comment), device timeout 5000 ms. */
    public static VgpuStubDevice create() {
        return new VgpuStubDevice(Pool.A, Priority.LOW, 0, null, null, null, null, null);
    }

    /** A device with the given pool, priority and VM id. */
    public static VgpuStubDevice of(Pool pool, Priority priority, long vmId) {
        return create().pool(pool).priority(priority).vmId(vmId);
    }

    public VgpuStubDevice pool(Pool p) {
        return new VgpuStubDevice(Objects.requireNonNull(p), priority, vmId, socket, chardev, timeoutMs, id, addr);
    }

    public VgpuStubDevice priority(Priority p) {
        return new VgpuStubDevice(pool, Objects.requireNonNull(p), vmId, socket, chardev, timeoutMs, id, addr);
    }

    /** {@code vm_id}: 0 .. 2^32-1. */
    public VgpuStubDevice vmId(long v) {
        if (v < 0 || v > 0xFFFF_FFFFL) {
            throw new IllegalArgumentException("vm_id is a uint32: " + v);
        }
        return new VgpuStubDevice(pool, priority, v, socket, chardev, timeoutMs, id, addr);
    }

    /** The mediator's Unix socket path ({@code socket=}). */
    public VgpuStubDevice socket(Path p) {
        if (chardev != null) {
            throw new IllegalStateException("socket and chardev are exclusive");
        }
        return new VgpuStubDevice(pool, priority, vmId, p.toAbsolutePath(), null, timeoutMs, id, addr);
    }

    /** A user-made socket chardev id instead of {@link #socket} ({@code chardev=}). */
    public VgpuStubDevice chardev(String chardevId) {
        if (socket != null) {
            throw new IllegalStateException("socket and chardev are exclusive");
        }
        return new VgpuStubDevice(pool, priority, vmId, null, chardevId, timeoutMs, id, addr);
    }

    /** {@code timeout_ms}: reply deadline on QEMU's virtual clock (≥ 1; device default 5000). */
    public VgpuStubDevice timeoutMs(int ms) {
        if (ms < 1) {
            throw new IllegalArgumentException("timeout_ms must be at least 1: " + ms);
        }
        return new VgpuStubDevice(pool, priority, vmId, socket, chardev, ms, id, addr);
    }

    /** QEMU device id ({@code id=}), shown as {@link PciDevice#qdevId()}. */
    public VgpuStubDevice id(String qdevId) {
        return new VgpuStubDevice(pool, priority, vmId, socket, chardev, timeoutMs, qdevId, addr);
    }

    /** PCI slot ({@code addr=}, e.g. "05.0" or "5"). */
    public VgpuStubDevice addr(String pciAddr) {
        return new VgpuStubDevice(pool, priority, vmId, socket, chardev, timeoutMs, id, pciAddr);
    }

    public Pool pool() {
        return pool;
    }

    public Priority priority() {
        return priority;
    }

    public long vmId() {
        return vmId;
    }

    /** The configured socket (null: the machine's default, see class comment). */
    public Path socket() {
        return socket;
    }

    public String chardev() {
        return chardev;
    }

    public String id() {
        return id;
    }

    /** PCI slot, or null. */
    public String addr() {
        return addr;
    }

    /** {@code timeout_ms}, or null for the device default. */
    public Integer timeoutMs() {
        return timeoutMs;
    }

    /**
     * The {@code -device} value. {@code defaultSocket} is used when neither socket nor chardev is set. Commas in
     * paths are doubled (QEMU's option escaping).
     */
    public String toQemuArg(Path defaultSocket) {
        List<String> p = new ArrayList<>();
        p.add("vgpu-stub");
        if (id != null) {
            p.add("id=" + escape(id));
        }
        if (addr != null) {
            p.add("addr=" + escape(addr));
        }
        p.add("pool_id=" + pool.name());
        p.add("priority=" + priority.label());
        p.add("vm_id=" + vmId);
        if (chardev != null) {
            p.add("chardev=" + escape(chardev));
        } else {
            Path s = socket != null ? socket : defaultSocket;
            if (s != null) {
                p.add("socket=" + escape(s.toString()));
            }
        }
        if (timeoutMs != null) {
            p.add("timeout_ms=" + timeoutMs);
        }
        return String.join(",", p);
    }

    private static String escape(String v) {
        return v.replace(",", ",,");
    }

    @Override
    public String toString() {
        return toQemuArg(null);
    }
}

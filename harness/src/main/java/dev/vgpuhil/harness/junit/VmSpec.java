package dev.vgpuhil.harness.junit;

/** What a {@link VgpuVm} asks for, as a value (also for callers without an annotation, e.g. the benchmark). */
public record VmSpec(
        String name,
        char pool,
        String priority,
        long vmId,
        boolean mediator,
        int devices,
        int deviceTimeoutMs,
        int memoryMib,
        java.util.List<String> extraQemuArgs,
        String qemu) {

    public VmSpec {
        if (pool != 'A' && pool != 'B') {
            throw new IllegalArgumentException("pool must be 'A' or 'B', got '" + pool + "'");
        }
        extraQemuArgs = extraQemuArgs == null ? java.util.List.of() : java.util.List.copyOf(extraQemuArgs);
        qemu = qemu == null ? "" : qemu.strip();
        if (devices < 1) {
            throw new IllegalArgumentException("at least one vgpu-stub device");
        }
    }

    public static VmSpec of(VgpuVm a) {
        return new VmSpec(
                a.name(),
                a.pool(),
                a.priority(),
                a.vmId(),
                a.mediator(),
                a.devices(),
                a.deviceTimeoutMs(),
                a.memoryMib(),
                java.util.List.of(a.extraQemuArgs()),
                a.qemu());
    }

    /** One device, 512 MiB, the device's default timeout. */
    public static VmSpec simple(String name, char pool, String priority, long vmId, boolean mediator) {
        return new VmSpec(name, pool, priority, vmId, mediator, 1, 0, 512, java.util.List.of(), "");
    }

    /** A copy that runs on QEMU binary {@code path} (empty: the run's default). */
    public VmSpec withQemu(String path) {
        return new VmSpec(
                name, pool, priority, vmId, mediator, devices, deviceTimeoutMs, memoryMib, extraQemuArgs, path);
    }
}

package dev.vgpuhil.qemu.machine;

import dev.vgpuhil.qemu.DeviceHosting;
import dev.vgpuhil.qemu.QemuBinary;
import dev.vgpuhil.qemu.VfioUserServer;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * A machine's vgpu-stub devices, hosted the way its QEMU binary offers ({@link QemuBinary#hosting()}): in-QEMU
 * they are only {@code -device vgpu-stub,...} arguments; over vfio-user one {@link VfioUserServer} per device is
 * started first (socket {@code vgpu-N.sock} in the socket directory, log {@code vfio-user-N.log} in the run
 * directory) and QEMU gets {@code -device vfio-user-pci} for each. {@link #close()} stops the servers (after QEMU
 * is gone they have usually exited by themselves); safe twice.
 */
final class HostedDevices implements AutoCloseable {
    static final HostedDevices NONE = new HostedDevices(null, List.of(), List.of());

    private final DeviceHosting hosting;
    private final List<String> qemuArgs;
    private final List<VfioUserServer> servers;

    private HostedDevices(DeviceHosting hosting, List<String> qemuArgs, List<VfioUserServer> servers) {
        this.hosting = hosting;
        this.qemuArgs = List.copyOf(qemuArgs);
        this.servers = List.copyOf(servers);
    }

    /**
     * Prepares {@code devices} for {@code qemu}; with vfio-user this starts the servers. A device without its own
     * socket uses {@code defaultMediator}.
     */
    static HostedDevices start(
            QemuBinary qemu, List<VgpuStubDevice> devices, Path defaultMediator, Path runDir, Path socketDir)
            throws IOException {
        if (devices.isEmpty()) {
            return NONE;
        }
        DeviceHosting hosting = qemu.hosting();
        List<String> args = new ArrayList<>();
        if (hosting == DeviceHosting.IN_QEMU) {
            return new HostedDevices(hosting, QemuCommandLine.deviceArgs(devices, defaultMediator), List.of());
        }
        List<VfioUserServer> started = new ArrayList<>();
        Path binary = VfioUserServer.locateBinary();
        try {
            for (int i = 0; i < devices.size(); i++) {
                VgpuStubDevice d = devices.get(i);
                if (d.chardev() != null) {
                    throw new IllegalArgumentException("vgpu-stub device " + d + ": chardev= exists only in-QEMU;"
                            + " over vfio-user give the mediator's socket path");
                }
                VfioUserServer s = VfioUserServer.start(new VfioUserServer.Config(
                        binary,
                        socketDir.resolve("vgpu-" + i + ".sock"),
                        d.socket() != null ? d.socket() : defaultMediator,
                        d.pool().name().charAt(0),
                        d.priority().label(),
                        d.vmId(),
                        d.timeoutMs(),
                        runDir.resolve("vfio-user-" + i + ".log")));
                started.add(s);
                args.addAll(List.of("-device", s.qemuDeviceArg(d.id(), d.addr())));
            }
        } catch (IOException | RuntimeException e) {
            started.forEach(VfioUserServer::close);
            throw e;
        }
        return new HostedDevices(hosting, args, started);
    }

    /** The hosting in use; empty when the machine has no vgpu-stub device. */
    Optional<DeviceHosting> hosting() {
        return Optional.ofNullable(hosting);
    }

    /** The {@code -device} arguments for QEMU. */
    List<String> qemuArgs() {
        return qemuArgs;
    }

    List<VfioUserServer> servers() {
        return servers;
    }

    /** The servers' logs by file name. */
    Map<String, Path> logFiles() {
        Map<String, Path> m = new LinkedHashMap<>();
        servers.forEach(s -> m.put(s.log().getFileName().toString(), s.log()));
        return m;
    }

    @Override
    public void close() {
        servers.forEach(VfioUserServer::close);
    }
}

package dev.vgpuhil.qemu.device;

import dev.vgpuhil.qemu.qtest.QtestSession;
import dev.vgpuhil.qemu.qtest.VgpuDevice;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;

/**
 * A qtest QEMU with one vgpu-stub, BAR0 mapped: the fixture of the device tests. AutoCloseable. The device is
 * hosted by {@link DeviceHostings#current()}: the QEMU line of the running {@link OnEveryHosting} class.
 */
final class VgpuMachine implements AutoCloseable {
    final QtestSession qtest;
    final VgpuDevice dev;

    private VgpuMachine(QtestSession qtest) {
        this.qtest = qtest;
        this.dev = VgpuDevice.attach(qtest);
    }

    /**
     * A device whose mediator socket path does not exist (so tests never meet a mediator someone else runs at
     * the default path), plus the given properties.
     */
    static VgpuMachine withoutMediator(String... props) {
        List<String> all = new ArrayList<>(List.of(props));
        all.add("socket=" + absentSocket());
        return start(all, List.of());
    }

    /** A device using the mediator socket at {@code socket}. */
    static VgpuMachine withMediator(Path socket, String... props) {
        List<String> all = new ArrayList<>(List.of(props));
        all.add("socket=" + socket);
        return start(all, List.of());
    }

    static VgpuMachine start(List<String> props, List<String> extraArgs) {
        return new VgpuMachine(
                builder(props).args(extraArgs.toArray(String[]::new)).start());
    }

    static VgpuMachine attach(QtestSession qtest) {
        return new VgpuMachine(qtest);
    }

    /** {@link DeviceHosting#settle}: interrupt signals on their way have reached QEMU's lines. */
    void settle() {
        DeviceHostings.current().settle(qtest);
    }

    static QtestSession.Builder builder(List<String> props) {
        return DeviceHostings.current().qtest(props);
    }

    static String absentSocket() {
        return "/tmp/vgpu-no-mediator-" + UUID.randomUUID() + ".sock";
    }

    @Override
    public void close() {
        qtest.close();
    }
}

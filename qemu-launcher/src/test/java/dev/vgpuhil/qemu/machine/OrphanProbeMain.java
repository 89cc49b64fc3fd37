package dev.vgpuhil.qemu.machine;

import java.nio.file.Path;

/**
 * Run in a child JVM by {@link OrphanTest}: starts a machine under the given base directory, prints
 * {@code QEMU_PID <pid> RUN_DIR <dir>}, then sleeps until it is killed.
 */
public final class OrphanProbeMain {
    private OrphanProbeMain() {}

    public static void main(String[] args) throws Exception {
        QemuMachine vm = TestMachines.bareKernel("orphan")
                .runBaseDir(Path.of(args[0]))
                .cleanup(CleanupMode.NEVER)
                .start();
        vm.waits().forSerialLine("Linux version");
        System.out.println("QEMU_PID " + vm.pid() + " RUN_DIR " + vm.runDir());
        System.out.flush();
        Thread.sleep(120_000); // the test kills us long before; this only bounds a forgotten child
    }
}

package dev.vgpuhil.qemu.machine;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;

/**
 * Run in a child JVM by StockQemuContainerTest: boots {@code stock:11.1} in its container with one device over
 * vfio-user, prints {@code QEMU <host pid>} and {@code RUNDIR <path>}, then waits to be SIGKILLed.
 */
public final class StockQemuProbe {
    private StockQemuProbe() {}

    public static void main(String[] args) throws Exception {
        QemuMachine vm = StockQemuContainerTest.stock("ctr-orphan").start();
        Path runDir = vm.runDir();
        System.out.println("QEMU "
                + Files.readString(runDir.resolve(RunDirectory.QEMU_PID)).trim());
        System.out.println("RUNDIR " + runDir);
        System.out.flush();
        Thread.sleep(Duration.ofMinutes(5).toMillis());
    }
}

package dev.vgpuhil.harness.junit;

import dev.vgpuhil.common.BoundProcesses;
import dev.vgpuhil.mediator.BackendChoice;
import java.time.Duration;
import java.util.List;

/**
 * Run in a child JVM by {@link NothingLeftBehindTest}. {@code first}: makes what a test run makes outside its run
 * directories — the run's SSH keys, a mediator (socket directory, log), a command whose output is being captured —
 * prints {@code READY <pid> <key dir> <socket> <log> <command pid>} and sleeps until it is killed. {@code next}: what
 * the next run does first (its SSH keys), then exits.
 */
public final class LeftBehindProbe {
    private LeftBehindProbe() {}

    public static void main(String[] args) throws Exception {
        VgpuVmExtension.KeyDir keys = new VgpuVmExtension.KeyDir();
        if (args[0].equals("next")) {
            keys.close();
            System.out.println("NEXT-DONE");
            return;
        }
        MediatorHandle mediator = new MediatorHandle(BackendChoice.CPU, false, Duration.ZERO, 1).start();
        Thread t = new Thread(() -> {
            try {
                BoundProcesses.run(List.of("sleep", "600"), Duration.ofMinutes(10));
            } catch (Exception e) {
                // killed with the JVM
            }
        });
        t.setDaemon(true);
        t.start();
        long sleepPid = -1;
        for (int i = 0; i < 1000 && sleepPid < 0; i++) {
            sleepPid = ProcessHandle.current()
                    .children()
                    .filter(h -> h.info().command().orElse("").endsWith("sleep"))
                    .mapToLong(ProcessHandle::pid)
                    .findFirst()
                    .orElse(-1);
            Thread.sleep(10);
        }
        System.out.println("READY " + ProcessHandle.current().pid() + " " + keys.dir + " " + mediator.socketPath() + " "
                + mediator.logFile() + " " + sleepPid);
        System.out.flush();
        Thread.sleep(120_000); // the test kills us long before; this only bounds a forgotten child
    }
}

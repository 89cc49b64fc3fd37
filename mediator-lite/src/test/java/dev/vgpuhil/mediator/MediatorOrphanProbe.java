package dev.vgpuhil.mediator;

import java.nio.file.Path;

/**
 * Run as its own JVM by MediatorProcessIT: starts a MediatorProcess, prints {@code mediator-pid=N} and waits to
 * be killed. Its mediator must not outlive it.
 */
public final class MediatorOrphanProbe {
    private MediatorOrphanProbe() {}

    public static void main(String[] args) throws Exception {
        MediatorProcess p = MediatorProcess.builder()
                .jar(Path.of(args[0]))
                .socketPath(Path.of(args[1]))
                .backend(BackendChoice.CPU)
                .logFile(Path.of(args[2]))
                .build();
        p.start();
        System.out.println("mediator-pid=" + p.pid());
        System.out.flush();
        Thread.sleep(Long.MAX_VALUE);
    }
}

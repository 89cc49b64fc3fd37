package dev.vgpuhil.common;

import java.time.Duration;
import java.util.List;

/**
 * Run in a separate JVM by BoundProcessesTreeTest: runs {@code bash args[0]} through {@link BoundProcesses#run}
 * (the script starts a grandchild and prints its pid to a file) and waits for it. The test SIGKILLs this JVM and
 * checks that the grandchild does not survive it.
 */
public final class BoundTreeProbe {
    private BoundTreeProbe() {}

    public static void main(String[] args) throws Exception {
        System.out.println("PROBE_RUNNING");
        System.out.flush();
        BoundProcesses.run(List.of("bash", args[0]), Duration.ofSeconds(120)); // the test kills us long before
    }
}

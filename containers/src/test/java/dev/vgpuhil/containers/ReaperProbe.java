package dev.vgpuhil.containers;

import org.testcontainers.containers.GenericContainer;
import org.testcontainers.utility.DockerImageName;

/**
 * Run in a child JVM by ContainerReaperTest. {@code start}: starts a labelled {@code sleep} container, prints {@code
 * CONTAINER <id>} and waits (the test SIGKILLs it); {@code exit}: the same, then an orderly exit (the shutdown hook
 * must remove it); {@code sweep}: only the engine's first use, which sweeps, then prints {@code SWEPT}.
 */
public final class ReaperProbe {
    private ReaperProbe() {}

    public static void main(String[] args) throws Exception {
        if (!ContainerEngine.availability().available()) {
            System.out.println("NO-ENGINE " + ContainerEngine.availability().reason());
            System.exit(2);
        }
        if (args[0].equals("sweep")) {
            System.out.println("SWEPT");
            return;
        }
        GenericContainer<?> c = new GenericContainer<>(
                        DockerImageName.parse(LocalImages.probe().ref()))
                .withNetworkMode("none")
                .withLabels(ContainerReaper.labels())
                .withCommand("sleep", "300");
        c.start();
        ContainerReaper.register(c.getContainerId());
        System.out.println("CONTAINER " + c.getContainerId());
        System.out.flush();
        if (args[0].equals("exit")) {
            System.exit(0);
        }
        Thread.sleep(300_000);
    }
}

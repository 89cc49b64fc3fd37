package dev.vgpuhil.containers;

import com.github.dockerjava.api.DockerClient;
import com.github.dockerjava.api.exception.NotFoundException;
import com.github.dockerjava.api.model.Container;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.logging.Logger;

/**
 * Reaps the containers this harness starts, without Ryuk: each carries {@link #labels()} (its run, its owner JVM's pid
 * and start time) and is removed on close, by a shutdown hook at an orderly JVM exit, and, after a SIGKILLed JVM, by
 * the sweep of {@link #sweepStale()} at the next JVM's first use of the engine: a container whose owner JVM is gone
 * (pid dead, or reused by a process that started at another time) is removed.
 */
public final class ContainerReaper {
    public static final String MANAGED = "dev.vgpuhil.managed";
    public static final String RUN = "dev.vgpuhil.run";
    public static final String OWNER_PID = "dev.vgpuhil.owner-pid";
    public static final String OWNER_START = "dev.vgpuhil.owner-start";

    private static final Logger LOG = Logger.getLogger(ContainerReaper.class.getName());
    private static final String RUN_ID =
            ProcessHandle.current().pid() + "-" + UUID.randomUUID().toString().substring(0, 8);
    private static final Set<String> LIVE = ConcurrentHashMap.newKeySet();

    static {
        Runtime.getRuntime()
                .addShutdownHook(new Thread(
                        () -> {
                            for (String id : List.copyOf(LIVE)) {
                                remove(id);
                            }
                        },
                        "vgpu-container-reaper"));
    }

    private ContainerReaper() {}

    /** This JVM's run id (its pid and a random part). */
    public static String runId() {
        return RUN_ID;
    }

    /** The labels every container of this JVM carries. */
    public static Map<String, String> labels() {
        Map<String, String> l = new LinkedHashMap<>();
        l.put(MANAGED, "true");
        l.put(RUN, RUN_ID);
        l.put(OWNER_PID, Long.toString(ProcessHandle.current().pid()));
        l.put(OWNER_START, startOf(ProcessHandle.current()).orElse("unknown"));
        return l;
    }

    /** {@link #labels()} as {@code docker run} arguments ({@code --label k=v ...}). */
    public static List<String> labelArgs() {
        List<String> out = new ArrayList<>();
        labels().forEach((k, v) -> {
            out.add("--label");
            out.add(k + "=" + v);
        });
        return out;
    }

    private static Optional<String> startOf(ProcessHandle h) {
        return h.info().startInstant().map(i -> Long.toString(i.toEpochMilli()));
    }

    /** A container (id or name) this JVM started: removed by the shutdown hook unless {@link #remove}d first. */
    public static void register(String idOrName) {
        LIVE.add(idOrName);
    }

    /** Force-removes the container (and its anonymous volumes); gone already is fine. True when it was there. */
    public static boolean remove(String idOrName) {
        LIVE.remove(idOrName);
        try {
            ContainerEngine.client()
                    .removeContainerCmd(idOrName)
                    .withForce(true)
                    .withRemoveVolumes(true)
                    .exec();
            return true;
        } catch (NotFoundException e) {
            return false;
        } catch (RuntimeException e) {
            LOG.warning("cannot remove container " + idOrName + ": " + e);
            return false;
        }
    }

    /** True when the owner named by the labels still runs (same pid, same start time). */
    static boolean ownerAlive(Map<String, String> labels) {
        String pid = labels.get(OWNER_PID);
        if (pid == null) {
            return false;
        }
        Optional<ProcessHandle> h;
        try {
            h = ProcessHandle.of(Long.parseLong(pid));
        } catch (NumberFormatException e) {
            return false;
        }
        if (h.isEmpty() || !h.get().isAlive()) {
            return false;
        }
        String start = labels.get(OWNER_START);
        return start == null
                || start.equals("unknown")
                || startOf(h.get()).map(start::equals).orElse(true);
    }

    /**
     * Removes every container labelled {@link #MANAGED} whose owner JVM is gone; returns their ids. Runs once at the
     * engine's first use in a JVM ({@link ContainerEngine#availability()}); safe to call again.
     */
    public static synchronized List<String> sweepStale() {
        List<String> removed = new ArrayList<>();
        DockerClient c = org.testcontainers.DockerClientFactory.instance().client();
        List<Container> all = c.listContainersCmd()
                .withShowAll(true)
                .withLabelFilter(Map.of(MANAGED, "true"))
                .exec();
        for (Container ct : all) {
            Map<String, String> l = ct.getLabels() == null ? Map.of() : ct.getLabels();
            if (RUN_ID.equals(l.get(RUN)) || ownerAlive(l)) {
                continue;
            }
            try {
                c.removeContainerCmd(ct.getId())
                        .withForce(true)
                        .withRemoveVolumes(true)
                        .exec();
                removed.add(ct.getId());
                LOG.info("removed stale container " + ct.getId() + " " + List.of(ct.getNames()) + " of dead owner pid "
                        + l.get(OWNER_PID));
            } catch (NotFoundException e) {
                // removed meanwhile (its own --rm, another sweep)
            }
        }
        return removed;
    }
}

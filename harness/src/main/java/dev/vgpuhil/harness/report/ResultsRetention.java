package dev.vgpuhil.harness.report;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/**
 * Keeps an Allure results directory to the last N test runs ({@link dev.vgpuhil.common.Setting#RUNS_KEEP}): a run is
 * one build (Maven) — every test JVM it forks has the same parent — recorded with the time it was first seen in
 * {@value #RUNS_FILE}; result, container and attachment files older than the oldest kept run go. Everything else
 * (history/ for trends, categories.json, environment.properties, executor.json) stays. Called under the results
 * directory's lock.
 */
final class ResultsRetention {
    static final String RUNS_FILE = ".vgpu-runs";

    private ResultsRetention() {}

    /** This build's id: the parent process (pid and start time), or this JVM when it has none. */
    static String currentRun() {
        ProcessHandle h = ProcessHandle.current().parent().orElse(ProcessHandle.current());
        return h.pid() + "-"
                + h.info().startInstant().map(i -> i.toEpochMilli()).orElse(0L);
    }

    /** Records {@code run} and deletes the results of runs beyond the newest {@code keep}; returns the files removed. */
    static List<Path> prune(Path dir, String run, int keep, long nowMillis) throws IOException {
        Path log = dir.resolve(RUNS_FILE);
        Map<String, Long> runs = new LinkedHashMap<>();
        if (Files.isRegularFile(log)) {
            for (String line : Files.readAllLines(log, StandardCharsets.UTF_8)) {
                String[] f = line.trim().split("\\s+");
                if (f.length == 2 && f[1].matches("\\d+")) {
                    runs.putIfAbsent(f[0], Long.parseLong(f[1]));
                }
            }
        }
        runs.putIfAbsent(run, nowMillis);
        List<Map.Entry<String, Long>> ordered = new ArrayList<>(runs.entrySet());
        ordered.sort(Map.Entry.comparingByValue());
        List<Path> removed = new ArrayList<>();
        int drop = Math.max(0, ordered.size() - Math.max(keep, 1));
        if (drop > 0) {
            long cutoff = ordered.get(drop).getValue();
            try (Stream<Path> files = Files.list(dir)) {
                for (Path f : (Iterable<Path>) files::iterator) {
                    String n = f.getFileName().toString();
                    boolean result =
                            n.endsWith("-result.json") || n.endsWith("-container.json") || n.contains("-attachment");
                    if (result
                            && Files.isRegularFile(f)
                            && Files.getLastModifiedTime(f).toMillis() < cutoff) {
                        Files.deleteIfExists(f);
                        removed.add(f);
                    }
                }
            }
            ordered = ordered.subList(drop, ordered.size());
        }
        StringBuilder b = new StringBuilder();
        for (Map.Entry<String, Long> e : ordered) {
            b.append(e.getKey()).append(' ').append(e.getValue()).append('\n');
        }
        Path tmp = dir.resolve(RUNS_FILE + ".tmp");
        Files.writeString(tmp, b.toString(), StandardCharsets.UTF_8);
        Files.move(
                tmp,
                log,
                java.nio.file.StandardCopyOption.REPLACE_EXISTING,
                java.nio.file.StandardCopyOption.ATOMIC_MOVE);
        return removed;
    }
}

package dev.vgpuhil.mediator.bench;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Stream;

/**
 * The memory of the benchmarks: every run of a bench command leaves one JSON file under a history directory
 * ({@code reports/bench/} of the checkout) with its machine, its table and its ratios, each with the spread its
 * repeated rounds showed in that run. The next run prints each ratio next to the previous run's and flags one
 * that got worse by more than the spread measured now: a change smaller than what the machine itself varies
 * by within one run is noise.
 */
public final class BenchHistory {
    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
    private static final DateTimeFormatter FILE_TIME =
            DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss").withZone(ZoneOffset.UTC);

    private BenchHistory() {}

    /** The machine a run was measured on. {@code load}: /proc/loadavg's three numbers before the run. */
    public record Machine(int cores, String model, String load, String kernel, String java, String date) {
        /** This machine now. */
        public static Machine describe() {
            return new Machine(
                    Runtime.getRuntime().availableProcessors(),
                    cpuModel(),
                    loadAverage(),
                    System.getProperty("os.name") + " " + System.getProperty("os.version"),
                    System.getProperty("java.version"),
                    Instant.now().truncatedTo(ChronoUnit.SECONDS).toString());
        }

        public String oneLine() {
            return cores + " cores (" + model + "), load " + load + ", " + kernel + ", Java " + java + ", " + date;
        }
    }

    /**
     * One ratio of a run: {@code ratio} (measured / floor of the same run), {@code spread} (max - min of the same
     * ratio over the run's repeated rounds; NaN when the row has no rounds), {@code higherIsBetter} (req/s ratios)
     * or not (latency and time ratios).
     */
    public record Ratio(String name, double ratio, double spread, boolean higherIsBetter) {
        /** A ratio with the spread of its per-round values. */
        public static Ratio of(String name, double ratio, double[] perRound, boolean higherIsBetter) {
            double lo = Double.POSITIVE_INFINITY;
            double hi = Double.NEGATIVE_INFINITY;
            for (double v : perRound) {
                lo = Math.min(lo, v);
                hi = Math.max(hi, v);
            }
            return new Ratio(name, ratio, perRound.length < 2 ? Double.NaN : hi - lo, higherIsBetter);
        }
    }

    /** One run: which bench, where, its Markdown table and its ratios. */
    public record Run(String bench, Machine machine, String table, List<Ratio> ratios) {
        public Optional<Ratio> ratio(String name) {
            return ratios.stream().filter(r -> r.name().equals(name)).findFirst();
        }
    }

    /** A ratio next to the previous run's: {@code previous} NaN when that run did not have it. */
    public record Comparison(Ratio now, double previous, boolean worse) {
        public String line() {
            String prev = Double.isNaN(previous) ? "no previous value" : "previous " + fmt(previous);
            String spread = Double.isNaN(now.spread()) ? "no spread measured" : "spread " + fmt(now.spread());
            return String.format(
                    Locale.ROOT,
                    "%-44s %s (%s, %s)%s",
                    now.name(),
                    fmt(now.ratio()),
                    prev,
                    spread,
                    worse ? "  <-- WORSE by more than the spread" : "");
        }
    }

    /**
     * Each ratio of {@code now} against {@code previous}: worse when it moved the wrong way by more than the
     * spread measured now (a ratio without a spread is never flagged: nothing says what is noise).
     */
    public static List<Comparison> compare(Run now, Optional<Run> previous) {
        List<Comparison> out = new ArrayList<>();
        for (Ratio r : now.ratios()) {
            double prev =
                    previous.flatMap(p -> p.ratio(r.name())).map(Ratio::ratio).orElse(Double.NaN);
            boolean worse = false;
            if (!Double.isNaN(prev) && !Double.isNaN(r.spread())) {
                double change = r.higherIsBetter() ? prev - r.ratio() : r.ratio() - prev;
                worse = change > r.spread();
            }
            out.add(new Comparison(r, prev, worse));
        }
        return out;
    }

    /** Writes the run as {@code <bench>-<UTC time>.json} into {@code dir} (created); returns the file. */
    public static Path write(Path dir, Run run) throws IOException {
        Files.createDirectories(dir);
        String stamp = FILE_TIME.format(Instant.parse(run.machine().date()));
        Path file = dir.resolve(run.bench() + "-" + stamp + ".json");
        for (int i = 2; Files.exists(file); i++) { // two runs in the same second
            file = dir.resolve(run.bench() + "-" + stamp + "-" + i + ".json");
        }
        JSON.writeValue(file.toFile(), run);
        return file;
    }

    /**
     * The runs of {@code bench} in {@code dir}, oldest first: by the UTC time in the file name, then by the sequence
     * {@link #write} gives runs of the same second (none = 1, then -2, -3, ...; as text "-2.json" would sort before
     * ".json"). Other files - another bench whose name starts with this one's too - are not runs; unreadable ones are
     * skipped.
     */
    public static List<Run> runs(Path dir, String bench) throws IOException {
        if (!Files.isDirectory(dir)) {
            return List.of();
        }
        java.util.regex.Pattern name = java.util.regex.Pattern.compile(
                java.util.regex.Pattern.quote(bench) + "-(\\d{8}-\\d{6})(?:-(\\d{1,9}))?\\.json");
        record Named(Path file, String stamp, long seq) {}
        List<Path> files;
        try (Stream<Path> s = Files.list(dir)) {
            files = s.map(p -> {
                        java.util.regex.Matcher m = name.matcher(p.getFileName().toString());
                        return m.matches()
                                ? new Named(p, m.group(1), m.group(2) == null ? 1 : Long.parseLong(m.group(2)))
                                : null;
                    })
                    .filter(java.util.Objects::nonNull)
                    .sorted(java.util.Comparator.comparing(Named::stamp).thenComparingLong(Named::seq))
                    .map(Named::file)
                    .toList();
        }
        List<Run> runs = new ArrayList<>();
        for (Path f : files) {
            try {
                runs.add(JSON.readValue(f.toFile(), Run.class));
            } catch (IOException e) {
                System.err.println("bench history: skipping " + f + ": " + e.getMessage());
            }
        }
        return runs;
    }

    /** The latest run of {@code bench} in {@code dir}. */
    public static Optional<Run> latest(Path dir, String bench) throws IOException {
        List<Run> runs = runs(dir, bench);
        return runs.isEmpty() ? Optional.empty() : Optional.of(runs.get(runs.size() - 1));
    }

    /** The trend picture of the last {@code n} runs (each ratio over the runs, oldest left). */
    public static String trendSvg(String title, List<Run> all, int n) {
        List<Run> last = all.subList(Math.max(0, all.size() - n), all.size());
        List<String> labels = new ArrayList<>();
        Map<String, double[]> series = new LinkedHashMap<>();
        for (int k = 0; k < last.size(); k++) {
            labels.add(last.get(k).machine().date().substring(5, 16).replace('T', ' '));
            for (Ratio r : last.get(k).ratios()) {
                double[] v = series.computeIfAbsent(r.name(), x -> {
                    double[] nan = new double[last.size()];
                    java.util.Arrays.fill(nan, Double.NaN);
                    return nan;
                });
                v[k] = r.ratio();
            }
        }
        return Svg.trend(title, labels, series);
    }

    /**
     * Remembers a finished run: compares it with the latest earlier one (printed to {@code out}), writes it and the
     * trend of the last ten runs ({@code <bench>-trend.svg}) into {@code dir}; returns the comparisons.
     */
    public static List<Comparison> remember(Path dir, Run run, java.io.PrintStream out) throws IOException {
        Optional<Run> previous = latest(dir, run.bench());
        List<Comparison> cmp = compare(run, previous);
        out.println("ratios against the previous run"
                + previous.map(p -> " (" + p.machine().oneLine() + ")").orElse(" (none in " + dir + ")") + ":");
        for (Comparison c : cmp) {
            out.println("  " + c.line());
        }
        Path file = write(dir, run);
        List<Run> all = runs(dir, run.bench());
        Files.writeString(
                dir.resolve(run.bench() + "-trend.svg"), trendSvg(run.bench() + ": ratios of the last runs", all, 10));
        out.println("run written to " + file);
        return cmp;
    }

    static String fmt(double v) {
        return String.format(Locale.ROOT, "%.2f", v);
    }

    static String cpuModel() {
        try {
            return Files.readAllLines(Path.of("/proc/cpuinfo")).stream()
                    .filter(l -> l.startsWith("model name"))
                    .findFirst()
                    .map(l -> l.substring(l.indexOf(':') + 1).trim())
                    .orElse("?");
        } catch (IOException | RuntimeException e) {
            return "?"; // not Linux
        }
    }

    static String loadAverage() {
        try {
            String[] f = Files.readString(Path.of("/proc/loadavg")).trim().split("\\s+");
            return f[0] + " " + f[1] + " " + f[2];
        } catch (IOException | RuntimeException e) {
            return "?";
        }
    }
}

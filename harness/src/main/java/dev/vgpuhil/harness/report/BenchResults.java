package dev.vgpuhil.harness.report;

import dev.vgpuhil.mediator.bench.BenchHistory;
import io.qameta.allure.AllureResultsWriter;
import io.qameta.allure.FileSystemResultsWriter;
import io.qameta.allure.model.Attachment;
import io.qameta.allure.model.Label;
import io.qameta.allure.model.Status;
import io.qameta.allure.model.TestResult;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.UUID;
import java.util.stream.Stream;

/**
 * Puts the benchmarks' memory into the Allure report: for every bench remembered in {@code reports/bench/} (a
 * {@code <bench>-trend.svg} written by {@link BenchHistory#remember}), one result "benchmark &lt;bench&gt;" in the
 * suite "benchmarks" with the trend of the last runs, the latest latency CDF where the bench draws one, and the
 * latest run's table and machine. Benchmarks are not tests, so the result is always passed; a ratio that got worse
 * is flagged in the table's comparison lines, where the bench printed it. {@code bin/bench.sh} calls {@link #main}
 * after the benches.
 */
public final class BenchResults {
    private BenchResults() {}

    /** {@code BenchResults BENCH_DIR ALLURE_RESULTS_DIR}. */
    public static void main(String[] args) throws IOException {
        if (args.length != 2) {
            System.err.println("usage: BenchResults BENCH_DIR ALLURE_RESULTS_DIR");
            System.exit(2);
        }
        List<String> written = write(Path.of(args[0]), Path.of(args[1]));
        System.out.println("[vgpu-hil] bench trends in the Allure results: " + written);
    }

    /** Writes one result per remembered bench into {@code results}; the bench names, in order. */
    public static List<String> write(Path benchDir, Path results) throws IOException {
        List<String> benches = new ArrayList<>();
        if (!Files.isDirectory(benchDir)) {
            return benches;
        }
        try (Stream<Path> s = Files.list(benchDir)) {
            s.map(p -> p.getFileName().toString())
                    .filter(n -> n.endsWith("-trend.svg"))
                    .map(n -> n.substring(0, n.length() - "-trend.svg".length()))
                    .sorted()
                    .forEach(benches::add);
        }
        Files.createDirectories(results);
        AllureResultsWriter writer = new FileSystemResultsWriter(results);
        for (String bench : benches) {
            writer.write(result(writer, benchDir, bench));
        }
        return benches;
    }

    private static TestResult result(AllureResultsWriter writer, Path benchDir, String bench) throws IOException {
        Optional<BenchHistory.Run> latest = BenchHistory.latest(benchDir, bench);
        List<Attachment> attachments = new ArrayList<>();
        attach(
                writer,
                attachments,
                "trend of the last runs",
                "image/svg+xml",
                ".svg",
                benchDir.resolve(bench + "-trend.svg"));
        attach(
                writer,
                attachments,
                "latency CDF, latest run",
                "image/svg+xml",
                ".svg",
                benchDir.resolve(bench + "-cdf.svg"));
        if (latest.isPresent()) {
            byte[] table = (latest.get().table() + "\n\nmachine: "
                            + latest.get().machine().oneLine() + "\n")
                    .getBytes(StandardCharsets.UTF_8);
            attachments.add(attachment(writer, "table of the latest run", "text/plain", ".txt", table));
        }
        long now = System.currentTimeMillis();
        return new TestResult()
                .setUuid(UUID.randomUUID().toString())
                .setHistoryId("benchmark-" + bench)
                .setName("benchmark " + bench)
                .setFullName("dev.vgpuhil.bench." + bench)
                .setStatus(Status.PASSED)
                .setStart(now)
                .setStop(now)
                .setLabels(List.of(
                        new Label().setName("suite").setValue("benchmarks"),
                        new Label().setName("feature").setValue("benchmarks")))
                .setAttachments(attachments);
    }

    private static void attach(
            AllureResultsWriter writer, List<Attachment> into, String name, String type, String ext, Path file)
            throws IOException {
        if (Files.isRegularFile(file)) {
            into.add(attachment(writer, name, type, ext, Files.readAllBytes(file)));
        }
    }

    private static Attachment attachment(
            AllureResultsWriter writer, String name, String type, String ext, byte[] body) {
        String source = UUID.randomUUID() + "-attachment" + ext;
        writer.write(source, new ByteArrayInputStream(body));
        return new Attachment().setName(name).setType(type).setSource(source);
    }
}

package dev.vgpuhil.harness.report;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.vgpuhil.mediator.bench.BenchHistory;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Two remembered runs of a bench become one Allure result with the trend, the CDF and the latest table. */
class BenchResultsTest {
    @TempDir
    Path tmp;

    @Test
    void rememberedBenchBecomesOneResultWithItsPictures() throws Exception {
        Path bench = tmp.resolve("bench");
        Path results = tmp.resolve("allure-results");
        BenchHistory.Machine m = BenchHistory.Machine.describe();
        PrintStream quiet = new PrintStream(new ByteArrayOutputStream());
        BenchHistory.remember(
                bench,
                new BenchHistory.Run(
                        "demo",
                        m,
                        "| row | 1.0 |",
                        List.of(BenchHistory.Ratio.of("echo", 0.5, new double[] {0.5}, true))),
                quiet);
        // run files are named by the machine's date: the second run a minute later
        BenchHistory.Machine later = new BenchHistory.Machine(
                m.cores(),
                m.model(),
                m.load(),
                m.kernel(),
                m.java(),
                Instant.parse(m.date()).plusSeconds(60).toString());
        BenchHistory.remember(
                bench,
                new BenchHistory.Run(
                        "demo",
                        later,
                        "| row | 2.0 |",
                        List.of(BenchHistory.Ratio.of("echo", 0.6, new double[] {0.6}, true))),
                quiet);
        Files.writeString(bench.resolve("demo-cdf.svg"), "<svg xmlns=\"http://www.w3.org/2000/svg\"/>");

        assertThat(BenchResults.write(bench, results)).containsExactly("demo");

        List<Path> json = new ArrayList<>();
        try (Stream<Path> s = Files.list(results)) {
            s.filter(p -> p.toString().endsWith("-result.json")).forEach(json::add);
        }
        assertThat(json).hasSize(1);
        JsonNode r = new ObjectMapper().readTree(json.get(0).toFile());
        assertThat(r.path("name").asText()).isEqualTo("benchmark demo");
        assertThat(r.path("status").asText()).isEqualTo("passed");
        List<String> names = new ArrayList<>();
        for (JsonNode a : r.path("attachments")) {
            names.add(a.path("name").asText());
            Path body = results.resolve(a.path("source").asText());
            assertThat(body).as("attachment %s", a).isRegularFile();
            if (a.path("type").asText().equals("image/svg+xml")) {
                assertThat(Files.readString(body)).contains("<svg");
            } else {
                assertThat(Files.readString(body)).contains("| row | 2.0 |").doesNotContain("| row | 1.0 |");
            }
        }
        assertThat(names)
                .containsExactly("trend of the last runs", "latency CDF, latest run", "table of the latest run");
    }

    @Test
    void noBenchDirectoryWritesNothing() throws Exception {
        assertThat(BenchResults.write(tmp.resolve("none"), tmp.resolve("r"))).isEmpty();
        assertThat(tmp.resolve("r")).doesNotExist();
    }
}

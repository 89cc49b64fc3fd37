package dev.vgpuhil.harness.report;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The Allure results directory keeps the last N runs' results, and everything that is not a result. */
class ResultsRetentionTest {
    @TempDir
    Path dir;

    private Path result(String name, long millis) throws Exception {
        Path f = Files.writeString(dir.resolve(name), "{}");
        Files.setLastModifiedTime(f, FileTime.fromMillis(millis));
        return f;
    }

    @Test
    void runsBeyondTheBoundLoseTheirResultsButHistoryAndSettingsStay() throws Exception {
        Path old = result("a-result.json", 1_000);
        Path oldContainer = result("a-container.json", 1_500);
        Path oldAttachment = result("a-attachment.txt", 1_500);
        Path middle = result("b-result.json", 2_500);
        Files.createDirectories(dir.resolve("history"));
        Path history = result("history/history-trend.json", 100);
        Path categories = result("categories.json", 100);

        assertThat(ResultsRetention.prune(dir, "run1", 2, 1_000)).isEmpty();
        assertThat(ResultsRetention.prune(dir, "run2", 2, 2_000)).isEmpty();
        assertThat(ResultsRetention.prune(dir, "run2", 2, 2_700))
                .as("the same run again")
                .isEmpty();
        assertThat(ResultsRetention.prune(dir, "run3", 2, 3_000))
                .containsExactlyInAnyOrder(old, oldContainer, oldAttachment);
        assertThat(middle).exists();
        assertThat(history).exists();
        assertThat(categories).exists();
        assertThat(Files.readAllLines(dir.resolve(ResultsRetention.RUNS_FILE)))
                .containsExactly("run2 2000", "run3 3000");
    }
}

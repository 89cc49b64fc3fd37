package dev.vgpuhil.qemu.qtest;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The machinery the device's vmstate test relies on, checked with stock QEMU: QMP on a qtest session, migration
 * to a file with exec:, and a second session started with -incoming that sees the migrated guest RAM.
 */
@Tag("qtest")
@DisplayName("qtest sessions migrate through a file (QMP migrate exec: / -incoming exec:)")
class MigrationPlumbingTest {
    static final Duration WAIT = Duration.ofSeconds(30);

    @Test
    @DisplayName("guest RAM written on the source is there on the target")
    void ramMigrates(@TempDir Path tmp) throws Exception {
        Path file = tmp.resolve("ram.migration");
        byte[] pattern = "migrated through a file by QMP".getBytes();
        try (QtestSession src = QtestSession.builder(TestQemu.stock()).withQmp().start();
                QmpTestClient qmp = QmpTestClient.connect(src.qmpSocket(), WAIT)) {
            src.memwrite(0x300000, pattern);
            qmp.execute("{\"execute\":\"migrate\",\"arguments\":{\"uri\":\"exec:cat > " + file + "\"}}", WAIT);
            long end = System.nanoTime() + WAIT.toNanos();
            String r;
            while (!(r = qmp.execute("{\"execute\":\"query-migrate\"}", WAIT)).contains("\"completed\"")) {
                assertThat(r).doesNotContain("\"failed\"");
                assertThat(System.nanoTime()).as("migration deadline").isLessThan(end);
                Thread.sleep(20);
            }
        }
        assertThat(Files.size(file)).isPositive();
        try (QtestSession dst = QtestSession.builder(TestQemu.stock())
                        .withQmp()
                        .args("-incoming", "exec:cat " + file)
                        .start();
                QmpTestClient qmp = QmpTestClient.connect(dst.qmpSocket(), WAIT)) {
            long end = System.nanoTime() + WAIT.toNanos();
            String r;
            while ((r = qmp.execute("{\"execute\":\"query-status\"}", WAIT)).contains("inmigrate")) {
                assertThat(System.nanoTime()).as("incoming deadline").isLessThan(end);
                Thread.sleep(20);
            }
            assertThat(r).contains("\"status\"");
            assertThat(dst.memread(0x300000, pattern.length)).isEqualTo(pattern);
        }
    }
}

package dev.vgpuhil.harness.agent;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.zip.ZipEntry;
import java.util.zip.ZipOutputStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** What the CI guest's initramfs carries for the agent: the shipped jar and JNA's x86-64 library from it, as ELF. */
class AgentImageFilesTest {
    @TempDir
    Path tmp;

    @Test
    void theShippedJarAndItsJnaLibrary() throws IOException {
        Path jar = Agent.localJar();
        Map<String, byte[]> files = Agent.imageFiles(jar);
        assertThat(files).containsOnlyKeys(Agent.IMAGE_JAR, Agent.IMAGE_JNA_DIR + "/libjnidispatch.so");
        assertThat(files.get(Agent.IMAGE_JAR)).isEqualTo(Files.readAllBytes(jar));
        byte[] so = files.get(Agent.IMAGE_JNA_DIR + "/libjnidispatch.so");
        assertThat(so).hasSizeGreaterThan(1024);
        assertThat(new String(so, 1, 3, java.nio.charset.StandardCharsets.US_ASCII))
                .as("an ELF file")
                .isEqualTo("ELF");
        assertThat(so[4]).as("64-bit ELF").isEqualTo((byte) 2);
    }

    @Test
    void aJarWithoutJnaIsRefusedByName() throws IOException {
        Path jar = tmp.resolve("not-the-agent.jar");
        try (ZipOutputStream z = new ZipOutputStream(Files.newOutputStream(jar))) {
            z.putNextEntry(new ZipEntry("a.txt"));
            z.write(1);
        }
        assertThatThrownBy(() -> Agent.imageFiles(jar))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("not-the-agent.jar")
                .hasMessageContaining(Agent.JNA_IN_JAR);
    }
}

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

/** What the CI guest's initramfs carries for the agent: the jar, JNA's x86-64 library from it, the JVM's argfile. */
class AgentImageFilesTest {
    @TempDir
    Path tmp;

    @Test
    void theJarAndItsJnaLibrary() throws IOException {
        // a jar laid out as the shaded agent (the real one is packaged after this phase; every harness IT boots the CI
        // guest with it, where the agent's JVM may not unpack JNA itself: jna.nounpack=true)
        byte[] elf = new byte[2048];
        elf[0] = 0x7f;
        elf[1] = 'E';
        elf[2] = 'L';
        elf[3] = 'F';
        elf[4] = 2;
        Path jar = tmp.resolve("guest-agent.jar");
        try (ZipOutputStream z = new ZipOutputStream(Files.newOutputStream(jar))) {
            z.putNextEntry(new ZipEntry("com/sun/jna/linux-aarch64/libjnidispatch.so"));
            z.write(new byte[] {1, 2, 3});
            z.putNextEntry(new ZipEntry(Agent.JNA_IN_JAR));
            z.write(elf);
            z.putNextEntry(new ZipEntry("dev/vgpuhil/agent/Main.class"));
            z.write(new byte[] {(byte) 0xca, (byte) 0xfe});
        }
        Map<String, byte[]> files = Agent.imageFiles(jar);
        assertThat(files)
                .containsOnlyKeys(Agent.IMAGE_JAR, Agent.IMAGE_JNA_DIR + "/libjnidispatch.so", Agent.IMAGE_ARGS);
        assertThat(files.get(Agent.IMAGE_JAR)).isEqualTo(Files.readAllBytes(jar));
        assertThat(files.get(Agent.IMAGE_JNA_DIR + "/libjnidispatch.so"))
                .as("the x86-64 library, not another platform's")
                .isEqualTo(elf);
        // the init's `java @/opt/vgpu-hil/agent.args serve`: one argument a line, ending with the jar
        assertThat(new String(files.get(Agent.IMAGE_ARGS), java.nio.charset.StandardCharsets.UTF_8))
                .startsWith("-XX:TieredStopAtLevel=1\n")
                .contains("\n-Djna.boot.library.path=" + Agent.IMAGE_JNA_DIR + "\n-Djna.nounpack=true\n")
                .endsWith("\n-jar\n" + Agent.IMAGE_JAR + "\n");
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

package dev.vgpuhil.images;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The NoCloud seed maker for real: a FAT image labelled cidata, read back without mounting (mtools). */
class NoCloudSeedTest {
    private static final String KEY =
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIt2WYVSKVY8BMJLBC7c42rwZtZZkezMlKHoCg3ShN5T o'brien@host";

    @TempDir
    Path tmp;

    @Test
    void seedHoldsUserDataWithTheKeyAndMetaData() throws Exception {
        Path seed = NoCloudSeed.create(KEY + "\n", tmp.resolve("seed.img"));
        assertThat(seed).isEqualTo(tmp.resolve("seed.img")).isRegularFile();
        assertThat(Files.size(seed)).isEqualTo(1024 * 1024);
        try (var files = Files.list(tmp)) {
            assertThat(files.map(p -> p.getFileName().toString())).containsExactly("seed.img");
        }

        String listing = tool("mdir", "-i", seed.toString(), "::");
        assertThat(listing).contains("user-data").contains("meta-data");
        assertThat(tool("blkid", "-o", "value", "-s", "LABEL", seed.toString()).strip())
                .isEqualTo("cidata");

        String userData = tool("mtype", "-i", seed.toString(), "::user-data");
        assertThat(userData)
                .startsWith("#cloud-config\n")
                .contains("disable_root: false")
                .contains("ssh_pwauth: false")
                .contains("- name: root");
        // the key appears twice (root and the default user), with the quote doubled for YAML
        String quoted = "'" + KEY.replace("'", "''") + "'";
        assertThat(userData.split(java.util.regex.Pattern.quote(quoted), -1)).hasSize(3);

        String metaData = tool("mtype", "-i", seed.toString(), "::meta-data");
        assertThat(metaData)
                .containsPattern("(?m)^instance-id: vgpu-hil-[0-9a-f]{12}$")
                .contains("local-hostname: vgpu-guest");

        // same inputs, same instance-id; another key, another instance
        Path again = NoCloudSeed.create(KEY, tmp.resolve("again.img"));
        assertThat(tool("mtype", "-i", again.toString(), "::meta-data")).isEqualTo(metaData);
        Path other = NoCloudSeed.create(KEY.replace("o'brien", "x"), tmp.resolve("other.img"));
        assertThat(tool("mtype", "-i", other.toString(), "::meta-data")).isNotEqualTo(metaData);
    }

    @Test
    void rejectsWhatIsNotOnePublicKey() {
        assertThatThrownBy(() -> NoCloudSeed.create("not a key", tmp.resolve("x.img")))
                .isInstanceOf(GuestImageException.class)
                .hasMessageContaining("does not look like a public key");
        assertThatThrownBy(() -> NoCloudSeed.create(KEY + "\n" + KEY, tmp.resolve("x.img")))
                .isInstanceOf(IllegalArgumentException.class);
        assertThat(tmp.resolve("x.img")).doesNotExist();
    }

    private static String tool(String... cmd) throws Exception {
        Path out = Files.createTempFile("seed-tool", ".out");
        try {
            ProcessBuilder pb =
                    new ProcessBuilder(List.of(cmd)).redirectErrorStream(true).redirectOutput(out.toFile());
            pb.environment().put("MTOOLS_SKIP_CHECK", "1");
            Process p = pb.start();
            assertThat(p.waitFor(60, TimeUnit.SECONDS))
                    .as("%s finished", List.of(cmd))
                    .isTrue();
            String text = Files.readString(out, StandardCharsets.UTF_8);
            assertThat(p.exitValue()).as("%s: %s", List.of(cmd), text).isZero();
            return text;
        } finally {
            Files.deleteIfExists(out);
        }
    }
}

package dev.vgpuhil.harness;

import static org.assertj.core.api.Assertions.assertThat;

import dev.vgpuhil.protocol.SourceTree;
import java.io.IOException;
import java.nio.file.Files;
import org.junit.jupiter.api.Test;

/** The README's "Use it from your project" pom snippet is the example project's, which CI builds and runs. */
class ReadmeSnippetTest {
    @Test
    void theReadmeSnippetIsTheExamplePom() throws IOException {
        String pom = Files.readString(SourceTree.path("examples", "basic", "pom.xml"));
        String begin = "  <!-- snippet:begin -->\n";
        String end = "  <!-- snippet:end -->";
        assertThat(pom).contains(begin, end);
        String snippet = pom.substring(pom.indexOf(begin) + begin.length(), pom.indexOf(end));
        assertThat(snippet)
                .contains(
                        "<artifactId>vgpu-hil-bom</artifactId>",
                        "<artifactId>harness</artifactId>",
                        "maven-failsafe-plugin");
        String readme = Files.readString(SourceTree.path("README.md"));
        assertThat(readme)
                .as("README.md must hold examples/basic/pom.xml's snippet verbatim in an xml block")
                .contains("```xml\n" + snippet + "```");
        // and the pom's vgpu-hil version is this build's
        String parent = Files.readString(SourceTree.path("pom.xml"));
        String version = parent.substring(parent.indexOf("<version>") + 9, parent.indexOf("</version>"));
        assertThat(snippet).contains("<version>" + version + "</version>");
    }
}

package dev.vgpuhil.harness;

import static org.assertj.core.api.Assertions.assertThat;

import dev.vgpuhil.common.Setting;
import dev.vgpuhil.harness.junit.VgpuVm;
import dev.vgpuhil.harness.junit.WithMediator;
import dev.vgpuhil.protocol.SourceTree;
import dev.vgpuhil.protocol.VgpuProtocol;
import java.io.IOException;
import java.lang.reflect.Method;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * The README's settings and annotation tables and the code cannot drift: every {@link Setting} has its row and every
 * row a setting (name, environment variable, default and meaning equal); every attribute of {@link VgpuVm} and
 * {@link WithMediator} has a row with its default and every row an attribute; no main code reads a system property
 * or the environment except through {@link Setting}.
 */
class SettingsTableTest {
    private static String readme() throws IOException {
        return Files.readString(SourceTree.path("README.md"));
    }

    private static List<String> block(String text, String name) {
        String begin = "<!-- " + name + ":begin -->\n";
        String end = "<!-- " + name + ":end -->";
        assertThat(text).as("README markers for the " + name + " table").contains(begin, end);
        return text.substring(text.indexOf(begin) + begin.length(), text.indexOf(end))
                .lines()
                .filter(l -> l.startsWith("| "))
                .skip(1)
                .toList();
    }

    @Test
    void theReadmeSettingsTableIsTheSettingEnum() throws IOException {
        List<String> rows = block(readme(), "settings");
        List<String> expected = Setting.markdownTable().lines().skip(2).toList();
        assertThat(rows)
                .as("README settings rows; the table to paste between the markers:\n" + Setting.markdownTable())
                .containsExactlyElementsOf(expected);
    }

    @Test
    void theReadmeAnnotationTableHasEveryAttributeWithItsDefault() throws IOException {
        Map<String, String> inReadme = new LinkedHashMap<>();
        for (String row : block(readme(), "annotations")) {
            String[] cells = row.split("\\|");
            inReadme.put(cells[1].strip().replace("`", ""), cells[2].strip().replace("`", ""));
        }
        Map<String, String> inCode = new LinkedHashMap<>();
        for (Class<?> a : List.of(VgpuVm.class, WithMediator.class)) {
            for (Method m : a.getDeclaredMethods()) {
                inCode.put("@" + a.getSimpleName() + "(" + m.getName() + ")", spelled(m.getDefaultValue()));
            }
        }
        assertThat(inReadme)
                .as("README annotation rows (attribute -> default)")
                .containsExactlyInAnyOrderEntriesOf(inCode);
    }

    private static String spelled(Object d) {
        if (d instanceof String[] s) {
            return Arrays.toString(s);
        }
        if (d instanceof String s) {
            return "\"" + s + "\"";
        }
        if (d instanceof Character c) {
            return "'" + c + "'";
        }
        return String.valueOf(d);
    }

    @Test
    void defaultsThatLiveElsewhereAgree() {
        assertThat(Setting.MEDIATOR_DEFAULT_SOCKET.defaultText()).isEqualTo(VgpuProtocol.SOCKET_PATH_DEFAULT);
        assertThat(Setting.GUEST.defaultText())
                .isEqualTo(dev.vgpuhil.harness.junit.GuestChoice.ci().kind().word());
    }

    @Test
    void mainCodeReadsSettingsOnlyThroughTheEnum() throws IOException {
        Path root = SourceTree.root();
        List<String> offenders;
        try (Stream<Path> s = Files.walk(root)) {
            offenders = s.filter(
                            p -> p.toString().endsWith(".java") && p.toString().contains("/src/main/java/"))
                    .filter(p ->
                            !p.toString().contains("/target/") && !p.toString().contains("/examples/"))
                    .filter(p -> !p.endsWith(Path.of("dev/vgpuhil/common/Setting.java")))
                    .flatMap(p -> {
                        try {
                            return Files.readAllLines(p).stream().map(l -> root.relativize(p) + ": " + l.strip());
                        } catch (IOException e) {
                            throw new java.io.UncheckedIOException(e);
                        }
                    })
                    .filter(l -> l.matches(
                            ".*(System\\.getenv\\(|Boolean\\.getBoolean\\(|Long\\.getLong\\(|Integer\\.getInteger\\(|"
                                    + "System\\.getProperty\\((?!\"(java|os|user|line)\\.)).*"))
                    .toList();
        }
        assertThat(offenders)
                .as("direct reads of settings (declare them in dev.vgpuhil.common.Setting)")
                .isEmpty();
    }
}

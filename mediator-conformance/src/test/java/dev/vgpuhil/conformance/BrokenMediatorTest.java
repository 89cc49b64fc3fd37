package dev.vgpuhil.conformance;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.platform.engine.discovery.ClassNameFilter.includeClassNamePatterns;
import static org.junit.platform.engine.discovery.DiscoverySelectors.selectPackage;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.vgpuhil.common.BoundProcesses;
import io.qameta.allure.Allure;
import io.qameta.allure.AllureLifecycle;
import io.qameta.allure.FileSystemResultsWriter;
import io.qameta.allure.junitplatform.AllureJunitPlatform;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.platform.engine.TestExecutionResult;
import org.junit.platform.launcher.Launcher;
import org.junit.platform.launcher.TestExecutionListener;
import org.junit.platform.launcher.TestIdentifier;
import org.junit.platform.launcher.core.LauncherConfig;
import org.junit.platform.launcher.core.LauncherDiscoveryRequestBuilder;
import org.junit.platform.launcher.core.LauncherFactory;

/**
 * The kit against a deliberately broken mediator (src/test/resources/mediators/broken_mediator.py, a separate
 * program given as {@code command:}), run through the JUnit Platform Launcher as a user's build runs it, with
 * Allure writing into a directory of this test: exactly the three rules the program breaks fail, the rules that
 * need STATS (which it does not offer) are broken with a reason, every other rule passes - in the Launcher's
 * results and in the Allure results alike.
 */
class BrokenMediatorTest {
    static final Map<String, String> BROKEN_RULES = Map.of(
            "a HELLO with the same major and a higher minor is accepted; the ACK carries the lower minor (min of both)",
            "negotiated version",
            "an unknown opcode is answered BAD_OPCODE; the connection goes on",
            "opcode 99",
            "CHECKSUM returns the CRC-32 (IEEE) of its bytes as a little-endian u32",
            "CRC-32 of \"123456789\"");

    /** Rules observed through STATS (queued, last): the program has none, so they cannot be checked. */
    static final java.util.Set<String> NEEDS_STATS = java.util.Set.of(
            "queued requests start high before medium before low, whatever their arrival order",
            "within one priority class, requests of different VMs start in arrival order",
            "a flooding VM does not starve another VM of its class: each backlogged VM gets a turn before any gets a"
                    + " second",
            "a low request that waited two aging intervals starts before high requests that arrived after it",
            "a low request that waited one aging interval starts before medium requests that arrived after it",
            "with its queue cap reached a VM's next request is answered QUEUE_FULL at once; the queued ones still"
                    + " complete",
            "the queue cap counts per VM: with one VM's queue full another VM's request is admitted",
            "requests queued before a bad magic are still answered, with their results, before that connection is"
                    + " closed",
            "on SIGTERM every queued request is answered SHUTDOWN, the connection is closed and the mediator exits 0");

    @TempDir
    Path allureResults;

    @Test
    void theKitReportsExactlyTheRulesABrokenMediatorBreaks() throws Exception {
        Path script = Path.of("src/test/resources/mediators/broken_mediator.py").toAbsolutePath();
        Assumptions.assumeTrue(
                python3Runs(), "python3 is not on this machine's PATH (the broken mediator is a python3 program)");

        Map<String, TestExecutionResult> results = new ConcurrentHashMap<>();
        TestExecutionListener collect = new TestExecutionListener() {
            @Override
            public void executionFinished(TestIdentifier id, TestExecutionResult result) {
                if (id.isTest()) {
                    results.put(id.getDisplayName(), result);
                }
            }
        };
        AllureLifecycle allure = new AllureLifecycle(new FileSystemResultsWriter(allureResults));
        Launcher launcher = LauncherFactory.create(LauncherConfig.builder()
                .enableTestExecutionListenerAutoRegistration(false)
                .enablePostDiscoveryFilterAutoRegistration(false)
                .addTestExecutionListeners(new AllureJunitPlatform(allure), collect)
                .build());
        AllureLifecycle outer = Allure.getLifecycle();
        Allure.setLifecycle(allure); // the rules' labels and attachments go to the inner run's results
        try {
            launcher.execute(LauncherDiscoveryRequestBuilder.request()
                    .selectors(selectPackage("dev.vgpuhil.conformance.rules"))
                    .filters(includeClassNamePatterns(".*Rules"))
                    .configurationParameter("vgpu.conformance.mediator", "command:python3 " + script)
                    .build());
        } finally {
            Allure.setLifecycle(outer);
        }

        Map<String, String> failed = new TreeMap<>();
        Map<String, String> broken = new TreeMap<>();
        Map<String, String> other = new TreeMap<>();
        results.forEach((name, r) -> {
            Throwable t = r.getThrowable().orElse(null);
            if (r.getStatus() == TestExecutionResult.Status.SUCCESSFUL) {
                return;
            }
            if (t instanceof AssertionError) {
                failed.put(name, t.getMessage());
            } else if (t instanceof RuleNotCheckable) {
                broken.put(name, t.getMessage());
            } else {
                other.put(name, r.toString());
            }
        });
        assertThat(other)
                .as("rules that neither passed, failed nor were uncheckable")
                .isEmpty();
        assertThat(failed.keySet())
                .as("the rules reported broken by the mediator")
                .isEqualTo(BROKEN_RULES.keySet());
        BROKEN_RULES.forEach(
                (rule, says) -> assertThat(failed.get(rule)).as("why: " + rule).contains(says));
        assertThat(broken.keySet())
                .as("rules that cannot be checked without STATS")
                .isEqualTo(NEEDS_STATS);
        assertThat(broken.values()).allSatisfy(why -> assertThat(why).contains("STATS"));
        long passed = results.values().stream()
                .filter(r -> r.getStatus() == TestExecutionResult.Status.SUCCESSFUL)
                .count();
        assertThat(passed).as("the rules it follows pass").isEqualTo(results.size() - failed.size() - broken.size());
        assertThat(passed).isGreaterThan(30);

        // the Allure results of that run say the same: failed, broken, passed, each rule by its name
        Map<String, String> allureStatus = new TreeMap<>();
        ObjectMapper json = new ObjectMapper();
        try (Stream<Path> files = Files.list(allureResults)) {
            for (Path f : files.filter(p -> p.getFileName().toString().endsWith("-result.json"))
                    .toList()) {
                JsonNode r = json.readTree(f.toFile());
                allureStatus.put(r.path("name").asText(), r.path("status").asText());
                assertThat(r.path("labels").toString()).contains("mediator command:python3");
            }
        }
        assertThat(allureStatus).hasSize(results.size());
        BROKEN_RULES.keySet().forEach(rule -> assertThat(allureStatus).containsEntry(rule, "failed"));
        NEEDS_STATS.forEach(rule -> assertThat(allureStatus).containsEntry(rule, "broken"));
        assertThat(allureStatus.values().stream().filter("passed"::equals).count())
                .isEqualTo(passed);
    }

    private static boolean python3Runs() {
        try {
            return BoundProcesses.run(java.util.List.of("python3", "--version"), Duration.ofSeconds(30))
                            .exitCode()
                    == 0;
        } catch (IOException | java.util.concurrent.TimeoutException e) {
            return false;
        }
    }
}

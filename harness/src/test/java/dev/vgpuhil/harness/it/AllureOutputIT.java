package dev.vgpuhil.harness.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.platform.engine.discovery.DiscoverySelectors.selectClass;

import com.fasterxml.jackson.databind.JsonNode;
import dev.vgpuhil.harness.Categories;
import dev.vgpuhil.harness.JsonObjects;
import dev.vgpuhil.harness.agent.Agent;
import dev.vgpuhil.harness.agent.AgentRun;
import dev.vgpuhil.harness.junit.VgpuVm;
import dev.vgpuhil.harness.junit.WithMediator;
import dev.vgpuhil.harness.report.ProtocolFailure;
import io.qameta.allure.Allure;
import io.qameta.allure.AllureLifecycle;
import io.qameta.allure.Epic;
import io.qameta.allure.Feature;
import io.qameta.allure.FileSystemResultsWriter;
import io.qameta.allure.junitplatform.AllureJunitPlatform;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.stream.Stream;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.parallel.Isolated;
import org.junit.platform.launcher.Launcher;
import org.junit.platform.launcher.core.LauncherConfig;
import org.junit.platform.launcher.core.LauncherDiscoveryRequestBuilder;
import org.junit.platform.launcher.core.LauncherFactory;
import org.junit.platform.launcher.listeners.SummaryGeneratingListener;
import org.junit.platform.launcher.listeners.TestExecutionSummary;

/**
 * What the extensions put into the Allure results, checked on the files Allure writes: a small test class (one VM
 * with a mediator, one agent command, and a test failing with a {@link ProtocolFailure}) runs through a JUnit
 * launcher whose only listener is an {@link AllureJunitPlatform} writing into a temporary results directory (its
 * own {@link AllureLifecycle}, installed as {@link Allure#getLifecycle()} for the run, so the harness's attachments
 * and steps land there; {@code allure.results.directory} points there too, for environment.properties). Both are
 * restored afterwards. One VM boot.
 */
@Epic("harness")
@Feature("Allure output")
@Isolated("it installs its own Allure lifecycle and results directory for the JVM")
class AllureOutputIT {
    static final String VM = "allure-vm";

    @Test
    @DisplayName("attachments, steps, environment.properties and categories in the Allure results")
    void allureResults() throws Exception {
        Path dir = Files.createTempDirectory("vgpu-hil-allure-");
        TestExecutionSummary summary = runWithAllureInto(dir, OneVmOneAgentCommand.class);
        try {
            assertThat(summary.getTestsStartedCount()).as("tests started").isEqualTo(2);
            assertThat(summary.getTestsSucceededCount())
                    .as("agent test passes: " + failures(summary))
                    .isEqualTo(1);
            assertThat(summary.getTestsFailedCount())
                    .as("the deliberate protocol failure")
                    .isEqualTo(1);

            Map<String, JsonNode> results = new LinkedHashMap<>();
            try (Stream<Path> s = Files.list(dir)) {
                for (Path p : s.filter(f -> f.getFileName().toString().endsWith("-result.json"))
                        .toList()) {
                    JsonNode r = JsonObjects.object(Files.readString(p));
                    String name = r.path("name").asText(); // "agentCommand(Agent)"
                    results.put(name.contains("(") ? name.substring(0, name.indexOf('(')) : name, r);
                }
            }
            assertThat(results).as("one result per test").containsKeys("agentCommand", "protocolFailure");

            // the agent test: every attachment the extensions promise, each a non-empty file
            JsonNode agentTest = results.get("agentCommand");
            assertThat(agentTest.path("status").asText()).isEqualTo("passed");
            Map<String, String> attachments = attachments(agentTest);
            String vm = "VM '" + VM + "' ";
            List<String> expected = List.of(
                    vm + "qemu.cmdline",
                    vm + "QEMU command line",
                    vm + "serial.log",
                    vm + "qemu.stderr.log",
                    vm + "qmp.log",
                    "registers before the test, VM '" + VM + "' (host view)",
                    "registers after the test, VM '" + VM + "' (host view)",
                    "mediator log",
                    "mediator stats",
                    "agent vector-add on " + VM + " (JSON lines)");
            assertThat(attachments).as("attachments of the agent test").containsKeys(expected.toArray(String[]::new));
            for (String name : expected) {
                Path file = dir.resolve(attachments.get(name));
                assertThat(file).as("attachment file of '" + name + "'").isRegularFile();
                assertThat(Files.size(file))
                        .as("size of attachment '" + name + "'")
                        .isPositive();
            }
            assertThat(Files.readString(dir.resolve(attachments.get(vm + "serial.log"))))
                    .as("serial console attachment")
                    .contains("vgpu-hil: ssh ready");
            assertThat(Files.readString(dir.resolve(attachments.get(vm + "QEMU command line"))))
                    .as("the command line names the device: in QEMU, or as vfio-user-pci (a stock QEMU)")
                    .containsAnyOf("vgpu-stub", "vfio-user-pci");
            assertThat(Files.readString(
                            dir.resolve(attachments.get("registers after the test, VM '" + VM + "' (host view)"))))
                    .contains("VM_ID");
            assertThat(Files.readString(dir.resolve(attachments.get("agent vector-add on " + VM + " (JSON lines)"))))
                    .contains("\"correct\"");
            assertThat(Files.readString(dir.resolve(attachments.get("mediator log"))))
                    .contains("request vm=");

            // steps: the boot (with the guest's preparation) in the first test, the agent's run
            List<String> steps = steps(agentTest);
            assertThat(steps).as("steps of the agent test").anyMatch(s -> s.startsWith("boot VM '" + VM + "'"));
            assertThat(steps).anyMatch(s -> s.startsWith("guest"));
            assertThat(steps).contains("vector-add through the mediator");

            // categories: the failure's message lands in the intended category of reports/categories.json
            JsonNode failed = results.get("protocolFailure");
            assertThat(failed.path("status").asText()).isEqualTo("failed");
            String message = failed.path("statusDetails").path("message").textValue();
            assertThat(Categories.matching(message)).containsExactly("Protocol failure");
            assertThat(attachments(failed))
                    .as("a failed test gets the VM's logs too")
                    .containsKey(vm + "serial.log");

            // the first register dump reads the registers: the device's BAR0 is decoded before the first test
            String before = Files.readString(
                    dir.resolve(attachments(agentTest).get("registers before the test, VM '" + VM + "' (host view)")));
            assertThat(before)
                    .as("registers before the first test")
                    .doesNotContain("not mapped")
                    .contains("BAR0 0x")
                    .containsPattern("PROTOCOL_VER +0x00010000");

            // categories.json: written by the harness into the same results directory
            assertThat(dir.resolve("categories.json")).isRegularFile().content().contains("\"Protocol failure\"");

            // environment.properties: QEMU version and accelerator
            Path envFile = dir.resolve("environment.properties");
            assertThat(envFile).isRegularFile();
            Properties env = new Properties();
            try (InputStream in = Files.newInputStream(envFile)) {
                env.load(in);
            }
            assertThat(env.getProperty("QEMU.version")).as("QEMU.version").isNotBlank();
            assertThat(env.getProperty("accelerator")).as("accelerator").isIn("kvm", "tcg");
            assertThat(env.getProperty("accelerator.why")).isNotBlank();
        } finally {
            try (Stream<Path> s = Files.walk(dir)) {
                s.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            }
        }
    }

    /**
     * Runs {@code testClass} with Allure writing into {@code dir}: a fresh lifecycle (set as Allure's global one for
     * the run, since the harness attaches through {@link Allure#getLifecycle()}) and the results directory property,
     * both restored afterwards; no auto-registered listeners (they would write into the real results directory).
     */
    static TestExecutionSummary runWithAllureInto(Path dir, Class<?> testClass) {
        AllureLifecycle saved = Allure.getLifecycle();
        String savedDir = System.getProperty("allure.results.directory");
        AllureLifecycle lifecycle = new AllureLifecycle(new FileSystemResultsWriter(dir));
        SummaryGeneratingListener summary = new SummaryGeneratingListener();
        System.setProperty("allure.results.directory", dir.toString());
        Allure.setLifecycle(lifecycle);
        try {
            Launcher launcher = LauncherFactory.create(LauncherConfig.builder()
                    .enableTestExecutionListenerAutoRegistration(false)
                    .addTestExecutionListeners(new AllureJunitPlatform(lifecycle), summary)
                    .build());
            launcher.execute(LauncherDiscoveryRequestBuilder.request()
                    .selectors(selectClass(testClass))
                    .configurationParameter(Fixture.PARAMETER, "true")
                    .build());
        } finally {
            Allure.setLifecycle(saved);
            if (savedDir == null) {
                System.clearProperty("allure.results.directory");
            } else {
                System.setProperty("allure.results.directory", savedDir);
            }
        }
        return summary.getSummary();
    }

    static String failures(TestExecutionSummary summary) {
        StringBuilder b = new StringBuilder();
        summary.getFailures()
                .forEach(f -> b.append(f.getTestIdentifier().getDisplayName())
                        .append(": ")
                        .append(f.getException())
                        .append('\n'));
        return b.toString();
    }

    /** Attachment name to source file, from the result and all its steps (nested). */
    static Map<String, String> attachments(JsonNode node) {
        Map<String, String> out = new LinkedHashMap<>();
        for (JsonNode m : node.path("attachments")) {
            out.putIfAbsent(m.path("name").textValue(), m.path("source").textValue());
        }
        for (JsonNode step : node.path("steps")) {
            attachments(step).forEach(out::putIfAbsent);
        }
        return out;
    }

    /** Names of all steps, nested ones included. */
    static List<String> steps(JsonNode node) {
        List<String> out = new ArrayList<>();
        for (JsonNode m : node.path("steps")) {
            out.add(m.path("name").textValue());
            out.addAll(steps(m));
        }
        return out;
    }

    @Fixture
    @WithMediator
    @VgpuVm(name = VM, pool = 'A', vmId = 301)
    @TestMethodOrder(MethodOrderer.MethodName.class)
    static class OneVmOneAgentCommand {
        @Test
        void agentCommand(Agent agent) {
            AgentRun run = io.qameta.allure.Allure.step(
                    "vector-add through the mediator",
                    () -> agent.run("vector-add", "--elements", "17", "--seed", "1", "--request-id", "4242"));
            if (!run.ok()) {
                throw new ProtocolFailure("vector-add failed: " + run.diagnostics());
            }
        }

        @Test
        void protocolFailure(Agent agent) {
            throw new ProtocolFailure("deliberate failure to check the category in the Allure result");
        }
    }
}

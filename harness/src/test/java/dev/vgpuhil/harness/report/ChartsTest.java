package dev.vgpuhil.harness.report;

import static org.assertj.core.api.Assertions.assertThat;

import dev.vgpuhil.mediator.Stats;
import dev.vgpuhil.protocol.Pool;
import dev.vgpuhil.protocol.Priority;
import java.io.ByteArrayInputStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import javax.xml.parsers.DocumentBuilderFactory;
import org.junit.jupiter.api.Test;
import org.w3c.dom.Document;

/** The schedule and latency pictures of a fixed execution log. */
class ChartsTest {
    static final List<Stats.Executed> LOG = List.of(
            new Stats.Executed(1, 101, 1001, Pool.A, Priority.HIGH, Priority.HIGH, 5_000_000, 0, 20_000),
            new Stats.Executed(2, 201, 1001, Pool.B, Priority.HIGH, Priority.HIGH, 5_010_000, 0, 30_000),
            new Stats.Executed(3, 102, 1001, Pool.A, Priority.LOW, Priority.LOW, 5_040_000, 3_000_000, 10_000),
            new Stats.Executed(4, 101, 1002, Pool.A, Priority.HIGH, Priority.HIGH, 9_000_000, 0, -1)); // running

    static Document parse(String svg) throws Exception {
        return DocumentBuilderFactory.newInstance()
                .newDocumentBuilder()
                .parse(new ByteArrayInputStream(svg.getBytes(StandardCharsets.UTF_8)));
    }

    static String name(int vm) {
        return vm == 101 ? "a-high" : vm == 102 ? "a-low" : "b-high";
    }

    @Test
    void scheduleHasALanePerVmWithItsPoolAndPriority() throws Exception {
        Document d = parse(Charts.schedule("three VMs", LOG, ChartsTest::name));
        String text = d.getDocumentElement().getTextContent();
        assertThat(text)
                .contains(
                        "a-high (101) pool A high", "a-low (102) pool A low", "b-high (201) pool B high", "three VMs");
        assertThat(d.getElementsByTagName("rect").getLength()).isEqualTo(1 + 2 * LOG.size());
    }

    @Test
    void latencyCdfHasOneSeriesPerVmCountingItsRequests() throws Exception {
        Document d = parse(Charts.latencyCdf("latency", LOG, ChartsTest::name));
        assertThat(d.getElementsByTagName("polyline").getLength()).isEqualTo(3);
        assertThat(d.getDocumentElement().getTextContent())
                .contains("a-high (101) pool A high (2)", "a-low (102) pool A low (1)");
    }
}

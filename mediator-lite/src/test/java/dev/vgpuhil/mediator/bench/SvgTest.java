package dev.vgpuhil.mediator.bench;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayInputStream;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import javax.xml.parsers.DocumentBuilderFactory;
import org.junit.jupiter.api.Test;
import org.w3c.dom.Document;
import org.w3c.dom.Element;
import org.w3c.dom.NodeList;

/** The pictures on fixed inputs: well-formed SVG, one mark per thing drawn, in the right places. */
class SvgTest {
    static Document parse(String svg) throws Exception {
        return DocumentBuilderFactory.newInstance()
                .newDocumentBuilder()
                .parse(new ByteArrayInputStream(svg.getBytes(StandardCharsets.UTF_8)));
    }

    static double[][] points(Element polyline) {
        String[] pairs = polyline.getAttribute("points").split(" ");
        double[][] p = new double[pairs.length][];
        for (int i = 0; i < pairs.length; i++) {
            String[] xy = pairs[i].split(",");
            p[i] = new double[] {Double.parseDouble(xy[0]), Double.parseDouble(xy[1])};
        }
        return p;
    }

    @Test
    void cdfHasOneRisingPolylinePerSeriesEndingAtTheTop() throws Exception {
        long[] fast = new long[1000];
        long[] slow = new long[10];
        for (int i = 0; i < fast.length; i++) {
            fast[i] = 10_000 + (fast.length - i) * 10L; // unsorted on purpose
        }
        for (int i = 0; i < slow.length; i++) {
            slow[i] = 1_000_000 + i * 1000L;
        }
        Document d =
                parse(Svg.cdf("a <title> & more", List.of(new Svg.Series("fast", fast), new Svg.Series("slow", slow))));
        NodeList lines = d.getElementsByTagName("polyline");
        assertThat(lines.getLength()).isEqualTo(2);
        double[][] f = points((Element) lines.item(0));
        double[][] s = points((Element) lines.item(1));
        assertThat(f).hasNumberOfRows(Svg.CDF_POINTS);
        assertThat(s).hasNumberOfRows(10); // fewer samples than points: one point each
        for (double[][] p : new double[][][] {f, s}) {
            for (int i = 1; i < p.length; i++) {
                assertThat(p[i][0]).isGreaterThanOrEqualTo(p[i - 1][0]); // latency grows
                assertThat(p[i][1]).isLessThanOrEqualTo(p[i - 1][1]); // fraction grows (y points down)
            }
            assertThat(p[p.length - 1][1]).isEqualTo(Svg.PLOT_TOP); // 100% at the last sample
        }
        assertThat(s[0][0]).isGreaterThan(f[f.length - 1][0]); // the slow series lies right of the fast one
        assertThat(d.getDocumentElement().getTextContent()).contains("a <title> & more", "fast (1000)", "slow (10)");
    }

    @Test
    void scheduleHasALanePerVmAndAWaitAndARunBarPerRequest() throws Exception {
        List<Svg.Span> spans = List.of(
                new Svg.Span("vm 101 A high", 1_000_000, 0, 500_000, 2),
                new Svg.Span("vm 102 A low", 2_000_000, 1_000_000, 1_000, 0),
                new Svg.Span("vm 101 A high", 3_000_000, 0, 1_000_000, 2));
        Document d = parse(Svg.schedule("schedule", spans));
        NodeList rects = d.getElementsByTagName("rect");
        assertThat(rects.getLength()).isEqualTo(1 + 2 * spans.size()); // background + wait and run per request
        String text = d.getDocumentElement().getTextContent();
        assertThat(text).contains("vm 101 A high", "vm 102 A low");
        assertThat(text.split("vm 101 A high", -1)).hasSize(2); // one lane label per VM
        // the timeline spans 0..4 ms (first wait at 1 ms, last run ends at 4 ms)
        Element first = (Element) rects.item(2); // run bar of the first request, at t = 1 ms → x = left
        Element lastRun = (Element) rects.item(6);
        double left = Double.parseDouble(first.getAttribute("x"));
        double x3 = Double.parseDouble(lastRun.getAttribute("x"));
        double w3 = Double.parseDouble(lastRun.getAttribute("width"));
        assertThat(x3 + w3).isCloseTo(Svg.WIDTH - 20, org.assertj.core.data.Offset.offset(0.2));
        assertThat(x3 - left).isCloseTo((Svg.WIDTH - 20 - left) * 2 / 3, org.assertj.core.data.Offset.offset(0.2));
        Element tinyRun = (Element) rects.item(4); // a 1 µs run still gets a visible bar
        assertThat(Double.parseDouble(tinyRun.getAttribute("width"))).isEqualTo(2.0);
        assertThat(((Element) rects.item(3)).getAttribute("fill-opacity")).isEqualTo("0.3"); // the wait
    }

    @Test
    void trendSkipsMissingValuesAndLabelsTheRuns() throws Exception {
        Map<String, double[]> ratios = new LinkedHashMap<>();
        ratios.put("req/s", new double[] {0.5, 0.6, 0.9});
        ratios.put("p99", new double[] {Double.NaN, 2.0, 1.5});
        Document d = parse(Svg.trend("trend", List.of("r1", "r2", "r3"), ratios));
        assertThat(d.getElementsByTagName("circle").getLength()).isEqualTo(5);
        NodeList lines = d.getElementsByTagName("polyline");
        assertThat(lines.getLength()).isEqualTo(2);
        assertThat(points((Element) lines.item(0))).hasNumberOfRows(3);
        assertThat(points((Element) lines.item(1))).hasNumberOfRows(2);
        assertThat(d.getDocumentElement().getTextContent()).contains("r1", "r3", "req/s", "p99");
        assertThat(Svg.trend("t", List.of("a"), ratios)).isEqualTo(Svg.trend("t", List.of("a"), ratios));
    }
}

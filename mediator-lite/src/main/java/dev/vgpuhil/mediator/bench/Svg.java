package dev.vgpuhil.mediator.bench;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Small SVG pictures for the benchmark files and the report (a few rects and polylines, written by hand: a chart
 * library would outweigh what is drawn): latency CDFs, a scheduler timeline, the trend of ratios over runs.
 * Deterministic for the same input.
 */
public final class Svg {
    static final int WIDTH = 720;
    static final int PLOT_LEFT = 70;
    static final int PLOT_RIGHT = 180; // room for the legend
    static final int PLOT_TOP = 30;
    static final int PLOT_BOTTOM = 40;
    /** Points per CDF polyline at most (quantiles of the sample). */
    static final int CDF_POINTS = 200;

    private static final String[] COLORS = {
        "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"
    };

    private Svg() {}

    /** One latency sample: its label and the durations (nanoseconds, any order). */
    public record Series(String label, long[] nanos) {}

    /**
     * One bar of a timeline: {@code lane} (e.g. "vm 101 pool A high"), the wait before it ran and the run, on
     * one clock in nanoseconds; {@code color} picks a colour (e.g. the priority).
     */
    public record Span(String lane, long startNanos, long waitNanos, long runNanos, int color) {}

    /** Cumulative distribution of each series on a log-scaled latency axis (µs). */
    public static String cdf(String title, List<Series> series) {
        long lo = Long.MAX_VALUE;
        long hi = 1;
        for (Series s : series) {
            for (long v : s.nanos()) {
                lo = Math.min(lo, Math.max(1, v));
                hi = Math.max(hi, v);
            }
        }
        if (lo == Long.MAX_VALUE) {
            lo = 1;
        }
        hi = Math.max(hi, lo * 10);
        int height = 320;
        StringBuilder b = open(title, height);
        double l0 = Math.log10(lo);
        double l1 = Math.log10(hi);
        int pw = WIDTH - PLOT_LEFT - PLOT_RIGHT;
        int ph = height - PLOT_TOP - PLOT_BOTTOM;
        axes(b, height);
        // decade ticks on x, quarters on y
        for (int d = (int) Math.ceil(l0); d <= Math.floor(l1); d++) {
            double x = PLOT_LEFT + pw * (d - l0) / (l1 - l0);
            b.append(line(x, PLOT_TOP, x, PLOT_TOP + ph, "#ddd"));
            b.append(text(x, height - PLOT_BOTTOM + 15, "middle", micros(Math.pow(10, d))));
        }
        for (int q = 0; q <= 4; q++) {
            double y = PLOT_TOP + ph * (1 - q / 4.0);
            b.append(line(PLOT_LEFT, y, PLOT_LEFT + pw, y, "#eee"));
            b.append(text(PLOT_LEFT - 6, y + 4, "end", (q * 25) + "%"));
        }
        b.append(text(PLOT_LEFT + pw / 2.0, height - 8, "middle", "latency (log scale)"));
        int i = 0;
        for (Series s : series) {
            long[] v = s.nanos().clone();
            java.util.Arrays.sort(v);
            String color = COLORS[i % COLORS.length];
            if (v.length > 0) {
                StringBuilder pts = new StringBuilder();
                int n = Math.min(CDF_POINTS, v.length);
                for (int k = 0; k < n; k++) {
                    // the k-th of n quantiles, the last one the maximum
                    int idx = n == 1 ? v.length - 1 : (int) Math.round((double) k * (v.length - 1) / (n - 1));
                    double frac = (idx + 1.0) / v.length;
                    double x = PLOT_LEFT + pw * (Math.log10(Math.max(lo, v[idx])) - l0) / (l1 - l0);
                    double y = PLOT_TOP + ph * (1 - frac);
                    pts.append(num(x)).append(',').append(num(y)).append(' ');
                }
                b.append("<polyline fill=\"none\" stroke-width=\"2\" stroke=\"")
                        .append(color)
                        .append("\" points=\"")
                        .append(pts.toString().trim())
                        .append("\"/>\n");
            }
            legend(b, i, color, s.label() + " (" + v.length + ")");
            i++;
        }
        return close(b);
    }

    /**
     * A timeline: one lane per distinct {@code lane} (in order of first appearance), a light bar for the wait
     * and a dark one for the run (at least 2 px wide so a microsecond run still shows); time from the first
     * bar's start.
     */
    public static String schedule(String title, List<Span> spans) {
        Map<String, Integer> lanes = new LinkedHashMap<>();
        long t0 = Long.MAX_VALUE;
        long t1 = Long.MIN_VALUE;
        for (Span s : spans) {
            lanes.putIfAbsent(s.lane(), lanes.size());
            t0 = Math.min(t0, s.startNanos() - s.waitNanos());
            t1 = Math.max(t1, s.startNanos() + Math.max(0, s.runNanos()));
        }
        if (spans.isEmpty()) {
            t0 = 0;
            t1 = 1;
        }
        long span = Math.max(1, t1 - t0);
        int laneHeight = 24;
        int height = PLOT_TOP + PLOT_BOTTOM + Math.max(1, lanes.size()) * laneHeight;
        StringBuilder b = open(title, height);
        int left = 170;
        int pw = WIDTH - left - 20;
        for (var e : lanes.entrySet()) {
            double y = PLOT_TOP + e.getValue() * laneHeight;
            b.append(text(left - 6, y + laneHeight / 2.0 + 4, "end", e.getKey()));
            b.append(line(left, y + laneHeight, left + pw, y + laneHeight, "#eee"));
        }
        for (int q = 0; q <= 4; q++) {
            double x = left + pw * q / 4.0;
            b.append(line(x, PLOT_TOP, x, height - PLOT_BOTTOM, "#ddd"));
            b.append(text(x, height - PLOT_BOTTOM + 15, "middle", millis(span * q / 4.0)));
        }
        b.append(text(left + pw / 2.0, height - 8, "middle", "time since the first request (wait light, run dark)"));
        for (Span s : spans) {
            double y = PLOT_TOP + lanes.get(s.lane()) * laneHeight + 4;
            String color = COLORS[Math.floorMod(s.color(), COLORS.length)];
            double xw = left + pw * (double) (s.startNanos() - s.waitNanos() - t0) / span;
            double xs = left + pw * (double) (s.startNanos() - t0) / span;
            double wr = Math.max(2, pw * (double) Math.max(0, s.runNanos()) / span);
            b.append(rect(xw, y, Math.max(0, xs - xw), laneHeight - 8, color, 0.3));
            b.append(rect(xs, y, wr, laneHeight - 8, color, 1.0));
        }
        return close(b);
    }

    /** Ratios over runs (oldest left): one polyline per row name; {@code runs} label the x positions. */
    public static String trend(String title, List<String> runs, Map<String, double[]> ratios) {
        double hi = 0;
        for (double[] r : ratios.values()) {
            for (double v : r) {
                if (Double.isFinite(v)) {
                    hi = Math.max(hi, v);
                }
            }
        }
        hi = hi <= 0 ? 1 : hi * 1.1;
        int height = 320;
        StringBuilder b = open(title, height);
        int pw = WIDTH - PLOT_LEFT - PLOT_RIGHT;
        int ph = height - PLOT_TOP - PLOT_BOTTOM;
        axes(b, height);
        for (int q = 0; q <= 4; q++) {
            double y = PLOT_TOP + ph * (1 - q / 4.0);
            b.append(line(PLOT_LEFT, y, PLOT_LEFT + pw, y, "#eee"));
            b.append(text(PLOT_LEFT - 6, y + 4, "end", String.format(Locale.ROOT, "%.2f", hi * q / 4.0)));
        }
        int n = runs.size();
        for (int k = 0; k < n; k++) {
            double x = n == 1 ? PLOT_LEFT + pw / 2.0 : PLOT_LEFT + pw * (double) k / (n - 1);
            if (k == 0 || k == n - 1 || n <= 6) {
                b.append(text(x, height - PLOT_BOTTOM + 15, "middle", runs.get(k)));
            }
        }
        int i = 0;
        for (var e : ratios.entrySet()) {
            String color = COLORS[i % COLORS.length];
            List<String> pts = new ArrayList<>();
            double[] r = e.getValue();
            for (int k = 0; k < r.length && k < n; k++) {
                if (!Double.isFinite(r[k])) {
                    continue;
                }
                double x = n == 1 ? PLOT_LEFT + pw / 2.0 : PLOT_LEFT + pw * (double) k / (n - 1);
                double y = PLOT_TOP + ph * (1 - r[k] / hi);
                pts.add(num(x) + "," + num(y));
                b.append("<circle r=\"3\" fill=\"")
                        .append(color)
                        .append("\" cx=\"")
                        .append(num(x))
                        .append("\" cy=\"")
                        .append(num(y))
                        .append("\"/>\n");
            }
            if (pts.size() > 1) {
                b.append("<polyline fill=\"none\" stroke-width=\"2\" stroke=\"")
                        .append(color)
                        .append("\" points=\"")
                        .append(String.join(" ", pts))
                        .append("\"/>\n");
            }
            legend(b, i, color, e.getKey());
            i++;
        }
        return close(b);
    }

    // ---------------------------------------------------------------- pieces

    private static StringBuilder open(String title, int height) {
        StringBuilder b = new StringBuilder();
        b.append("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"")
                .append(WIDTH)
                .append("\" height=\"")
                .append(height)
                .append("\" viewBox=\"0 0 ")
                .append(WIDTH)
                .append(' ')
                .append(height)
                .append("\" font-family=\"sans-serif\" font-size=\"11\">\n");
        b.append("<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n");
        b.append(text(WIDTH / 2.0, 18, "middle", title).replace("<text ", "<text font-size=\"13\" "));
        return b;
    }

    private static String close(StringBuilder b) {
        return b.append("</svg>\n").toString();
    }

    private static void axes(StringBuilder b, int height) {
        int x1 = WIDTH - PLOT_RIGHT;
        int y1 = height - PLOT_BOTTOM;
        b.append(line(PLOT_LEFT, PLOT_TOP, PLOT_LEFT, y1, "#333"));
        b.append(line(PLOT_LEFT, y1, x1, y1, "#333"));
    }

    private static void legend(StringBuilder b, int i, String color, String label) {
        double x = WIDTH - PLOT_RIGHT + 12;
        double y = PLOT_TOP + 10 + i * 16;
        b.append(rect(x, y - 8, 10, 10, color, 1.0));
        b.append(text(x + 14, y + 1, "start", label));
    }

    private static String line(double x1, double y1, double x2, double y2, String color) {
        return "<line x1=\"" + num(x1) + "\" y1=\"" + num(y1) + "\" x2=\"" + num(x2) + "\" y2=\"" + num(y2)
                + "\" stroke=\"" + color + "\"/>\n";
    }

    private static String rect(double x, double y, double w, double h, String color, double opacity) {
        return "<rect x=\"" + num(x) + "\" y=\"" + num(y) + "\" width=\"" + num(w) + "\" height=\"" + num(h)
                + "\" fill=\"" + color + "\"" + (opacity < 1 ? " fill-opacity=\"" + num(opacity) + "\"" : "")
                + "/>\n";
    }

    private static String text(double x, double y, String anchor, String s) {
        return "<text x=\"" + num(x) + "\" y=\"" + num(y) + "\" text-anchor=\"" + anchor + "\">" + escape(s)
                + "</text>\n";
    }

    static String escape(String s) {
        return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\"", "&quot;");
    }

    static String num(double v) {
        return String.format(Locale.ROOT, "%.1f", v);
    }

    static String micros(double nanos) {
        double us = nanos / 1000;
        return us >= 1000
                ? String.format(Locale.ROOT, "%.0f ms", us / 1000)
                : String.format(Locale.ROOT, "%.0f µs", us);
    }

    static String millis(double nanos) {
        return String.format(Locale.ROOT, "%.1f ms", nanos / 1e6);
    }
}

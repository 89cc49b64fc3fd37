package dev.vgpuhil.harness.report;

import dev.vgpuhil.mediator.Stats;
import dev.vgpuhil.mediator.bench.Svg;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.IntFunction;

/**
 * Pictures of a mediator's work for the report, from its execution log (which VM, pool and priority ran when,
 * how long each request waited and ran): the schedule as a timeline, the latencies as CDFs. SVG by {@link Svg}.
 */
public final class Charts {
    private Charts() {}

    /** One lane per VM ("name (vm_id) pool P priority"), a wait and a run bar per request, coloured by priority. */
    public static String schedule(String title, List<Stats.Executed> log, IntFunction<String> vmName) {
        List<Svg.Span> spans = new ArrayList<>();
        for (Stats.Executed e : log) {
            spans.add(new Svg.Span(
                    lane(e, vmName),
                    e.startNanos(),
                    Math.max(0, e.waitNanos()),
                    Math.max(0, e.runNanos()),
                    e.priority().ordinal()));
        }
        return Svg.schedule(title, spans);
    }

    /** Per VM: the distribution of wait + run of its requests (the mediator's share of each round trip). */
    public static String latencyCdf(String title, List<Stats.Executed> log, IntFunction<String> vmName) {
        Map<String, List<Long>> perVm = new LinkedHashMap<>();
        for (Stats.Executed e : log) {
            perVm.computeIfAbsent(lane(e, vmName), k -> new ArrayList<>())
                    .add(Math.max(0, e.waitNanos()) + Math.max(0, e.runNanos()));
        }
        List<Svg.Series> series = new ArrayList<>();
        perVm.forEach((k, v) -> series.add(
                new Svg.Series(k, v.stream().mapToLong(Long::longValue).toArray())));
        return Svg.cdf(title, series);
    }

    /** Attaches an SVG picture to the running test (nothing outside a test). */
    public static void attachSvg(String name, String svg) {
        Reporting.attach(name, "image/svg+xml", ".svg", svg);
    }

    static String lane(Stats.Executed e, IntFunction<String> vmName) {
        return vmName.apply(e.vmId()) + " (" + Integer.toUnsignedString(e.vmId()) + ") pool "
                + e.pool().name() + " " + e.priority().label();
    }
}

package dev.vgpuhil.mediator;

import static dev.vgpuhil.protocol.VgpuProtocol.*;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.OptionalInt;

/**
 * Which vm_ids may connect and the highest priority each may use ({@code --tenant vm:ceiling}).
 * With no tenants configured every vm_id may connect at any priority. Once any tenant is listed, only
 * listed vm_ids are admitted, unless a wildcard {@code *:ceiling} gives everyone else a ceiling.
 */
public final class TenantPolicy {
    private final Map<Integer, Integer> ceilings;
    private final Integer defaultCeiling;
    private final boolean openToAll;

    private TenantPolicy(Map<Integer, Integer> ceilings, Integer defaultCeiling, boolean openToAll) {
        this.ceilings = Collections.unmodifiableMap(new LinkedHashMap<>(ceilings));
        this.defaultCeiling = defaultCeiling;
        this.openToAll = openToAll;
    }

    /** Every vm_id, every priority. */
    public static TenantPolicy openToAll() {
        return new TenantPolicy(Map.of(), PRIORITY_HIGH, true);
    }

    /** Only the given vm_ids (vm_id → highest allowed priority). */
    public static TenantPolicy of(Map<Integer, Integer> ceilings) {
        ceilings.values().forEach(TenantPolicy::checkPriority);
        return new TenantPolicy(ceilings, null, false);
    }

    /** The same policy plus a tenant (or, with vmId null, the ceiling for every unlisted vm_id). */
    public TenantPolicy with(Integer vmId, int ceiling) {
        checkPriority(ceiling);
        Map<Integer, Integer> copy = new LinkedHashMap<>(ceilings);
        if (vmId == null) {
            return new TenantPolicy(copy, ceiling, false);
        }
        copy.put(vmId, ceiling);
        // the first explicit tenant closes the door to unlisted vm_ids unless a wildcard is given
        return new TenantPolicy(copy, openToAll ? null : defaultCeiling, false);
    }

    /** True for the default policy: no tenants listed, every vm_id at any priority. */
    public boolean isOpenToAll() {
        return openToAll;
    }

    /** Parses {@code 7:high}, {@code 7:2}, {@code *:medium} and adds it to this policy. */
    public TenantPolicy withSpec(String spec) {
        int colon = spec.indexOf(':');
        if (colon <= 0 || colon == spec.length() - 1) {
            throw new IllegalArgumentException("tenant '" + spec + "' is not vm_id:ceiling (e.g. 7:high, *:low)");
        }
        String vm = spec.substring(0, colon).trim();
        int ceiling = parsePriority(spec.substring(colon + 1));
        if (vm.equals("*")) {
            return with(null, ceiling);
        }
        try {
            return with(Integer.parseUnsignedInt(vm), ceiling);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("tenant '" + spec + "': vm_id '" + vm + "' is not a uint32");
        }
    }

    /** The highest priority this vm_id may use, or empty when it may not connect at all. */
    public OptionalInt ceilingFor(int vmId) {
        Integer c = ceilings.get(vmId);
        if (c == null) {
            c = defaultCeiling;
        }
        return c == null ? OptionalInt.empty() : OptionalInt.of(c);
    }

    /** low/medium/high or 0/1/2. */
    public static int parsePriority(String text) {
        String t = text.trim().toLowerCase(Locale.ROOT);
        return switch (t) {
            case "low", "0" -> PRIORITY_LOW;
            case "medium", "1" -> PRIORITY_MEDIUM;
            case "high", "2" -> PRIORITY_HIGH;
            default -> throw new IllegalArgumentException("priority '" + text + "' is not low, medium, high (or 0-2)");
        };
    }

    public static String priorityName(int priority) {
        return switch (priority) {
            case PRIORITY_LOW -> "low";
            case PRIORITY_MEDIUM -> "medium";
            case PRIORITY_HIGH -> "high";
            default -> "invalid(" + priority + ")";
        };
    }

    private static void checkPriority(int p) {
        if (p < PRIORITY_LOW || p > PRIORITY_HIGH) {
            throw new IllegalArgumentException("priority ceiling " + p + " is not 0-2");
        }
    }

    @Override
    public String toString() {
        return isOpenToAll() ? "open to every vm_id" : "tenants " + ceilings + (defaultCeiling == null ? ""
                : " others<=" + priorityName(defaultCeiling));
    }
}

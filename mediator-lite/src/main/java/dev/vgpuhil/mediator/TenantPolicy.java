package dev.vgpuhil.mediator;

import dev.vgpuhil.protocol.Priority;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;

/**
 * Which vm_ids may connect and the highest priority each may use ({@code --tenant vm:ceiling}).
 * With no tenants configured every vm_id may connect at any priority. Once any tenant is listed, only
 * listed vm_ids are admitted, unless a wildcard {@code *:ceiling} gives everyone else a ceiling.
 */
public final class TenantPolicy {
    private final Map<Integer, Priority> ceilings;
    private final Priority defaultCeiling;
    private final boolean openToAll;

    private TenantPolicy(Map<Integer, Priority> ceilings, Priority defaultCeiling, boolean openToAll) {
        this.ceilings = Collections.unmodifiableMap(new LinkedHashMap<>(ceilings));
        this.defaultCeiling = defaultCeiling;
        this.openToAll = openToAll;
    }

    /** Every vm_id, every priority. */
    public static TenantPolicy openToAll() {
        return new TenantPolicy(Map.of(), Priority.HIGH, true);
    }

    /** Only the given vm_ids (vm_id → highest allowed priority). */
    public static TenantPolicy of(Map<Integer, Priority> ceilings) {
        return new TenantPolicy(ceilings, null, false);
    }

    /** The same policy plus a tenant (or, with vmId null, the ceiling for every unlisted vm_id). */
    public TenantPolicy with(Integer vmId, Priority ceiling) {
        java.util.Objects.requireNonNull(ceiling);
        Map<Integer, Priority> copy = new LinkedHashMap<>(ceilings);
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
        Priority ceiling = parsePriority(spec.substring(colon + 1));
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
    public Optional<Priority> ceilingFor(int vmId) {
        Priority c = ceilings.get(vmId);
        return Optional.ofNullable(c != null ? c : defaultCeiling);
    }

    /** low/medium/high or their wire values 0/1/2. */
    static Priority parsePriority(String text) {
        String t = text.trim();
        try {
            return Priority.fromWire(Integer.parseInt(t)).orElseThrow(IllegalArgumentException::new);
        } catch (IllegalArgumentException notAWireValue) {
            try {
                return Priority.parse(t);
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("priority '" + text + "' is not low, medium, high (or 0-2)");
            }
        }
    }

    @Override
    public String toString() {
        StringBuilder listed = new StringBuilder("{");
        ceilings.forEach((vm, c) -> listed.append(listed.length() > 1 ? ", " : "")
                .append(Integer.toUnsignedString(vm))
                .append('=')
                .append(c.label()));
        return isOpenToAll()
                ? "open to every vm_id"
                : "tenants " + listed + "}" + (defaultCeiling == null ? "" : " others<=" + defaultCeiling.label());
    }
}

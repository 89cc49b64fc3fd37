package dev.vgpuhil.harness.junit;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** All VMs of a test (in annotation order), by name. */
public final class GuestVms {
    private final Map<String, GuestVm> byName = new LinkedHashMap<>();

    GuestVms(List<GuestVm> vms) {
        vms.forEach(v -> byName.put(v.name(), v));
    }

    public GuestVm get(String name) {
        GuestVm v = byName.get(name);
        if (v == null) {
            throw new IllegalArgumentException("no VM named '" + name + "'; VMs: " + byName.keySet());
        }
        return v;
    }

    public List<GuestVm> all() {
        return List.copyOf(byName.values());
    }

    public int size() {
        return byName.size();
    }

    Map<String, GuestVm> asMap() {
        return Collections.unmodifiableMap(byName);
    }
}

package dev.vgpuhil.qemu.machine;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * One PCI function as reported by QMP {@code query-pci}.
 *
 * @param bus         bus number
 * @param slot        device (slot) number
 * @param function    function number
 * @param vendorId    e.g. 0x1234
 * @param deviceId    e.g. 0x5647
 * @param classCode   class and subclass, e.g. 0x0380
 * @param description QEMU's class description, e.g. "Display controller"
 * @param qdevId      the {@code id=} given on the command line ("" if none)
 * @param bars        the BARs; {@link Bar#address()} is -1 while the guest has not enabled decoding
 */
public record PciDevice(int bus, int slot, int function, int vendorId, int deviceId, int classCode,
                        String description, String qdevId, List<Bar> bars) {
    public PciDevice {
        bars = List.copyOf(bars);
    }

    /** One BAR (or the expansion ROM, bar 6). */
    public record Bar(int bar, String type, long address, long size) {}

    /** {@code 0000:BB:SS.F}, the guest's sysfs name on PCI domain 0. */
    public String bdf() {
        return String.format("0000:%02x:%02x.%x", bus, slot, function);
    }

    /** True for the vgpu-stub device (vendor 0x1234, device 0x5647). */
    public boolean isVgpuStub() {
        return vendorId == dev.vgpuhil.protocol.VgpuProtocol.PCI_VENDOR_ID
                && deviceId == dev.vgpuhil.protocol.VgpuProtocol.PCI_DEVICE_ID;
    }

    @Override
    public String toString() {
        return String.format("%s %04x:%04x class %04x %s%s", bdf(), vendorId, deviceId, classCode, description,
                qdevId.isEmpty() ? "" : " id=" + qdevId);
    }

    /** Flattens query-pci's reply (buses, and devices behind bridges). */
    static List<PciDevice> fromQueryPci(Object reply) {
        List<PciDevice> out = new ArrayList<>();
        if (reply instanceof List<?> buses) {
            for (Object bus : buses) {
                collect(asMap(bus), out);
            }
        }
        return out;
    }

    private static void collect(Map<String, Object> bus, List<PciDevice> out) {
        for (Object o : Json.array(bus, "devices")) {
            Map<String, Object> d = asMap(o);
            Map<String, Object> id = Json.object(d, "id");
            Map<String, Object> cls = Json.object(d, "class_info");
            List<Bar> bars = new ArrayList<>();
            for (Object r : Json.array(d, "regions")) {
                Map<String, Object> region = asMap(r);
                bars.add(new Bar((int) Json.number(region, "bar", -1), Json.string(region, "type", ""),
                        Json.number(region, "address", -1), Json.number(region, "size", 0)));
            }
            out.add(new PciDevice((int) Json.number(d, "bus", 0), (int) Json.number(d, "slot", 0),
                    (int) Json.number(d, "function", 0), (int) Json.number(id, "vendor", 0),
                    (int) Json.number(id, "device", 0), (int) Json.number(cls, "class", 0),
                    Json.string(cls, "desc", ""), Json.string(d, "qdev_id", ""), bars));
            Map<String, Object> bridge = Json.object(d, "pci_bridge");
            if (!bridge.isEmpty()) {
                collect(bridge, out);
            }
        }
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> asMap(Object o) {
        if (o instanceof Map) {
            return (Map<String, Object>) o;
        }
        throw new IllegalArgumentException("query-pci: expected an object, got " + o);
    }
}

package dev.vgpuhil.qemu.machine;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.ArrayList;
import java.util.List;

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
public record PciDevice(
        int bus,
        int slot,
        int function,
        int vendorId,
        int deviceId,
        int classCode,
        String description,
        String qdevId,
        List<Bar> bars) {
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
        return String.format(
                "%s %04x:%04x class %04x %s%s",
                bdf(), vendorId, deviceId, classCode, description, qdevId.isEmpty() ? "" : " id=" + qdevId);
    }

    /** Flattens query-pci's reply (buses, and devices behind bridges). */
    static List<PciDevice> fromQueryPci(JsonNode reply) {
        List<PciDevice> out = new ArrayList<>();
        for (JsonNode bus : reply) {
            collect(bus, out);
        }
        return out;
    }

    private static void collect(JsonNode bus, List<PciDevice> out) {
        for (JsonNode d : bus.path("devices")) {
            JsonNode id = d.path("id");
            JsonNode cls = d.path("class_info");
            List<Bar> bars = new ArrayList<>();
            for (JsonNode region : d.path("regions")) {
                bars.add(new Bar(
                        region.path("bar").asInt(-1),
                        region.path("type").asText(""),
                        region.path("address").asLong(-1),
                        region.path("size").asLong(0)));
            }
            out.add(new PciDevice(
                    d.path("bus").asInt(0),
                    d.path("slot").asInt(0),
                    d.path("function").asInt(0),
                    id.path("vendor").asInt(0),
                    id.path("device").asInt(0),
                    cls.path("class").asInt(0),
                    cls.path("desc").asText(""),
                    d.path("qdev_id").asText(""),
                    bars));
            JsonNode bridge = d.path("pci_bridge");
            if (bridge.isObject() && !bridge.isEmpty()) {
                collect(bridge, out);
            }
        }
    }
}

package dev.vgpuhil.qemu.device;

import static org.assertj.core.api.Assertions.assertThat;

import dev.vgpuhil.qemu.qtest.QtestSession;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * A client that knows only the register map printed in vgpu-stub-v2-guide.txt: every offset and value below is
 * a literal copied from the guide's table, deliberately not taken from vgpu_protocol.h / VgpuProtocol.
 */
@Tag("qtest")
@Tag("device")
@DisplayName("a client using only the guide's register map finds everything where the guide says")
class GuideRegisterMapTest {

    @Test
    @DisplayName("guide offsets 0x000-0x03C, request buffer 0x040, response buffer 0x440")
    void guideMap() {
        try (VgpuMachine m = VgpuMachine.withoutMediator("pool_id=B", "priority=medium", "vm_id=77")) {
            QtestSession q = m.qtest;
            long bar = m.dev.bar0();
            assertThat(q.readl(bar + 0x000)).as("DOORBELL reads 0").isZero();
            assertThat(q.readl(bar + 0x004)).as("STATUS 0=idle").isZero();
            assertThat(q.readl(bar + 0x008)).as("POOL_ID ASCII 'B'(0x42)").isEqualTo(0x42);
            assertThat(q.readl(bar + 0x00C)).as("PRIORITY 1=medium").isEqualTo(1);
            assertThat(q.readl(bar + 0x010)).as("VM_ID").isEqualTo(77);
            assertThat(q.readl(bar + 0x014)).as("ERROR_CODE").isZero();
            assertThat(q.readl(bar + 0x020)).as("PROTOCOL_VER 0x00010000 (v1.0)").isEqualTo(0x00010000);
            assertThat(q.readl(bar + 0x024) & 1).as("CAPABILITIES bit 0 = basic").isEqualTo(1);
            q.writel(bar + 0x03C, 0xCAFED00D);
            assertThat(q.readl(bar + 0x03C)).as("SCRATCH R/W").isEqualTo(0xCAFED00D);
            q.writel(bar + 0x030, 4242);
            assertThat(q.readl(bar + 0x030)).as("REQUEST_ID RW").isEqualTo(4242);
            q.writel(bar + 0x028, 1);
            assertThat(q.readl(bar + 0x028)).as("IRQ_CTRL RW").isEqualTo(1);
            q.writel(bar + 0x028, 0);
            byte[] req = "guide-request-buffer".getBytes();
            q.memwrite(bar + 0x040, req);
            assertThat(q.memread(bar + 0x040, req.length)).as("REQUEST BUFFER at 0x040").isEqualTo(req);
            q.memwrite(bar + 0x440, req);
            assertThat(q.memread(bar + 0x440, req.length)).as("RESPONSE BUFFER at 0x440 is RO")
                    .containsOnly(0);
            // the guide's flow: buffer, REQUEST_LEN (0x018), DOORBELL (0x000), poll STATUS (0x004)
            q.writel(bar + 0x018, req.length);
            assertThat(q.readl(bar + 0x018)).isEqualTo(req.length);
            q.writel(bar + 0x000, 1);
            assertThat(q.readl(bar + 0x004)).as("STATUS 3=error without a mediator").isEqualTo(3);
            assertThat(q.readl(bar + 0x01C)).as("RESPONSE_LEN").isZero();
            long ts = (long) q.readl(bar + 0x038) << 32 | (q.readl(bar + 0x034) & 0xFFFFFFFFL);
            assertThat(ts).as("TIMESTAMP_HI:LO at 0x038:0x034").isNotZero();
            assertThat(q.readl(bar + 0x02C) & 1).as("IRQ_STATUS complete bit").isEqualTo(1);
        }
    }
}

package dev.vgpuhil.qemu.device;

import static dev.vgpuhil.protocol.VgpuProtocol.*;
import static org.assertj.core.api.Assertions.assertThat;

import dev.vgpuhil.protocol.Frame;
import dev.vgpuhil.qemu.qtest.IrqEvent;
import dev.vgpuhil.qemu.qtest.PciBus;
import java.nio.file.Path;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Completion interrupts: INTx through q35's PIRQ routing to the IOAPIC, and MSI written into guest RAM. */
@Tag("qtest")
@Tag("device")
@OnEveryHosting
@DisplayName("vgpu-stub completion interrupts")
class InterruptTest {
    static final long MSI_ADDRESS = 0x200000; // ordinary guest RAM, so the MSI write can be read back
    static final int MSI_DATA = 0x4A5B;

    /** This test's one budget: the peer's and the device's waits derive from it. */
    private final DeviceBudget budget = DeviceBudget.now();

    /** Rings a zero-length doorbell: an immediate error completion without any mediator. */
    private static void completeWithError(VgpuMachine m) {
        m.dev.writeReg(REG_REQUEST_LEN, 0);
        m.dev.ringDoorbell();
        assertThat(m.dev.status()).isEqualTo(STATUS_ERROR);
        m.settle();
    }

    @Test
    @InQemuOnly("the exact raise/lower sequence: over vfio-user INTx is VFIO's automasked level, every BAR access "
            + "while it is up is an EOI pulse (VfioUserQemuTest.intxIsAnAutomaskedLevel)")
    @DisplayName("INTx: raised on the q35 GSI of the device's slot at completion, lowered by clearing IRQ_STATUS")
    void intx() {
        try (VgpuMachine m = VgpuMachine.withoutMediator()) {
            PciBus pci = m.dev.pci();
            int pin = pci.readConfig8(m.dev.address(), PciBus.INTERRUPT_PIN);
            assertThat(pin).as("interrupt pin A").isEqualTo(1);
            int gsi = PciBus.q35DefaultIntxGsi(m.dev.address(), pin);
            m.qtest.irqInterceptIn("ioapic");
            m.dev.writeReg(REG_IRQ_CTRL, IRQ_CTRL_ENABLE);
            assertThat(m.qtest.raisedIrqLines()).isEmpty();
            completeWithError(m);
            assertThat(m.qtest.raisedIrqLines())
                    .as("device at %s pin A -> GSI %d", m.dev.address(), gsi)
                    .containsExactly(gsi);
            m.dev.writeReg(REG_IRQ_STATUS, IRQ_STATUS_ERROR);
            assertThat(m.qtest.irqLevel(gsi))
                    .as("still pending while COMPLETE is set")
                    .isTrue();
            m.dev.writeReg(REG_IRQ_STATUS, IRQ_STATUS_COMPLETE);
            assertThat(m.qtest.irqLevel(gsi))
                    .as("lowered once IRQ_STATUS is clear")
                    .isFalse();
            assertThat(m.qtest.drainIrqEvents()).containsExactly(new IrqEvent(gsi, true), new IrqEvent(gsi, false));
        }
    }

    @Test
    @DisplayName("IRQ_CTRL off: IRQ_STATUS is latched but no interrupt is raised")
    void noInterruptWhenDisabled() {
        try (VgpuMachine m = VgpuMachine.withoutMediator()) {
            m.qtest.irqInterceptIn("ioapic");
            completeWithError(m);
            assertThat(m.dev.readReg(REG_IRQ_STATUS)).isEqualTo(IRQ_STATUS_COMPLETE | IRQ_STATUS_ERROR);
            assertThat(m.qtest.drainIrqEvents()).isEmpty();
        }
    }

    @Test
    @DisplayName("INTx-disable bit in PCI COMMAND keeps the line low")
    void intxDisableBit() {
        try (VgpuMachine m = VgpuMachine.withoutMediator()) {
            m.qtest.irqInterceptIn("ioapic");
            m.dev.pci().enable(m.dev.address(), PciBus.COMMAND_INTX_DISABLE);
            m.dev.writeReg(REG_IRQ_CTRL, IRQ_CTRL_ENABLE);
            completeWithError(m);
            assertThat(m.qtest.raisedIrqLines()).isEmpty();
        }
    }

    /** PCI STATUS bit 3, "Interrupt Status" (PCI 2.3): the function's INTx is asserted, masked or not. */
    static final int STATUS_INTERRUPT = 0x08;

    @Test
    @DisplayName("PCI 2.3 INTx masking, as uio_pci_generic needs it: INTx-disable sticks, STATUS.INTERRUPT shows the "
            + "pending line even while masked, unmasking re-raises it")
    void pci23IntxMasking() {
        try (VgpuMachine m = VgpuMachine.withoutMediator()) {
            PciBus pci = m.dev.pci();
            PciBus.PciAddress a = m.dev.address();
            int gsi = PciBus.q35DefaultIntxGsi(a, 1);
            m.qtest.irqInterceptIn("ioapic");
            int command = pci.readConfig16(a, PciBus.COMMAND);
            // pci_intx_mask_supported(): the bit must stick when set and when cleared (else the driver refuses to bind)
            pci.writeConfig16(a, PciBus.COMMAND, command | PciBus.COMMAND_INTX_DISABLE);
            assertThat(pci.readConfig16(a, PciBus.COMMAND) & PciBus.COMMAND_INTX_DISABLE)
                    .isNotZero();
            pci.writeConfig16(a, PciBus.COMMAND, command & ~PciBus.COMMAND_INTX_DISABLE);
            assertThat(pci.readConfig16(a, PciBus.COMMAND) & PciBus.COMMAND_INTX_DISABLE)
                    .isZero();
            assertThat(pci.readConfig16(a, PciBus.STATUS) & STATUS_INTERRUPT)
                    .as("nothing pending")
                    .isZero();

            m.dev.writeReg(REG_IRQ_CTRL, IRQ_CTRL_ENABLE);
            completeWithError(m);
            assertThat(m.qtest.irqLevel(gsi)).isTrue();
            assertThat(pci.readConfig16(a, PciBus.STATUS) & STATUS_INTERRUPT)
                    .as("STATUS.INTERRUPT while raised")
                    .isNotZero();
            // the driver's handler, pci_check_and_mask_intx(): STATUS.INTERRUPT set -> set INTx-disable
            pci.enable(a, PciBus.COMMAND_INTX_DISABLE);
            assertThat(m.qtest.irqLevel(gsi)).as("masked: line low").isFalse();
            assertThat(pci.readConfig16(a, PciBus.STATUS) & STATUS_INTERRUPT)
                    .as("still pending while masked")
                    .isNotZero();
            // user space: acknowledge in the device (W1C) -> nothing pending any more
            m.dev.writeReg(REG_IRQ_STATUS, 0xFFFFFFFF);
            assertThat(pci.readConfig16(a, PciBus.STATUS) & STATUS_INTERRUPT).isZero();
            // a completion while masked: pending in STATUS only; unmasking (clear INTx-disable) raises the line
            completeWithError(m);
            assertThat(m.qtest.irqLevel(gsi)).isFalse();
            assertThat(pci.readConfig16(a, PciBus.STATUS) & STATUS_INTERRUPT).isNotZero();
            pci.writeConfig16(a, PciBus.COMMAND, pci.readConfig16(a, PciBus.COMMAND) & ~PciBus.COMMAND_INTX_DISABLE);
            m.settle();
            assertThat(m.qtest.irqLevel(gsi))
                    .as("unmasked with a completion pending")
                    .isTrue();
            m.dev.writeReg(REG_IRQ_STATUS, 0xFFFFFFFF);
            assertThat(m.qtest.irqLevel(gsi)).isFalse();
            assertThat(pci.readConfig16(a, PciBus.STATUS) & STATUS_INTERRUPT).isZero();
        }
    }

    @Test
    @DisplayName("MSI: the message data word lands at the programmed address; no INTx")
    void msi() {
        try (VgpuMachine m = VgpuMachine.withoutMediator()) {
            m.qtest.irqInterceptIn("ioapic");
            m.qtest.writel(MSI_ADDRESS, 0);
            m.dev.pci().enableMsi(m.dev.address(), MSI_ADDRESS, MSI_DATA);
            m.dev.writeReg(REG_IRQ_CTRL, IRQ_CTRL_ENABLE);
            completeWithError(m);
            assertThat(m.qtest.readl(MSI_ADDRESS)).isEqualTo(MSI_DATA);
            assertThat(m.qtest.drainIrqEvents())
                    .as("no INTx while MSI is enabled")
                    .isEmpty();
            m.dev.writeReg(REG_IRQ_STATUS, 0xFFFFFFFF);
            m.qtest.writel(MSI_ADDRESS, 0);
            completeWithError(m);
            assertThat(m.qtest.readl(MSI_ADDRESS))
                    .as("a second completion sends a second message")
                    .isEqualTo(MSI_DATA);
        }
    }

    @Test
    @DisplayName("a pending completion follows the delivery method: MSI on keeps INTx low, MSI off raises it")
    void msiToggleReevaluatesIntx() {
        try (VgpuMachine m = VgpuMachine.withoutMediator()) {
            int gsi = PciBus.q35DefaultIntxGsi(m.dev.address(), 1);
            m.qtest.irqInterceptIn("ioapic");
            m.dev.pci().enableMsi(m.dev.address(), MSI_ADDRESS, MSI_DATA);
            m.dev.writeReg(REG_IRQ_CTRL, IRQ_CTRL_ENABLE);
            completeWithError(m);
            assertThat(m.qtest.readl(MSI_ADDRESS)).isEqualTo(MSI_DATA);
            assertThat(m.qtest.raisedIrqLines()).as("MSI on: no INTx").isEmpty();
            m.dev.pci().disableMsi(m.dev.address());
            m.settle();
            assertThat(m.qtest.raisedIrqLines())
                    .as("MSI off with IRQ_STATUS pending: INTx asserted")
                    .containsExactly(gsi);
            m.dev.pci().enableMsi(m.dev.address(), MSI_ADDRESS, MSI_DATA);
            assertThat(m.qtest.irqLevel(gsi)).as("MSI on again: INTx released").isFalse();
            m.dev.pci().disableMsi(m.dev.address());
            m.settle();
            assertThat(m.qtest.irqLevel(gsi)).isTrue();
            m.dev.writeReg(REG_IRQ_STATUS, 0xFFFFFFFF);
            assertThat(m.qtest.irqLevel(gsi)).isFalse();
            m.dev.writeReg(REG_IRQ_CTRL, 0);
            completeWithError(m);
            assertThat(m.qtest.irqLevel(gsi)).as("IRQ_CTRL off").isFalse();
        }
    }

    @Test
    @DisplayName("enabling IRQ_CTRL while a completion is pending raises INTx; disabling it lowers INTx")
    void irqCtrlWithPendingStatus() {
        try (VgpuMachine m = VgpuMachine.withoutMediator()) {
            int gsi = PciBus.q35DefaultIntxGsi(m.dev.address(), 1);
            m.qtest.irqInterceptIn("ioapic");
            completeWithError(m);
            assertThat(m.qtest.irqLevel(gsi)).isFalse();
            m.dev.writeReg(REG_IRQ_CTRL, IRQ_CTRL_ENABLE);
            m.settle();
            assertThat(m.qtest.irqLevel(gsi)).isTrue();
            m.dev.writeReg(REG_IRQ_CTRL, 0);
            assertThat(m.qtest.irqLevel(gsi)).isFalse();
        }
    }

    @Test
    @DisplayName("MSI on a successful mediator completion")
    void msiOnDone(@TempDir Path tmp) throws Exception {
        try (MediatorPeer peer = new MediatorPeer(tmp.resolve("m.sock"), budget);
                VgpuMachine m = VgpuMachine.withMediator(peer.socket())) {
            MediatorPeer.Connection c = peer.acceptAndGreet(budget.waitFor());
            m.dev.readReg(REG_SCRATCH);
            m.dev.readReg(REG_SCRATCH);
            m.qtest.writel(MSI_ADDRESS, 0);
            m.dev.pci().enableMsi(m.dev.address(), MSI_ADDRESS, MSI_DATA);
            m.dev.writeReg(REG_IRQ_CTRL, IRQ_CTRL_ENABLE);
            m.dev.submit(new byte[] {0, 0, 0, 0, 1, 0, 0, 0, 42}, 9);
            Frame req = c.expectFrame(budget.waitFor());
            assertThat(m.qtest.readl(MSI_ADDRESS))
                    .as("nothing before completion")
                    .isZero();
            c.send(req.reply(MSG_RESPONSE, ERR_NONE, new byte[] {42}));
            assertThat(m.dev.awaitNotBusy(budget.waitFor())).as("%s", budget).isEqualTo(STATUS_DONE);
            m.settle();
            assertThat(m.qtest.readl(MSI_ADDRESS)).isEqualTo(MSI_DATA);
            assertThat(m.dev.readReg(REG_IRQ_STATUS)).isEqualTo(IRQ_STATUS_COMPLETE);
        }
    }
}

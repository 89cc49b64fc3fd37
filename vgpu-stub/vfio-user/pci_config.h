/*
 * pci_config.h - the vgpu-stub's PCI configuration space, emulated by the
 * vfio-user server (inside QEMU the PCI core does this).
 *
 * Same identity as the in-QEMU device (vgpu_protocol.h): vendor, device,
 * revision, class, interrupt pin A, BAR0 = 4 KiB 32-bit non-prefetchable
 * memory, one MSI capability (1 vector, 64-bit address, no masking).
 * Writable bits follow QEMU's PCI core: COMMAND (I/O, memory, bus master,
 * SERR, INTx disable), cache line size, interrupt line, BAR0's address bits,
 * MSI enable/queue size/address/data, and the area after the capability;
 * STATUS error bits are write-1-to-clear; STATUS.interrupt shows the
 * device's INTx level.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef PCI_CONFIG_H
#define PCI_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

/* Conventional PCI: 256 bytes (so QEMU treats the device as non-express). */
#define PCI_CONFIG_SIZE      256
/* Where the MSI capability sits: the first byte after the header, as QEMU's
 * msi_init() places it for the in-QEMU device. */
#define PCI_CONFIG_MSI_CAP   0x40

typedef struct PciConfig {
    uint8_t data[PCI_CONFIG_SIZE];
    uint8_t wmask[PCI_CONFIG_SIZE];    /* bits a write may change */
    uint8_t w1cmask[PCI_CONFIG_SIZE];  /* bits a write of 1 clears */
} PciConfig;

/* Power-on (and device reset) state. */
void pci_config_init(PciConfig *p);
/* Whether [off, off+len) lies inside config space. */
bool pci_config_range_valid(uint64_t off, uint32_t len);
/* Copy len bytes at off (range checked by the caller). */
void pci_config_read(const PciConfig *p, uint32_t off, uint8_t *out,
                     uint32_t len);
/* Apply a write of len bytes at off through the write masks. */
void pci_config_write(PciConfig *p, uint32_t off, const uint8_t *in,
                      uint32_t len);

bool pci_config_msi_enabled(const PciConfig *p);
bool pci_config_intx_disabled(const PciConfig *p);
/* STATUS bit 3: the device's INTx level (shown even while INTx-disable masks it). */
void pci_config_set_interrupt_status(PciConfig *p, bool level);

#endif /* PCI_CONFIG_H */

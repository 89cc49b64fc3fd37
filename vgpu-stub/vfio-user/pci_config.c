/*
 * pci_config.c - PCI configuration space of the vgpu-stub, for the
 * vfio-user hosting.  See pci_config.h for what is emulated and why.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "pci_config.h"

#include <linux/pci_regs.h>
#include <string.h>

#include "vgpu_protocol.h"

/*
 * QEMU's PCI core gives every device without its own subsystem ids
 * Red Hat/Qumranet 0x1af4 : 0x1100; the in-QEMU vgpu-stub has those, so the
 * vfio-user device has them too.
 */
#define QEMU_DEFAULT_SUBSYSTEM_VENDOR_ID 0x1af4
#define QEMU_DEFAULT_SUBSYSTEM_ID        0x1100

/* MSI capability, 64-bit without per-vector masking: 14 bytes. */
#define MSI_CAP_SIZE 0x0e

_Static_assert((VGPU_BAR0_SIZE & (VGPU_BAR0_SIZE - 1)) == 0,
               "BAR0 size must be a power of two");
_Static_assert(PCI_CONFIG_MSI_CAP + MSI_CAP_SIZE <= PCI_CONFIG_SIZE,
               "MSI capability inside config space");

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = v & 0xff;
    p[1] = v >> 8;
}

static void put32(uint8_t *p, uint32_t v)
{
    put16(p, v & 0xffff);
    put16(p + 2, v >> 16);
}

static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

void pci_config_init(PciConfig *p)
{
    uint8_t *d = p->data;
    uint8_t *cap = d + PCI_CONFIG_MSI_CAP;

    memset(p, 0, sizeof(*p));

    put16(d + PCI_VENDOR_ID, VGPU_PCI_VENDOR_ID);
    put16(d + PCI_DEVICE_ID, VGPU_PCI_DEVICE_ID);
    put16(d + PCI_STATUS, PCI_STATUS_CAP_LIST);
    d[PCI_REVISION_ID] = VGPU_PCI_REVISION;
    d[PCI_CLASS_PROG] = 0;
    put16(d + PCI_CLASS_DEVICE, VGPU_PCI_CLASS);
    d[PCI_HEADER_TYPE] = PCI_HEADER_TYPE_NORMAL;
    /* BAR0: memory, 32-bit, non-prefetchable: the low bits all read 0. */
    put16(d + PCI_SUBSYSTEM_VENDOR_ID, QEMU_DEFAULT_SUBSYSTEM_VENDOR_ID);
    put16(d + PCI_SUBSYSTEM_ID, QEMU_DEFAULT_SUBSYSTEM_ID);
    d[PCI_CAPABILITY_LIST] = PCI_CONFIG_MSI_CAP;
    d[PCI_INTERRUPT_PIN] = 1;   /* INTA# */

    cap[PCI_CAP_LIST_ID] = PCI_CAP_ID_MSI;
    cap[PCI_CAP_LIST_NEXT] = 0;
    /* 1 vector (multiple message capable = 0), 64-bit address. */
    put16(cap + PCI_MSI_FLAGS, PCI_MSI_FLAGS_64BIT);

    /* Write masks, as QEMU's PCI core sets them for a plain device. */
    put16(p->wmask + PCI_COMMAND,
          PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER |
          PCI_COMMAND_SERR | PCI_COMMAND_INTX_DISABLE);
    p->wmask[PCI_CACHE_LINE_SIZE] = 0xff;
    p->wmask[PCI_INTERRUPT_LINE] = 0xff;
    put32(p->wmask + PCI_BASE_ADDRESS_0, ~(uint32_t)(VGPU_BAR0_SIZE - 1));
    memset(p->wmask + PCI_CONFIG_MSI_CAP + MSI_CAP_SIZE, 0xff,
           PCI_CONFIG_SIZE - PCI_CONFIG_MSI_CAP - MSI_CAP_SIZE);
    put16(p->wmask + PCI_CONFIG_MSI_CAP + PCI_MSI_FLAGS,
          PCI_MSI_FLAGS_QSIZE | PCI_MSI_FLAGS_ENABLE);
    put32(p->wmask + PCI_CONFIG_MSI_CAP + PCI_MSI_ADDRESS_LO, 0xfffffffc);
    put32(p->wmask + PCI_CONFIG_MSI_CAP + PCI_MSI_ADDRESS_HI, 0xffffffff);
    put16(p->wmask + PCI_CONFIG_MSI_CAP + PCI_MSI_DATA_64, 0xffff);

    put16(p->w1cmask + PCI_STATUS,
          PCI_STATUS_PARITY | PCI_STATUS_SIG_TARGET_ABORT |
          PCI_STATUS_REC_TARGET_ABORT | PCI_STATUS_REC_MASTER_ABORT |
          PCI_STATUS_SIG_SYSTEM_ERROR | PCI_STATUS_DETECTED_PARITY);
}

bool pci_config_range_valid(uint64_t off, uint32_t len)
{
    return len > 0 && off < PCI_CONFIG_SIZE && len <= PCI_CONFIG_SIZE - off;
}

void pci_config_read(const PciConfig *p, uint32_t off, uint8_t *out,
                     uint32_t len)
{
    memcpy(out, p->data + off, len);
}

void pci_config_write(PciConfig *p, uint32_t off, const uint8_t *in,
                      uint32_t len)
{
    for (uint32_t i = 0; i < len; i++) {
        uint32_t a = off + i;
        uint8_t wm = p->wmask[a];
        uint8_t w1c = p->w1cmask[a];

        p->data[a] = (p->data[a] & ~wm) | (in[i] & wm);
        p->data[a] &= ~(in[i] & w1c);
    }
}

bool pci_config_msi_enabled(const PciConfig *p)
{
    return get16(p->data + PCI_CONFIG_MSI_CAP + PCI_MSI_FLAGS) &
           PCI_MSI_FLAGS_ENABLE;
}

bool pci_config_intx_disabled(const PciConfig *p)
{
    return get16(p->data + PCI_COMMAND) & PCI_COMMAND_INTX_DISABLE;
}

void pci_config_set_interrupt_status(PciConfig *p, bool level)
{
    uint16_t status = get16(p->data + PCI_STATUS);

    if (level) {
        status |= PCI_STATUS_INTERRUPT;
    } else {
        status &= ~PCI_STATUS_INTERRUPT;
    }
    put16(p->data + PCI_STATUS, status);
}

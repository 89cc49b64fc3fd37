/*
 * device.c - the vfio-user commands of the vgpu-stub server.
 *
 * What the client sees: a PCI device (VFIO_DEVICE_FLAGS_PCI | RESET) with
 * the nine standard VFIO PCI regions, of which BAR0 (4 KiB) and config space
 * (256 bytes) have a size, none mmap-able (every access goes through the
 * core); IRQ indexes INTx (1, eventfd, maskable, automasked as VFIO's INTx
 * is), MSI (1, eventfd) and error (1, eventfd: accepted so QEMU sets up its
 * error notifier, never signalled - the device has no error state to
 * report); MSI-X and request IRQs have count 0.
 * Every command is checked against its fixed layout first; a bad one gets an
 * error reply (errno) and changes nothing.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "server.h"

#include <errno.h>
#include <linux/pci_regs.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "json_check.h"

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
               "BAR0 values are passed as little-endian bytes");

#define IRQ_SET_DATA_MASK \
    (VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_DATA_BOOL | VFIO_IRQ_SET_DATA_EVENTFD)
#define IRQ_SET_ACTION_MASK \
    (VFIO_IRQ_SET_ACTION_MASK | VFIO_IRQ_SET_ACTION_UNMASK | \
     VFIO_IRQ_SET_ACTION_TRIGGER)

/* Capabilities of this server: every key one QEMU's client knows. */
#define STR_(x) #x
#define STR(x) STR_(x)
static const char server_caps[] =
    "{\"capabilities\":{"
    "\"max_msg_fds\":" STR(VFU_MAX_MSG_FDS) ","
    "\"max_data_xfer_size\":" STR(VFU_MAX_DATA_XFER) ","
    "\"pgsizes\":4096,"
    "\"max_dma_maps\":" STR(DMA_MAX_MAPS)
    "}}";

static const char *command_name(uint16_t cmd)
{
    switch (cmd) {
    case VFU_CMD_VERSION:                  return "VERSION";
    case VFU_CMD_DMA_MAP:                  return "DMA_MAP";
    case VFU_CMD_DMA_UNMAP:                return "DMA_UNMAP";
    case VFU_CMD_DEVICE_GET_INFO:          return "DEVICE_GET_INFO";
    case VFU_CMD_DEVICE_GET_REGION_INFO:   return "DEVICE_GET_REGION_INFO";
    case VFU_CMD_DEVICE_GET_REGION_IO_FDS: return "DEVICE_GET_REGION_IO_FDS";
    case VFU_CMD_DEVICE_GET_IRQ_INFO:      return "DEVICE_GET_IRQ_INFO";
    case VFU_CMD_DEVICE_SET_IRQS:          return "DEVICE_SET_IRQS";
    case VFU_CMD_REGION_READ:              return "REGION_READ";
    case VFU_CMD_REGION_WRITE:             return "REGION_WRITE";
    case VFU_CMD_DMA_READ:                 return "DMA_READ";
    case VFU_CMD_DMA_WRITE:                return "DMA_WRITE";
    case VFU_CMD_DEVICE_RESET:             return "DEVICE_RESET";
    case VFU_CMD_REGION_WRITE_MULTI:       return "REGION_WRITE_MULTI";
    case VFU_CMD_DEVICE_FEATURE:           return "DEVICE_FEATURE";
    case VFU_CMD_MIG_DATA_READ:            return "MIG_DATA_READ";
    case VFU_CMD_MIG_DATA_WRITE:           return "MIG_DATA_WRITE";
    default:                               return "unknown";
    }
}

static void close_fd(int *fd)
{
    if (*fd >= 0) {
        close(*fd);
        *fd = -1;
    }
}

void device_init(Server *s)
{
    pci_config_init(&s->pci);
    s->intx_fd = -1;
    s->intx_unmask_fd = -1;
    s->msi_fd = -1;
    s->err_fd = -1;
    s->intx_level = false;
    s->intx_masked = false;
    s->dma = NULL;
    s->dma_count = 0;
    s->dma_cap = 0;
}

void device_client_gone(Server *s)
{
    close_fd(&s->intx_fd);
    close_fd(&s->intx_unmask_fd);
    close_fd(&s->msi_fd);
    close_fd(&s->err_fd);
    s->intx_masked = false;
    s->dma_count = 0;
    s->negotiated = false;
}

/* ---------------------------------------------------------------------- */
/* Interrupts                                                             */

static void signal_eventfd(Server *s, int fd, const char *what)
{
    if (eventfd_write(fd, 1) < 0) {
        server_log(s, "cannot signal the %s eventfd: %s", what, strerror(errno));
    }
}

/*
 * VFIO INTx is automasked: a signal masks the line until the client unmasks
 * it (QEMU does so at the next BAR access, its "EOI"); a line still asserted
 * then is signalled again.  So the client sees a level through edges.
 */
static void intx_refresh(Server *s)
{
    bool line = s->intx_level && !pci_config_intx_disabled(&s->pci);

    if (line && s->intx_fd >= 0 && !s->intx_masked) {
        s->intx_masked = true;
        signal_eventfd(s, s->intx_fd, "INTx");
    }
}

void device_set_intx(Server *s, bool level)
{
    s->intx_level = level;
    pci_config_set_interrupt_status(&s->pci, level);
    intx_refresh(s);
}

bool device_msi_enabled(Server *s)
{
    return pci_config_msi_enabled(&s->pci);
}

void device_msi_notify(Server *s)
{
    if (s->msi_fd >= 0) {
        signal_eventfd(s, s->msi_fd, "MSI");
    } else if (!s->warned_lost_msi) {
        s->warned_lost_msi = true;
        server_log(s, "MSI is enabled but the client set no MSI eventfd; "
                   "the interrupt is lost");
    }
}

static void intx_unmask(Server *s)
{
    s->intx_masked = false;
    intx_refresh(s);
}

void device_intx_unmask_event(Server *s)
{
    eventfd_t v;

    if (eventfd_read(s->intx_unmask_fd, &v) == 0) {
        intx_unmask(s);
    }
}

/* ---------------------------------------------------------------------- */
/* Commands                                                               */

/* Payload as a fixed struct: false if shorter. */
#define PAYLOAD_AS(msg, type, var) \
    type var; \
    if ((msg)->payload_len < sizeof(type)) { \
        return vfu_conn_reply_error(&s->conn, &(msg)->hdr, EINVAL); \
    } \
    memcpy(&var, (msg)->payload, sizeof(type))

static bool handle_version(Server *s, VfuMessage *msg)
{
    const char *json;
    size_t json_len;
    uint8_t reply[sizeof(VfuVersion) + sizeof(server_caps)];
    VfuVersion v;

    if (s->negotiated || msg->payload_len < sizeof(VfuVersion)) {
        return vfu_conn_reply_error(&s->conn, &msg->hdr, EINVAL);
    }
    memcpy(&v, msg->payload, sizeof(v));
    if (v.major != VFU_VERSION_MAJOR) {
        server_log(s, "client proposes vfio-user %u.%u; this server speaks "
                   "%u.x only: closing", v.major, v.minor, VFU_VERSION_MAJOR);
        return false;
    }
    json = (const char *)msg->payload + sizeof(v);
    json_len = msg->payload_len - sizeof(v);
    if (json_len > 0) {
        /* NUL-terminated, and a JSON object before the NUL */
        if (json[json_len - 1] != '\0' ||
            !json_is_object(json, json_len - 1) ||
            memchr(json, '\0', json_len - 1)) {
            server_log(s, "VERSION capabilities are not a NUL-terminated "
                       "JSON object: refused");
            return vfu_conn_reply_error(&s->conn, &msg->hdr, EINVAL);
        }
    }
    v.major = VFU_VERSION_MAJOR;
    v.minor = VFU_VERSION_MINOR;   /* <= every minor a client can propose */
    memcpy(reply, &v, sizeof(v));
    memcpy(reply + sizeof(v), server_caps, sizeof(server_caps));
    s->negotiated = true;
    return vfu_conn_reply(&s->conn, &msg->hdr, reply, sizeof(reply));
}

static bool ranges_overlap(uint64_t a, uint64_t an, uint64_t b, uint64_t bn)
{
    return a < b + bn && b < a + an;
}

static bool handle_dma_map(Server *s, VfuMessage *msg)
{
    PAYLOAD_AS(msg, VfuDmaMap, m);

    if (m.argsz < sizeof(m) || m.size == 0 ||
        m.address + m.size < m.address ||
        (m.flags & ~(uint32_t)(VFIO_DMA_MAP_FLAG_READ |
                               VFIO_DMA_MAP_FLAG_WRITE)) ||
        msg->nfds > 1) {
        return vfu_conn_reply_error(&s->conn, &msg->hdr, EINVAL);
    }
    for (size_t i = 0; i < s->dma_count; i++) {
        if (ranges_overlap(m.address, m.size, s->dma[i].address,
                           s->dma[i].size)) {
            return vfu_conn_reply_error(&s->conn, &msg->hdr, EEXIST);
        }
    }
    if (s->dma_count == DMA_MAX_MAPS) {
        return vfu_conn_reply_error(&s->conn, &msg->hdr, ENOSPC);
    }
    if (s->dma_count == s->dma_cap) {
        size_t cap = s->dma_cap ? 2 * s->dma_cap : 16;
        DmaRange *p = realloc(s->dma, cap * sizeof(*p));

        if (!p) {
            return vfu_conn_reply_error(&s->conn, &msg->hdr, ENOMEM);
        }
        s->dma = p;
        s->dma_cap = cap;
    }
    /* The fd, if any, is closed by vfu_message_release(): no DMA here. */
    s->dma[s->dma_count++] = (DmaRange){ m.address, m.size, m.flags };
    return vfu_conn_reply(&s->conn, &msg->hdr, NULL, 0);
}

/*
 * Removes every window inside [address, address+size) as the kernel's type1
 * IOMMU does (an exact match is the common case); one that sticks out makes
 * the request fail and removes nothing.
 */
static bool handle_dma_unmap(Server *s, VfuMessage *msg)
{
    size_t kept = 0;
    bool found = false;
    PAYLOAD_AS(msg, VfuDmaUnmap, u);

    if (u.argsz < sizeof(u) || msg->nfds ||
        (u.flags & ~(uint32_t)VFIO_DMA_UNMAP_FLAG_ALL)) {
        return vfu_conn_reply_error(&s->conn, &msg->hdr, EINVAL);
    }
    if (u.flags & VFIO_DMA_UNMAP_FLAG_ALL) {
        s->dma_count = 0;
        return vfu_conn_reply(&s->conn, &msg->hdr, &u, sizeof(u));
    }
    if (u.size == 0 || u.address + u.size < u.address) {
        return vfu_conn_reply_error(&s->conn, &msg->hdr, EINVAL);
    }
    for (size_t i = 0; i < s->dma_count; i++) {
        const DmaRange *r = &s->dma[i];
        bool inside = r->address >= u.address &&
                      r->address + r->size <= u.address + u.size;

        if (!inside && ranges_overlap(r->address, r->size, u.address, u.size)) {
            return vfu_conn_reply_error(&s->conn, &msg->hdr, EINVAL);
        }
        found |= inside;
    }
    if (!found) {
        return vfu_conn_reply_error(&s->conn, &msg->hdr, ENOENT);
    }
    for (size_t i = 0; i < s->dma_count; i++) {
        const DmaRange *r = &s->dma[i];

        if (!(r->address >= u.address &&
              r->address + r->size <= u.address + u.size)) {
            s->dma[kept++] = *r;
        }
    }
    s->dma_count = kept;
    return vfu_conn_reply(&s->conn, &msg->hdr, &u, sizeof(u));
}

static bool handle_device_info(Server *s, VfuMessage *msg)
{
    PAYLOAD_AS(msg, VfuDeviceInfo, info);

    if (info.argsz < sizeof(info)) {
        return vfu_conn_reply_error(&s->conn, &msg->hdr, EINVAL);
    }
    info = (VfuDeviceInfo){
        .argsz = sizeof(info),
        .flags = VFIO_DEVICE_FLAGS_PCI | VFIO_DEVICE_FLAGS_RESET,
        .num_regions = VFIO_PCI_NUM_REGIONS,
        .num_irqs = VFIO_PCI_NUM_IRQS,
    };
    return vfu_conn_reply(&s->conn, &msg->hdr, &info, sizeof(info));
}

static uint64_t region_size(uint32_t index)
{
    switch (index) {
    case VFIO_PCI_BAR0_REGION_INDEX:   return VGPU_BAR0_SIZE;
    case VFIO_PCI_CONFIG_REGION_INDEX: return PCI_CONFIG_SIZE;
    default:                           return 0;
    }
}

static bool handle_region_info(Server *s, VfuMessage *msg)
{
    uint64_t size;
    PAYLOAD_AS(msg, VfuRegionInfo, info);

    if (info.argsz < sizeof(info) || info.index >= VFIO_PCI_NUM_REGIONS) {
        return vfu_conn_reply_error(&s->conn, &msg->hdr, EINVAL);
    }
    size = region_size(info.index);
    info = (VfuRegionInfo){
        .argsz = sizeof(info),
        .flags = size ? VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE
                      : 0,
        .index = info.index,
        .cap_offset = 0,
        .size = size,
        .offset = 0,
    };
    return vfu_conn_reply(&s->conn, &msg->hdr, &info, sizeof(info));
}

static uint32_t irq_count(uint32_t index)
{
    return index == VFIO_PCI_INTX_IRQ_INDEX || index == VFIO_PCI_MSI_IRQ_INDEX ||
           index == VFIO_PCI_ERR_IRQ_INDEX;
}

/* Where the trigger eventfd of an IRQ index is kept. */
static int *trigger_slot(Server *s, uint32_t index)
{
    switch (index) {
    case VFIO_PCI_INTX_IRQ_INDEX: return &s->intx_fd;
    case VFIO_PCI_MSI_IRQ_INDEX:  return &s->msi_fd;
    default:                      return &s->err_fd;
    }
}

static bool handle_irq_info(Server *s, VfuMessage *msg)
{
    uint32_t flags = 0;
    PAYLOAD_AS(msg, VfuIrqInfo, info);

    if (info.argsz < sizeof(info) || info.index >= VFIO_PCI_NUM_IRQS) {
        return vfu_conn_reply_error(&s->conn, &msg->hdr, EINVAL);
    }
    if (info.index == VFIO_PCI_INTX_IRQ_INDEX) {
        flags = VFIO_IRQ_INFO_EVENTFD | VFIO_IRQ_INFO_MASKABLE |
                VFIO_IRQ_INFO_AUTOMASKED;
    } else if (info.index == VFIO_PCI_MSI_IRQ_INDEX) {
        flags = VFIO_IRQ_INFO_EVENTFD | VFIO_IRQ_INFO_NORESIZE;
    } else if (info.index == VFIO_PCI_ERR_IRQ_INDEX) {
        flags = VFIO_IRQ_INFO_EVENTFD;
    }
    info = (VfuIrqInfo){
        .argsz = sizeof(info),
        .flags = flags,
        .index = info.index,
        .count = irq_count(info.index),
    };
    return vfu_conn_reply(&s->conn, &msg->hdr, &info, sizeof(info));
}

static bool one_bit(uint32_t v)
{
    return v && !(v & (v - 1));
}

static bool handle_set_irqs(Server *s, VfuMessage *msg)
{
    uint32_t data, action, max;
    bool fire = true;
    PAYLOAD_AS(msg, VfuIrqSet, set);

    data = set.flags & IRQ_SET_DATA_MASK;
    action = set.flags & IRQ_SET_ACTION_MASK;
    if (set.argsz < sizeof(set) || !one_bit(data) || !one_bit(action) ||
        (set.flags & ~(IRQ_SET_DATA_MASK | IRQ_SET_ACTION_MASK)) ||
        set.index >= VFIO_PCI_NUM_IRQS) {
        return vfu_conn_reply_error(&s->conn, &msg->hdr, EINVAL);
    }
    max = irq_count(set.index);
    if (set.start > max || set.count > max - set.start) {
        return vfu_conn_reply_error(&s->conn, &msg->hdr, EINVAL);
    }
    if ((data == VFIO_IRQ_SET_DATA_EVENTFD && msg->nfds > set.count) ||
        (data != VFIO_IRQ_SET_DATA_EVENTFD && msg->nfds) ||
        msg->fds_truncated) {
        return vfu_conn_reply_error(&s->conn, &msg->hdr, EINVAL);
    }
    if (set.count == 0) {
        /* count 0 + DATA_NONE + TRIGGER: disable every interrupt of the index */
        if (data != VFIO_IRQ_SET_DATA_NONE ||
            action != VFIO_IRQ_SET_ACTION_TRIGGER) {
            return vfu_conn_reply_error(&s->conn, &msg->hdr, EINVAL);
        }
        if (irq_count(set.index)) {
            close_fd(trigger_slot(s, set.index));
        }
        if (set.index == VFIO_PCI_INTX_IRQ_INDEX) {
            close_fd(&s->intx_unmask_fd);
            s->intx_masked = false;
        }
        return vfu_conn_reply(&s->conn, &msg->hdr, NULL, 0);
    }
    if (data == VFIO_IRQ_SET_DATA_BOOL) {
        if (msg->payload_len < sizeof(set) + set.count) {
            return vfu_conn_reply_error(&s->conn, &msg->hdr, EINVAL);
        }
        fire = msg->payload[sizeof(set)] != 0;   /* count is 1 here */
    }
    /* From here: index INTx, MSI or ERR, start 0, count 1. */
    if (set.index != VFIO_PCI_INTX_IRQ_INDEX &&
        action != VFIO_IRQ_SET_ACTION_TRIGGER) {
        return vfu_conn_reply_error(&s->conn, &msg->hdr, EINVAL); /* not maskable */
    }
    if (data == VFIO_IRQ_SET_DATA_EVENTFD) {
        int fd = msg->nfds ? msg->fds[0] : -1;   /* no fd: de-assign */
        int *slot = action == VFIO_IRQ_SET_ACTION_TRIGGER
                    ? trigger_slot(s, set.index)
                    : action == VFIO_IRQ_SET_ACTION_UNMASK ? &s->intx_unmask_fd
                    : NULL;

        if (!slot) {   /* an eventfd for "the guest masked": not offered */
            return vfu_conn_reply_error(&s->conn, &msg->hdr, EINVAL);
        }
        close_fd(slot);
        *slot = fd;
        if (msg->nfds) {
            msg->fds[0] = -1;   /* kept */
        }
        if (slot == &s->intx_fd) {
            s->intx_masked = false;
            intx_refresh(s);   /* a level pending from before (MSI just off) */
        }
        return vfu_conn_reply(&s->conn, &msg->hdr, NULL, 0);
    }
    /* DATA_NONE / DATA_BOOL: the client acts on the interrupt itself. */
    if (fire) {
        if (action == VFIO_IRQ_SET_ACTION_UNMASK) {
            intx_unmask(s);
        } else if (action == VFIO_IRQ_SET_ACTION_MASK) {
            s->intx_masked = true;
        } else {
            int fd = *trigger_slot(s, set.index);

            if (fd >= 0) {
                signal_eventfd(s, fd, "client-triggered");
            }
        }
    }
    return vfu_conn_reply(&s->conn, &msg->hdr, NULL, 0);
}

/* Config writes that change how a completion is signalled. */
static bool touches(uint32_t off, uint32_t len, uint32_t start, uint32_t size)
{
    return off < start + size && start < off + len;
}

/*
 * An access of 1-4 bytes is one core access: the core decides which are
 * valid and logs the others as guest errors, as QEMU's memory core does for
 * the in-QEMU device.  A longer one is done as consecutive 4-byte accesses
 * (the last one shorter), as QEMU's memory core splits them for the in-QEMU
 * device (whose regions take at most 4 bytes): QEMU's vfio BARs pass up to
 * 8 bytes at once, e.g. for qtest's memwrite.
 */
static void bar0_access(Server *s, uint64_t off, uint32_t count,
                        const uint8_t *in, uint8_t *out)
{
    uint32_t step = count <= 4 ? count : 4;

    for (uint32_t done = 0; done < count; done += step) {
        uint32_t n = count - done < step ? count - done : step;
        uint64_t v = 0;

        if (in) {
            memcpy(&v, in + done, n);
            vgpu_core_mmio_write(&s->core, off + done, v, n);
        } else {
            v = vgpu_core_mmio_read(&s->core, off + done, n);
            memcpy(out + done, &v, n);
        }
    }
}

static bool handle_region_rw(Server *s, VfuMessage *msg, bool write)
{
    uint8_t reply[sizeof(VfuRegionAccess) + VFU_MAX_DATA_XFER];
    const uint8_t *data = msg->payload + sizeof(VfuRegionAccess);
    PAYLOAD_AS(msg, VfuRegionAccess, a);

    if (a.count == 0 || a.count > VFU_MAX_DATA_XFER ||
        (write && msg->payload_len != sizeof(a) + a.count) || msg->nfds) {
        return vfu_conn_reply_error(&s->conn, &msg->hdr, EINVAL);
    }
    if (a.region == VFIO_PCI_CONFIG_REGION_INDEX) {
        if (!pci_config_range_valid(a.offset, a.count)) {
            return vfu_conn_reply_error(&s->conn, &msg->hdr, EINVAL);
        }
        if (write) {
            pci_config_write(&s->pci, (uint32_t)a.offset, data, a.count);
            if (touches((uint32_t)a.offset, a.count, PCI_COMMAND, 2) ||
                touches((uint32_t)a.offset, a.count, PCI_CONFIG_MSI_CAP,
                        PCI_CONFIG_SIZE - PCI_CONFIG_MSI_CAP)) {
                vgpu_core_update_intx(&s->core);
                intx_refresh(s);   /* INTx-disable may have been lifted */
            }
        } else {
            pci_config_read(&s->pci, (uint32_t)a.offset,
                            reply + sizeof(a), a.count);
        }
    } else if (a.region == VFIO_PCI_BAR0_REGION_INDEX) {
        if (a.offset >= VGPU_BAR0_SIZE || a.count > VGPU_BAR0_SIZE - a.offset) {
            return vfu_conn_reply_error(&s->conn, &msg->hdr, EINVAL);
        }
        bar0_access(s, a.offset, a.count, write ? data : NULL,
                    reply + sizeof(a));
    } else {
        return vfu_conn_reply_error(&s->conn, &msg->hdr, EINVAL);
    }
    memcpy(reply, &a, sizeof(a));
    return vfu_conn_reply(&s->conn, &msg->hdr, reply,
                          sizeof(a) + (write ? 0 : a.count));
}

static bool handle_reset(Server *s, VfuMessage *msg)
{
    if (msg->payload_len || msg->nfds) {
        return vfu_conn_reply_error(&s->conn, &msg->hdr, EINVAL);
    }
    /* Like a function-level reset: config space back to power-on too. */
    server_log(s, "device reset");
    pci_config_init(&s->pci);
    vgpu_core_reset(&s->core);
    s->intx_masked = false;
    device_set_intx(s, false);
    return vfu_conn_reply(&s->conn, &msg->hdr, NULL, 0);
}

bool device_handle_message(Server *s, VfuMessage *msg)
{
    uint16_t cmd = msg->hdr.command;
    bool ok;

    if (s->verbose) {
        server_log(s, "<- %s id %u size %u flags 0x%x fds %u",
                   command_name(cmd), msg->hdr.msg_id, msg->hdr.msg_size,
                   msg->hdr.flags, msg->nfds);
    }
    if ((msg->hdr.flags & VFU_FLAG_TYPE_MASK) != VFU_FLAG_TYPE_COMMAND) {
        /* This server sends no commands, so no reply is expected. */
        server_log(s, "message of type %u (not a command) discarded",
                   msg->hdr.flags & VFU_FLAG_TYPE_MASK);
        vfu_message_release(msg);
        return true;
    }
    if (!s->negotiated && cmd != VFU_CMD_VERSION) {
        server_log(s, "%s before VERSION refused", command_name(cmd));
        ok = vfu_conn_reply_error(&s->conn, &msg->hdr, EINVAL);
        vfu_message_release(msg);
        return ok;
    }
    switch (cmd) {
    case VFU_CMD_VERSION:
        ok = handle_version(s, msg);
        break;
    case VFU_CMD_DMA_MAP:
        ok = handle_dma_map(s, msg);
        break;
    case VFU_CMD_DMA_UNMAP:
        ok = handle_dma_unmap(s, msg);
        break;
    case VFU_CMD_DEVICE_GET_INFO:
        ok = handle_device_info(s, msg);
        break;
    case VFU_CMD_DEVICE_GET_REGION_INFO:
        ok = handle_region_info(s, msg);
        break;
    case VFU_CMD_DEVICE_GET_IRQ_INFO:
        ok = handle_irq_info(s, msg);
        break;
    case VFU_CMD_DEVICE_SET_IRQS:
        ok = handle_set_irqs(s, msg);
        break;
    case VFU_CMD_REGION_READ:
        ok = handle_region_rw(s, msg, false);
        break;
    case VFU_CMD_REGION_WRITE:
        ok = handle_region_rw(s, msg, true);
        break;
    case VFU_CMD_DEVICE_RESET:
        ok = handle_reset(s, msg);
        break;
    case VFU_CMD_DEVICE_FEATURE:
        /* No migration or dirty tracking: ENOTTY, as the kernel says. */
        ok = vfu_conn_reply_error(&s->conn, &msg->hdr, ENOTTY);
        break;
    case VFU_CMD_DEVICE_GET_REGION_IO_FDS:
    case VFU_CMD_REGION_WRITE_MULTI:   /* write_multiple is not offered */
    case VFU_CMD_MIG_DATA_READ:
    case VFU_CMD_MIG_DATA_WRITE:
        ok = vfu_conn_reply_error(&s->conn, &msg->hdr, ENOTSUP);
        break;
    default:   /* DMA_READ/WRITE go server -> client; the rest are unknown */
        server_log(s, "command %u (%s) refused", cmd, command_name(cmd));
        ok = vfu_conn_reply_error(&s->conn, &msg->hdr, ENOSYS);
        break;
    }
    vfu_message_release(msg);
    return ok;
}

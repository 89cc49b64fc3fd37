/*
 * vgpu-stub: a PCI device that forwards guest requests to a mediator daemon.
 *
 * The guest writes a request into BAR0's request buffer, sets REQUEST_LEN and
 * rings DOORBELL; the device sends a REQUEST frame over a Unix socket to the
 * mediator and, when the RESPONSE frame arrives, copies its payload into the
 * response buffer and sets STATUS to done (or error).
 *
 * This file is the QEMU hosting only: MemoryRegionOps, the chardev, timers,
 * MSI/INTx, properties, vmstate and reset.  The device model itself (every
 * register, doorbell rule, frame and link state) is the QEMU-independent
 * core in core/vgpu_core.c, which the vfio-user server links too.
 *
 * Behaviour contract: vgpu-stub/DEVICE.md.  Numbers and framing:
 * vgpu_protocol.h.  QEMU API differences: vgpu_compat.h.  All of them are
 * copied next to this file into hw/misc at build time.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/log.h"
#include "qemu/timer.h"
#include "qemu/module.h"
#include "qemu/option.h"
#include "qemu/config-file.h"
#include "qemu/main-loop.h"
#include "qemu/error-report.h"
#include "qapi/error.h"
#include "qom/object.h"
#include "hw/pci/pci.h"
#include "hw/pci/msi.h"
#include "hw/qdev-properties.h"
#include "migration/vmstate.h"
#include "chardev/char-fe.h"

#include "vgpu_compat.h"
#include "vgpu_protocol.h"
#include "core/vgpu_core.h"

#define TYPE_VGPU_STUB "vgpu-stub"
typedef struct VGPUStubState VGPUStubState;
VGPU_DECLARE_INSTANCE_CHECKER(VGPUStubState, VGPU_STUB, TYPE_VGPU_STUB)

/* The buffers+reserved subregion starts right after the registers. */
#define VGPU_DATA_AREA_OFFSET  VGPU_REG_AREA_SIZE
#define VGPU_DATA_AREA_SIZE    (VGPU_BAR0_SIZE - VGPU_REG_AREA_SIZE)

struct VGPUStubState {
    PCIDevice parent_obj;

    MemoryRegion bar0;
    MemoryRegion regs_mr;
    MemoryRegion data_mr;

    /* properties */
    char *pool_prop;
    char *priority_prop;
    char *socket_path;
    uint32_t vm_id;
    uint32_t timeout_ms;
    CharBackend chr;
    bool own_chardev;

    /* the device model; core.regs is what vmstate carries */
    VgpuCore core;

    /* hosting resources behind the platform callbacks */
    guint tx_watch;
    QEMUTimer *reply_timer;
    QEMUTimer *load_irq_timer;
    QEMUBH *disconnect_bh;
};

/* ---------------------------------------------------------------------- */
/* Platform callbacks for the core                                        */

static long vgpu_plat_write(void *opaque, const uint8_t *buf, size_t len)
{
    VGPUStubState *s = opaque;
    int n = qemu_chr_fe_write(&s->chr, buf, MIN(len, (size_t)INT_MAX));

    if (n < 0) {
        /* a hard error may already have closed the link (CLOSED ran) */
        int e = errno;

        return e == EAGAIN ? 0 : -(long)(e ? e : EIO);
    }
    return n;
}

static gboolean vgpu_tx_writable(VGPUWatchChannel *do_not_use,
                                 GIOCondition cond, void *opaque)
{
    VGPUStubState *s = opaque;

    s->tx_watch = 0;
    vgpu_core_tx_writable(&s->core);
    return G_SOURCE_REMOVE;
}

static bool vgpu_plat_watch_writable(void *opaque)
{
    VGPUStubState *s = opaque;

    s->tx_watch = qemu_chr_fe_add_watch(&s->chr, G_IO_OUT | G_IO_HUP,
                                        vgpu_tx_writable, s);
    return s->tx_watch != 0;
}

static void vgpu_plat_cancel_watch_writable(void *opaque)
{
    VGPUStubState *s = opaque;

    if (s->tx_watch) {
        g_source_remove(s->tx_watch);
        s->tx_watch = 0;
    }
}

static void vgpu_disconnect_bh(void *opaque)
{
    VGPUStubState *s = opaque;

    /* emits CHR_EVENT_CLOSED -> vgpu_core_link_down(); it then reconnects */
    qemu_chr_fe_disconnect(&s->chr);
}

/* Outside the chardev's read callback, from a bottom half. */
static void vgpu_plat_request_disconnect(void *opaque)
{
    VGPUStubState *s = opaque;

    qemu_bh_schedule(s->disconnect_bh);
}

static int64_t vgpu_plat_deadline_now_ns(void *opaque)
{
    return qemu_clock_get_ns(QEMU_CLOCK_VIRTUAL);
}

static void vgpu_plat_arm_deadline(void *opaque, int64_t expire_ns)
{
    VGPUStubState *s = opaque;

    timer_mod(s->reply_timer, expire_ns);
}

static void vgpu_plat_cancel_deadline(void *opaque)
{
    VGPUStubState *s = opaque;

    timer_del(s->reply_timer);
}

static uint64_t vgpu_plat_timestamp_ns(void *opaque)
{
    return qemu_clock_get_ns(QEMU_CLOCK_HOST);
}

static void vgpu_plat_set_intx(void *opaque, bool level)
{
    /* pci_set_irq applies COMMAND.INTx-disable and sets STATUS.interrupt */
    pci_set_irq(PCI_DEVICE(opaque), level);
}

static bool vgpu_plat_msi_enabled(void *opaque)
{
    return msi_enabled(PCI_DEVICE(opaque));
}

static void vgpu_plat_msi_notify(void *opaque)
{
    msi_notify(PCI_DEVICE(opaque), 0);
}

static void vgpu_plat_log(void *opaque, VgpuLogKind kind, const char *msg)
{
    if (kind == VGPU_LOG_GUEST_ERROR) {
        qemu_log_mask(LOG_GUEST_ERROR, "%s\n", msg);
    } else {
        warn_report("%s", msg);
    }
}

static const VgpuPlatform vgpu_qemu_platform = {
    .write = vgpu_plat_write,
    .watch_writable = vgpu_plat_watch_writable,
    .cancel_watch_writable = vgpu_plat_cancel_watch_writable,
    .request_disconnect = vgpu_plat_request_disconnect,
    .deadline_now_ns = vgpu_plat_deadline_now_ns,
    .arm_deadline = vgpu_plat_arm_deadline,
    .cancel_deadline = vgpu_plat_cancel_deadline,
    .timestamp_ns = vgpu_plat_timestamp_ns,
    .set_intx = vgpu_plat_set_intx,
    .msi_enabled = vgpu_plat_msi_enabled,
    .msi_notify = vgpu_plat_msi_notify,
    .log = vgpu_plat_log,
};

static void vgpu_reply_timeout(void *opaque)
{
    VGPUStubState *s = opaque;

    vgpu_core_deadline_expired(&s->core);
}

/* ---------------------------------------------------------------------- */
/* Chardev to the mediator                                                */

static int vgpu_chr_can_read(void *opaque)
{
    VGPUStubState *s = opaque;

    return vgpu_core_rx_wanted(&s->core);
}

static void vgpu_chr_read(void *opaque, const uint8_t *buf, int size)
{
    VGPUStubState *s = opaque;

    vgpu_core_receive(&s->core, buf, size > 0 ? size : 0);
}

static void vgpu_chr_event(void *opaque, VGPUChrEvent event)
{
    VGPUStubState *s = opaque;

    switch (event) {
    case CHR_EVENT_OPENED:
        vgpu_core_link_up(&s->core);
        break;
    case CHR_EVENT_CLOSED:
        vgpu_core_link_down(&s->core);
        break;
    default:
        break;
    }
}

/* ---------------------------------------------------------------------- */
/* BAR0: registers (32-bit only) and buffers/reserved (1-4 bytes)         */

static uint64_t vgpu_reg_read(void *opaque, hwaddr addr, unsigned size)
{
    VGPUStubState *s = opaque;

    return vgpu_core_mmio_read(&s->core, addr, size);
}

static void vgpu_reg_write(void *opaque, hwaddr addr, uint64_t val,
                           unsigned size)
{
    VGPUStubState *s = opaque;

    vgpu_core_mmio_write(&s->core, addr, val, size);
}

/* The memory core refuses other sizes and unaligned accesses (and logs). */
static const MemoryRegionOps vgpu_reg_ops = {
    .read = vgpu_reg_read,
    .write = vgpu_reg_write,
    .endianness = DEVICE_LITTLE_ENDIAN,
    .valid = {
        .min_access_size = 4,
        .max_access_size = 4,
    },
    .impl = {
        .min_access_size = 4,
        .max_access_size = 4,
    },
};

/* addr is relative to the data subregion, i.e. BAR0 offset - 0x40 */
static uint64_t vgpu_data_read(void *opaque, hwaddr addr, unsigned size)
{
    VGPUStubState *s = opaque;

    return vgpu_core_mmio_read(&s->core, VGPU_DATA_AREA_OFFSET + addr, size);
}

static void vgpu_data_write(void *opaque, hwaddr addr, uint64_t val,
                            unsigned size)
{
    VGPUStubState *s = opaque;

    vgpu_core_mmio_write(&s->core, VGPU_DATA_AREA_OFFSET + addr, val, size);
}

static const MemoryRegionOps vgpu_data_ops = {
    .read = vgpu_data_read,
    .write = vgpu_data_write,
    .endianness = DEVICE_LITTLE_ENDIAN,
    .valid = {
        .min_access_size = 1,
        .max_access_size = 4,
        .unaligned = true,
    },
    .impl = {
        .min_access_size = 1,
        .max_access_size = 4,
        .unaligned = true,
    },
};

/* ---------------------------------------------------------------------- */
/* PCI config space                                                       */

/*
 * MSI enable and the INTx-disable bit change how a pending completion is
 * signalled: re-evaluate the INTx level after every config write.
 */
static void vgpu_config_write(PCIDevice *pdev, uint32_t addr, uint32_t val,
                              int len)
{
    pci_default_write_config(pdev, addr, val, len);
    vgpu_core_update_intx(&VGPU_STUB(pdev)->core);
}

/* ---------------------------------------------------------------------- */
/* Migration                                                              */

static void vgpu_load_irq(void *opaque)
{
    VGPUStubState *s = opaque;

    vgpu_core_signal_completion(&s->core);
}

/*
 * loadvm in this process: the request in flight now (if any) is replaced by
 * the loaded state, but the mediator will still answer it on this link.
 */
static int vgpu_pre_load(void *opaque)
{
    VGPUStubState *s = opaque;

    vgpu_core_pre_load(&s->core);
    return 0;
}

static int vgpu_post_load(void *opaque, int version_id)
{
    VGPUStubState *s = opaque;

    if (vgpu_core_post_load(&s->core)) {
        /* Interrupt once the VM runs again (virtual clock is stopped now). */
        timer_mod(s->load_irq_timer, qemu_clock_get_ns(QEMU_CLOCK_VIRTUAL));
    }
    return 0;
}

static const VMStateDescription vmstate_vgpu_stub = {
    .name = TYPE_VGPU_STUB,
    .version_id = 1,
    .minimum_version_id = 1,
    .pre_load = vgpu_pre_load,
    .post_load = vgpu_post_load,
    .fields = (VMStateField[]) {
        VMSTATE_PCI_DEVICE(parent_obj, VGPUStubState),
        VMSTATE_UINT32(core.regs.status, VGPUStubState),
        VMSTATE_UINT32(core.regs.error_code, VGPUStubState),
        VMSTATE_UINT32(core.regs.request_len, VGPUStubState),
        VMSTATE_UINT32(core.regs.response_len, VGPUStubState),
        VMSTATE_UINT32(core.regs.irq_ctrl, VGPUStubState),
        VMSTATE_UINT32(core.regs.irq_status, VGPUStubState),
        VMSTATE_UINT32(core.regs.request_id, VGPUStubState),
        VMSTATE_UINT32(core.regs.scratch, VGPUStubState),
        VMSTATE_UINT64(core.regs.timestamp, VGPUStubState),
        VMSTATE_UINT8_ARRAY(core.regs.req_buf, VGPUStubState,
                            VGPU_REQ_BUFFER_SIZE),
        VMSTATE_UINT8_ARRAY(core.regs.resp_buf, VGPUStubState,
                            VGPU_RESP_BUFFER_SIZE),
        VMSTATE_BOOL(core.regs.inflight, VGPUStubState),
        VMSTATE_UINT32(core.regs.inflight_id, VGPUStubState),
        VMSTATE_END_OF_LIST()
    },
};

/* ---------------------------------------------------------------------- */
/* Properties, realize, reset                                             */

/*
 * A client socket chardev to the mediator that reconnects on its own, so a
 * mediator that is absent at start neither delays nor fails QEMU startup.
 */
static Chardev *vgpu_make_client_chardev(VGPUStubState *s, Error **errp)
{
    static unsigned counter;
    g_autofree char *label = g_strdup_printf("vgpu-stub-mediator-%u",
                                             counter++);
    QemuOpts *opts;
    Chardev *chr;

    opts = qemu_opts_create(qemu_find_opts("chardev"), label, 1, errp);
    if (!opts) {
        return NULL;
    }
    if (!vgpu_compat_opt_set(opts, "backend", "socket", errp) ||
        !vgpu_compat_opt_set(opts, "path", s->socket_path, errp) ||
        !vgpu_compat_opt_set(opts, "server", "off", errp) ||
        !vgpu_compat_opt_set(opts, VGPU_RECONNECT_OPTION,
                             VGPU_RECONNECT_VALUE, errp)) {
        qemu_opts_del(opts);
        return NULL;
    }
    chr = qemu_chr_new_from_opts(opts, NULL, errp);
    qemu_opts_del(opts);
    return chr;
}

static void vgpu_stub_realize(PCIDevice *pdev, Error **errp)
{
    VGPUStubState *s = VGPU_STUB(pdev);
    VgpuCoreConfig cfg = { .vm_id = s->vm_id, .timeout_ms = s->timeout_ms };
    Error *err = NULL;

    if (!vgpu_core_parse_pool(s->pool_prop, &cfg.pool_id)) {
        error_setg(errp, "vgpu-stub: property 'pool_id' must be A or B, "
                   "not '%s'", s->pool_prop);
        return;
    }
    if (!vgpu_core_parse_priority(s->priority_prop, &cfg.priority)) {
        error_setg(errp, "vgpu-stub: property 'priority' must be low, medium, "
                   "high (or 0, 1, 2), not '%s'", s->priority_prop);
        return;
    }
    if (s->timeout_ms == 0) {
        error_setg(errp, "vgpu-stub: property 'timeout_ms' must be at least 1");
        return;
    }
    if (qemu_chr_fe_backend_connected(&s->chr)) {
        if (s->socket_path) {
            error_setg(errp, "vgpu-stub: properties 'socket' and 'chardev' "
                       "are mutually exclusive");
            return;
        }
        s->own_chardev = false;
    } else {
        Chardev *chr;

        if (!s->socket_path) {
            s->socket_path = g_strdup(VGPU_SOCKET_PATH_DEFAULT);
        }
        if (!s->socket_path[0]) {
            error_setg(errp, "vgpu-stub: property 'socket' must not be empty");
            return;
        }
        chr = vgpu_make_client_chardev(s, &err);
        if (!chr) {
            error_propagate_prepend(errp, err, "vgpu-stub: property 'socket' "
                                    "('%s'): ", s->socket_path);
            return;
        }
        if (!qemu_chr_fe_init(&s->chr, chr, &err)) {
            object_unparent(OBJECT(chr));
            error_propagate_prepend(errp, err, "vgpu-stub: property 'socket': ");
            return;
        }
        s->own_chardev = true;
    }

    if (msi_init(pdev, 0, 1, true, false, &err)) {
        qemu_chr_fe_deinit(&s->chr, s->own_chardev);
        error_propagate(errp, err);
        return;
    }
    pci_config_set_interrupt_pin(pdev->config, 1);

    memory_region_init(&s->bar0, OBJECT(s), "vgpu-stub-bar0", VGPU_BAR0_SIZE);
    memory_region_init_io(&s->regs_mr, OBJECT(s), &vgpu_reg_ops, s,
                          "vgpu-stub-regs", VGPU_REG_AREA_SIZE);
    memory_region_init_io(&s->data_mr, OBJECT(s), &vgpu_data_ops, s,
                          "vgpu-stub-buffers", VGPU_DATA_AREA_SIZE);
    memory_region_add_subregion(&s->bar0, 0, &s->regs_mr);
    memory_region_add_subregion(&s->bar0, VGPU_DATA_AREA_OFFSET, &s->data_mr);
    pci_register_bar(pdev, 0, PCI_BASE_ADDRESS_SPACE_MEMORY, &s->bar0);

    s->reply_timer = timer_new_ns(QEMU_CLOCK_VIRTUAL, vgpu_reply_timeout, s);
    s->load_irq_timer = timer_new_ns(QEMU_CLOCK_VIRTUAL, vgpu_load_irq, s);
    s->disconnect_bh = qemu_bh_new(vgpu_disconnect_bh, s);
    vgpu_core_init(&s->core, &vgpu_qemu_platform, s, &cfg);

    /* Handlers last: an already-open chardev delivers OPENED right here. */
    qemu_chr_fe_set_handlers(&s->chr, vgpu_chr_can_read, vgpu_chr_read,
                             vgpu_chr_event, NULL, s, NULL, true);
}

static void vgpu_stub_exit(PCIDevice *pdev)
{
    VGPUStubState *s = VGPU_STUB(pdev);

    vgpu_plat_cancel_watch_writable(s);
    qemu_chr_fe_deinit(&s->chr, s->own_chardev);
    timer_free(s->reply_timer);
    timer_free(s->load_irq_timer);
    qemu_bh_delete(s->disconnect_bh);
    msi_uninit(pdev);
}

static void vgpu_stub_reset(DeviceState *dev)
{
    VGPUStubState *s = VGPU_STUB(dev);

    timer_del(s->load_irq_timer);
    vgpu_core_reset(&s->core);
}

static VGPU_PROPS_CONST Property vgpu_stub_properties[] = {
    DEFINE_PROP_STRING("pool_id", VGPUStubState, pool_prop),
    DEFINE_PROP_STRING("priority", VGPUStubState, priority_prop),
    DEFINE_PROP_UINT32("vm_id", VGPUStubState, vm_id, 0),
    DEFINE_PROP_STRING("socket", VGPUStubState, socket_path),
    DEFINE_PROP_CHR("chardev", VGPUStubState, chr),
    DEFINE_PROP_UINT32("timeout_ms", VGPUStubState, timeout_ms,
                       VGPU_CORE_TIMEOUT_MS_DEFAULT),
    VGPU_PROP_END_OF_LIST_ENTRY
};

static void vgpu_stub_class_init(ObjectClass *klass, VGPU_CLASS_DATA *data)
{
    DeviceClass *dc = DEVICE_CLASS(klass);
    PCIDeviceClass *k = PCI_DEVICE_CLASS(klass);

    k->realize = vgpu_stub_realize;
    k->exit = vgpu_stub_exit;
    k->config_write = vgpu_config_write;
    k->vendor_id = VGPU_PCI_VENDOR_ID;
    k->device_id = VGPU_PCI_DEVICE_ID;
    k->revision = VGPU_PCI_REVISION;
    k->class_id = VGPU_PCI_CLASS;

    dc->desc = "vGPU stub: forwards MMIO requests to a mediator daemon";
    dc->vmsd = &vmstate_vgpu_stub;
    vgpu_compat_set_reset(dc, vgpu_stub_reset);
    vgpu_compat_set_props(dc, vgpu_stub_properties);
    set_bit(DEVICE_CATEGORY_MISC, dc->categories);

    vgpu_compat_class_prop_desc(klass, "pool_id",
        "GPU pool: A or B (default A)");
    vgpu_compat_class_prop_desc(klass, "priority",
        "scheduling priority: low, medium, high or 0, 1, 2 (default low)");
    vgpu_compat_class_prop_desc(klass, "vm_id",
        "VM identifier sent to the mediator (default 0)");
    vgpu_compat_class_prop_desc(klass, "socket",
        "mediator Unix socket path; the device connects and reconnects "
        "itself (default " VGPU_SOCKET_PATH_DEFAULT ")");
    vgpu_compat_class_prop_desc(klass, "chardev",
        "user-made socket chardev to use instead of 'socket'");
    vgpu_compat_class_prop_desc(klass, "timeout_ms",
        "reply deadline in ms of virtual time (default 5000)");
}

static void vgpu_stub_register_types(void)
{
    static InterfaceInfo interfaces[] = {
        { INTERFACE_CONVENTIONAL_PCI_DEVICE },
        { },
    };
    static const TypeInfo vgpu_stub_info = {
        .name          = TYPE_VGPU_STUB,
        .parent        = TYPE_PCI_DEVICE,
        .instance_size = sizeof(VGPUStubState),
        .class_init    = vgpu_stub_class_init,
        .interfaces    = interfaces,
    };

    type_register_static(&vgpu_stub_info);
}

type_init(vgpu_stub_register_types)

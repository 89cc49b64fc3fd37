/*
 * vgpu_core.h - the vgpu-stub device model, independent of any host program.
 *
 * One device model, several hostings: the QEMU PCI device (vgpu-stub.c) and
 * the vfio-user server (vfio-user/) link this same core.  Everything the
 * guest or the mediator can observe is decided here: the register file, the
 * doorbell rules, the buffers, framing, HELLO and reply matching, link state,
 * the send queue and its cap, the reply deadline, the IRQ status and level.
 * A hosting only moves bytes, time and interrupt signals through the
 * VgpuPlatform callbacks below.  Contract: vgpu-stub/DEVICE.md;
 * how a hosting drives the core: "Hosting the core" in DEVICE.md.
 *
 * Plain C11 + libc only (stdint, stdbool, stddef, string, stdio, stdarg):
 * no QEMU, no glib.
 *
 * Threading: the core is not thread-safe.  Call every vgpu_core_* entry
 * point from one thread at a time (QEMU: with the BQL held; vfio-user: from
 * its poll loop).  Callbacks are invoked synchronously from inside entry
 * points; they must not call back into the core, with one exception: the
 * write callback may report a dead connection by calling
 * vgpu_core_link_down() before it returns (QEMU's chardev does that).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef VGPU_CORE_H
#define VGPU_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vgpu_protocol.h"

/* ---- Sizes ---------------------------------------------------------- */
#define VGPU_CORE_FRAME_MAX      (VGPU_SOCKET_HEADER_SIZE + VGPU_MAX_PAYLOAD)
/*
 * Bytes the core keeps queued for a mediator that does not read: beyond this
 * a doorbell completes at once with MEDIATOR_UNAVAILABLE, so a guest that
 * keeps ringing against a stuck mediator cannot grow the host's memory.
 */
#define VGPU_CORE_TX_QUEUE_MAX   (16 * VGPU_CORE_FRAME_MAX)
#define VGPU_CORE_TIMEOUT_MS_DEFAULT 5000
#define VGPU_CORE_CAPABILITIES \
    (VGPU_CAP_BASIC | VGPU_CAP_IRQ | VGPU_CAP_MSI | VGPU_CAP_TIMESTAMP)
/*
 * The highest VGPU_ERR_* in vgpu_protocol.h: a reply status above it is not
 * passed to the guest (ERROR_CODE PROTOCOL instead).  Keep in step with the
 * header when a code is added.
 */
#define VGPU_CORE_ERR_LAST_DEFINED VGPU_ERR_SHUTDOWN

/* ---- Platform interface (implemented by each hosting) --------------- */
typedef enum VgpuLogKind {
    VGPU_LOG_GUEST_ERROR, /* guest misuse (QEMU: LOG_GUEST_ERROR)          */
    VGPU_LOG_WARN,        /* mediator/link trouble (QEMU: warn_report)     */
} VgpuLogKind;

typedef struct VgpuPlatform {
    /*
     * Hand bytes to the mediator connection without blocking.  Returns the
     * number of bytes taken (> 0), 0 if the connection takes nothing now
     * (would block), or a negative errno on a hard failure (the core then
     * drops its queue with a warning).  May call vgpu_core_link_down().
     */
    long (*write)(void *opaque, const uint8_t *buf, size_t len);
    /*
     * The core has bytes queued that write() did not take: call
     * vgpu_core_tx_writable() once the connection can take more.  Returns
     * false if the hosting cannot wait for that (the queue is then dropped).
     * Called at most once until tx_writable() or cancel_watch_writable().
     */
    bool (*watch_writable)(void *opaque);
    /* Forget a pending watch_writable() (link reset or down). */
    void (*cancel_watch_writable)(void *opaque);
    /*
     * The stream can no longer be trusted, or the mediator refused HELLO:
     * close the connection LATER (not inside this call), then call
     * vgpu_core_link_down(); a reconnect later calls vgpu_core_link_up().
     * Until then vgpu_core_rx_wanted() is 0.
     */
    void (*request_disconnect)(void *opaque);

    /*
     * The deadline clock, in ns (QEMU: QEMU_CLOCK_VIRTUAL; vfio-user:
     * CLOCK_MONOTONIC).  The reply deadline lives on it.
     */
    int64_t (*deadline_now_ns)(void *opaque);
    /*
     * Call vgpu_core_deadline_expired() once deadline_now_ns() >= expire_ns.
     * A new arm replaces the previous one.  Only one deadline exists.
     */
    void (*arm_deadline)(void *opaque, int64_t expire_ns);
    void (*cancel_deadline)(void *opaque);
    /* Wall-clock ns for TIMESTAMP_LO/HI (QEMU: QEMU_CLOCK_HOST). */
    uint64_t (*timestamp_ns)(void *opaque);

    /* INTx level (QEMU: pci_set_irq; the PCI core applies INTx-disable). */
    void (*set_intx)(void *opaque, bool level);
    /* Whether the guest enabled MSI in the device's MSI capability. */
    bool (*msi_enabled)(void *opaque);
    /* Send MSI vector 0 (only called while msi_enabled()). */
    void (*msi_notify)(void *opaque);

    /* One formatted message, no trailing newline, prefixed "vgpu-stub: ". */
    void (*log)(void *opaque, VgpuLogKind kind, const char *msg);
} VgpuPlatform;

/* ---- State ---------------------------------------------------------- */
typedef enum VgpuLinkState {
    VGPU_LINK_DOWN,        /* no connection to the mediator */
    VGPU_LINK_HELLO_SENT,  /* connected, waiting for HELLO_ACK */
    VGPU_LINK_READY,       /* HELLO_ACK accepted: requests may be sent */
    VGPU_LINK_BROKEN,      /* stream untrusted; disconnect requested */
} VgpuLinkState;

/* Identity, fixed when the device is created. */
typedef struct VgpuCoreConfig {
    uint32_t vm_id;
    uint32_t pool_id;     /* VGPU_POOL_A / VGPU_POOL_B */
    uint32_t priority;    /* VGPU_PRIORITY_* */
    uint32_t timeout_ms;  /* reply deadline on the deadline clock, >= 1 */
} VgpuCoreConfig;

/*
 * Guest-visible state: what a snapshot/migration carries (QEMU's vmstate
 * lists these fields one by one).  Plain fixed-size fields only.
 */
typedef struct VgpuCoreRegs {
    uint32_t status;
    uint32_t error_code;
    uint32_t request_len;
    uint32_t response_len;
    uint32_t irq_ctrl;
    uint32_t irq_status;
    uint32_t request_id;
    uint32_t scratch;
    uint64_t timestamp;
    uint8_t req_buf[VGPU_REQ_BUFFER_SIZE];
    uint8_t resp_buf[VGPU_RESP_BUFFER_SIZE];
    bool inflight;          /* a request was sent and awaits its reply */
    uint32_t inflight_id;   /* its request_id */
} VgpuCoreRegs;

/*
 * The whole device.  Embed it in the hosting's state; the core owns every
 * buffer in it (no allocation anywhere).  Hostings read fields freely but
 * change them only through the entry points (vmstate loads into .regs).
 */
typedef struct VgpuCore {
    const VgpuPlatform *platform;
    void *opaque;                 /* passed to every callback */
    VgpuCoreConfig cfg;
    VgpuCoreRegs regs;

    /* mediator link: per process, never migrated */
    VgpuLinkState link;
    uint8_t rx[VGPU_CORE_FRAME_MAX];
    uint32_t rx_len;
    uint8_t tx[VGPU_CORE_TX_QUEUE_MAX];
    uint32_t tx_len;
    bool tx_watching;             /* watch_writable() is pending */
    /*
     * A request sent on this connection and then forgotten (reset, loadvm):
     * the mediator still answers it, and that late reply must not complete
     * a new request that reuses the guest's request_id.
     */
    bool stale_valid;
    uint32_t stale_id;
    bool warned_undefined_status; /* "logged once" per device */
    bool warned_tx_full;
} VgpuCore;

/* ---- Lifecycle ------------------------------------------------------ */
/* No callback is invoked.  Link starts DOWN, registers as after reset. */
void vgpu_core_init(VgpuCore *c, const VgpuPlatform *platform, void *opaque,
                    const VgpuCoreConfig *cfg);
/*
 * Device reset (also system_reset): every register 0 except identity,
 * buffers zeroed, INTx low, a request in flight forgotten (its late reply is
 * discarded).  The link is kept.
 */
void vgpu_core_reset(VgpuCore *c);

/* ---- BAR0 ----------------------------------------------------------- */
/*
 * Whether an access of size bytes at BAR0 offset off is one the device
 * accepts: registers (0x000-0x03F) 4 bytes aligned; buffers and reserved
 * area (0x040-0xFFF) 1-4 bytes, any alignment, inside the BAR.  QEMU's
 * memory core enforces the same through MemoryRegionOps; other hostings
 * ask here and refuse the access themselves.
 */
bool vgpu_core_access_valid(uint64_t off, unsigned size);
/* Little-endian value of size bytes; an invalid access is logged, reads 0. */
uint64_t vgpu_core_mmio_read(VgpuCore *c, uint64_t off, unsigned size);
/* An invalid access is logged and ignored.  A DOORBELL write may send. */
void vgpu_core_mmio_write(VgpuCore *c, uint64_t off, uint64_t val,
                          unsigned size);

/* ---- Mediator link -------------------------------------------------- */
/* Connection established: forgets old link state and queues HELLO. */
void vgpu_core_link_up(VgpuCore *c);
/* Connection gone: a request in flight completes MEDIATOR_UNAVAILABLE. */
void vgpu_core_link_down(VgpuCore *c);
/*
 * How many bytes vgpu_core_receive() takes now (never more than one
 * frame's remainder); 0 while the link is BROKEN: stop reading then.
 */
uint32_t vgpu_core_rx_wanted(const VgpuCore *c);
/*
 * Bytes from the mediator.  The core copies them into its own frame
 * buffer; buf is not kept.  Pass at most rx_wanted() bytes for best
 * results (more is accepted; bytes after a protocol error are dropped).
 */
void vgpu_core_receive(VgpuCore *c, const uint8_t *buf, size_t len);
/* The connection can take bytes again (after watch_writable()). */
void vgpu_core_tx_writable(VgpuCore *c);
/* Bytes queued for the mediator that write() has not taken yet. */
uint32_t vgpu_core_tx_pending(const VgpuCore *c);

/* ---- Time and interrupts -------------------------------------------- */
/* The deadline armed by arm_deadline() has passed. */
void vgpu_core_deadline_expired(VgpuCore *c);
/*
 * Re-evaluate the INTx level: after PCI config writes (MSI enable, INTx
 * disable) and when the hosting's interrupt wiring changed.
 */
void vgpu_core_update_intx(VgpuCore *c);
/* Signal the latched completion: MSI if enabled and IRQ_CTRL set, INTx. */
void vgpu_core_signal_completion(VgpuCore *c);

/* ---- Snapshot / migration (QEMU hosting) ---------------------------- */
/* Before .regs is overwritten by a load: forget the request in flight. */
void vgpu_core_pre_load(VgpuCore *c);
/*
 * After .regs was loaded.  A loaded busy state cannot complete (its reply
 * would come over the old process's socket): it completes now with
 * MEDIATOR_UNAVAILABLE, registers only.  Returns true when so; the hosting
 * then calls vgpu_core_signal_completion() once the VM runs again.
 */
bool vgpu_core_post_load(VgpuCore *c);

/* ---- Shared helpers (properties, framing) --------------------------- */
/* "A"/"B" (any case); NULL means the default A.  false if invalid. */
bool vgpu_core_parse_pool(const char *text, uint32_t *pool_id);
/* "low"/"medium"/"high" (any case) or "0"/"1"/"2"; NULL = low. */
bool vgpu_core_parse_priority(const char *text, uint32_t *priority);

/* A frame header in host byte order. */
typedef struct VgpuFrameHeader {
    uint32_t magic;
    uint32_t version;
    uint16_t msg_type;
    uint16_t flags;
    uint32_t vm_id;
    uint8_t pool_id;
    uint8_t priority;
    uint16_t reserved;
    uint32_t request_id;
    uint32_t payload_len;
    uint32_t status;
} VgpuFrameHeader;

void vgpu_frame_encode_header(uint8_t out[VGPU_SOCKET_HEADER_SIZE],
                              const VgpuFrameHeader *h);
void vgpu_frame_decode_header(const uint8_t in[VGPU_SOCKET_HEADER_SIZE],
                              VgpuFrameHeader *h);
/*
 * NULL if a header from the mediator is acceptable to the device (magic,
 * protocol major, HELLO_ACK or RESPONSE, payload_len <= 1024), else why not.
 */
const char *vgpu_frame_header_problem(const uint8_t in[VGPU_SOCKET_HEADER_SIZE]);

#endif /* VGPU_CORE_H */

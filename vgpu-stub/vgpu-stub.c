/*
 * vgpu-stub: a PCI device that forwards guest requests to a mediator daemon.
 *
 * The guest writes a request into BAR0's request buffer, sets REQUEST_LEN and
 * rings DOORBELL; the device sends a REQUEST frame over a Unix socket to the
 * mediator and, when the RESPONSE frame arrives, copies its payload into the
 * response buffer and sets STATUS to done (or error).
 *
 * Behaviour contract: vgpu-stub/DEVICE.md.  Numbers and framing:
 * vgpu_protocol.h (copied next to this file into hw/misc at build time).
 *
 * Builds against QEMU 7.2 and 10.0; API differences are behind
 * QEMU_VERSION_MAJOR checks (config-host.h, pulled in by qemu/osdep.h).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/units.h"
#include "qemu/log.h"
#include "qemu/timer.h"
#include "qemu/module.h"
#include "qemu/option.h"
#include "qemu/config-file.h"
#include "qemu/main-loop.h"
#include "qemu/bswap.h"
#include "qemu/error-report.h"
#include "qapi/error.h"
#include "qom/object.h"
#include "hw/pci/pci.h"
#if QEMU_VERSION_MAJOR >= 8
#include "hw/pci/pci_device.h"
#endif
#include "hw/pci/msi.h"
#include "hw/qdev-properties.h"
#include "hw/qdev-properties-system.h"
#include "migration/vmstate.h"
#include "chardev/char-fe.h"

#include "vgpu_protocol.h"

/* QOM's class_init took "void *data" until QEMU 10.1, "const void *data" since. */
#if QEMU_VERSION_MAJOR > 10 || (QEMU_VERSION_MAJOR == 10 && QEMU_VERSION_MINOR >= 1)
#define VGPU_CLASS_DATA const void
#else
#define VGPU_CLASS_DATA void
#endif

#define TYPE_VGPU_STUB "vgpu-stub"
typedef struct VGPUStubState VGPUStubState;
DECLARE_INSTANCE_CHECKER(VGPUStubState, VGPU_STUB, TYPE_VGPU_STUB)

/* Register offsets inside BAR0 (values from vgpu_protocol.h). */
enum VGPURegister {
    REG_DOORBELL     = VGPU_REG_DOORBELL,
    REG_STATUS       = VGPU_REG_STATUS,
    REG_POOL_ID      = VGPU_REG_POOL_ID,
    REG_PRIORITY     = VGPU_REG_PRIORITY,
    REG_VM_ID        = VGPU_REG_VM_ID,
    REG_ERROR_CODE   = VGPU_REG_ERROR_CODE,
    REG_REQUEST_LEN  = VGPU_REG_REQUEST_LEN,
    REG_RESPONSE_LEN = VGPU_REG_RESPONSE_LEN,
    REG_PROTOCOL_VER = VGPU_REG_PROTOCOL_VER,
    REG_CAPABILITIES = VGPU_REG_CAPABILITIES,
    REG_IRQ_CTRL     = VGPU_REG_IRQ_CTRL,
    REG_IRQ_STATUS   = VGPU_REG_IRQ_STATUS,
    REG_REQUEST_ID   = VGPU_REG_REQUEST_ID,
    REG_TIMESTAMP_LO = VGPU_REG_TIMESTAMP_LO,
    REG_TIMESTAMP_HI = VGPU_REG_TIMESTAMP_HI,
    REG_SCRATCH      = VGPU_REG_SCRATCH,
};

#define VGPU_CAPABILITIES \
    (VGPU_CAP_BASIC | VGPU_CAP_IRQ | VGPU_CAP_MSI | VGPU_CAP_TIMESTAMP)

/* The buffers+reserved subregion starts right after the registers. */
#define VGPU_DATA_AREA_OFFSET  VGPU_REG_AREA_SIZE
#define VGPU_DATA_AREA_SIZE    (VGPU_BAR0_SIZE - VGPU_REG_AREA_SIZE)

#define VGPU_FRAME_MAX         (VGPU_SOCKET_HEADER_SIZE + VGPU_MAX_PAYLOAD)
/*
 * Bytes the device keeps queued for a mediator that does not read: beyond
 * this a doorbell completes at once with MEDIATOR_UNAVAILABLE, so a guest
 * that keeps ringing against a stuck mediator cannot grow QEMU's memory.
 */
#define VGPU_TX_QUEUE_MAX      (16 * VGPU_FRAME_MAX)
#define VGPU_TIMEOUT_MS_DEFAULT 5000
/*
 * The internal client chardev retries the mediator socket every second.
 * QEMU 9.2 replaced the "reconnect" option (seconds) by "reconnect-ms"
 * (and 10.0 removed the old one).
 */
#if QEMU_VERSION_MAJOR > 9 || (QEMU_VERSION_MAJOR == 9 && QEMU_VERSION_MINOR >= 2)
#define VGPU_RECONNECT_OPTION "reconnect-ms"
#define VGPU_RECONNECT_VALUE  "1000"
#else
#define VGPU_RECONNECT_OPTION "reconnect"
#define VGPU_RECONNECT_VALUE  "1"
#endif

QEMU_BUILD_BUG_ON(sizeof(VGPUSocketHeader) != VGPU_SOCKET_HEADER_SIZE);
QEMU_BUILD_BUG_ON(VGPU_REQ_BUFFER_OFFSET != VGPU_REG_AREA_SIZE);
QEMU_BUILD_BUG_ON(VGPU_RESP_BUFFER_OFFSET !=
                  VGPU_REQ_BUFFER_OFFSET + VGPU_REQ_BUFFER_SIZE);
/*
 * VGPU_RESERVED_SIZE (1976) stops 8 bytes short of the BAR end; DEVICE.md
 * makes the whole rest (0x840-0xFFF) reserved, and so does this device.
 */
QEMU_BUILD_BUG_ON(VGPU_RESERVED_OFFSET + VGPU_RESERVED_SIZE > VGPU_BAR0_SIZE);

/*
 * The highest VGPU_ERR_* in vgpu_protocol.h: a reply status above it is not
 * passed to the guest (ERROR_CODE PROTOCOL instead).  Keep in step with the
 * header when a code is added.
 */
#define VGPU_ERR_LAST_DEFINED VGPU_ERR_SHUTDOWN

typedef enum VGPULinkState {
    VGPU_LINK_DOWN,        /* no connection to the mediator */
    VGPU_LINK_HELLO_SENT,  /* connected, waiting for HELLO_ACK */
    VGPU_LINK_READY,       /* HELLO_ACK accepted: requests may be sent */
    VGPU_LINK_BROKEN,      /* stream untrusted; disconnect is scheduled */
} VGPULinkState;

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

    /* identity, fixed at realize */
    uint32_t pool_id;
    uint32_t priority;
    bool own_chardev;

    /* guest-visible state (migrated) */
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
    bool inflight;
    uint32_t inflight_id;

    /* mediator link (per process, not migrated) */
    VGPULinkState link;
    uint8_t rx[VGPU_FRAME_MAX];
    uint32_t rx_len;
    GByteArray *tx;
    guint tx_watch;
    QEMUTimer *reply_timer;
    QEMUTimer *load_irq_timer;
    /*
     * A request sent on this connection and then forgotten (reset, loadvm):
     * the mediator still answers it, and that late reply must not complete
     * a new request that reuses the guest's request_id.
     */
    bool stale_valid;
    uint32_t stale_id;
    QEMUBH *disconnect_bh;
};

/* ---------------------------------------------------------------------- */
/* Interrupts and completion                                              */

static void vgpu_update_intx(VGPUStubState *s)
{
    PCIDevice *pdev = PCI_DEVICE(s);
    bool level = (s->irq_ctrl & VGPU_IRQ_CTRL_ENABLE) && s->irq_status != 0;

    /* With MSI on, INTx must stay low; the completion was signalled by MSI. */
    pci_set_irq(pdev, level && !msi_enabled(pdev));
}

static void vgpu_raise_completion_irq(VGPUStubState *s)
{
    PCIDevice *pdev = PCI_DEVICE(s);

    if ((s->irq_ctrl & VGPU_IRQ_CTRL_ENABLE) && msi_enabled(pdev)) {
        msi_notify(pdev, 0);
    }
    vgpu_update_intx(s);
}

/* Registers of a completion (done or error); no interrupt yet. */
static void vgpu_latch_completion(VGPUStubState *s, uint32_t error_code)
{
    s->inflight = false;
    timer_del(s->reply_timer);
    s->error_code = error_code;
    if (error_code == VGPU_ERR_NONE) {
        s->status = VGPU_STATUS_DONE;
        s->irq_status |= VGPU_IRQ_STATUS_COMPLETE;
    } else {
        s->status = VGPU_STATUS_ERROR;
        s->response_len = 0;
        s->irq_status |= VGPU_IRQ_STATUS_COMPLETE | VGPU_IRQ_STATUS_ERROR;
    }
    s->timestamp = qemu_clock_get_ns(QEMU_CLOCK_HOST);
}

static void vgpu_complete(VGPUStubState *s, uint32_t error_code)
{
    vgpu_latch_completion(s, error_code);
    vgpu_raise_completion_irq(s);
}

/*
 * Forget the request in flight without completing it.  Its reply may still
 * come over this connection; remember its id so that reply is discarded.
 */
static void vgpu_forget_inflight(VGPUStubState *s)
{
    if (s->inflight && s->link != VGPU_LINK_DOWN) {
        s->stale_valid = true;
        s->stale_id = s->inflight_id;
    }
    s->inflight = false;
    timer_del(s->reply_timer);
}

/* ---------------------------------------------------------------------- */
/* Mediator link: sending                                                 */

static void vgpu_tx_flush(VGPUStubState *s);

static gboolean vgpu_tx_writable(void *do_not_use, GIOCondition cond,
                                 void *opaque)
{
    VGPUStubState *s = opaque;

    s->tx_watch = 0;
    vgpu_tx_flush(s);
    return G_SOURCE_REMOVE;
}

static void vgpu_tx_reset(VGPUStubState *s)
{
    if (s->tx_watch) {
        g_source_remove(s->tx_watch);
        s->tx_watch = 0;
    }
    g_byte_array_set_size(s->tx, 0);
}

/*
 * Send as much of the queue as the socket takes now; the rest goes out from
 * a write watch.  Never blocks, so it is safe from the MMIO handler.
 */
static void vgpu_tx_flush(VGPUStubState *s)
{
    while (s->tx->len > 0) {
        int n = qemu_chr_fe_write(&s->chr, s->tx->data, s->tx->len);
        int saved_errno = errno;

        if (s->tx->len == 0) {
            /* a write error closed the link and the CLOSED event ran */
            return;
        }
        if (n > 0) {
            g_byte_array_remove_range(s->tx, 0, MIN((guint)n, s->tx->len));
            continue;
        }
        if (n < 0 && saved_errno != EAGAIN) {
            warn_report("vgpu-stub: write to mediator failed: %s; "
                        "dropping %u queued bytes",
                        strerror(saved_errno), s->tx->len);
            g_byte_array_set_size(s->tx, 0);
            return;
        }
        if (!s->tx_watch) {
            s->tx_watch = qemu_chr_fe_add_watch(&s->chr, G_IO_OUT | G_IO_HUP,
                                                vgpu_tx_writable, s);
            if (!s->tx_watch) {
                warn_report("vgpu-stub: chardev cannot wait for writability; "
                            "dropping %u queued bytes", s->tx->len);
                g_byte_array_set_size(s->tx, 0);
            }
        }
        return;
    }
}

static void vgpu_queue_frame(VGPUStubState *s, uint16_t msg_type,
                             uint32_t request_id,
                             const uint8_t *payload, uint32_t payload_len)
{
    uint8_t hdr[VGPU_SOCKET_HEADER_SIZE] = { 0 };

    stl_le_p(hdr + offsetof(VGPUSocketHeader, magic), VGPU_SOCKET_MAGIC);
    stl_le_p(hdr + offsetof(VGPUSocketHeader, version), VGPU_PROTOCOL_VERSION);
    stw_le_p(hdr + offsetof(VGPUSocketHeader, msg_type), msg_type);
    stw_le_p(hdr + offsetof(VGPUSocketHeader, flags), VGPU_FLAG_NONE);
    stl_le_p(hdr + offsetof(VGPUSocketHeader, vm_id), s->vm_id);
    hdr[offsetof(VGPUSocketHeader, pool_id)] = s->pool_id;
    hdr[offsetof(VGPUSocketHeader, priority)] = s->priority;
    stl_le_p(hdr + offsetof(VGPUSocketHeader, request_id), request_id);
    stl_le_p(hdr + offsetof(VGPUSocketHeader, payload_len), payload_len);
    stl_le_p(hdr + offsetof(VGPUSocketHeader, status), VGPU_ERR_NONE);

    g_byte_array_append(s->tx, hdr, sizeof(hdr));
    if (payload_len) {
        g_byte_array_append(s->tx, payload, payload_len);
    }
    vgpu_tx_flush(s);
}

/* ---------------------------------------------------------------------- */
/* Mediator link: receiving                                               */

static void vgpu_disconnect_bh(void *opaque)
{
    VGPUStubState *s = opaque;

    qemu_chr_fe_disconnect(&s->chr);
}

/*
 * The stream can no longer be trusted (or the mediator refused us): stop
 * reading and drop the connection from a bottom half, outside the chardev's
 * read callback.  A reconnecting chardev then connects again.
 */
static void vgpu_link_break(VGPUStubState *s)
{
    s->link = VGPU_LINK_BROKEN;
    s->rx_len = 0;
    vgpu_tx_reset(s);
    qemu_bh_schedule(s->disconnect_bh);
}

static void vgpu_protocol_error(VGPUStubState *s, const char *why)
{
    warn_report("vgpu-stub: protocol error from mediator (%s); "
                "dropping the connection", why);
    if (s->inflight) {
        vgpu_complete(s, VGPU_ERR_PROTOCOL);
    }
    vgpu_link_break(s);
}

static void vgpu_handle_hello_ack(VGPUStubState *s, uint32_t status)
{
    if (s->link != VGPU_LINK_HELLO_SENT) {
        warn_report("vgpu-stub: unexpected HELLO_ACK discarded");
        return;
    }
    if (status != VGPU_ERR_NONE) {
        warn_report("vgpu-stub: mediator refused HELLO (status 0x%x); "
                    "disconnecting, will retry on reconnect", status);
        vgpu_link_break(s);
        return;
    }
    s->link = VGPU_LINK_READY;
}

static void vgpu_handle_response(VGPUStubState *s, uint32_t request_id,
                                 uint32_t status, const uint8_t *payload,
                                 uint32_t payload_len)
{
    if (s->stale_valid && request_id == s->stale_id) {
        /* The mediator answers in order: the first reply is the old one. */
        s->stale_valid = false;
        warn_report("vgpu-stub: late RESPONSE for forgotten request_id %u "
                    "discarded", request_id);
        return;
    }
    if (!s->inflight || request_id != s->inflight_id) {
        warn_report("vgpu-stub: RESPONSE for request_id %u discarded "
                    "(%s)", request_id,
                    s->inflight ? "another request is in flight"
                                : "no request in flight");
        return;
    }
    if (status > VGPU_ERR_LAST_DEFINED) {
        warn_report_once("vgpu-stub: mediator replied with undefined status "
                         "0x%x; the guest sees ERROR_CODE PROTOCOL", status);
        status = VGPU_ERR_PROTOCOL;
    }
    if (status != VGPU_ERR_NONE) {
        vgpu_complete(s, status);
        return;
    }
    memcpy(s->resp_buf, payload, payload_len);
    memset(s->resp_buf + payload_len, 0, sizeof(s->resp_buf) - payload_len);
    s->response_len = payload_len;
    vgpu_complete(s, VGPU_ERR_NONE);
}

/* rx holds a complete frame whose header was already validated. */
static void vgpu_handle_frame(VGPUStubState *s)
{
    uint16_t msg_type = lduw_le_p(s->rx + offsetof(VGPUSocketHeader, msg_type));
    uint32_t request_id = ldl_le_p(s->rx + offsetof(VGPUSocketHeader,
                                                    request_id));
    uint32_t payload_len = ldl_le_p(s->rx + offsetof(VGPUSocketHeader,
                                                     payload_len));
    uint32_t status = ldl_le_p(s->rx + offsetof(VGPUSocketHeader, status));

    switch (msg_type) {
    case VGPU_MSG_HELLO_ACK:
        vgpu_handle_hello_ack(s, status);
        break;
    case VGPU_MSG_RESPONSE:
        if (s->link != VGPU_LINK_READY) {
            warn_report("vgpu-stub: RESPONSE before HELLO_ACK discarded");
            break;
        }
        vgpu_handle_response(s, request_id, status,
                             s->rx + VGPU_SOCKET_HEADER_SIZE, payload_len);
        break;
    default:
        g_assert_not_reached(); /* filtered by vgpu_header_problem() */
    }
}

/* NULL if the header is acceptable, else why it is not. */
static const char *vgpu_header_problem(const uint8_t *hdr)
{
    uint32_t magic = ldl_le_p(hdr + offsetof(VGPUSocketHeader, magic));
    uint32_t version = ldl_le_p(hdr + offsetof(VGPUSocketHeader, version));
    uint16_t msg_type = lduw_le_p(hdr + offsetof(VGPUSocketHeader, msg_type));
    uint32_t payload_len = ldl_le_p(hdr + offsetof(VGPUSocketHeader,
                                                   payload_len));

    if (magic != VGPU_SOCKET_MAGIC) {
        return "bad magic";
    }
    if ((version >> 16) != VGPU_PROTOCOL_MAJOR) {
        return "protocol major version mismatch";
    }
    if (msg_type != VGPU_MSG_HELLO_ACK && msg_type != VGPU_MSG_RESPONSE) {
        return "unexpected message type";
    }
    if (payload_len > VGPU_MAX_PAYLOAD) {
        return "payload_len larger than 1024";
    }
    return NULL;
}

/* Bytes still missing for the frame being assembled. */
static uint32_t vgpu_rx_wanted(VGPUStubState *s)
{
    uint32_t payload_len;

    if (s->rx_len < VGPU_SOCKET_HEADER_SIZE) {
        return VGPU_SOCKET_HEADER_SIZE - s->rx_len;
    }
    payload_len = ldl_le_p(s->rx + offsetof(VGPUSocketHeader, payload_len));
    return VGPU_SOCKET_HEADER_SIZE + payload_len - s->rx_len;
}

static int vgpu_chr_can_read(void *opaque)
{
    VGPUStubState *s = opaque;

    if (s->link == VGPU_LINK_BROKEN) {
        return 0;
    }
    return vgpu_rx_wanted(s);
}

static void vgpu_chr_read(void *opaque, const uint8_t *buf, int size)
{
    VGPUStubState *s = opaque;
    uint32_t left = size > 0 ? size : 0;

    while (left > 0 && s->link != VGPU_LINK_BROKEN) {
        uint32_t n = MIN(left, vgpu_rx_wanted(s));
        bool header_just_completed;

        memcpy(s->rx + s->rx_len, buf, n);
        header_just_completed = s->rx_len < VGPU_SOCKET_HEADER_SIZE &&
                                s->rx_len + n >= VGPU_SOCKET_HEADER_SIZE;
        s->rx_len += n;
        buf += n;
        left -= n;

        if (header_just_completed) {
            const char *problem = vgpu_header_problem(s->rx);

            if (problem) {
                vgpu_protocol_error(s, problem);
                return;
            }
        }
        if (s->rx_len >= VGPU_SOCKET_HEADER_SIZE && vgpu_rx_wanted(s) == 0) {
            vgpu_handle_frame(s);
            s->rx_len = 0;
        }
    }
}

static void vgpu_chr_event(void *opaque, QEMUChrEvent event)
{
    VGPUStubState *s = opaque;

    switch (event) {
    case CHR_EVENT_OPENED:
        s->stale_valid = false;
        s->rx_len = 0;
        vgpu_tx_reset(s);
        s->link = VGPU_LINK_HELLO_SENT;
        vgpu_queue_frame(s, VGPU_MSG_HELLO, 0, NULL, 0);
        break;
    case CHR_EVENT_CLOSED:
        s->stale_valid = false;
        s->link = VGPU_LINK_DOWN;
        s->rx_len = 0;
        vgpu_tx_reset(s);
        if (s->inflight) {
            vgpu_complete(s, VGPU_ERR_MEDIATOR_UNAVAILABLE);
        }
        break;
    default:
        break;
    }
}

static void vgpu_reply_timeout(void *opaque)
{
    VGPUStubState *s = opaque;

    if (s->inflight) {
        vgpu_complete(s, VGPU_ERR_TIMEOUT);
    }
}

/* ---------------------------------------------------------------------- */
/* Doorbell                                                               */

static void vgpu_ring_doorbell(VGPUStubState *s)
{
    if (s->status == VGPU_STATUS_BUSY) {
        qemu_log_mask(LOG_GUEST_ERROR,
                      "vgpu-stub: doorbell while busy; refused\n");
        s->error_code = VGPU_ERR_BUSY;
        return;
    }
    if (s->request_len == 0 || s->request_len > VGPU_REQ_BUFFER_SIZE) {
        qemu_log_mask(LOG_GUEST_ERROR,
                      "vgpu-stub: doorbell with REQUEST_LEN %u "
                      "(must be 1..%d)\n", s->request_len,
                      VGPU_REQ_BUFFER_SIZE);
        vgpu_complete(s, VGPU_ERR_INVALID_LENGTH);
        return;
    }
    if (s->link != VGPU_LINK_READY) {
        vgpu_complete(s, VGPU_ERR_MEDIATOR_UNAVAILABLE);
        return;
    }
    if (s->tx->len + VGPU_SOCKET_HEADER_SIZE + s->request_len >
        VGPU_TX_QUEUE_MAX) {
        warn_report_once("vgpu-stub: the mediator is not reading its socket "
                         "(%u bytes queued); doorbells fail with "
                         "MEDIATOR_UNAVAILABLE until it does", s->tx->len);
        vgpu_complete(s, VGPU_ERR_MEDIATOR_UNAVAILABLE);
        return;
    }

    s->status = VGPU_STATUS_BUSY;
    s->error_code = VGPU_ERR_NONE;
    s->response_len = 0;
    s->inflight = true;
    s->inflight_id = s->request_id;
    timer_mod(s->reply_timer, qemu_clock_get_ns(QEMU_CLOCK_VIRTUAL) +
              (int64_t)s->timeout_ms * SCALE_MS);
    vgpu_queue_frame(s, VGPU_MSG_REQUEST, s->inflight_id, s->req_buf,
                     s->request_len);
}

/* ---------------------------------------------------------------------- */
/* BAR0: registers (32-bit only)                                          */

static const char *vgpu_reg_name(hwaddr addr)
{
    switch (addr) {
    case REG_DOORBELL:     return "DOORBELL";
    case REG_STATUS:       return "STATUS";
    case REG_POOL_ID:      return "POOL_ID";
    case REG_PRIORITY:     return "PRIORITY";
    case REG_VM_ID:        return "VM_ID";
    case REG_ERROR_CODE:   return "ERROR_CODE";
    case REG_REQUEST_LEN:  return "REQUEST_LEN";
    case REG_RESPONSE_LEN: return "RESPONSE_LEN";
    case REG_PROTOCOL_VER: return "PROTOCOL_VER";
    case REG_CAPABILITIES: return "CAPABILITIES";
    case REG_IRQ_CTRL:     return "IRQ_CTRL";
    case REG_IRQ_STATUS:   return "IRQ_STATUS";
    case REG_REQUEST_ID:   return "REQUEST_ID";
    case REG_TIMESTAMP_LO: return "TIMESTAMP_LO";
    case REG_TIMESTAMP_HI: return "TIMESTAMP_HI";
    case REG_SCRATCH:      return "SCRATCH";
    default:               return "?";
    }
}

static uint64_t vgpu_reg_read(void *opaque, hwaddr addr, unsigned size)
{
    VGPUStubState *s = opaque;

    switch (addr) {
    case REG_DOORBELL:     return 0;
    case REG_STATUS:       return s->status;
    case REG_POOL_ID:      return s->pool_id;
    case REG_PRIORITY:     return s->priority;
    case REG_VM_ID:        return s->vm_id;
    case REG_ERROR_CODE:   return s->error_code;
    case REG_REQUEST_LEN:  return s->request_len;
    case REG_RESPONSE_LEN: return s->response_len;
    case REG_PROTOCOL_VER: return VGPU_PROTOCOL_VERSION;
    case REG_CAPABILITIES: return VGPU_CAPABILITIES;
    case REG_IRQ_CTRL:     return s->irq_ctrl;
    case REG_IRQ_STATUS:   return s->irq_status;
    case REG_REQUEST_ID:   return s->request_id;
    case REG_TIMESTAMP_LO: return (uint32_t)s->timestamp;
    case REG_TIMESTAMP_HI: return (uint32_t)(s->timestamp >> 32);
    case REG_SCRATCH:      return s->scratch;
    default:
        qemu_log_mask(LOG_GUEST_ERROR,
                      "vgpu-stub: read of unknown register 0x%" HWADDR_PRIx
                      "\n", addr);
        return 0;
    }
}

static void vgpu_reg_write(void *opaque, hwaddr addr, uint64_t val,
                           unsigned size)
{
    VGPUStubState *s = opaque;
    uint32_t v = val;

    switch (addr) {
    case REG_DOORBELL:
        if (v == VGPU_DOORBELL_RING) {
            vgpu_ring_doorbell(s);
        } else {
            qemu_log_mask(LOG_GUEST_ERROR,
                          "vgpu-stub: DOORBELL write of 0x%x ignored "
                          "(only 1 submits)\n", v);
        }
        break;
    case REG_REQUEST_LEN:
        s->request_len = v;
        break;
    case REG_IRQ_CTRL:
        s->irq_ctrl = v & VGPU_IRQ_CTRL_ENABLE;
        vgpu_update_intx(s);
        break;
    case REG_IRQ_STATUS:
        s->irq_status &= ~v;
        vgpu_update_intx(s);
        break;
    case REG_REQUEST_ID:
        s->request_id = v;
        break;
    case REG_SCRATCH:
        s->scratch = v;
        break;
    case REG_STATUS:
    case REG_POOL_ID:
    case REG_PRIORITY:
    case REG_VM_ID:
    case REG_ERROR_CODE:
    case REG_RESPONSE_LEN:
    case REG_PROTOCOL_VER:
    case REG_CAPABILITIES:
    case REG_TIMESTAMP_LO:
    case REG_TIMESTAMP_HI:
        qemu_log_mask(LOG_GUEST_ERROR,
                      "vgpu-stub: write of 0x%x to read-only register %s "
                      "ignored\n", v, vgpu_reg_name(addr));
        break;
    default:
        qemu_log_mask(LOG_GUEST_ERROR,
                      "vgpu-stub: write to unknown register 0x%" HWADDR_PRIx
                      " ignored\n", addr);
        break;
    }
}

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

/* ---------------------------------------------------------------------- */
/* BAR0: buffers and reserved area (1-4 byte accesses)                    */

/* addr is relative to the data subregion, i.e. BAR0 offset - 0x40 */
static uint8_t vgpu_data_read_byte(VGPUStubState *s, hwaddr bar_off)
{
    if (bar_off >= VGPU_REQ_BUFFER_OFFSET &&
        bar_off < VGPU_REQ_BUFFER_OFFSET + VGPU_REQ_BUFFER_SIZE) {
        return s->req_buf[bar_off - VGPU_REQ_BUFFER_OFFSET];
    }
    if (bar_off >= VGPU_RESP_BUFFER_OFFSET &&
        bar_off < VGPU_RESP_BUFFER_OFFSET + VGPU_RESP_BUFFER_SIZE) {
        return s->resp_buf[bar_off - VGPU_RESP_BUFFER_OFFSET];
    }
    return 0; /* reserved */
}

static uint64_t vgpu_data_read(void *opaque, hwaddr addr, unsigned size)
{
    VGPUStubState *s = opaque;
    uint64_t val = 0;
    unsigned i;

    for (i = 0; i < size; i++) {
        val |= (uint64_t)vgpu_data_read_byte(s, VGPU_DATA_AREA_OFFSET + addr + i)
               << (8 * i);
    }
    return val;
}

static void vgpu_data_write(void *opaque, hwaddr addr, uint64_t val,
                            unsigned size)
{
    VGPUStubState *s = opaque;
    bool logged = false;
    unsigned i;

    for (i = 0; i < size; i++) {
        hwaddr bar_off = VGPU_DATA_AREA_OFFSET + addr + i;
        uint8_t byte = val >> (8 * i);

        if (bar_off >= VGPU_REQ_BUFFER_OFFSET &&
            bar_off < VGPU_REQ_BUFFER_OFFSET + VGPU_REQ_BUFFER_SIZE) {
            s->req_buf[bar_off - VGPU_REQ_BUFFER_OFFSET] = byte;
        } else if (!logged) {
            qemu_log_mask(LOG_GUEST_ERROR,
                          "vgpu-stub: write to %s at 0x%" HWADDR_PRIx
                          " ignored\n",
                          bar_off < VGPU_RESERVED_OFFSET ?
                          "read-only response buffer" : "reserved area",
                          bar_off);
            logged = true;
        }
    }
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
    vgpu_update_intx(VGPU_STUB(pdev));
}

/* ---------------------------------------------------------------------- */
/* Migration                                                              */

static void vgpu_load_irq(void *opaque)
{
    vgpu_raise_completion_irq(opaque);
}

/*
 * loadvm in this process: the request in flight now (if any) is replaced by
 * the loaded state, but the mediator will still answer it on this link.
 */
static int vgpu_pre_load(void *opaque)
{
    vgpu_forget_inflight(opaque);
    return 0;
}

static int vgpu_post_load(void *opaque, int version_id)
{
    VGPUStubState *s = opaque;

    if (s->status == VGPU_STATUS_BUSY || s->inflight) {
        /* The reply would have come over the old process's socket. */
        vgpu_latch_completion(s, VGPU_ERR_MEDIATOR_UNAVAILABLE);
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
        VMSTATE_UINT32(status, VGPUStubState),
        VMSTATE_UINT32(error_code, VGPUStubState),
        VMSTATE_UINT32(request_len, VGPUStubState),
        VMSTATE_UINT32(response_len, VGPUStubState),
        VMSTATE_UINT32(irq_ctrl, VGPUStubState),
        VMSTATE_UINT32(irq_status, VGPUStubState),
        VMSTATE_UINT32(request_id, VGPUStubState),
        VMSTATE_UINT32(scratch, VGPUStubState),
        VMSTATE_UINT64(timestamp, VGPUStubState),
        VMSTATE_UINT8_ARRAY(req_buf, VGPUStubState, VGPU_REQ_BUFFER_SIZE),
        VMSTATE_UINT8_ARRAY(resp_buf, VGPUStubState, VGPU_RESP_BUFFER_SIZE),
        VMSTATE_BOOL(inflight, VGPUStubState),
        VMSTATE_UINT32(inflight_id, VGPUStubState),
        VMSTATE_END_OF_LIST()
    },
};

/* ---------------------------------------------------------------------- */
/* Properties, realize, reset                                             */

static bool vgpu_parse_pool(const char *v, uint32_t *out)
{
    if (!v || !g_ascii_strcasecmp(v, "A")) {
        *out = VGPU_POOL_A;
    } else if (!g_ascii_strcasecmp(v, "B")) {
        *out = VGPU_POOL_B;
    } else {
        return false;
    }
    return true;
}

static bool vgpu_parse_priority(const char *v, uint32_t *out)
{
    if (!v || !g_ascii_strcasecmp(v, "low") || !strcmp(v, "0")) {
        *out = VGPU_PRIORITY_LOW;
    } else if (!g_ascii_strcasecmp(v, "medium") || !strcmp(v, "1")) {
        *out = VGPU_PRIORITY_MEDIUM;
    } else if (!g_ascii_strcasecmp(v, "high") || !strcmp(v, "2")) {
        *out = VGPU_PRIORITY_HIGH;
    } else {
        return false;
    }
    return true;
}

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
    if (!qemu_opt_set(opts, "backend", "socket", errp) ||
        !qemu_opt_set(opts, "path", s->socket_path, errp) ||
        !qemu_opt_set(opts, "server", "off", errp) ||
        !qemu_opt_set(opts, VGPU_RECONNECT_OPTION, VGPU_RECONNECT_VALUE,
                      errp)) {
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
    Error *err = NULL;

    if (!vgpu_parse_pool(s->pool_prop, &s->pool_id)) {
        error_setg(errp, "vgpu-stub: property 'pool_id' must be A or B, "
                   "not '%s'", s->pool_prop);
        return;
    }
    if (!vgpu_parse_priority(s->priority_prop, &s->priority)) {
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

    s->tx = g_byte_array_new();
    s->reply_timer = timer_new_ns(QEMU_CLOCK_VIRTUAL, vgpu_reply_timeout, s);
    s->load_irq_timer = timer_new_ns(QEMU_CLOCK_VIRTUAL, vgpu_load_irq, s);
    s->disconnect_bh = qemu_bh_new(vgpu_disconnect_bh, s);
    s->link = VGPU_LINK_DOWN;

    /* Handlers last: an already-open chardev delivers OPENED right here. */
    qemu_chr_fe_set_handlers(&s->chr, vgpu_chr_can_read, vgpu_chr_read,
                             vgpu_chr_event, NULL, s, NULL, true);
}

static void vgpu_stub_exit(PCIDevice *pdev)
{
    VGPUStubState *s = VGPU_STUB(pdev);

    vgpu_tx_reset(s);
    qemu_chr_fe_deinit(&s->chr, s->own_chardev);
    timer_free(s->reply_timer);
    timer_free(s->load_irq_timer);
    qemu_bh_delete(s->disconnect_bh);
    g_byte_array_unref(s->tx);
    msi_uninit(pdev);
}

static void vgpu_stub_reset(DeviceState *dev)
{
    VGPUStubState *s = VGPU_STUB(dev);

    /* A request in flight is forgotten; its late reply will be discarded. */
    vgpu_forget_inflight(s);
    s->inflight_id = 0;
    timer_del(s->load_irq_timer);
    s->status = VGPU_STATUS_IDLE;
    s->error_code = VGPU_ERR_NONE;
    s->request_len = 0;
    s->response_len = 0;
    s->irq_ctrl = 0;
    s->irq_status = 0;
    s->request_id = 0;
    s->scratch = 0;
    s->timestamp = 0;
    memset(s->req_buf, 0, sizeof(s->req_buf));
    memset(s->resp_buf, 0, sizeof(s->resp_buf));
    pci_set_irq(PCI_DEVICE(s), 0);
}

/*
 * QEMU 9.2 made device_class_set_props() take const Property *; 10.0
 * dropped the DEFINE_PROP_END_OF_LIST() terminator and checks at compile
 * time (only for a const array) that there is none.
 */
#if QEMU_VERSION_MAJOR > 9 || (QEMU_VERSION_MAJOR == 9 && QEMU_VERSION_MINOR >= 2)
#define VGPU_PROPS_CONST const
#else
#define VGPU_PROPS_CONST
#endif

static VGPU_PROPS_CONST Property vgpu_stub_properties[] = {
    DEFINE_PROP_STRING("pool_id", VGPUStubState, pool_prop),
    DEFINE_PROP_STRING("priority", VGPUStubState, priority_prop),
    DEFINE_PROP_UINT32("vm_id", VGPUStubState, vm_id, 0),
    DEFINE_PROP_STRING("socket", VGPUStubState, socket_path),
    DEFINE_PROP_CHR("chardev", VGPUStubState, chr),
    DEFINE_PROP_UINT32("timeout_ms", VGPUStubState, timeout_ms,
                       VGPU_TIMEOUT_MS_DEFAULT),
#if QEMU_VERSION_MAJOR < 10
    DEFINE_PROP_END_OF_LIST(),
#endif
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
#if QEMU_VERSION_MAJOR >= 10 || \
    (QEMU_VERSION_MAJOR == 9 && QEMU_VERSION_MINOR >= 1)
    device_class_set_legacy_reset(dc, vgpu_stub_reset);
#else
    dc->reset = vgpu_stub_reset;
#endif
    device_class_set_props(dc, vgpu_stub_properties);
    set_bit(DEVICE_CATEGORY_MISC, dc->categories);

    object_class_property_set_description(klass, "pool_id",
        "GPU pool: A or B (default A)");
    object_class_property_set_description(klass, "priority",
        "scheduling priority: low, medium, high or 0, 1, 2 (default low)");
    object_class_property_set_description(klass, "vm_id",
        "VM identifier sent to the mediator (default 0)");
    object_class_property_set_description(klass, "socket",
        "mediator Unix socket path; the device connects and reconnects "
        "itself (default " VGPU_SOCKET_PATH_DEFAULT ")");
    object_class_property_set_description(klass, "chardev",
        "user-made socket chardev to use instead of 'socket'");
    object_class_property_set_description(klass, "timeout_ms",
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

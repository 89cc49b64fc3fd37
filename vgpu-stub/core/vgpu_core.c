/*
 * vgpu_core.c - the vgpu-stub device model (see vgpu_core.h, DEVICE.md).
 *
 * Plain C + libc: linked into QEMU (hw/misc, next to vgpu-stub.c) and into
 * the vfio-user server.  Every behaviour the guest or the mediator sees is
 * here, once.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "vgpu_core.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

_Static_assert(sizeof(VGPUSocketHeader) == VGPU_SOCKET_HEADER_SIZE,
               "VGPUSocketHeader must be 32 bytes");
_Static_assert(VGPU_REQ_BUFFER_OFFSET == VGPU_REG_AREA_SIZE,
               "the request buffer follows the registers");
_Static_assert(VGPU_RESP_BUFFER_OFFSET ==
               VGPU_REQ_BUFFER_OFFSET + VGPU_REQ_BUFFER_SIZE,
               "the response buffer follows the request buffer");
_Static_assert(VGPU_REG_COUNT * 4 == VGPU_REG_AREA_SIZE,
               "every 32-bit slot of the register area is a register");
/*
 * VGPU_RESERVED_SIZE (1976) stops 8 bytes short of the BAR end; DEVICE.md
 * makes the whole rest (0x840-0xFFF) reserved, and so does this device.
 */
_Static_assert(VGPU_RESERVED_OFFSET + VGPU_RESERVED_SIZE <= VGPU_BAR0_SIZE,
               "the reserved area lies inside BAR0");

/* ---------------------------------------------------------------------- */
/* Little helpers                                                         */

#define VGPU_MIN(a, b) ((a) < (b) ? (a) : (b))

static uint32_t ld32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

static uint16_t ld16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

static void st32(uint8_t *p, uint32_t v)
{
    p[0] = v;
    p[1] = v >> 8;
    p[2] = v >> 16;
    p[3] = v >> 24;
}

static void st16(uint8_t *p, uint16_t v)
{
    p[0] = v;
    p[1] = v >> 8;
}

static void vgpu_log(VgpuCore *c, VgpuLogKind kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void vgpu_log(VgpuCore *c, VgpuLogKind kind, const char *fmt, ...)
{
    char msg[256];
    int n = snprintf(msg, sizeof(msg), "vgpu-stub: ");
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg + n, sizeof(msg) - n, fmt, ap);
    va_end(ap);
    c->platform->log(c->opaque, kind, msg);
}

#define guest_error(c, ...) vgpu_log((c), VGPU_LOG_GUEST_ERROR, __VA_ARGS__)
#define warn(c, ...)        vgpu_log((c), VGPU_LOG_WARN, __VA_ARGS__)

/* ---------------------------------------------------------------------- */
/* Framing                                                                */

void vgpu_frame_encode_header(uint8_t out[VGPU_SOCKET_HEADER_SIZE],
                              const VgpuFrameHeader *h)
{
    st32(out + offsetof(VGPUSocketHeader, magic), h->magic);
    st32(out + offsetof(VGPUSocketHeader, version), h->version);
    st16(out + offsetof(VGPUSocketHeader, msg_type), h->msg_type);
    st16(out + offsetof(VGPUSocketHeader, flags), h->flags);
    st32(out + offsetof(VGPUSocketHeader, vm_id), h->vm_id);
    out[offsetof(VGPUSocketHeader, pool_id)] = h->pool_id;
    out[offsetof(VGPUSocketHeader, priority)] = h->priority;
    st16(out + offsetof(VGPUSocketHeader, reserved), h->reserved);
    st32(out + offsetof(VGPUSocketHeader, request_id), h->request_id);
    st32(out + offsetof(VGPUSocketHeader, payload_len), h->payload_len);
    st32(out + offsetof(VGPUSocketHeader, status), h->status);
}

void vgpu_frame_decode_header(const uint8_t in[VGPU_SOCKET_HEADER_SIZE],
                              VgpuFrameHeader *h)
{
    h->magic = ld32(in + offsetof(VGPUSocketHeader, magic));
    h->version = ld32(in + offsetof(VGPUSocketHeader, version));
    h->msg_type = ld16(in + offsetof(VGPUSocketHeader, msg_type));
    h->flags = ld16(in + offsetof(VGPUSocketHeader, flags));
    h->vm_id = ld32(in + offsetof(VGPUSocketHeader, vm_id));
    h->pool_id = in[offsetof(VGPUSocketHeader, pool_id)];
    h->priority = in[offsetof(VGPUSocketHeader, priority)];
    h->reserved = ld16(in + offsetof(VGPUSocketHeader, reserved));
    h->request_id = ld32(in + offsetof(VGPUSocketHeader, request_id));
    h->payload_len = ld32(in + offsetof(VGPUSocketHeader, payload_len));
    h->status = ld32(in + offsetof(VGPUSocketHeader, status));
}

const char *vgpu_frame_header_problem(const uint8_t in[VGPU_SOCKET_HEADER_SIZE])
{
    VgpuFrameHeader h;

    vgpu_frame_decode_header(in, &h);
    if (h.magic != VGPU_SOCKET_MAGIC) {
        return "bad magic";
    }
    if ((h.version >> 16) != VGPU_PROTOCOL_MAJOR) {
        return "protocol major version mismatch";
    }
    if (h.msg_type != VGPU_MSG_HELLO_ACK && h.msg_type != VGPU_MSG_RESPONSE) {
        return "unexpected message type";
    }
    if (h.payload_len > VGPU_MAX_PAYLOAD) {
        return "payload_len larger than 1024";
    }
    return NULL;
}

/* ---------------------------------------------------------------------- */
/* Properties                                                             */

static bool ascii_caseeq(const char *a, const char *b)
{
    for (; *a && *b; a++, b++) {
        char x = (*a >= 'A' && *a <= 'Z') ? *a - 'A' + 'a' : *a;
        char y = (*b >= 'A' && *b <= 'Z') ? *b - 'A' + 'a' : *b;

        if (x != y) {
            return false;
        }
    }
    return *a == *b;
}

bool vgpu_core_parse_pool(const char *v, uint32_t *out)
{
    if (!v || ascii_caseeq(v, "A")) {
        *out = VGPU_POOL_A;
    } else if (ascii_caseeq(v, "B")) {
        *out = VGPU_POOL_B;
    } else {
        return false;
    }
    return true;
}

bool vgpu_core_parse_priority(const char *v, uint32_t *out)
{
    if (!v || ascii_caseeq(v, "low") || !strcmp(v, "0")) {
        *out = VGPU_PRIORITY_LOW;
    } else if (ascii_caseeq(v, "medium") || !strcmp(v, "1")) {
        *out = VGPU_PRIORITY_MEDIUM;
    } else if (ascii_caseeq(v, "high") || !strcmp(v, "2")) {
        *out = VGPU_PRIORITY_HIGH;
    } else {
        return false;
    }
    return true;
}

/* ---------------------------------------------------------------------- */
/* Interrupts and completion                                              */

void vgpu_core_update_intx(VgpuCore *c)
{
    bool level = (c->regs.irq_ctrl & VGPU_IRQ_CTRL_ENABLE) &&
                 c->regs.irq_status != 0;

    /* With MSI on, INTx must stay low; the completion was signalled by MSI. */
    c->platform->set_intx(c->opaque,
                          level && !c->platform->msi_enabled(c->opaque));
}

void vgpu_core_signal_completion(VgpuCore *c)
{
    if ((c->regs.irq_ctrl & VGPU_IRQ_CTRL_ENABLE) &&
        c->platform->msi_enabled(c->opaque)) {
        c->platform->msi_notify(c->opaque);
    }
    vgpu_core_update_intx(c);
}

/* Registers of a completion (done or error); no interrupt yet. */
static void latch_completion(VgpuCore *c, uint32_t error_code)
{
    VgpuCoreRegs *r = &c->regs;

    r->inflight = false;
    c->platform->cancel_deadline(c->opaque);
    r->error_code = error_code;
    if (error_code == VGPU_ERR_NONE) {
        r->status = VGPU_STATUS_DONE;
        r->irq_status |= VGPU_IRQ_STATUS_COMPLETE;
    } else {
        r->status = VGPU_STATUS_ERROR;
        r->response_len = 0;
        r->irq_status |= VGPU_IRQ_STATUS_COMPLETE | VGPU_IRQ_STATUS_ERROR;
    }
    r->timestamp = c->platform->timestamp_ns(c->opaque);
}

static void complete(VgpuCore *c, uint32_t error_code)
{
    latch_completion(c, error_code);
    vgpu_core_signal_completion(c);
}

/*
 * Forget the request in flight without completing it.  Its reply may still
 * come over this connection; remember its id so that reply is discarded.
 */
static void forget_inflight(VgpuCore *c)
{
    if (c->regs.inflight && c->link != VGPU_LINK_DOWN) {
        c->stale_valid = true;
        c->stale_id = c->regs.inflight_id;
    }
    c->regs.inflight = false;
    c->platform->cancel_deadline(c->opaque);
}

/* ---------------------------------------------------------------------- */
/* Mediator link: sending                                                 */

static void tx_reset(VgpuCore *c)
{
    if (c->tx_watching) {
        c->tx_watching = false;
        c->platform->cancel_watch_writable(c->opaque);
    }
    c->tx_len = 0;
}

/*
 * Send as much of the queue as the connection takes now; the rest goes out
 * when the hosting reports it writable.  Never blocks, so it is safe from
 * an MMIO handler.
 */
static void tx_flush(VgpuCore *c)
{
    while (c->tx_len > 0 && !c->tx_watching) {
        long n = c->platform->write(c->opaque, c->tx, c->tx_len);

        if (c->tx_len == 0) {
            /* the write found the connection dead and link_down() ran */
            return;
        }
        if (n > 0) {
            uint32_t taken = VGPU_MIN((uint32_t)n, c->tx_len);

            memmove(c->tx, c->tx + taken, c->tx_len - taken);
            c->tx_len -= taken;
            continue;
        }
        if (n < 0) {
            warn(c, "write to mediator failed: %s; dropping %u queued bytes",
                 strerror((int)-n), c->tx_len);
            c->tx_len = 0;
            return;
        }
        c->tx_watching = c->platform->watch_writable(c->opaque);
        if (!c->tx_watching) {
            warn(c, "connection cannot wait for writability; "
                 "dropping %u queued bytes", c->tx_len);
            c->tx_len = 0;
        }
        return;
    }
}

void vgpu_core_tx_writable(VgpuCore *c)
{
    c->tx_watching = false;
    tx_flush(c);
}

uint32_t vgpu_core_tx_pending(const VgpuCore *c)
{
    return c->tx_len;
}

/* The caller checked that the frame fits the queue. */
static void queue_frame(VgpuCore *c, uint16_t msg_type, uint32_t request_id,
                        const uint8_t *payload, uint32_t payload_len)
{
    VgpuFrameHeader h = {
        .magic = VGPU_SOCKET_MAGIC,
        .version = VGPU_PROTOCOL_VERSION,
        .msg_type = msg_type,
        .flags = VGPU_FLAG_NONE,
        .vm_id = c->cfg.vm_id,
        .pool_id = (uint8_t)c->cfg.pool_id,
        .priority = (uint8_t)c->cfg.priority,
        .request_id = request_id,
        .payload_len = payload_len,
        .status = VGPU_ERR_NONE,
    };

    vgpu_frame_encode_header(c->tx + c->tx_len, &h);
    c->tx_len += VGPU_SOCKET_HEADER_SIZE;
    if (payload_len) {
        memcpy(c->tx + c->tx_len, payload, payload_len);
        c->tx_len += payload_len;
    }
    tx_flush(c);
}

/* ---------------------------------------------------------------------- */
/* Mediator link: receiving                                               */

/*
 * The stream can no longer be trusted (or the mediator refused us): stop
 * reading and have the hosting drop the connection (later, outside this
 * call).  A reconnect then starts afresh.
 */
static void link_break(VgpuCore *c)
{
    c->link = VGPU_LINK_BROKEN;
    c->rx_len = 0;
    tx_reset(c);
    c->platform->request_disconnect(c->opaque);
}

static void protocol_error(VgpuCore *c, const char *why)
{
    warn(c, "protocol error from mediator (%s); dropping the connection",
         why);
    if (c->regs.inflight) {
        complete(c, VGPU_ERR_PROTOCOL);
    }
    link_break(c);
}

static void handle_hello_ack(VgpuCore *c, uint32_t status)
{
    if (c->link != VGPU_LINK_HELLO_SENT) {
        warn(c, "unexpected HELLO_ACK discarded");
        return;
    }
    if (status != VGPU_ERR_NONE) {
        warn(c, "mediator refused HELLO (status 0x%x); "
             "disconnecting, will retry on reconnect", status);
        link_break(c);
        return;
    }
    c->link = VGPU_LINK_READY;
}

static void handle_response(VgpuCore *c, uint32_t request_id, uint32_t status,
                            const uint8_t *payload, uint32_t payload_len)
{
    VgpuCoreRegs *r = &c->regs;

    if (c->stale_valid && request_id == c->stale_id) {
        /* The mediator answers in order: the first reply is the old one. */
        c->stale_valid = false;
        warn(c, "late RESPONSE for forgotten request_id %u discarded",
             request_id);
        return;
    }
    if (!r->inflight || request_id != r->inflight_id) {
        warn(c, "RESPONSE for request_id %u discarded (%s)", request_id,
             r->inflight ? "another request is in flight"
                         : "no request in flight");
        return;
    }
    if (status > VGPU_CORE_ERR_LAST_DEFINED) {
        if (!c->warned_undefined_status) {
            c->warned_undefined_status = true;
            warn(c, "mediator replied with undefined status 0x%x; "
                 "the guest sees ERROR_CODE PROTOCOL", status);
        }
        status = VGPU_ERR_PROTOCOL;
    }
    if (status != VGPU_ERR_NONE) {
        complete(c, status);
        return;
    }
    memcpy(r->resp_buf, payload, payload_len);
    memset(r->resp_buf + payload_len, 0, sizeof(r->resp_buf) - payload_len);
    r->response_len = payload_len;
    complete(c, VGPU_ERR_NONE);
}

/* rx holds a complete frame whose header was already validated. */
static void handle_frame(VgpuCore *c)
{
    VgpuFrameHeader h;

    vgpu_frame_decode_header(c->rx, &h);
    if (h.msg_type == VGPU_MSG_HELLO_ACK) {
        handle_hello_ack(c, h.status);
    } else if (c->link != VGPU_LINK_READY) {
        /* RESPONSE: the only other type vgpu_frame_header_problem() lets by */
        warn(c, "RESPONSE before HELLO_ACK discarded");
    } else {
        handle_response(c, h.request_id, h.status,
                        c->rx + VGPU_SOCKET_HEADER_SIZE, h.payload_len);
    }
}

/* Bytes still missing for the frame being assembled. */
static uint32_t rx_missing(const VgpuCore *c)
{
    if (c->rx_len < VGPU_SOCKET_HEADER_SIZE) {
        return VGPU_SOCKET_HEADER_SIZE - c->rx_len;
    }
    return VGPU_SOCKET_HEADER_SIZE +
           ld32(c->rx + offsetof(VGPUSocketHeader, payload_len)) - c->rx_len;
}

uint32_t vgpu_core_rx_wanted(const VgpuCore *c)
{
    return c->link == VGPU_LINK_BROKEN ? 0 : rx_missing(c);
}

void vgpu_core_receive(VgpuCore *c, const uint8_t *buf, size_t len)
{
    while (len > 0 && c->link != VGPU_LINK_BROKEN) {
        uint32_t n = (uint32_t)VGPU_MIN(len, (size_t)rx_missing(c));
        bool header_just_completed;

        memcpy(c->rx + c->rx_len, buf, n);
        header_just_completed = c->rx_len < VGPU_SOCKET_HEADER_SIZE &&
                                c->rx_len + n >= VGPU_SOCKET_HEADER_SIZE;
        c->rx_len += n;
        buf += n;
        len -= n;

        if (header_just_completed) {
            const char *problem = vgpu_frame_header_problem(c->rx);

            if (problem) {
                protocol_error(c, problem);
                return;
            }
        }
        if (c->rx_len >= VGPU_SOCKET_HEADER_SIZE && rx_missing(c) == 0) {
            handle_frame(c);
            c->rx_len = 0;
        }
    }
}

void vgpu_core_link_up(VgpuCore *c)
{
    c->stale_valid = false;
    c->rx_len = 0;
    tx_reset(c);
    c->link = VGPU_LINK_HELLO_SENT;
    queue_frame(c, VGPU_MSG_HELLO, 0, NULL, 0);
}

void vgpu_core_link_down(VgpuCore *c)
{
    c->stale_valid = false;
    c->link = VGPU_LINK_DOWN;
    c->rx_len = 0;
    tx_reset(c);
    if (c->regs.inflight) {
        complete(c, VGPU_ERR_MEDIATOR_UNAVAILABLE);
    }
}

void vgpu_core_deadline_expired(VgpuCore *c)
{
    if (c->regs.inflight) {
        complete(c, VGPU_ERR_TIMEOUT);
    }
}

/* ---------------------------------------------------------------------- */
/* Doorbell                                                               */

static void ring_doorbell(VgpuCore *c)
{
    VgpuCoreRegs *r = &c->regs;

    if (r->status == VGPU_STATUS_BUSY) {
        guest_error(c, "doorbell while busy; refused");
        r->error_code = VGPU_ERR_BUSY;
        return;
    }
    if (r->request_len == 0 || r->request_len > VGPU_REQ_BUFFER_SIZE) {
        guest_error(c, "doorbell with REQUEST_LEN %u (must be 1..%d)",
                    r->request_len, VGPU_REQ_BUFFER_SIZE);
        complete(c, VGPU_ERR_INVALID_LENGTH);
        return;
    }
    if (c->link != VGPU_LINK_READY) {
        complete(c, VGPU_ERR_MEDIATOR_UNAVAILABLE);
        return;
    }
    if (c->tx_len + VGPU_SOCKET_HEADER_SIZE + r->request_len >
        VGPU_CORE_TX_QUEUE_MAX) {
        if (!c->warned_tx_full) {
            c->warned_tx_full = true;
            warn(c, "the mediator is not reading its socket (%u bytes "
                 "queued); doorbells fail with MEDIATOR_UNAVAILABLE until "
                 "it does", c->tx_len);
        }
        complete(c, VGPU_ERR_MEDIATOR_UNAVAILABLE);
        return;
    }

    r->status = VGPU_STATUS_BUSY;
    r->error_code = VGPU_ERR_NONE;
    r->response_len = 0;
    r->inflight = true;
    r->inflight_id = r->request_id;
    c->platform->arm_deadline(c->opaque,
                              c->platform->deadline_now_ns(c->opaque) +
                              (int64_t)c->cfg.timeout_ms * 1000000);
    queue_frame(c, VGPU_MSG_REQUEST, r->inflight_id, r->req_buf,
                r->request_len);
}

/* ---------------------------------------------------------------------- */
/* BAR0                                                                   */

bool vgpu_core_access_valid(uint64_t off, unsigned size)
{
    if (off < VGPU_REG_AREA_SIZE) {
        return size == 4 && off % 4 == 0;
    }
    return size >= 1 && size <= 4 && off + size <= VGPU_BAR0_SIZE;
}

static uint32_t reg_read(VgpuCore *c, uint32_t off)
{
    const VgpuCoreRegs *r = &c->regs;

    switch (off) {
    case VGPU_REG_DOORBELL:     return 0;
    case VGPU_REG_STATUS:       return r->status;
    case VGPU_REG_POOL_ID:      return c->cfg.pool_id;
    case VGPU_REG_PRIORITY:     return c->cfg.priority;
    case VGPU_REG_VM_ID:        return c->cfg.vm_id;
    case VGPU_REG_ERROR_CODE:   return r->error_code;
    case VGPU_REG_REQUEST_LEN:  return r->request_len;
    case VGPU_REG_RESPONSE_LEN: return r->response_len;
    case VGPU_REG_PROTOCOL_VER: return VGPU_PROTOCOL_VERSION;
    case VGPU_REG_CAPABILITIES: return VGPU_CORE_CAPABILITIES;
    case VGPU_REG_IRQ_CTRL:     return r->irq_ctrl;
    case VGPU_REG_IRQ_STATUS:   return r->irq_status;
    case VGPU_REG_REQUEST_ID:   return r->request_id;
    case VGPU_REG_TIMESTAMP_LO: return (uint32_t)r->timestamp;
    case VGPU_REG_TIMESTAMP_HI: return (uint32_t)(r->timestamp >> 32);
    case VGPU_REG_SCRATCH:      return r->scratch;
    default:
        guest_error(c, "read of unknown register 0x%x", off);
        return 0;
    }
}

static void reg_write(VgpuCore *c, uint32_t off, uint32_t v)
{
    VgpuCoreRegs *r = &c->regs;

    switch (off) {
    case VGPU_REG_DOORBELL:
        if (v == VGPU_DOORBELL_RING) {
            ring_doorbell(c);
        } else {
            guest_error(c, "DOORBELL write of 0x%x ignored (only 1 submits)",
                        v);
        }
        break;
    case VGPU_REG_REQUEST_LEN:
        r->request_len = v;
        break;
    case VGPU_REG_IRQ_CTRL:
        r->irq_ctrl = v & VGPU_IRQ_CTRL_ENABLE;
        vgpu_core_update_intx(c);
        break;
    case VGPU_REG_IRQ_STATUS:
        r->irq_status &= ~v;
        vgpu_core_update_intx(c);
        break;
    case VGPU_REG_REQUEST_ID:
        r->request_id = v;
        break;
    case VGPU_REG_SCRATCH:
        r->scratch = v;
        break;
    case VGPU_REG_STATUS:
    case VGPU_REG_POOL_ID:
    case VGPU_REG_PRIORITY:
    case VGPU_REG_VM_ID:
    case VGPU_REG_ERROR_CODE:
    case VGPU_REG_RESPONSE_LEN:
    case VGPU_REG_PROTOCOL_VER:
    case VGPU_REG_CAPABILITIES:
    case VGPU_REG_TIMESTAMP_LO:
    case VGPU_REG_TIMESTAMP_HI:
        guest_error(c, "write of 0x%x to read-only register %s ignored", v,
                    vgpu_reg_name(off));
        break;
    default:
        guest_error(c, "write to unknown register 0x%x ignored", off);
        break;
    }
}

static uint8_t data_read_byte(const VgpuCore *c, uint64_t off)
{
    if (off >= VGPU_REQ_BUFFER_OFFSET &&
        off < VGPU_REQ_BUFFER_OFFSET + VGPU_REQ_BUFFER_SIZE) {
        return c->regs.req_buf[off - VGPU_REQ_BUFFER_OFFSET];
    }
    if (off >= VGPU_RESP_BUFFER_OFFSET &&
        off < VGPU_RESP_BUFFER_OFFSET + VGPU_RESP_BUFFER_SIZE) {
        return c->regs.resp_buf[off - VGPU_RESP_BUFFER_OFFSET];
    }
    return 0; /* reserved */
}

static void data_write(VgpuCore *c, uint64_t off, uint64_t val, unsigned size)
{
    bool logged = false;
    unsigned i;

    for (i = 0; i < size; i++) {
        uint64_t o = off + i;
        uint8_t byte = val >> (8 * i);

        if (o >= VGPU_REQ_BUFFER_OFFSET &&
            o < VGPU_REQ_BUFFER_OFFSET + VGPU_REQ_BUFFER_SIZE) {
            c->regs.req_buf[o - VGPU_REQ_BUFFER_OFFSET] = byte;
        } else if (!logged) {
            guest_error(c, "write to %s at 0x%llx ignored",
                        o < VGPU_RESERVED_OFFSET ?
                        "read-only response buffer" : "reserved area",
                        (unsigned long long)o);
            logged = true;
        }
    }
}

uint64_t vgpu_core_mmio_read(VgpuCore *c, uint64_t off, unsigned size)
{
    uint64_t val = 0;
    unsigned i;

    if (!vgpu_core_access_valid(off, size)) {
        guest_error(c, "invalid %u-byte read at BAR0 offset 0x%llx", size,
                    (unsigned long long)off);
        return 0;
    }
    if (off < VGPU_REG_AREA_SIZE) {
        return reg_read(c, (uint32_t)off);
    }
    for (i = 0; i < size; i++) {
        val |= (uint64_t)data_read_byte(c, off + i) << (8 * i);
    }
    return val;
}

void vgpu_core_mmio_write(VgpuCore *c, uint64_t off, uint64_t val,
                          unsigned size)
{
    if (!vgpu_core_access_valid(off, size)) {
        guest_error(c, "invalid %u-byte write at BAR0 offset 0x%llx ignored",
                    size, (unsigned long long)off);
        return;
    }
    if (off < VGPU_REG_AREA_SIZE) {
        reg_write(c, (uint32_t)off, (uint32_t)val);
    } else {
        data_write(c, off, val, size);
    }
}

/* ---------------------------------------------------------------------- */
/* Lifecycle and snapshots                                                */

void vgpu_core_init(VgpuCore *c, const VgpuPlatform *platform, void *opaque,
                    const VgpuCoreConfig *cfg)
{
    memset(c, 0, sizeof(*c));
    c->platform = platform;
    c->opaque = opaque;
    c->cfg = *cfg;
    if (c->cfg.timeout_ms == 0) {
        c->cfg.timeout_ms = VGPU_CORE_TIMEOUT_MS_DEFAULT;
    }
    c->link = VGPU_LINK_DOWN;
}

void vgpu_core_reset(VgpuCore *c)
{
    /* A request in flight is forgotten; its late reply will be discarded. */
    forget_inflight(c);
    memset(&c->regs, 0, sizeof(c->regs));
    c->platform->set_intx(c->opaque, false);
}

void vgpu_core_pre_load(VgpuCore *c)
{
    forget_inflight(c);
}

bool vgpu_core_post_load(VgpuCore *c)
{
    if (c->regs.status == VGPU_STATUS_BUSY || c->regs.inflight) {
        latch_completion(c, VGPU_ERR_MEDIATOR_UNAVAILABLE);
        return true;
    }
    return false;
}

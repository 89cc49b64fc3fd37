/*
 * test_vgpu_core.c - the device core driven by a fake platform, no QEMU.
 *
 * Built with plain gcc against vgpu_core.c and run by the Java test
 * VgpuCoreUnitTest (vgpu-protocol module); by hand:
 *   gcc -std=gnu11 -Wall -Wextra -Werror -Ivgpu-stub -Ivgpu-stub/core \
 *       vgpu-stub/core/vgpu_core.c vgpu-stub/core/test/test_vgpu_core.c
 * Prints one "ok NAME" or "not ok NAME: why" line per check; exits 1 if any
 * check failed.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "vgpu_core.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- fake platform ---------------------------------------------------- */

typedef struct Fake {
    VgpuCore core;
    uint8_t wire[64 * 1024];  /* every byte the core wrote */
    size_t wire_len;
    long accept;              /* bytes write() takes per call; -1 = all */
    int write_errno;          /* != 0: write() fails with it */
    bool down_inside_write;   /* write() reports a dead link reentrantly */
    bool watching;
    int watch_calls;
    int disconnects;
    int64_t now;              /* deadline clock */
    int64_t deadline;         /* armed expiry, -1 = none */
    uint64_t wall;
    bool intx;
    int intx_calls;
    bool msi_on;
    int msi_notifies;
    int guest_errors;
    int warnings;
    char last_log[256];
} Fake;

static long f_write(void *o, const uint8_t *buf, size_t len)
{
    Fake *f = o;
    size_t n = len;

    if (f->down_inside_write) {
        f->down_inside_write = false;
        vgpu_core_link_down(&f->core);
        return -EPIPE;
    }
    if (f->write_errno) {
        return -f->write_errno;
    }
    if (f->accept >= 0 && (size_t)f->accept < n) {
        n = f->accept;
    }
    if (n == 0) {
        return 0;
    }
    memcpy(f->wire + f->wire_len, buf, n);
    f->wire_len += n;
    return (long)n;
}

static bool f_watch(void *o) { Fake *f = o; f->watching = true; f->watch_calls++; return true; }
static void f_unwatch(void *o) { ((Fake *)o)->watching = false; }
static void f_disconnect(void *o) { ((Fake *)o)->disconnects++; }
static int64_t f_now(void *o) { return ((Fake *)o)->now; }
static void f_arm(void *o, int64_t ns) { ((Fake *)o)->deadline = ns; }
static void f_cancel(void *o) { ((Fake *)o)->deadline = -1; }
static uint64_t f_wall(void *o) { return ((Fake *)o)->wall; }
static void f_intx(void *o, bool level) { Fake *f = o; f->intx = level; f->intx_calls++; }
static bool f_msi_on(void *o) { return ((Fake *)o)->msi_on; }
static void f_msi(void *o) { ((Fake *)o)->msi_notifies++; }

static void f_log(void *o, VgpuLogKind kind, const char *msg)
{
    Fake *f = o;

    if (kind == VGPU_LOG_GUEST_ERROR) {
        f->guest_errors++;
    } else {
        f->warnings++;
    }
    snprintf(f->last_log, sizeof(f->last_log), "%s", msg);
}

static const VgpuPlatform fake_platform = {
    .write = f_write,
    .watch_writable = f_watch,
    .cancel_watch_writable = f_unwatch,
    .request_disconnect = f_disconnect,
    .deadline_now_ns = f_now,
    .arm_deadline = f_arm,
    .cancel_deadline = f_cancel,
    .timestamp_ns = f_wall,
    .set_intx = f_intx,
    .msi_enabled = f_msi_on,
    .msi_notify = f_msi,
    .log = f_log,
};

#define VM_ID     200
#define TIMEOUT   50   /* ms */

static Fake *fake_new(void)
{
    static Fake f;
    VgpuCoreConfig cfg = {
        .vm_id = VM_ID, .pool_id = VGPU_POOL_B,
        .priority = VGPU_PRIORITY_HIGH, .timeout_ms = TIMEOUT,
    };

    memset(&f, 0, sizeof(f));
    f.accept = -1;
    f.deadline = -1;
    f.now = 1000;
    f.wall = 0x123456789abcULL;
    vgpu_core_init(&f.core, &fake_platform, &f, &cfg);
    vgpu_core_reset(&f.core);
    return &f;
}

/* ---- checks ----------------------------------------------------------- */

static int failures;
static const char *current;
static bool current_failed;

#define CHECK(cond, ...) do { \
    if (!(cond)) { \
        if (!current_failed) { \
            printf("not ok %s: ", current); printf(__VA_ARGS__); \
            printf(" (line %d: %s)\n", __LINE__, #cond); \
        } \
        current_failed = true; \
    } \
} while (0)

static uint32_t rd(Fake *f, uint32_t off) { return (uint32_t)vgpu_core_mmio_read(&f->core, off, 4); }
static void wr(Fake *f, uint32_t off, uint32_t v) { vgpu_core_mmio_write(&f->core, off, v, 4); }

static void frame(uint8_t *out, uint16_t type, uint32_t id, uint32_t status,
                  const void *payload, uint32_t len)
{
    VgpuFrameHeader h = {
        .magic = VGPU_SOCKET_MAGIC, .version = VGPU_PROTOCOL_VERSION,
        .msg_type = type, .vm_id = VM_ID, .pool_id = VGPU_POOL_B,
        .priority = VGPU_PRIORITY_HIGH, .request_id = id,
        .payload_len = len, .status = status,
    };

    vgpu_frame_encode_header(out, &h);
    if (len) {
        memcpy(out + VGPU_SOCKET_HEADER_SIZE, payload, len);
    }
}

static void deliver(Fake *f, uint16_t type, uint32_t id, uint32_t status,
                    const void *payload, uint32_t len)
{
    uint8_t buf[VGPU_CORE_FRAME_MAX];

    frame(buf, type, id, status, payload, len);
    vgpu_core_receive(&f->core, buf, VGPU_SOCKET_HEADER_SIZE + len);
}

/* A connected device whose HELLO was acknowledged; the wire is cleared. */
static Fake *ready(void)
{
    Fake *f = fake_new();

    vgpu_core_link_up(&f->core);
    deliver(f, VGPU_MSG_HELLO_ACK, 0, VGPU_ERR_NONE, NULL, 0);
    f->wire_len = 0;
    return f;
}

/* Fill the request buffer with bytes i*7+1 through 1-byte MMIO, ring. */
static void submit(Fake *f, uint32_t id, uint32_t len)
{
    uint32_t i;

    for (i = 0; i < len; i++) {
        vgpu_core_mmio_write(&f->core, VGPU_REQ_BUFFER_OFFSET + i,
                             (uint8_t)(i * 7 + 1), 1);
    }
    wr(f, VGPU_REG_REQUEST_LEN, len);
    wr(f, VGPU_REG_REQUEST_ID, id);
    wr(f, VGPU_REG_DOORBELL, VGPU_DOORBELL_RING);
}

static void t_identity(void)
{
    Fake *f = fake_new();

    CHECK(rd(f, VGPU_REG_POOL_ID) == VGPU_POOL_B, "POOL_ID 0x%x", rd(f, VGPU_REG_POOL_ID));
    CHECK(rd(f, VGPU_REG_PRIORITY) == VGPU_PRIORITY_HIGH, "PRIORITY");
    CHECK(rd(f, VGPU_REG_VM_ID) == VM_ID, "VM_ID");
    CHECK(rd(f, VGPU_REG_PROTOCOL_VER) == VGPU_PROTOCOL_VERSION, "PROTOCOL_VER");
    CHECK(rd(f, VGPU_REG_CAPABILITIES) == (VGPU_CAP_BASIC | VGPU_CAP_IRQ |
          VGPU_CAP_MSI | VGPU_CAP_TIMESTAMP), "CAPABILITIES 0x%x",
          rd(f, VGPU_REG_CAPABILITIES));
    CHECK(rd(f, VGPU_REG_STATUS) == VGPU_STATUS_IDLE, "STATUS idle");
    wr(f, VGPU_REG_SCRATCH, 0xDEADBEEF);
    CHECK(rd(f, VGPU_REG_SCRATCH) == 0xDEADBEEF, "SCRATCH keeps a value");
    wr(f, VGPU_REG_IRQ_CTRL, 0xFFFFFFFF);
    CHECK(rd(f, VGPU_REG_IRQ_CTRL) == 1, "IRQ_CTRL keeps bit 0 only");
    wr(f, VGPU_REG_VM_ID, 7);
    CHECK(rd(f, VGPU_REG_VM_ID) == VM_ID && f->guest_errors == 1 &&
          strstr(f->last_log, "read-only register VM_ID"),
          "write to VM_ID ignored and logged naming it: '%s'", f->last_log);
}

static void t_hello(void)
{
    Fake *f = fake_new();
    VgpuFrameHeader h;

    vgpu_core_link_up(&f->core);
    CHECK(f->wire_len == VGPU_SOCKET_HEADER_SIZE, "HELLO is one bare header, got %zu bytes", f->wire_len);
    vgpu_frame_decode_header(f->wire, &h);
    CHECK(h.magic == VGPU_SOCKET_MAGIC && h.version == VGPU_PROTOCOL_VERSION &&
          h.msg_type == VGPU_MSG_HELLO && h.vm_id == VM_ID &&
          h.pool_id == VGPU_POOL_B && h.priority == VGPU_PRIORITY_HIGH &&
          h.payload_len == 0 && h.status == 0, "HELLO header fields");
    CHECK(f->core.link == VGPU_LINK_HELLO_SENT, "link waits for HELLO_ACK");
}

static void t_doorbell_before_ack(void)
{
    Fake *f = fake_new();

    vgpu_core_link_up(&f->core);
    f->wire_len = 0;
    submit(f, 1, 16);
    CHECK(rd(f, VGPU_REG_STATUS) == VGPU_STATUS_ERROR &&
          rd(f, VGPU_REG_ERROR_CODE) == VGPU_ERR_MEDIATOR_UNAVAILABLE,
          "STATUS %u ERROR_CODE %u", rd(f, VGPU_REG_STATUS), rd(f, VGPU_REG_ERROR_CODE));
    CHECK(f->wire_len == 0, "nothing sent before HELLO_ACK");
    CHECK(rd(f, VGPU_REG_IRQ_STATUS) == (VGPU_IRQ_STATUS_COMPLETE | VGPU_IRQ_STATUS_ERROR),
          "IRQ_STATUS latched without IRQ_CTRL");
    CHECK(rd(f, VGPU_REG_TIMESTAMP_LO) == (uint32_t)f->wall &&
          rd(f, VGPU_REG_TIMESTAMP_HI) == (uint32_t)(f->wall >> 32), "TIMESTAMP = platform wall clock");
    CHECK(!f->intx, "no INTx without IRQ_CTRL");
}

static void t_doorbell_sends_frame(void)
{
    Fake *f = ready();
    VgpuFrameHeader h;
    uint32_t i;
    bool same = true;

    CHECK(f->core.link == VGPU_LINK_READY, "HELLO_ACK status 0 makes the link ready");
    submit(f, 0xA5A5F00D, 100);
    CHECK(rd(f, VGPU_REG_STATUS) == VGPU_STATUS_BUSY, "STATUS busy");
    CHECK(f->wire_len == VGPU_SOCKET_HEADER_SIZE + 100, "one REQUEST frame of 132 bytes, got %zu", f->wire_len);
    vgpu_frame_decode_header(f->wire, &h);
    CHECK(h.msg_type == VGPU_MSG_REQUEST && h.request_id == 0xA5A5F00D &&
          h.payload_len == 100 && h.vm_id == VM_ID && h.pool_id == VGPU_POOL_B &&
          h.priority == VGPU_PRIORITY_HIGH && h.status == 0, "REQUEST header fields");
    for (i = 0; i < 100; i++) {
        same &= f->wire[VGPU_SOCKET_HEADER_SIZE + i] == (uint8_t)(i * 7 + 1);
    }
    CHECK(same, "payload = request buffer");
    CHECK(f->deadline == f->now + (int64_t)TIMEOUT * 1000000, "deadline armed at now + timeout_ms");
}

static void t_reply_completes(void)
{
    Fake *f = ready();
    uint8_t payload[5] = { 9, 8, 7, 6, 5 };

    wr(f, VGPU_REG_IRQ_CTRL, VGPU_IRQ_CTRL_ENABLE);
    submit(f, 42, 8);
    deliver(f, VGPU_MSG_RESPONSE, 42, VGPU_ERR_NONE, payload, sizeof(payload));
    CHECK(rd(f, VGPU_REG_STATUS) == VGPU_STATUS_DONE && rd(f, VGPU_REG_ERROR_CODE) == 0,
          "STATUS done");
    CHECK(rd(f, VGPU_REG_RESPONSE_LEN) == 5, "RESPONSE_LEN 5");
    CHECK(vgpu_core_mmio_read(&f->core, VGPU_RESP_BUFFER_OFFSET, 4) == 0x06070809 &&
          vgpu_core_mmio_read(&f->core, VGPU_RESP_BUFFER_OFFSET + 4, 1) == 5 &&
          vgpu_core_mmio_read(&f->core, VGPU_RESP_BUFFER_OFFSET + 5, 1) == 0,
          "response buffer holds the payload, zero after it");
    CHECK(f->deadline == -1, "deadline cancelled");
    CHECK(f->intx && f->msi_notifies == 0, "INTx asserted (MSI off)");
    wr(f, VGPU_REG_IRQ_STATUS, VGPU_IRQ_STATUS_COMPLETE);
    CHECK(!f->intx && rd(f, VGPU_REG_IRQ_STATUS) == 0, "write 1 to clear releases INTx");
}

static void t_msi(void)
{
    Fake *f = ready();

    f->msi_on = true;
    wr(f, VGPU_REG_IRQ_CTRL, VGPU_IRQ_CTRL_ENABLE);
    submit(f, 3, 4);
    deliver(f, VGPU_MSG_RESPONSE, 3, VGPU_ERR_NONE, "abcd", 4);
    CHECK(f->msi_notifies == 1 && !f->intx, "one MSI, INTx low (notifies %d)", f->msi_notifies);
    f->msi_on = false;
    vgpu_core_update_intx(&f->core);
    CHECK(f->intx, "MSI turned off with a completion pending asserts INTx");
}

static void t_deadline(void)
{
    Fake *f = ready();

    submit(f, 77, 4);
    f->now = f->deadline;
    vgpu_core_deadline_expired(&f->core);
    CHECK(rd(f, VGPU_REG_STATUS) == VGPU_STATUS_ERROR &&
          rd(f, VGPU_REG_ERROR_CODE) == VGPU_ERR_TIMEOUT, "TIMEOUT (ERROR_CODE %u)",
          rd(f, VGPU_REG_ERROR_CODE));
    deliver(f, VGPU_MSG_RESPONSE, 77, VGPU_ERR_NONE, "late", 4);
    CHECK(rd(f, VGPU_REG_ERROR_CODE) == VGPU_ERR_TIMEOUT && rd(f, VGPU_REG_RESPONSE_LEN) == 0,
          "the late reply is discarded");
    CHECK(strstr(f->last_log, "discarded") != NULL, "and logged: '%s'", f->last_log);
    vgpu_core_deadline_expired(&f->core);
    CHECK(rd(f, VGPU_REG_ERROR_CODE) == VGPU_ERR_TIMEOUT, "a stale expiry changes nothing");
}

static void t_bad_header(void)
{
    Fake *f = ready();
    uint8_t buf[VGPU_CORE_FRAME_MAX];

    submit(f, 5, 4);
    frame(buf, VGPU_MSG_RESPONSE, 5, 0, NULL, 0);
    buf[0] ^= 0xFF; /* bad magic */
    vgpu_core_receive(&f->core, buf, VGPU_SOCKET_HEADER_SIZE);
    CHECK(rd(f, VGPU_REG_STATUS) == VGPU_STATUS_ERROR &&
          rd(f, VGPU_REG_ERROR_CODE) == VGPU_ERR_PROTOCOL, "PROTOCOL error");
    CHECK(f->disconnects == 1, "disconnect requested once (%d)", f->disconnects);
    CHECK(vgpu_core_rx_wanted(&f->core) == 0, "no more reading while broken");
    CHECK(strstr(f->last_log, "bad magic") != NULL, "logged why: '%s'", f->last_log);
    vgpu_core_link_down(&f->core);
    f->wire_len = 0;
    vgpu_core_link_up(&f->core);
    CHECK(f->wire_len == VGPU_SOCKET_HEADER_SIZE && vgpu_core_rx_wanted(&f->core) == 32,
          "a reconnect sends HELLO again and reads again");
}

static void t_oversized(void)
{
    Fake *f = ready();
    uint8_t buf[VGPU_SOCKET_HEADER_SIZE];

    submit(f, 6, 4);
    frame(buf, VGPU_MSG_RESPONSE, 6, 0, NULL, 0);
    buf[24] = 0x01; buf[25] = 0x04; /* payload_len 1025 */
    vgpu_core_receive(&f->core, buf, sizeof(buf));
    CHECK(rd(f, VGPU_REG_ERROR_CODE) == VGPU_ERR_PROTOCOL && f->disconnects == 1,
          "payload_len 1025 is a protocol error");
}

static void t_byte_by_byte(void)
{
    Fake *f = ready();
    uint8_t buf[VGPU_CORE_FRAME_MAX];
    uint32_t i, len = VGPU_SOCKET_HEADER_SIZE + 3;
    bool bounded = true;

    submit(f, 8, 4);
    frame(buf, VGPU_MSG_RESPONSE, 8, 0, "xyz", 3);
    for (i = 0; i < len; i++) {
        bounded &= vgpu_core_rx_wanted(&f->core) >= 1 &&
                    vgpu_core_rx_wanted(&f->core) <= len - i;
        vgpu_core_receive(&f->core, buf + i, 1);
    }
    CHECK(bounded, "rx_wanted never asks past the frame");
    CHECK(rd(f, VGPU_REG_STATUS) == VGPU_STATUS_DONE && rd(f, VGPU_REG_RESPONSE_LEN) == 3,
          "a reply delivered byte by byte completes");
}

static void t_busy_and_length(void)
{
    Fake *f = ready();

    submit(f, 9, 4);
    f->wire_len = 0;
    wr(f, VGPU_REG_DOORBELL, 1);
    CHECK(rd(f, VGPU_REG_STATUS) == VGPU_STATUS_BUSY && rd(f, VGPU_REG_ERROR_CODE) == VGPU_ERR_BUSY &&
          f->wire_len == 0 && f->guest_errors == 1, "doorbell while busy: BUSY, nothing sent, logged");
    deliver(f, VGPU_MSG_RESPONSE, 9, 0, "ok", 2);
    CHECK(rd(f, VGPU_REG_STATUS) == VGPU_STATUS_DONE, "the first request still completes");
    wr(f, VGPU_REG_REQUEST_LEN, 0);
    wr(f, VGPU_REG_DOORBELL, 1);
    CHECK(rd(f, VGPU_REG_ERROR_CODE) == VGPU_ERR_INVALID_LENGTH, "REQUEST_LEN 0: INVALID_LENGTH");
    wr(f, VGPU_REG_REQUEST_LEN, 1025);
    wr(f, VGPU_REG_DOORBELL, 1);
    CHECK(rd(f, VGPU_REG_ERROR_CODE) == VGPU_ERR_INVALID_LENGTH && f->wire_len == 0,
          "REQUEST_LEN 1025: INVALID_LENGTH");
    wr(f, VGPU_REG_DOORBELL, 2);
    CHECK(f->guest_errors == 4 && strstr(f->last_log, "DOORBELL write of 0x2"),
          "DOORBELL 2 ignored and logged: '%s'", f->last_log);
}

static void t_error_status(void)
{
    Fake *f = ready();

    submit(f, 10, 4);
    deliver(f, VGPU_MSG_RESPONSE, 10, VGPU_ERR_QUEUE_FULL, NULL, 0);
    CHECK(rd(f, VGPU_REG_ERROR_CODE) == VGPU_ERR_QUEUE_FULL, "a defined status is passed on");
    submit(f, 11, 4);
    deliver(f, VGPU_MSG_RESPONSE, 11, 0x7F, NULL, 0);
    CHECK(rd(f, VGPU_REG_ERROR_CODE) == VGPU_ERR_PROTOCOL && f->core.link == VGPU_LINK_READY &&
          f->disconnects == 0, "undefined status: PROTOCOL, the link stays up");
    CHECK(f->warnings == 1, "warned once");
    submit(f, 12, 4);
    deliver(f, VGPU_MSG_RESPONSE, 12, 0xFFFFFFFF, NULL, 0);
    CHECK(f->warnings == 1, "... not twice (%d)", f->warnings);
}

static void t_wrong_id(void)
{
    Fake *f = ready();

    submit(f, 20, 4);
    deliver(f, VGPU_MSG_RESPONSE, 21, 0, "no", 2);
    CHECK(rd(f, VGPU_REG_STATUS) == VGPU_STATUS_BUSY, "a reply with another request_id is discarded");
    deliver(f, VGPU_MSG_RESPONSE, 20, 0, "yes", 3);
    CHECK(rd(f, VGPU_REG_STATUS) == VGPU_STATUS_DONE && rd(f, VGPU_REG_RESPONSE_LEN) == 3,
          "the right one afterwards completes");
}

static void t_reset_stale(void)
{
    Fake *f = ready();

    wr(f, VGPU_REG_SCRATCH, 5);
    submit(f, 0xB0B0, 4);
    vgpu_core_reset(&f->core);
    CHECK(rd(f, VGPU_REG_STATUS) == VGPU_STATUS_IDLE && rd(f, VGPU_REG_SCRATCH) == 0 &&
          rd(f, VGPU_REG_REQUEST_LEN) == 0 && f->deadline == -1 && !f->intx,
          "reset: registers 0, deadline cancelled, INTx low");
    CHECK(vgpu_core_mmio_read(&f->core, VGPU_REQ_BUFFER_OFFSET, 4) == 0, "reset zeroes the buffers");
    submit(f, 0xB0B0, 4);
    deliver(f, VGPU_MSG_RESPONSE, 0xB0B0, 0, "old", 3);
    CHECK(rd(f, VGPU_REG_STATUS) == VGPU_STATUS_BUSY, "the forgotten request's late reply is discarded");
    deliver(f, VGPU_MSG_RESPONSE, 0xB0B0, 0, "new!", 4);
    CHECK(rd(f, VGPU_REG_STATUS) == VGPU_STATUS_DONE && rd(f, VGPU_REG_RESPONSE_LEN) == 4,
          "the new request's reply (same id) completes it");
}

static void t_link_down(void)
{
    Fake *f = ready();

    submit(f, 30, 4);
    vgpu_core_link_down(&f->core);
    CHECK(rd(f, VGPU_REG_ERROR_CODE) == VGPU_ERR_MEDIATOR_UNAVAILABLE, "close: MEDIATOR_UNAVAILABLE");
    submit(f, 31, 4);
    CHECK(rd(f, VGPU_REG_ERROR_CODE) == VGPU_ERR_MEDIATOR_UNAVAILABLE &&
          rd(f, VGPU_REG_STATUS) == VGPU_STATUS_ERROR, "no link: doorbell fails at once");
}

static void t_refused_hello(void)
{
    Fake *f = fake_new();

    vgpu_core_link_up(&f->core);
    deliver(f, VGPU_MSG_HELLO_ACK, 0, VGPU_ERR_NOT_PERMITTED, NULL, 0);
    CHECK(f->core.link == VGPU_LINK_BROKEN && f->disconnects == 1, "refusing ACK: disconnect");
}

static void t_backpressure(void)
{
    Fake *f = ready();
    int n = 0;

    f->accept = 0;
    while (n < 100) {
        submit(f, 100 + n, VGPU_REQ_BUFFER_SIZE);
        if (rd(f, VGPU_REG_STATUS) != VGPU_STATUS_BUSY) {
            break;
        }
        /* the mediator "answers" without reading: keeps the queue growing */
        deliver(f, VGPU_MSG_RESPONSE, 100 + n, 0, NULL, 0);
        n++;
    }
    CHECK(f->watching && f->watch_calls == 1, "one writability watch while stuck (%d)", f->watch_calls);
    CHECK(n == 16, "16 full frames fit the queue, got %d", n);
    CHECK(rd(f, VGPU_REG_ERROR_CODE) == VGPU_ERR_MEDIATOR_UNAVAILABLE,
          "over the cap: MEDIATOR_UNAVAILABLE at once");
    CHECK(vgpu_core_tx_pending(&f->core) == 16 * VGPU_CORE_FRAME_MAX, "queue at its cap");
    f->accept = 1000;
    f->watching = false;
    vgpu_core_tx_writable(&f->core);
    CHECK(f->wire_len == 16 * VGPU_CORE_FRAME_MAX && vgpu_core_tx_pending(&f->core) == 0,
          "writable again: the whole queue goes out in order (%zu bytes)", f->wire_len);
    CHECK(f->wire[VGPU_CORE_FRAME_MAX + offsetof(VGPUSocketHeader, request_id)] == 101,
          "the second frame carries request_id 101");
}

static void t_write_errors(void)
{
    Fake *f = ready();

    f->write_errno = EPIPE;
    submit(f, 40, 4);
    CHECK(vgpu_core_tx_pending(&f->core) == 0 && f->warnings == 1, "hard write error: queue dropped, warned");
    f->write_errno = 0;
    f = ready();
    f->down_inside_write = true;
    submit(f, 41, 4);
    CHECK(f->core.link == VGPU_LINK_DOWN && vgpu_core_tx_pending(&f->core) == 0 &&
          rd(f, VGPU_REG_ERROR_CODE) == VGPU_ERR_MEDIATOR_UNAVAILABLE,
          "link_down from inside write(): request fails, no queue left");
}

static void t_access_rules(void)
{
    Fake *f = fake_new();

    CHECK(vgpu_core_access_valid(0x000, 4) && !vgpu_core_access_valid(0x000, 2) &&
          !vgpu_core_access_valid(0x002, 4) && !vgpu_core_access_valid(0x000, 8),
          "registers: 4-byte aligned only");
    CHECK(vgpu_core_access_valid(0x041, 4) && vgpu_core_access_valid(0xFFF, 1) &&
          !vgpu_core_access_valid(0xFFE, 4) && !vgpu_core_access_valid(0x1000, 1),
          "buffers: 1-4 bytes, inside BAR0");
    wr(f, VGPU_REG_SCRATCH, 0x11223344);
    CHECK(vgpu_core_mmio_read(&f->core, VGPU_REG_SCRATCH, 2) == 0 && f->guest_errors == 1,
          "an invalid read reads 0 and is logged");
    vgpu_core_mmio_write(&f->core, VGPU_RESP_BUFFER_OFFSET, 0xFF, 1);
    vgpu_core_mmio_write(&f->core, 0x840, 0xFFFFFFFF, 4);
    CHECK(vgpu_core_mmio_read(&f->core, VGPU_RESP_BUFFER_OFFSET, 1) == 0 &&
          vgpu_core_mmio_read(&f->core, 0x840, 4) == 0 && f->guest_errors == 3,
          "response buffer and reserved area ignore writes, logged");
    vgpu_core_mmio_write(&f->core, 0x43E, 0xAABBCCDD, 4);
    CHECK(vgpu_core_mmio_read(&f->core, 0x43E, 2) == 0xCCDD &&
          vgpu_core_mmio_read(&f->core, 0x440, 2) == 0,
          "a write across the request/response boundary keeps only its request bytes");
}

static void t_post_load(void)
{
    Fake *f = ready();
    int intx_calls;

    submit(f, 50, 4);
    vgpu_core_pre_load(&f->core);
    CHECK(f->deadline == -1, "pre_load forgets the request in flight");
    f->core.regs.status = VGPU_STATUS_BUSY; /* as loaded */
    f->core.regs.inflight = true;
    f->core.regs.irq_ctrl = VGPU_IRQ_CTRL_ENABLE;
    intx_calls = f->intx_calls;
    CHECK(vgpu_core_post_load(&f->core), "a loaded busy state needs an interrupt later");
    CHECK(rd(f, VGPU_REG_STATUS) == VGPU_STATUS_ERROR &&
          rd(f, VGPU_REG_ERROR_CODE) == VGPU_ERR_MEDIATOR_UNAVAILABLE,
          "it completes MEDIATOR_UNAVAILABLE");
    CHECK(f->intx_calls == intx_calls, "registers only: no interrupt during the load");
    vgpu_core_signal_completion(&f->core);
    CHECK(f->intx, "signal_completion raises it afterwards");
    deliver(f, VGPU_MSG_RESPONSE, 50, 0, "late", 4);
    CHECK(rd(f, VGPU_REG_ERROR_CODE) == VGPU_ERR_MEDIATOR_UNAVAILABLE,
          "the old request's late reply is discarded");
    CHECK(!vgpu_core_post_load(&fake_new()->core), "an idle load needs nothing");
}

static void t_register_names(void)
{
    uint32_t off;
    int named = 0;

#define NAME_CHECK(name, offset) \
    CHECK(strcmp(vgpu_reg_name(offset), #name) == 0 && VGPU_REG_##name == (offset), \
          "%s at 0x%x", #name, (unsigned)(offset));
    VGPU_REGISTERS(NAME_CHECK)
#undef NAME_CHECK
    for (off = 0; off < VGPU_BAR0_SIZE; off++) {
        named += vgpu_reg_name(off) != NULL;
    }
    CHECK(named == VGPU_REG_COUNT && VGPU_REG_COUNT == 16, "16 named registers, got %d", named);
}

#define RUN(fn) do { \
    current = #fn + 2; current_failed = false; fn(); \
    if (current_failed) { failures++; } else { printf("ok %s\n", current); } \
} while (0)

int main(void)
{
    RUN(t_identity);
    RUN(t_hello);
    RUN(t_doorbell_before_ack);
    RUN(t_doorbell_sends_frame);
    RUN(t_reply_completes);
    RUN(t_msi);
    RUN(t_deadline);
    RUN(t_bad_header);
    RUN(t_oversized);
    RUN(t_byte_by_byte);
    RUN(t_busy_and_length);
    RUN(t_error_status);
    RUN(t_wrong_id);
    RUN(t_reset_stale);
    RUN(t_link_down);
    RUN(t_refused_hello);
    RUN(t_backpressure);
    RUN(t_write_errors);
    RUN(t_access_rules);
    RUN(t_post_load);
    RUN(t_register_names);
    printf("%d failed\n", failures);
    return failures ? 1 : 0;
}

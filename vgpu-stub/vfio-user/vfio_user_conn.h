/*
 * vfio_user_conn.h - one vfio-user connection: message assembly (with the
 * file descriptors passed alongside, SCM_RIGHTS), replies, a send queue.
 * Never blocks: the socket is non-blocking and driven by the poll loop.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef VFIO_USER_CONN_H
#define VFIO_USER_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vfio_user_proto.h"

/*
 * Largest REGION_READ/WRITE count this server takes and sends: BAR0 is the
 * largest region (4 KiB).  Advertised as max_data_xfer_size.
 */
#define VFU_MAX_DATA_XFER   4096
/* Largest message accepted: a full-size REGION_WRITE, with room to spare. */
#define VFU_MAX_MSG_SIZE    (2 * VFU_MAX_DATA_XFER)
/* File descriptors accepted with one message (advertised as max_msg_fds). */
#define VFU_MAX_MSG_FDS     8
/* Replies queued for a client that does not read: beyond this, drop it. */
#define VFU_TX_QUEUE_MAX    (256 * 1024)

/* A received message; payload points into the connection's buffer. */
typedef struct VfuMessage {
    VfuHeader hdr;
    const uint8_t *payload;
    uint32_t payload_len;
    int fds[VFU_MAX_MSG_FDS];   /* a handler that keeps one sets it to -1 */
    unsigned nfds;
    bool fds_truncated;         /* more fds came than VFU_MAX_MSG_FDS */
} VfuMessage;

typedef struct VfuConn {
    int fd;                     /* -1: no client */
    uint8_t rx[VFU_MAX_MSG_SIZE];
    uint32_t rx_len;
    int rx_fds[VFU_MAX_MSG_FDS];
    unsigned rx_nfds;
    bool rx_fds_truncated;
    uint8_t *tx;
    size_t tx_len;
    size_t tx_cap;
} VfuConn;

typedef enum VfuRxResult {
    VFU_RX_AGAIN,     /* no whole message yet */
    VFU_RX_MESSAGE,   /* *msg holds one; vfu_message_release() it */
    VFU_RX_CLOSED,    /* the client hung up */
    VFU_RX_BROKEN,    /* the stream cannot be trusted (*why says why) */
} VfuRxResult;

void vfu_conn_init(VfuConn *c);
/* Take over a connected socket (made non-blocking here). */
void vfu_conn_attach(VfuConn *c, int fd);
/* Close the socket, drop queued bytes and any fds received so far. */
void vfu_conn_close(VfuConn *c);

/*
 * Read until one whole message is there or the socket has nothing more.
 * The message's payload stays valid until the next call.
 */
VfuRxResult vfu_conn_receive(VfuConn *c, VfuMessage *msg, const char **why);
/* Close the fds a handler did not keep. */
void vfu_message_release(VfuMessage *msg);

/*
 * Queue a reply to req (same id and command) and try to send it; a command
 * with NO_REPLY gets none.  false if the client is gone or not reading
 * (then close the connection).
 */
bool vfu_conn_reply(VfuConn *c, const VfuHeader *req, const void *payload,
                    size_t len);
/* Same, as an error reply carrying errno value err. */
bool vfu_conn_reply_error(VfuConn *c, const VfuHeader *req, uint32_t err);
/* Send queued bytes; false on a dead socket. */
bool vfu_conn_flush(VfuConn *c);
static inline bool vfu_conn_tx_pending(const VfuConn *c)
{
    return c->tx_len > 0;
}

#endif /* VFIO_USER_CONN_H */

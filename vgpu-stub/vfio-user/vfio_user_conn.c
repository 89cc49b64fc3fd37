/*
 * vfio_user_conn.c - vfio-user message transport over a Unix stream socket.
 *
 * A message is read in two steps, header then the rest, so that a recvmsg()
 * never spans two messages and the file descriptors that came with one stay
 * with it.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "vfio_user_conn.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

void vfu_conn_init(VfuConn *c)
{
    memset(c, 0, sizeof(*c));
    c->fd = -1;
}

void vfu_conn_attach(VfuConn *c, int fd)
{
    int flags = fcntl(fd, F_GETFL);

    if (flags >= 0) {
        fcntl(fd, F_SETFL, flags | O_NONBLOCK);
    }
    c->fd = fd;
    c->rx_len = 0;
    c->rx_nfds = 0;
    c->rx_fds_truncated = false;
    c->tx_len = 0;
}

static void drop_rx_fds(VfuConn *c)
{
    for (unsigned i = 0; i < c->rx_nfds; i++) {
        close(c->rx_fds[i]);
    }
    c->rx_nfds = 0;
    c->rx_fds_truncated = false;
}

void vfu_conn_close(VfuConn *c)
{
    if (c->fd >= 0) {
        close(c->fd);
    }
    c->fd = -1;
    c->rx_len = 0;
    drop_rx_fds(c);
    c->tx_len = 0;
}

/* Keep the fds of one SCM_RIGHTS control message (close what does not fit). */
static void take_fds(VfuConn *c, struct msghdr *mh)
{
    for (struct cmsghdr *cm = CMSG_FIRSTHDR(mh); cm; cm = CMSG_NXTHDR(mh, cm)) {
        if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS) {
            continue;
        }
        size_t n = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        const unsigned char *data = CMSG_DATA(cm);

        for (size_t i = 0; i < n; i++) {
            int fd;

            memcpy(&fd, data + i * sizeof(int), sizeof(int));
            if (c->rx_nfds < VFU_MAX_MSG_FDS) {
                c->rx_fds[c->rx_nfds++] = fd;
            } else {
                close(fd);
                c->rx_fds_truncated = true;
            }
        }
    }
    if (mh->msg_flags & MSG_CTRUNC) {
        c->rx_fds_truncated = true;   /* the kernel dropped the excess */
    }
}

/* One recvmsg of up to want bytes into rx; returns its result. */
static ssize_t read_some(VfuConn *c, uint32_t want)
{
    union {
        char buf[CMSG_SPACE(sizeof(int) * VFU_MAX_MSG_FDS)];
        struct cmsghdr align;
    } ctl;
    struct iovec iov = { .iov_base = c->rx + c->rx_len, .iov_len = want };
    struct msghdr mh = {
        .msg_iov = &iov, .msg_iovlen = 1,
        .msg_control = ctl.buf, .msg_controllen = sizeof(ctl.buf),
    };
    ssize_t n;

    do {
        n = recvmsg(c->fd, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
    } while (n < 0 && errno == EINTR);
    if (n >= 0) {
        take_fds(c, &mh);
    }
    return n;
}

VfuRxResult vfu_conn_receive(VfuConn *c, VfuMessage *msg, const char **why)
{
    VfuHeader hdr = { 0 };

    *why = NULL;
    for (;;) {
        uint32_t want;
        ssize_t n;

        if (c->rx_len < VFU_HEADER_SIZE) {
            want = VFU_HEADER_SIZE - c->rx_len;
        } else {
            memcpy(&hdr, c->rx, sizeof(hdr));
            want = hdr.msg_size - c->rx_len;
        }
        if (want == 0) {
            break;
        }
        n = read_some(c, want);
        if (n == 0) {
            return VFU_RX_CLOSED;
        }
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                return VFU_RX_AGAIN;
            }
            if (errno == ECONNRESET || errno == EPIPE) {
                return VFU_RX_CLOSED;
            }
            *why = strerror(errno);
            return VFU_RX_BROKEN;
        }
        c->rx_len += (uint32_t)n;
        if (c->rx_len == VFU_HEADER_SIZE) {
            memcpy(&hdr, c->rx, sizeof(hdr));
            /* Without a believable size the next message cannot be found. */
            if (hdr.msg_size < VFU_HEADER_SIZE) {
                *why = "message size smaller than the header";
                return VFU_RX_BROKEN;
            }
            if (hdr.msg_size > VFU_MAX_MSG_SIZE) {
                *why = "message larger than the server's limit";
                return VFU_RX_BROKEN;
            }
        }
    }

    msg->hdr = hdr;
    msg->payload = c->rx + VFU_HEADER_SIZE;
    msg->payload_len = hdr.msg_size - VFU_HEADER_SIZE;
    memcpy(msg->fds, c->rx_fds, sizeof(int) * c->rx_nfds);
    msg->nfds = c->rx_nfds;
    msg->fds_truncated = c->rx_fds_truncated;
    c->rx_len = 0;
    c->rx_nfds = 0;
    c->rx_fds_truncated = false;
    return VFU_RX_MESSAGE;
}

void vfu_message_release(VfuMessage *msg)
{
    for (unsigned i = 0; i < msg->nfds; i++) {
        if (msg->fds[i] >= 0) {
            close(msg->fds[i]);
            msg->fds[i] = -1;
        }
    }
    msg->nfds = 0;
}

static bool queue(VfuConn *c, const void *data, size_t len)
{
    if (c->tx_len + len > VFU_TX_QUEUE_MAX) {
        return false;
    }
    if (c->tx_len + len > c->tx_cap) {
        size_t cap = c->tx_cap ? c->tx_cap : 4096;
        uint8_t *p;

        while (cap < c->tx_len + len) {
            cap *= 2;
        }
        p = realloc(c->tx, cap);
        if (!p) {
            return false;
        }
        c->tx = p;
        c->tx_cap = cap;
    }
    memcpy(c->tx + c->tx_len, data, len);
    c->tx_len += len;
    return true;
}

bool vfu_conn_flush(VfuConn *c)
{
    size_t sent = 0;

    while (sent < c->tx_len) {
        ssize_t n = send(c->fd, c->tx + sent, c->tx_len - sent,
                         MSG_DONTWAIT | MSG_NOSIGNAL);

        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                break;
            }
            return false;
        }
        sent += (size_t)n;
    }
    memmove(c->tx, c->tx + sent, c->tx_len - sent);
    c->tx_len -= sent;
    return true;
}

static bool send_reply(VfuConn *c, const VfuHeader *req, uint32_t flags,
                       uint32_t err, const void *payload, size_t len)
{
    VfuHeader h = {
        .msg_id = req->msg_id,
        .command = req->command,
        .msg_size = (uint32_t)(VFU_HEADER_SIZE + len),
        .flags = VFU_FLAG_TYPE_REPLY | flags,
        .error = err,
    };

    if (req->flags & VFU_FLAG_NO_REPLY) {
        return true;
    }
    if (!queue(c, &h, sizeof(h)) || (len && !queue(c, payload, len))) {
        return false;
    }
    return vfu_conn_flush(c);
}

bool vfu_conn_reply(VfuConn *c, const VfuHeader *req, const void *payload,
                    size_t len)
{
    return send_reply(c, req, 0, 0, payload, len);
}

bool vfu_conn_reply_error(VfuConn *c, const VfuHeader *req, uint32_t err)
{
    return send_reply(c, req, VFU_FLAG_ERROR, err, NULL, 0);
}

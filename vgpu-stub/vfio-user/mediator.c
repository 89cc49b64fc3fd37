/*
 * mediator.c - the mediator socket of the vfio-user hosting.
 *
 * Only moves bytes and connection events: framing, HELLO, the send queue and
 * what a closed link means for a request in flight are the core's.  Like the
 * in-QEMU device's client chardev it connects at start and, whenever the
 * mediator is away (absent, closed, or dropped by the core), retries every
 * second.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "server.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* Bytes read from the mediator per wakeup at most, so the vfio-user socket
 * is not starved by a chatty mediator. */
#define MEDIATOR_READ_BUDGET (16 * VGPU_CORE_FRAME_MAX)

void mediator_init(Server *s, const char *path)
{
    s->mediator = (MediatorLink){
        .path = path,
        .fd = -1,
        .retry_at_ns = 0,   /* at once */
    };
}

void mediator_close(Server *s)
{
    MediatorLink *m = &s->mediator;

    if (m->fd < 0) {
        return;
    }
    close(m->fd);
    m->fd = -1;
    m->watch_writable = false;
    m->disconnect_requested = false;
    m->reported_away = false;
    m->retry_at_ns = server_monotonic_ns() + MEDIATOR_RETRY_NS;
    vgpu_core_link_down(&s->core);
}

static void try_connect(Server *s, int64_t now_ns)
{
    MediatorLink *m = &s->mediator;
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    int fd;

    m->retry_at_ns = now_ns + MEDIATOR_RETRY_NS;
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        server_log(s, "mediator socket: %s", strerror(errno));
        return;
    }
    memcpy(addr.sun_path, m->path, strlen(m->path) + 1);  /* length checked at start */
    /* A Unix-socket connect completes or fails at once (EAGAIN: backlog full). */
    if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
        if (!m->reported_away) {
            server_log(s, "mediator %s not reachable (%s); retrying every "
                       "second", m->path, strerror(errno));
            m->reported_away = true;
        }
        close(fd);
        return;
    }
    server_log(s, "connected to mediator %s", m->path);
    m->fd = fd;
    m->reported_away = false;
    vgpu_core_link_up(&s->core);
}

void mediator_tick(Server *s, int64_t now_ns)
{
    MediatorLink *m = &s->mediator;

    if (m->fd >= 0 && m->disconnect_requested) {
        server_log(s, "dropping the mediator connection; reconnecting in a "
                   "second");
        mediator_close(s);
    }
    if (m->fd < 0 && now_ns >= m->retry_at_ns) {
        try_connect(s, now_ns);
    }
}

int64_t mediator_next_wakeup(const Server *s)
{
    const MediatorLink *m = &s->mediator;

    if (m->fd < 0) {
        return m->retry_at_ns;
    }
    return m->disconnect_requested ? 0 : INT64_MAX;
}

bool mediator_poll_fd(Server *s, struct pollfd *pfd)
{
    MediatorLink *m = &s->mediator;

    if (m->fd < 0) {
        return false;
    }
    pfd->fd = m->fd;
    pfd->events = 0;
    /* rx_wanted() is 0 while the link is broken: read nothing more then. */
    if (vgpu_core_rx_wanted(&s->core) > 0) {
        pfd->events |= POLLIN;
    }
    if (m->watch_writable) {
        pfd->events |= POLLOUT;
    }
    pfd->revents = 0;
    return true;
}

void mediator_handle_events(Server *s, short revents)
{
    MediatorLink *m = &s->mediator;
    uint8_t buf[VGPU_CORE_FRAME_MAX];
    size_t budget = MEDIATOR_READ_BUDGET;

    /* Read first: a reply followed by a close must still be delivered. */
    while (m->fd >= 0 && !m->disconnect_requested &&
           (revents & (POLLIN | POLLHUP | POLLERR)) && budget > 0) {
        uint32_t want = vgpu_core_rx_wanted(&s->core);
        ssize_t n;

        if (want == 0) {
            break;
        }
        if (want > sizeof(buf)) {
            want = sizeof(buf);
        }
        n = recv(m->fd, buf, want, MSG_DONTWAIT);
        if (n > 0) {
            vgpu_core_receive(&s->core, buf, (size_t)n);
            budget -= (size_t)n < budget ? (size_t)n : budget;
            continue;
        }
        if (n < 0 && (errno == EINTR)) {
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            break;
        }
        server_log(s, "mediator connection %s; reconnecting in a second",
                   n == 0 ? "closed" : strerror(errno));
        mediator_close(s);
        return;
    }
    if (m->fd >= 0 && (revents & POLLOUT) && m->watch_writable) {
        m->watch_writable = false;
        vgpu_core_tx_writable(&s->core);
    }
    if (m->fd >= 0 && (revents & (POLLERR | POLLNVAL)) &&
        !(revents & POLLIN)) {
        server_log(s, "mediator connection failed; reconnecting in a second");
        mediator_close(s);
    }
}

long mediator_write(Server *s, const uint8_t *buf, size_t len)
{
    MediatorLink *m = &s->mediator;
    ssize_t n;

    if (m->fd < 0) {
        return -ENOTCONN;
    }
    do {
        n = send(m->fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    if (n >= 0) {
        return (long)n;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
        return 0;
    }
    /* Dead connection: closed from the poll loop, not inside the core. */
    m->disconnect_requested = true;
    return -errno;
}

/*
 * server.h - vgpu-stub-vfio-user: the vgpu-stub device model (vgpu_core)
 * hosted as a vfio-user server for QEMU's vfio-user-pci.
 *
 * Parts: vfio_user_conn.c (message transport), pci_config.c (config space),
 * device.c (the vfio-user commands: regions, IRQs, DMA table, reset),
 * mediator.c (the mediator socket: connect, reconnect, bytes to and from the
 * core), main.c (command line, the one poll loop, the core's platform).
 * Device behaviour lives only in vgpu_core.c.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef SERVER_H
#define SERVER_H

#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pci_config.h"
#include "vfio_user_conn.h"
#include "vgpu_core.h"

/* The mediator is retried this often while it is away, as the in-QEMU
 * device's chardev does (reconnect-ms=1000). */
#define MEDIATOR_RETRY_NS  (1000 * 1000 * 1000LL)
/* DMA windows tracked at most (advertised as max_dma_maps). */
#define DMA_MAX_MAPS       65535

/* One DMA window the client announced (tracked; this device does no DMA). */
typedef struct DmaRange {
    uint64_t address;
    uint64_t size;
    uint32_t flags;
} DmaRange;

typedef struct MediatorLink {
    const char *path;
    int fd;                    /* -1 while away */
    bool watch_writable;       /* the core waits for POLLOUT */
    bool disconnect_requested; /* the core asked to drop the connection */
    bool reported_away;        /* "not reachable" logged for this outage */
    int64_t retry_at_ns;       /* next connect attempt (monotonic clock) */
} MediatorLink;

typedef struct Server {
    VgpuCore core;
    PciConfig pci;

    /* vfio-user side */
    int listen_fd;
    const char *socket_path;
    VfuConn conn;
    bool negotiated;           /* VERSION done on this connection */
    bool exit_requested;

    /* interrupts: eventfds from SET_IRQS, -1 when not set */
    int intx_fd;
    int intx_unmask_fd;        /* signalled by the client to unmask (resample) */
    bool intx_level;           /* the core's INTx level */
    bool intx_masked;          /* automasked after a signal until UNMASK */
    int msi_fd;
    int err_fd;                /* error notifier: kept, never signalled */
    bool warned_lost_msi;

    DmaRange *dma;
    size_t dma_count;
    size_t dma_cap;

    MediatorLink mediator;

    bool deadline_armed;
    int64_t deadline_ns;       /* monotonic clock */

    bool verbose;
} Server;

/* main.c */
void server_log(Server *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int64_t server_monotonic_ns(void);

/* device.c */
void device_init(Server *s);
/* Handle one message; false if the connection must be closed. */
bool device_handle_message(Server *s, VfuMessage *msg);
/* The client went away: its IRQ fds and DMA windows go, device state stays. */
void device_client_gone(Server *s);
/* Platform callbacks of the core that touch the PCI side. */
void device_set_intx(Server *s, bool level);
bool device_msi_enabled(Server *s);
void device_msi_notify(Server *s);
/* The client signalled the INTx unmask eventfd. */
void device_intx_unmask_event(Server *s);

/* mediator.c */
void mediator_init(Server *s, const char *path);
/* Connect when due, honour a requested disconnect. */
void mediator_tick(Server *s, int64_t now_ns);
/* Fill *pfd for poll(); false if there is no connection to poll. */
bool mediator_poll_fd(Server *s, struct pollfd *pfd);
void mediator_handle_events(Server *s, short revents);
/* When mediator_tick() next has work (INT64_MAX: none). */
int64_t mediator_next_wakeup(const Server *s);
void mediator_close(Server *s);
long mediator_write(Server *s, const uint8_t *buf, size_t len);

#endif /* SERVER_H */

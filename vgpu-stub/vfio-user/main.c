/*
 * main.c - vgpu-stub-vfio-user: command line, the core's platform, and the
 * one poll loop (vfio-user socket, mediator socket, INTx unmask eventfd,
 * signals, the reply deadline on the host's monotonic clock).
 *
 * usage: vgpu-stub-vfio-user --socket PATH --mediator PATH [--pool A|B]
 *            [--priority low|medium|high|0|1|2] [--vm-id N] [--timeout-ms N]
 *            [--verbose]
 *
 * Lifetime: serves one client at a time.  It exits (status 0) when a client
 * that completed VERSION hangs up - QEMU went away - and when its parent
 * dies (PR_SET_PDEATHSIG) or on SIGTERM/SIGINT/SIGHUP; the socket file is
 * removed then.  A client that hangs up before VERSION, or whose stream the
 * server cannot trust (it then closes the connection), is followed by the
 * next one: the device state is kept, as the protocol asks.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "server.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define PROG "vgpu-stub-vfio-user"

/* ---------------------------------------------------------------------- */
/* Logging and clocks                                                     */

static void vlog_line(const char *prefix, const char *fmt, va_list ap)
{
    struct timespec ts;
    char line[1024];

    clock_gettime(CLOCK_REALTIME, &ts);
    vsnprintf(line, sizeof(line), fmt, ap);
    fprintf(stderr, "%lld.%06ld %s%s\n", (long long)ts.tv_sec,
            ts.tv_nsec / 1000, prefix, line);
}

void server_log(Server *s, const char *fmt, ...)
{
    va_list ap;

    (void)s;
    va_start(ap, fmt);
    vlog_line(PROG ": ", fmt, ap);
    va_end(ap);
}

static int64_t clock_ns(clockid_t id)
{
    struct timespec ts;

    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int64_t server_monotonic_ns(void)
{
    return clock_ns(CLOCK_MONOTONIC);
}

/* ---------------------------------------------------------------------- */
/* The core's platform                                                    */

static long plat_write(void *opaque, const uint8_t *buf, size_t len)
{
    return mediator_write(opaque, buf, len);
}

static bool plat_watch_writable(void *opaque)
{
    Server *s = opaque;

    if (s->mediator.fd < 0) {
        return false;
    }
    s->mediator.watch_writable = true;
    return true;
}

static void plat_cancel_watch_writable(void *opaque)
{
    ((Server *)opaque)->mediator.watch_writable = false;
}

static void plat_request_disconnect(void *opaque)
{
    ((Server *)opaque)->mediator.disconnect_requested = true;
}

/* Deadlines run on the host's clock here (QEMU's device: the virtual clock). */
static int64_t plat_deadline_now_ns(void *opaque)
{
    (void)opaque;
    return server_monotonic_ns();
}

static void plat_arm_deadline(void *opaque, int64_t expire_ns)
{
    Server *s = opaque;

    s->deadline_armed = true;
    s->deadline_ns = expire_ns;
}

static void plat_cancel_deadline(void *opaque)
{
    ((Server *)opaque)->deadline_armed = false;
}

/* QEMU_CLOCK_HOST, as the in-QEMU device stamps completions. */
static uint64_t plat_timestamp_ns(void *opaque)
{
    (void)opaque;
    return (uint64_t)clock_ns(CLOCK_REALTIME);
}

static void plat_set_intx(void *opaque, bool level)
{
    device_set_intx(opaque, level);
}

static bool plat_msi_enabled(void *opaque)
{
    return device_msi_enabled(opaque);
}

static void plat_msi_notify(void *opaque)
{
    device_msi_notify(opaque);
}

static void plat_log(void *opaque, VgpuLogKind kind, const char *msg)
{
    (void)opaque;
    /* Guest errors are always shown (QEMU needs -d guest_errors for them). */
    fprintf(stderr, "%s%s\n", kind == VGPU_LOG_GUEST_ERROR ? "guest error: " : "",
            msg);
}

static const VgpuPlatform platform = {
    .write = plat_write,
    .watch_writable = plat_watch_writable,
    .cancel_watch_writable = plat_cancel_watch_writable,
    .request_disconnect = plat_request_disconnect,
    .deadline_now_ns = plat_deadline_now_ns,
    .arm_deadline = plat_arm_deadline,
    .cancel_deadline = plat_cancel_deadline,
    .timestamp_ns = plat_timestamp_ns,
    .set_intx = plat_set_intx,
    .msi_enabled = plat_msi_enabled,
    .msi_notify = plat_msi_notify,
    .log = plat_log,
};

/* ---------------------------------------------------------------------- */
/* Command line                                                           */

typedef struct Options {
    const char *socket_path;
    const char *mediator_path;
    VgpuCoreConfig cfg;
    bool verbose;
} Options;

static void usage(FILE *out)
{
    fprintf(out,
        "usage: " PROG " --socket PATH --mediator PATH [--pool A|B]\n"
        "           [--priority low|medium|high|0|1|2] [--vm-id N]"
        " [--timeout-ms N] [--verbose]\n"
        "\n"
        "A vfio-user server for QEMU's vfio-user-pci that hosts the vgpu-stub\n"
        "device (vgpu-stub/DEVICE.md) and forwards its requests to the mediator.\n"
        "  --socket PATH      vfio-user socket to listen on (created; removed at exit)\n"
        "  --mediator PATH    mediator's Unix socket (connected, retried every second)\n"
        "  --pool A|B         GPU pool (default A)\n"
        "  --priority P       low, medium, high or 0, 1, 2 (default low)\n"
        "  --vm-id N          VM identifier, 0..4294967295 (default 0)\n"
        "  --timeout-ms N     reply deadline in ms on the host clock, >= 1 (default %d)\n"
        "  --verbose          log every vfio-user message\n"
        "QEMU: -device '{\"driver\":\"vfio-user-pci\",\"socket\":"
        "{\"type\":\"unix\",\"path\":\"PATH\"}}'\n",
        VGPU_CORE_TIMEOUT_MS_DEFAULT);
}

static _Noreturn void bad_usage(const char *fmt, const char *arg)
{
    fprintf(stderr, PROG ": ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n");
    usage(stderr);
    exit(2);
}

static bool parse_u32(const char *text, uint32_t *out)
{
    char *end;
    unsigned long long v;

    if (!text[0] || text[0] == '-' || text[0] == '+') {
        return false;
    }
    errno = 0;
    v = strtoull(text, &end, 10);
    if (errno || *end || v > UINT32_MAX) {
        return false;
    }
    *out = (uint32_t)v;
    return true;
}

static void check_socket_path(const char *option, const char *path)
{
    struct sockaddr_un addr;

    if (!path[0]) {
        bad_usage("%s must not be empty", option);
    }
    if (strlen(path) >= sizeof(addr.sun_path)) {
        fprintf(stderr, PROG ": %s path is longer than a Unix socket allows "
                "(%zu bytes max): %s\n", option, sizeof(addr.sun_path) - 1,
                path);
        exit(2);
    }
}

static void parse_options(int argc, char **argv, Options *o)
{
    static const struct option longopts[] = {
        { "socket",     required_argument, NULL, 's' },
        { "mediator",   required_argument, NULL, 'm' },
        { "pool",       required_argument, NULL, 'p' },
        { "priority",   required_argument, NULL, 'r' },
        { "vm-id",      required_argument, NULL, 'v' },
        { "timeout-ms", required_argument, NULL, 't' },
        { "verbose",    no_argument,       NULL, 'V' },
        { "help",       no_argument,       NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    int c;

    memset(o, 0, sizeof(*o));
    o->cfg.pool_id = VGPU_POOL_A;
    o->cfg.priority = VGPU_PRIORITY_LOW;
    o->cfg.timeout_ms = VGPU_CORE_TIMEOUT_MS_DEFAULT;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 's':
            o->socket_path = optarg;
            break;
        case 'm':
            o->mediator_path = optarg;
            break;
        case 'p':
            if (!vgpu_core_parse_pool(optarg, &o->cfg.pool_id)) {
                bad_usage("--pool must be A or B, not '%s'", optarg);
            }
            break;
        case 'r':
            if (!vgpu_core_parse_priority(optarg, &o->cfg.priority)) {
                bad_usage("--priority must be low, medium, high (or 0, 1, 2), "
                          "not '%s'", optarg);
            }
            break;
        case 'v':
            if (!parse_u32(optarg, &o->cfg.vm_id)) {
                bad_usage("--vm-id must be an integer 0..4294967295, not '%s'",
                          optarg);
            }
            break;
        case 't':
            if (!parse_u32(optarg, &o->cfg.timeout_ms) || o->cfg.timeout_ms == 0) {
                bad_usage("--timeout-ms must be an integer >= 1, not '%s'",
                          optarg);
            }
            break;
        case 'V':
            o->verbose = true;
            break;
        case 'h':
            usage(stdout);
            exit(0);
        default:
            bad_usage("unknown or incomplete option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc) {
        bad_usage("unexpected argument '%s'", argv[optind]);
    }
    if (!o->socket_path) {
        bad_usage("%s is required", "--socket");
    }
    if (!o->mediator_path) {
        bad_usage("%s is required", "--mediator");
    }
    check_socket_path("--socket", o->socket_path);
    check_socket_path("--mediator", o->mediator_path);
}

/* ---------------------------------------------------------------------- */
/* The listening socket                                                   */

/* A left-over socket file from a dead server is removed; a live one is not. */
static int clear_stale_socket(const char *path)
{
    struct stat st;
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    int fd;

    if (lstat(path, &st) < 0) {
        return errno == ENOENT ? 0 : -errno;
    }
    if (!S_ISSOCK(st.st_mode)) {
        fprintf(stderr, PROG ": --socket %s exists and is not a socket\n", path);
        return -EEXIST;
    }
    memcpy(addr.sun_path, path, strlen(path) + 1);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0) {
        close(fd);
        fprintf(stderr, PROG ": --socket %s is in use by a live server\n", path);
        return -EADDRINUSE;
    }
    if (fd >= 0) {
        close(fd);
    }
    return unlink(path) < 0 ? -errno : 0;
}

/*
 * Bind to a temporary name and rename it into place once listening, so the
 * socket file appearing means connect() works (what the harness waits for).
 */
static int listen_on(const char *path)
{
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    char tmp[sizeof(addr.sun_path) + 32];
    int fd, err;

    err = clear_stale_socket(path);
    if (err) {
        if (err != -EEXIST && err != -EADDRINUSE) {
            fprintf(stderr, PROG ": cannot clear --socket %s: %s\n", path,
                    strerror(-err));
        }
        return -1;
    }
    snprintf(tmp, sizeof(tmp), "%s.%ld.tmp", path, (long)getpid());
    if (strlen(tmp) >= sizeof(addr.sun_path)) {
        snprintf(tmp, sizeof(tmp), "%s", path);   /* no room: bind in place */
    }
    memcpy(addr.sun_path, tmp, strlen(tmp) + 1);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 ||
        listen(fd, 4) < 0 || (strcmp(tmp, path) && rename(tmp, path) < 0)) {
        fprintf(stderr, PROG ": cannot listen on %s: %s\n", path,
                strerror(errno));
        if (fd >= 0) {
            unlink(tmp);
            close(fd);
        }
        return -1;
    }
    return fd;
}

/* ---------------------------------------------------------------------- */
/* The poll loop                                                          */

static int signals_fd(pid_t *parent)
{
    sigset_t set;

    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    sigprocmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    /* The parent's death arrives as SIGTERM, i.e. through the signalfd. */
    *parent = getppid();
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != *parent) {
        return -1;   /* it died before prctl(): nothing would tell us */
    }
    return signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
}

static void accept_client(Server *s)
{
    int fd = accept4(s->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

    if (fd < 0) {
        return;
    }
    if (s->conn.fd >= 0) {
        /* One client at a time: a second one learns at once. */
        server_log(s, "a second client connected while one is served: "
                   "closed");
        close(fd);
        return;
    }
    server_log(s, "client connected");
    vfu_conn_attach(&s->conn, fd);
    s->negotiated = false;
}

static void drop_client(Server *s, const char *why)
{
    server_log(s, "client connection closed (%s)", why);
    vfu_conn_close(&s->conn);
    device_client_gone(s);
}

static void serve_client(Server *s)
{
    /* Handle what is there; stop at a few messages so others get a turn. */
    for (int i = 0; i < 64 && s->conn.fd >= 0; i++) {
        VfuMessage msg;
        const char *why;

        if (vfu_conn_tx_pending(&s->conn)) {
            break;   /* the client reads its replies first */
        }
        switch (vfu_conn_receive(&s->conn, &msg, &why)) {
        case VFU_RX_AGAIN:
            return;
        case VFU_RX_MESSAGE:
            if (!device_handle_message(s, &msg)) {
                drop_client(s, "client not reading its replies, or a version "
                            "this server does not speak");
            }
            break;
        case VFU_RX_CLOSED:
            if (s->negotiated) {
                server_log(s, "the client (QEMU) hung up: exiting");
                s->exit_requested = true;
            }
            drop_client(s, "hung up");
            return;
        case VFU_RX_BROKEN:
            server_log(s, "malformed stream from the client: %s", why);
            drop_client(s, "stream cannot be trusted");
            return;
        }
    }
}

static int64_t min64(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

enum { PFD_SIGNALS, PFD_LISTEN, PFD_CLIENT, PFD_MEDIATOR, PFD_UNMASK, PFD_COUNT };

static int run(Server *s, int sig_fd)
{
    for (;;) {
        struct pollfd pfd[PFD_COUNT];
        int64_t now = server_monotonic_ns();
        int64_t wake = mediator_next_wakeup(s);
        struct timespec ts, *timeout = NULL;

        if (s->exit_requested) {
            return 0;
        }
        if (s->deadline_armed && now >= s->deadline_ns) {
            s->deadline_armed = false;
            vgpu_core_deadline_expired(&s->core);
        }
        mediator_tick(s, now);
        if (s->deadline_armed) {
            wake = min64(wake, s->deadline_ns);
        }
        wake = min64(wake, mediator_next_wakeup(s));
        if (wake != INT64_MAX) {
            int64_t d = wake - server_monotonic_ns();

            if (d < 0) {
                d = 0;
            }
            ts.tv_sec = d / 1000000000LL;
            ts.tv_nsec = d % 1000000000LL;
            timeout = &ts;
        }

        memset(pfd, 0, sizeof(pfd));
        for (int i = 0; i < PFD_COUNT; i++) {
            pfd[i].fd = -1;
        }
        pfd[PFD_SIGNALS] = (struct pollfd){ .fd = sig_fd, .events = POLLIN };
        pfd[PFD_LISTEN] = (struct pollfd){ .fd = s->listen_fd, .events = POLLIN };
        if (s->conn.fd >= 0) {
            pfd[PFD_CLIENT].fd = s->conn.fd;
            pfd[PFD_CLIENT].events = vfu_conn_tx_pending(&s->conn) ? POLLOUT
                                                                   : POLLIN;
        }
        mediator_poll_fd(s, &pfd[PFD_MEDIATOR]);
        if (s->intx_unmask_fd >= 0) {
            pfd[PFD_UNMASK] = (struct pollfd){ .fd = s->intx_unmask_fd,
                                               .events = POLLIN };
        }

        if (ppoll(pfd, PFD_COUNT, timeout, NULL) < 0) {
            if (errno == EINTR) {
                continue;
            }
            server_log(s, "poll: %s", strerror(errno));
            return 1;
        }

        if (pfd[PFD_SIGNALS].revents) {
            struct signalfd_siginfo si;

            if (read(sig_fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
                server_log(s, "signal %u (%s): exiting", si.ssi_signo,
                           strsignal((int)si.ssi_signo));
                return 0;
            }
        }
        if (pfd[PFD_MEDIATOR].fd >= 0 && pfd[PFD_MEDIATOR].revents) {
            mediator_handle_events(s, pfd[PFD_MEDIATOR].revents);
        }
        if (pfd[PFD_UNMASK].fd >= 0 && pfd[PFD_UNMASK].revents &&
            s->intx_unmask_fd == pfd[PFD_UNMASK].fd) {
            device_intx_unmask_event(s);
        }
        if (pfd[PFD_CLIENT].fd >= 0 && pfd[PFD_CLIENT].revents &&
            s->conn.fd == pfd[PFD_CLIENT].fd) {
            short ev = pfd[PFD_CLIENT].revents;

            if ((ev & POLLOUT) && !vfu_conn_flush(&s->conn)) {
                s->exit_requested = s->negotiated;   /* QEMU is gone */
                drop_client(s, "send failed");
            }
            if (s->conn.fd >= 0 && (ev & (POLLIN | POLLHUP | POLLERR))) {
                serve_client(s);
            }
        }
        if (pfd[PFD_LISTEN].revents & POLLIN) {
            accept_client(s);
        }
    }
}

int main(int argc, char **argv)
{
    static Server server;
    Server *s = &server;
    Options o;
    pid_t parent;
    int sig_fd, rc;

    parse_options(argc, argv, &o);
    setvbuf(stderr, NULL, _IOLBF, 0);

    sig_fd = signals_fd(&parent);
    if (sig_fd < 0) {
        fprintf(stderr, PROG ": parent gone or no signalfd: exiting\n");
        return 1;
    }

    memset(s, 0, sizeof(*s));
    s->socket_path = o.socket_path;
    s->verbose = o.verbose;
    vfu_conn_init(&s->conn);
    device_init(s);
    vgpu_core_init(&s->core, &platform, s, &o.cfg);
    mediator_init(s, o.mediator_path);

    s->listen_fd = listen_on(o.socket_path);
    if (s->listen_fd < 0) {
        return 1;
    }
    server_log(s, "listening on %s (vm_id %u, pool %c, priority %u, "
               "timeout %u ms, mediator %s)", o.socket_path, o.cfg.vm_id,
               (char)o.cfg.pool_id, o.cfg.priority, o.cfg.timeout_ms,
               o.mediator_path);

    rc = run(s, sig_fd);

    if (s->conn.fd >= 0) {
        vfu_conn_close(&s->conn);
        device_client_gone(s);
    }
    mediator_close(s);
    close(s->listen_fd);
    unlink(o.socket_path);
    server_log(s, "stopped");
    return rc;
}

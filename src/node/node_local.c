/*
 * node_local.c - the node interface on the local libvirt (qemu:///system).
 *
 * A pool of libvirt connections, one per call in flight, each bounded by
 * libvirt's keepalive, and one more for domain events (see "connections"
 * below); reopened lazily when libvirtd goes away.  A private thread runs
 * libvirt's default event loop (it also runs the keepalives); lifecycle
 * events are turned into vr_dom_state and handed to the controller's
 * callback.
 *
 * Storage layout on this node:  <system_dir>/<vm uuid>/disk-<i>.qcow2 and
 * <system_dir>/<vm uuid>/console.log.
 */
#include <errno.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <libxml/parser.h>
#include <libxml/xpath.h>
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "vr_log.h"
#include "node_priv.h"
#include "vr_qimg.h"

#define MOD "node"

/* idle connections kept for calls (more may be open while busy) */
#define POOL_MAX 8

struct local_node {
    struct vr_node *node;
    char *uri;
    char *system_dir;
    char *probe_kernel;
    char *probe_initrd;
    char *force_hv;
    int probe_timeout_s;
    char instance[VR_UUID_LEN];  /* the installation served: only its
                                  * domains and directories are touched */

    int timeout_s;             /* how long libvirtd may stay silent */
    pthread_mutex_t lock;      /* protects what follows */
    virConnectPtr ev_conn;     /* domain events only, never a call */
    int lifecycle_cb;          /* -1 when not registered */
    virConnectPtr idle[POOL_MAX];  /* connections free for a call */
    int nidle;
    struct opener *opening;    /* an open in flight, or NULL */

    pthread_t ev_thread;
    atomic_bool ev_stop;
    int ev_timer;

    /* when host_info last warned about each inventory it could not read
     * (vr_mono_ms; 0: never): one warning per WARN_INTERVAL_MS */
    atomic_int_least64_t warned_pages, warned_devs, warned_disk;
};

#define WARN_INTERVAL_MS (10 * 60 * 1000)

/* libvirt's default loop must be registered once per process, before the
 * first connection; a process-wide flag guarded by pthread_once. */
static pthread_once_t ev_once = PTHREAD_ONCE_INIT;

static void silent_error_handler(void *opaque, virErrorPtr e)
{
    (void)opaque;
    (void)e;
}

static void ev_register(void)
{
    virSetErrorFunc(NULL, silent_error_handler);
    virEventRegisterDefaultImpl();
}

/* A libvirt call failed: say so, as one of three kinds.  An error of
 * libvirt's RPC layer means the connection failed under the call:
 * libvirtd stayed silent past the keepalive deadline (VR_E_TIMEOUT, the
 * operation may have happened; libvirt says "keepalive", or nothing at
 * all) or the connection broke (VR_E_UNAVAILABLE).  Otherwise libvirt
 * refused (VR_E_HYPERVISOR). */
static int lv_err(struct local_node *ln, struct vr_error *err,
                  const char *what, const char *uuid)
{
    virErrorPtr e = virGetLastError();
    const char *why = e && e->message ? e->message : NULL;
    const char *q = uuid ? " '" : "", *u = uuid ? uuid : "",
               *q2 = uuid ? "'" : "";

    if (e && e->domain == VIR_FROM_RPC) {
        if (!why || strstr(why, "keepalive"))
            return vr_err(err, VR_E_TIMEOUT, "%s%s%s%s: libvirtd did not "
                          "answer within %d s (it may have been done)",
                          what, q, u, q2, ln->timeout_s);
        return vr_err(err, VR_E_UNAVAILABLE, "%s%s%s%s: the connection to "
                      "libvirtd failed (%s)", what, q, u, q2, why);
    }
    return vr_err(err, VR_E_HYPERVISOR, "%s%s%s%s: %s", what, q, u, q2,
                  why ? why : "unknown libvirt error");
}

static int lv_code(void)
{
    virErrorPtr e = virGetLastError();
    return e ? e->code : VIR_ERR_OK;
}

/* ---- events */

static void ev_tick(int timer, void *opaque)
{
    (void)timer;
    (void)opaque;
}

static void *ev_loop(void *opaque)
{
    struct local_node *ln = opaque;
    while (!atomic_load(&ln->ev_stop)) {
        if (virEventRunDefaultImpl() < 0)
            vr_sleep_ms(100);
    }
    return NULL;
}

static enum vr_dom_state map_state(virDomainPtr dom, int st, int reason)
{
    switch (st) {
    case VIR_DOMAIN_RUNNING:
        return VR_DOM_RUNNING;
    case VIR_DOMAIN_BLOCKED:
        return VR_DOM_RUNNING;
    case VIR_DOMAIN_PAUSED:
        return VR_DOM_PAUSED;
    case VIR_DOMAIN_PMSUSPENDED:
        return VR_DOM_PAUSED;
    case VIR_DOMAIN_SHUTDOWN:
        return VR_DOM_BUSY;
    case VIR_DOMAIN_CRASHED:
        return VR_DOM_CRASHED;
    case VIR_DOMAIN_SHUTOFF:
        if (dom && virDomainHasManagedSaveImage(dom, 0) == 1)
            return VR_DOM_SAVED;
        /* QEMU died under the guest (killed, crashed) */
        if (reason == VIR_DOMAIN_SHUTOFF_CRASHED)
            return VR_DOM_CRASHED;
        return VR_DOM_SHUTOFF;
    default:
        return VR_DOM_BUSY;
    }
}

/* Map a lifecycle event to a state without calling back into libvirt
 * from its own event thread.  Returns VR_DOM__LAST for events that do not
 * change the run state (defined, shutdown-in-progress). */
static enum vr_dom_state event_state(int event, int detail)
{
    switch (event) {
    case VIR_DOMAIN_EVENT_UNDEFINED:
        return VR_DOM_NONE;
    case VIR_DOMAIN_EVENT_STARTED:
    case VIR_DOMAIN_EVENT_RESUMED:
        return VR_DOM_RUNNING;
    case VIR_DOMAIN_EVENT_SUSPENDED:
    case VIR_DOMAIN_EVENT_PMSUSPENDED:
        return VR_DOM_PAUSED;
    case VIR_DOMAIN_EVENT_CRASHED:
        return VR_DOM_CRASHED;
    case VIR_DOMAIN_EVENT_STOPPED:
        if (detail == VIR_DOMAIN_EVENT_STOPPED_SAVED)
            return VR_DOM_SAVED;
        if (detail == VIR_DOMAIN_EVENT_STOPPED_CRASHED ||
            detail == VIR_DOMAIN_EVENT_STOPPED_FAILED)
            return VR_DOM_CRASHED;
        return VR_DOM_SHUTOFF;
    default:
        return VR_DOM__LAST;
    }
}

static int lifecycle_cb(virConnectPtr conn, virDomainPtr dom, int event,
                        int detail, void *opaque)
{
    struct local_node *ln = opaque;
    char uuid[VIR_UUID_STRING_BUFLEN];
    char why[64];
    enum vr_dom_state s = event_state(event, detail);

    (void)conn;
    if (s == VR_DOM__LAST || virDomainGetUUIDString(dom, uuid) < 0)
        return 0;
    snprintf(why, sizeof(why), "libvirt event %d/%d", event, detail);
    VR_DEBUG(MOD, "domain %s: %s (%s)", uuid, vr_dom_state_name(s), why);
    vr_node_emit(ln->node, uuid, s, why);
    return 0;
}

static void close_cb(virConnectPtr conn, int reason, void *opaque)
{
    struct local_node *ln = opaque;
    (void)conn;
    VR_WARN(MOD, "libvirt event connection closed (reason %d); will "
            "reconnect", reason);
    /* events may have been lost meanwhile: the next one shows the gap */
    vr_node_lose_event(ln->node);
}

/* ---- connections
 *
 * A pool: a call checks a connection out, alone, and puts it back.  One
 * connection per call in flight, because libvirt (9.0) leaves a second
 * thread waiting for ever on a connection that its keepalive closed
 * under the first; alone on it, a call is bounded by the keepalive: a
 * libvirtd that stays silent for about `timeout_s` (stopped, hung, its
 * host frozen) has the connection closed under the call, which fails.
 * Domain events come on a connection of their own.
 *
 * Opening has no keepalive yet, and a stopped libvirtd still accepts the
 * connection: so a thread of its own opens, and callers wait for it at
 * most `timeout_s`.  One open is in flight at a time; it outlives the
 * node if it must (the node drops its reference, the opener closes what
 * it got). */

struct opener {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int refs;                  /* the opener thread, the node, waiters */
    bool done;
    virConnectPtr conn;        /* the result, until a caller takes it */
    char uri[256];
    char error[512];
};

static void opener_unref(struct opener *op)
{
    bool last;

    pthread_mutex_lock(&op->lock);
    last = --op->refs == 0;
    pthread_mutex_unlock(&op->lock);
    if (!last)
        return;
    if (op->conn)
        virConnectClose(op->conn);
    pthread_cond_destroy(&op->cond);
    pthread_mutex_destroy(&op->lock);
    free(op);
}

static void *opener_run(void *opaque)
{
    struct opener *op = opaque;
    virConnectPtr c = virConnectOpen(op->uri);
    virErrorPtr e = c ? NULL : virGetLastError();

    pthread_mutex_lock(&op->lock);
    op->conn = c;
    if (!c)
        snprintf(op->error, sizeof(op->error), "%s",
                 e && e->message ? e->message : "unknown libvirt error");
    op->done = true;
    pthread_cond_broadcast(&op->cond);
    pthread_mutex_unlock(&op->lock);
    opener_unref(op);
    return NULL;
}

/* Start an open (ln->lock held); NULL if no thread can be had. */
static struct opener *opener_start(struct local_node *ln)
{
    struct opener *op = vr_calloc(1, sizeof(*op));
    pthread_condattr_t ca;
    pthread_attr_t attr;
    pthread_t t;
    int rc;

    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_mutex_init(&op->lock, NULL);
    pthread_cond_init(&op->cond, &ca);
    pthread_condattr_destroy(&ca);
    op->refs = 2;
    vr_strlcpy(op->uri, ln->uri, sizeof(op->uri));
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    rc = pthread_create(&t, &attr, opener_run, op);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
        op->refs = 1;
        opener_unref(op);
        return NULL;
    }
    return op;
}

/* Wait for the open until `deadline` (vr_mono_ms); true if it is done. */
static bool opener_wait(struct opener *op, int64_t deadline)
{
    bool done;

    pthread_mutex_lock(&op->lock);
    while (!op->done) {
        int64_t left = deadline - vr_mono_ms();
        struct timespec ts;

        if (left <= 0)
            break;
        clock_gettime(CLOCK_MONOTONIC, &ts);   /* the condition's clock */
        ts.tv_sec += left / 1000;
        ts.tv_nsec += (left % 1000) * 1000000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&op->cond, &op->lock, &ts);
    }
    done = op->done;
    pthread_mutex_unlock(&op->lock);
    return done;
}

/* Bound a new connection's calls: libvirtd is silent for
 * `interval` * (`count` + 1) s at most. */
static void set_keepalive(struct local_node *ln, virConnectPtr c)
{
    int interval = ln->timeout_s / 4 > 0 ? ln->timeout_s / 4 : 1;

    if (virConnectSetKeepAlive(c, interval, 3) < 0)
        VR_WARN(MOD, "libvirt keepalive is off: a hung libvirtd will hold "
                "calls until it answers");
}

/* Make a new connection the event connection (ln->lock held). */
static void adopt_ev_conn(struct local_node *ln, virConnectPtr c)
{
    ln->ev_conn = c;
    set_keepalive(ln, c);
    virConnectRegisterCloseCallback(c, close_cb, ln, NULL);
    ln->lifecycle_cb = virConnectDomainEventRegisterAny(
        c, NULL, VIR_DOMAIN_EVENT_ID_LIFECYCLE,
        VIR_DOMAIN_EVENT_CALLBACK(lifecycle_cb), ln, NULL);
    if (ln->lifecycle_cb < 0)
        VR_WARN(MOD, "unable to register for domain events; relying on "
                "polling");
}

/* Take the event connection away (ln->lock held), to be closed (by
 * close_conn, without the lock).  A dead one is not asked to
 * deregister: that would wait on the daemon that stopped answering. */
static virConnectPtr take_ev_conn(struct local_node *ln)
{
    virConnectPtr c = ln->ev_conn;

    if (!c)
        return NULL;
    if (virConnectIsAlive(c) == 1 && ln->lifecycle_cb >= 0)
        virConnectDomainEventDeregisterAny(c, ln->lifecycle_cb);
    virConnectUnregisterCloseCallback(c, close_cb);
    ln->ev_conn = NULL;
    ln->lifecycle_cb = -1;
    return c;
}

/* Connections to close once ln->lock is released (closing may talk to
 * libvirtd); past `DEAD_MAX` they are closed at once. */
#define DEAD_MAX (POOL_MAX + 4)

static void defer_close(virConnectPtr *dead, int *ndead, virConnectPtr c)
{
    if (!c)
        return;
    if (*ndead < DEAD_MAX)
        dead[(*ndead)++] = c;
    else
        virConnectClose(c);
}

/* Return a connection for this caller alone (put_conn it when done),
 * opening one as needed, within `timeout_s`; also (re)opens the event
 * connection. */
static virConnectPtr get_conn(struct local_node *ln, struct vr_error *err)
{
    int64_t deadline = vr_mono_ms() + (int64_t)ln->timeout_s * 1000;
    virConnectPtr c = NULL, dead[DEAD_MAX];
    int ndead = 0;
    bool failed = false;

    pthread_mutex_lock(&ln->lock);
    for (;;) {
        struct opener *op;
        bool done;

        if (ln->ev_conn && virConnectIsAlive(ln->ev_conn) != 1)
            defer_close(dead, &ndead, take_ev_conn(ln));
        while (!c && ln->nidle > 0) {
            c = ln->idle[--ln->nidle];
            if (virConnectIsAlive(c) != 1) {
                defer_close(dead, &ndead, c);
                c = NULL;
            }
        }
        if (c && ln->ev_conn)
            break;
        if (!ln->opening && !(ln->opening = opener_start(ln))) {
            failed = true;
            vr_err(err, VR_E_INTERNAL, "unable to start a thread to connect "
                   "to libvirt");
            break;
        }
        op = ln->opening;
        pthread_mutex_lock(&op->lock);
        op->refs++;
        pthread_mutex_unlock(&op->lock);
        pthread_mutex_unlock(&ln->lock);
        done = opener_wait(op, deadline);
        pthread_mutex_lock(&ln->lock);
        if (done && ln->opening == op) {
            /* the first waiter to come back takes the result */
            virConnectPtr got;

            ln->opening = NULL;
            pthread_mutex_lock(&op->lock);
            got = op->conn;
            op->conn = NULL;
            pthread_mutex_unlock(&op->lock);
            opener_unref(op);       /* the node's reference */
            if (got && !ln->ev_conn) {
                adopt_ev_conn(ln, got);
            } else if (got) {
                set_keepalive(ln, got);
                if (!c)
                    c = got;
                else if (ln->nidle < POOL_MAX)
                    ln->idle[ln->nidle++] = got;
                else
                    defer_close(dead, &ndead, got);
            }
        }
        /* (op->error is set before `done`, and read after it) */
        if (!done) {
            failed = true;
            vr_err(err, VR_E_TIMEOUT, "unable to connect to libvirt '%s': "
                   "no answer within %d s", ln->uri, ln->timeout_s);
        } else if (op->error[0] && !(c && ln->ev_conn)) {
            failed = true;
            vr_err(err, VR_E_UNAVAILABLE, "unable to connect to libvirt "
                   "'%s': %s", ln->uri, op->error);
        }
        opener_unref(op);           /* ours */
        if (failed)
            break;
    }
    if (failed && c) {
        /* not used: back to the pool */
        if (ln->nidle < POOL_MAX)
            ln->idle[ln->nidle++] = c;
        else
            defer_close(dead, &ndead, c);
        c = NULL;
    }
    pthread_mutex_unlock(&ln->lock);
    for (int i = 0; i < ndead; i++)
        virConnectClose(dead[i]);
    return c;
}

/* A connection's call is over: back to the pool (a dead one, or one
 * beyond the pool's size, is closed). */
static void put_conn(struct local_node *ln, virConnectPtr c)
{
    bool kept = false;

    if (!c)
        return;
    pthread_mutex_lock(&ln->lock);
    if (virConnectIsAlive(c) == 1 && ln->nidle < POOL_MAX) {
        ln->idle[ln->nidle++] = c;
        kept = true;
    }
    pthread_mutex_unlock(&ln->lock);
    if (!kept)
        virConnectClose(c);
}

/* Done with a domain found by find_dom: its connection goes back. */
static void put_dom(struct local_node *ln, virDomainPtr dom)
{
    virConnectPtr c;

    if (!dom)
        return;
    c = virDomainGetConnect(dom);
    virDomainFree(dom);
    put_conn(ln, c);
}

/* Look a domain up; *dom is NULL (and 0 returned) if it does not exist.
 * A domain found holds its connection: put_dom it when done. */
static int find_dom(struct local_node *ln, const char *uuid,
                    virDomainPtr *dom, struct vr_error *err)
{
    virConnectPtr c = get_conn(ln, err);

    *dom = NULL;
    if (!c)
        return -1;
    *dom = virDomainLookupByUUIDString(c, uuid);
    /* read the error before any other libvirt call resets it */
    if (!*dom && lv_code() != VIR_ERR_NO_DOMAIN) {
        lv_err(ln, err, "unable to look up domain", uuid);
        put_conn(ln, c);
        return -1;
    }
    if (!*dom)
        put_conn(ln, c);
    return 0;
}

static struct local_node *LN(struct vr_node *n)
{
    return n->priv;
}

static int read_metadata(virDomainPtr dom, struct vr_dom_info *out);

/* Is this domain the installation's (its Vireo metadata names our
 * instance)?  1 yes, 0 no, -1 if its metadata cannot be read (libvirt's
 * error is left for lv_err): never "not ours" for want of an answer. */
static int dom_is_ours(struct local_node *ln, virDomainPtr dom)
{
    struct vr_dom_info info;

    memset(&info, 0, sizeof(info));
    if (read_metadata(dom, &info) < 0)
        return -1;
    return strcmp(info.instance, ln->instance) == 0;
}

/* find_dom, for the ops that act: a domain with this UUID that is not
 * ours is refused (-1, VR_E_CONFLICT) or, when `absent_ok`, reported as
 * absent (*dom NULL, *foreign true). */
static int find_own_dom(struct local_node *ln, const char *uuid,
                        bool absent_ok, virDomainPtr *dom, bool *foreign,
                        struct vr_error *err)
{
    if (foreign)
        *foreign = false;
    int ours;

    if (find_dom(ln, uuid, dom, err) < 0)
        return -1;
    if (!*dom || (ours = dom_is_ours(ln, *dom)) == 1)
        return 0;
    if (ours < 0) {
        lv_err(ln, err, "unable to read the metadata of domain", uuid);
        put_dom(ln, *dom);
        *dom = NULL;
        return -1;
    }
    put_dom(ln, *dom);
    *dom = NULL;
    if (foreign)
        *foreign = true;
    if (absent_ok) {
        VR_WARN(MOD, "domain %s belongs to another installation (or to "
                "none): left alone", uuid);
        return 0;
    }
    return vr_err(err, VR_E_CONFLICT, "domain %s belongs to another "
                  "installation (or to none) on this host: not touched",
                  uuid);
}

/* ---- owner marks of VM directories: <system_dir>/<uuid>/OWNER_MARK
 * holds the id of the installation that made the directory */

#define OWNER_MARK ".vireo-owner"

enum mark { MARK_NONE, MARK_OURS, MARK_OTHER };

static enum mark dir_mark(struct local_node *ln, const char *dir)
{
    vr_autofree char *path = vr_asprintf("%s/" OWNER_MARK, dir);
    vr_autofree char *text = NULL;
    size_t n = 0;

    (void)ln;
    if (vr_read_file(path, 256, &text, &n, NULL) < 0)
        return MARK_NONE;
    while (n && (text[n - 1] == '\n' || text[n - 1] == ' '))
        text[--n] = '\0';
    return strcmp(text, ln->instance) == 0 ? MARK_OURS : MARK_OTHER;
}

static int write_mark(struct local_node *ln, const char *dir,
                      struct vr_error *err)
{
    vr_autofree char *path = vr_asprintf("%s/" OWNER_MARK, dir);
    vr_autofree char *line = vr_asprintf("%s\n", ln->instance);

    return vr_write_file_atomic(path, line, strlen(line), 0600, err);
}

/* Make (or find) the VM's directory, marked as ours; one marked as
 * another installation's is refused. */
static int own_dir(struct local_node *ln, const char *dir,
                   struct vr_error *err)
{
    /* QEMU traverses it to its disks, nobody lists it */
    if (vr_mkdir_p(dir, 0711, err) < 0 || chmod(dir, 0711) < 0)
        return vr_err(err, VR_E_INTERNAL, "unable to make '%s': %s", dir,
                      strerror(errno));
    switch (dir_mark(ln, dir)) {
    case MARK_OURS:
        return 0;
    case MARK_OTHER:
        return vr_err(err, VR_E_CONFLICT, "directory '%s' belongs to another "
                      "installation: not touched", dir);
    case MARK_NONE:
        break;
    }
    return write_mark(ln, dir, err);
}

/* ---- host */

/* libvirt's packed version (major * 1e6 + minor * 1e3 + micro). */
static void format_version(unsigned long v, char *out, size_t size)
{
    char buf[64];
    snprintf(buf, sizeof(buf), "%lu.%lu.%lu", (v / 1000000) % 1000,
             (v / 1000) % 1000, v % 1000);
    vr_strlcpy(out, buf, size);
}

/* True at most once per WARN_INTERVAL_MS for one `last` stamp: the
 * monitor calls host_info every few seconds and a lasting failure must not
 * fill the log. */
static bool warn_due(atomic_int_least64_t *last)
{
    int64_t now = vr_mono_ms();
    int_least64_t prev = atomic_load(last);

    return (prev == 0 || now - prev >= WARN_INTERVAL_MS) &&
           atomic_compare_exchange_strong(last, &prev, now);
}

/* Free huge pages of every pool the capabilities list, cell by cell. */
static int host_free_pages(struct local_node *ln, virConnectPtr c,
                           struct vr_host_caps *caps, struct vr_error *err)
{
    for (int i = 0; i < caps->ncells; i++) {
        struct vr_host_cell *cell = &caps->cells[i];
        unsigned int sizes[VR_HOST_MAX_PAGESIZES];
        unsigned long long counts[VR_HOST_MAX_PAGESIZES] = {0};
        int n;

        if (cell->npages <= 0)
            continue;
        for (int k = 0; k < cell->npages; k++)
            sizes[k] = cell->pages[k].size_kib;
        n = virNodeGetFreePages(c, (unsigned int)cell->npages, sizes, cell->id,
                                1, counts, 0);
        if (n < 0)
            return lv_err(ln, err, "unable to read the free huge pages", NULL);
        for (int k = 0; k < cell->npages && k < n; k++)
            cell->pages[k].free = counts[k];
    }
    return 0;
}

static int cmp_dev_name(const void *a, const void *b)
{
    const char *x = virNodeDeviceGetName(*(virNodeDevicePtr const *)a);
    const char *y = virNodeDeviceGetName(*(virNodeDevicePtr const *)b);
    return strcmp(x ? x : "", y ? y : "");
}

/* The PCI devices worth offering, in address order (libvirt's names,
 * "pci_0000_3b_00_1", sort like the addresses), at most
 * VR_HOST_MAX_DEVS.  A device that vanishes while it is read is skipped;
 * -1 only if the list cannot be had. */
static int host_devices(struct local_node *ln, virConnectPtr c,
                        struct vr_host_caps *caps, struct vr_error *err)
{
    virNodeDevicePtr *devs = NULL;
    int n = virConnectListAllNodeDevices(c, &devs,
                                         VIR_CONNECT_LIST_NODE_DEVICES_CAP_PCI_DEV);
    int unread = 0, dropped = 0;
    struct vr_error perr = VR_ERROR_INIT;

    if (n < 0)
        return lv_err(ln, err, "unable to list the PCI devices", NULL);
    qsort(devs, (size_t)n, sizeof(*devs), cmp_dev_name);
    for (int i = 0; i < n; i++) {
        char *xml = NULL;
        int r;

        if (caps->ndevs >= VR_HOST_MAX_DEVS) {
            dropped++;
        } else if (!(xml = virNodeDeviceGetXMLDesc(devs[i], 0))) {
            lv_err(ln, &perr, "unable to read PCI device",
                   virNodeDeviceGetName(devs[i]));
            unread++;
        } else {
            r = vr_nodedev_parse(xml, &caps->devs[caps->ndevs], &perr);
            if (r > 0)
                caps->ndevs++;
            else if (r < 0)
                unread++;
        }
        free(xml);
        virNodeDeviceFree(devs[i]);
    }
    free(devs);
    if ((unread || dropped) && warn_due(&ln->warned_devs)) {
        if (unread)
            VR_WARN(MOD, "%d PCI devices left out, the last because: %s",
                    unread, perr.msg);
        if (dropped)
            VR_WARN(MOD, "%d PCI devices beyond the limit of %d left out",
                    dropped, VR_HOST_MAX_DEVS);
    }
    return 0;
}

static int ln_host_info(struct vr_node *n, struct vr_host_caps *caps,
                        struct vr_error *err)
{
    struct local_node *ln = LN(n);
    virConnectPtr c = get_conn(ln, err);
    struct vr_error ierr = VR_ERROR_INIT;
    struct statvfs sv;
    virNodeInfo ni;
    char *xml, *host;
    unsigned long lv = 0, hv = 0;
    unsigned long long freemem;
    int ret;

    if (!c)
        return -1;
    memset(caps, 0, sizeof(*caps));
    xml = virConnectGetCapabilities(c);
    if (!xml) {
        lv_err(ln, err, "unable to read capabilities", NULL);
        put_conn(ln, c);
        return -1;
    }
    ret = vr_caps_parse(xml, caps, err);
    free(xml);
    if (ret < 0) {
        put_conn(ln, c);
        return -1;
    }
    if (virNodeGetInfo(c, &ni) == 0) {
        caps->cpus = (int)ni.cpus;
        caps->mhz = (int)ni.mhz;
        caps->memory_kib = ni.memory;
        if (!caps->sockets)
            caps->sockets = (int)(ni.sockets * ni.nodes);
        if (!caps->cores)
            caps->cores = (int)ni.cores;
        if (!caps->threads)
            caps->threads = (int)ni.threads;
    }
    freemem = virNodeGetFreeMemory(c);
    caps->free_memory_kib = freemem / 1024;
    host = virConnectGetHostname(c);
    vr_strlcpy(caps->hostname, host ? host : "localhost",
               sizeof(caps->hostname));
    free(host);
    if (virConnectGetLibVersion(c, &lv) == 0)
        format_version(lv, caps->libvirt_version, sizeof(caps->libvirt_version));
    if (virConnectGetVersion(c, &hv) == 0)
        format_version(hv, caps->hv_version, sizeof(caps->hv_version));
    /* the inventory below is best effort: a host that cannot list its
     * devices or pages (no node device driver, ...) still runs VMs */
    if (host_free_pages(ln, c, caps, &ierr) < 0 && warn_due(&ln->warned_pages))
        VR_WARN(MOD, "%s; huge pages are counted as used", ierr.msg);
    vr_err_clear(&ierr);
    if (host_devices(ln, c, caps, &ierr) < 0 && warn_due(&ln->warned_devs))
        VR_WARN(MOD, "%s; the host offers no PCI devices", ierr.msg);
    put_conn(ln, c);
    if (statvfs(ln->system_dir, &sv) == 0)
        caps->disk_free_mib = (uint64_t)sv.f_bavail * sv.f_frsize >> 20;
    else if (warn_due(&ln->warned_disk))
        VR_WARN(MOD, "unable to read the free space of '%s': %s",
                ln->system_dir, strerror(errno));
    return 0;
}

static bool file_has(const char *path, const char *needle)
{
    vr_autofree char *data = NULL;
    if (vr_read_file(path, 1 << 20, &data, NULL, NULL) < 0)
        return false;
    return strstr(data, needle) != NULL;
}

/* Boot the probe kernel under KVM; true if its init reached userspace. */
static int kvm_probe_guest(struct local_node *ln, virConnectPtr c,
                           char *detail, size_t dsize)
{
    char uuid[VR_UUID_LEN];
    vr_autofree char *log = NULL;
    vr_autofree char *xml = NULL;
    virDomainPtr dom;
    int64_t t0 = vr_mono_ms(), deadline;
    bool ok = false;

    vr_uuid_generate(uuid);
    log = vr_asprintf("%s/.kvm-probe-%s.log", ln->system_dir, uuid);
    xml = vr_asprintf(
        "<domain type='kvm'><name>vireo-probe-%s</name><uuid>%s</uuid>"
        "<memory unit='MiB'>192</memory><vcpu>1</vcpu>"
        "<os><type arch='x86_64' machine='q35'>hvm</type>"
        "<kernel>%s</kernel><initrd>%s</initrd>"
        "<cmdline>console=ttyS0 vireo.probe panic=-1 quiet</cmdline></os>"
        "<features><acpi/></features><on_poweroff>destroy</on_poweroff>"
        "<on_crash>destroy</on_crash><devices>"
        "<serial type='file'><source path='%s'/></serial>"
        "<memballoon model='none'/></devices></domain>",
        uuid, uuid, ln->probe_kernel, ln->probe_initrd, log);
    dom = virDomainCreateXML(c, xml, 0);
    if (!dom) {
        virErrorPtr e = virGetLastError();
        snprintf(detail, dsize, "KVM probe guest failed to start (%s); "
                 "using TCG", e && e->message ? e->message : "unknown");
        unlink(log);
        return 0;
    }
    deadline = t0 + (int64_t)ln->probe_timeout_s * 1000;
    while (vr_mono_ms() < deadline) {
        if (file_has(log, "VIREO-PROBE-OK")) {
            ok = true;
            break;
        }
        vr_sleep_ms(100);
    }
    virDomainDestroy(dom);
    virDomainFree(dom);
    unlink(log);
    if (ok)
        snprintf(detail, dsize, "a KVM probe guest booted to userspace in "
                 "%lld ms", (long long)(vr_mono_ms() - t0));
    else
        snprintf(detail, dsize, "a KVM probe guest did not reach userspace "
                 "within %d s; using QEMU TCG", ln->probe_timeout_s);
    return ok;
}

static int ln_probe_hypervisor(struct vr_node *n, char hv[8], char *detail,
                               size_t dsize, struct vr_error *err)
{
    struct local_node *ln = LN(n);
    virConnectPtr c;
    char *dcaps;
    int ok;

    if (ln->force_hv && *ln->force_hv) {
        vr_strlcpy(hv, ln->force_hv, 8);
        snprintf(detail, dsize, "set by configuration (hypervisor = %s)",
                 ln->force_hv);
        return 0;
    }
    vr_strlcpy(hv, "qemu", 8);
    if (access("/dev/kvm", R_OK | W_OK) < 0) {
        snprintf(detail, dsize, "/dev/kvm is not usable (%s); using QEMU TCG",
                 strerror(errno));
        return 0;
    }
    c = get_conn(ln, err);
    if (!c)
        return -1;
    dcaps = virConnectGetDomainCapabilities(c, NULL, "x86_64", NULL, "kvm", 0);
    if (!dcaps) {
        snprintf(detail, dsize, "libvirt offers no KVM domains here; using "
                 "QEMU TCG");
        put_conn(ln, c);
        return 0;
    }
    free(dcaps);
    if (!ln->probe_kernel || !ln->probe_initrd ||
        !vr_path_exists(ln->probe_kernel) || !vr_path_exists(ln->probe_initrd)) {
        snprintf(detail, dsize, "/dev/kvm exists but no probe guest is "
                 "available to prove it runs guests; using QEMU TCG");
        put_conn(ln, c);
        return 0;
    }
    ok = kvm_probe_guest(ln, c, detail, dsize);
    put_conn(ln, c);
    if (ok)
        vr_strlcpy(hv, "kvm", 8);
    VR_INFO(MOD, "hypervisor probe: %s (%s)", hv, detail);
    return 0;
}

/* ---- storage */

static char *vm_dir(struct local_node *ln, const char *uuid)
{
    return vr_asprintf("%s/%s", ln->system_dir, uuid);
}

static int ln_disk_prepare(struct vr_node *n, const struct vr_disk_req *req,
                           struct vr_disk_made *out, struct vr_error *err)
{
    struct local_node *ln = LN(n);
    vr_autofree char *dir = NULL;
    vr_autofree char *path = NULL;
    vr_autofree char *tmp = NULL;
    struct vr_qimg_info info;
    uint64_t size = req->size_mib * 1024 * 1024;
    int ret;

    if (!vr_uuid_valid(req->vm_uuid) || req->index < 0 ||
        req->index >= VR_WIRE_MAX_DISKS)
        return vr_err(err, VR_E_INTERNAL, "bad disk request");
    dir = vm_dir(ln, req->vm_uuid);
    if (own_dir(ln, dir, err) < 0)
        return -1;
    path = vr_asprintf("%s/disk-%d.qcow2", dir, req->index);
    /* A disk is created under a temporary name and renamed when complete,
     * so an existing final file is a finished disk (the step is
     * idempotent after a crash). */
    if (!vr_path_exists(path)) {
        tmp = vr_asprintf("%s.part", path);
        unlink(tmp);
        switch (req->kind) {
        case VR_DISK_OVERLAY:
            ret = vr_qimg_create_overlay(tmp, req->base_path, req->base_format,
                                         size, err);
            break;
        case VR_DISK_COPY:
            ret = vr_qimg_convert(req->base_path, req->base_format, tmp, err);
            break;
        case VR_DISK_EMPTY:
        default:
            ret = vr_qimg_create(tmp, size, err);
            break;
        }
        if (ret < 0) {
            unlink(tmp);
            return -1;
        }
        if (rename(tmp, path) < 0) {
            unlink(tmp);
            return vr_err(err, VR_E_INTERNAL, "unable to rename '%s': %s",
                          tmp, strerror(errno));
        }
    }
    if (vr_qimg_info(path, "qcow2", &info, err) < 0)
        return -1;
    vr_strlcpy(out->path, path, sizeof(out->path));
    vr_strlcpy(out->format, "qcow2", sizeof(out->format));
    out->size_mib = info.virtual_size / (1024 * 1024);
    return 0;
}

static int ln_vm_storage_remove(struct vr_node *n, const char *uuid,
                                struct vr_error *err)
{
    struct local_node *ln = LN(n);
    vr_autofree char *dir = NULL;

    if (!vr_uuid_valid(uuid))
        return vr_err(err, VR_E_INTERNAL, "bad uuid");
    dir = vm_dir(ln, uuid);
    if (dir_mark(ln, dir) == MARK_OTHER) {
        VR_WARN(MOD, "directory '%s' belongs to another installation: left "
                "alone", dir);
        return 0;
    }
    return vr_rm_rf(dir, err);
}

static int ln_vm_storage_list(struct vr_node *n,
                              bool (*mark)(const char *uuid, void *ctx),
                              void *mark_ctx, char ***uuids, size_t *count,
                              struct vr_error *err)
{
    struct local_node *ln = LN(n);
    DIR *d = opendir(ln->system_dir);
    struct dirent *de;
    size_t cap = 16;

    *count = 0;
    *uuids = NULL;
    if (!d) {
        if (errno == ENOENT)
            return 0;
        return vr_err(err, VR_E_INTERNAL, "unable to read '%s': %s",
                      ln->system_dir, strerror(errno));
    }
    *uuids = vr_malloc(cap * sizeof(char *));
    while ((de = readdir(d))) {
        vr_autofree char *dir = NULL;
        enum mark m;

        if (!vr_uuid_valid(de->d_name))
            continue;
        dir = vm_dir(ln, de->d_name);
        m = dir_mark(ln, dir);
        if (m == MARK_NONE && mark && mark(de->d_name, mark_ctx) &&
            write_mark(ln, dir, NULL) == 0)
            m = MARK_OURS;
        if (m != MARK_OURS)
            continue;
        if (*count == cap) {
            cap *= 2;
            *uuids = vr_realloc(*uuids, cap * sizeof(char *));
        }
        (*uuids)[(*count)++] = vr_strdup(de->d_name);
    }
    closedir(d);
    return 0;
}

/* ---- domains */

static int ln_dom_define(struct vr_node *n, struct vr_dom_spec *spec,
                         struct vr_error *err)
{
    struct local_node *ln = LN(n);
    virConnectPtr c;
    virDomainPtr dom;
    vr_autofree char *xml = NULL;
    vr_autofree char *dir = NULL;

    /* never over a domain of another installation with this UUID */
    if (find_own_dom(ln, spec->uuid, false, &dom, NULL, err) < 0)
        return -1;
    put_dom(ln, dom);
    if (strcmp(spec->instance, ln->instance) != 0)
        return vr_err(err, VR_E_INTERNAL, "the domain spec names installation "
                      "'%s', this node serves '%s'", spec->instance,
                      ln->instance);
    dir = vm_dir(ln, spec->uuid);
    if (own_dir(ln, dir, err) < 0)
        return -1;
    if (!spec->console_log[0])
        snprintf(spec->console_log, sizeof(spec->console_log),
                 "%s/console.log", dir);
    xml = vr_domxml_render(spec, err);
    if (!xml)
        return -1;
    c = get_conn(ln, err);
    if (!c)
        return -1;
    dom = virDomainDefineXMLFlags(c, xml, VIR_DOMAIN_DEFINE_VALIDATE);
    if (!dom) {
        lv_err(ln, err, "unable to define domain", spec->uuid);
        put_conn(ln, c);
        return -1;
    }
    virDomainFree(dom);
    put_conn(ln, c);
    return 0;
}

typedef int (*dom_fn)(virDomainPtr dom);

/* Common shape of the simple actions: look up, act, map errors.  A missing
 * domain is an error unless `missing_ok`; `benign` is a libvirt error code
 * that means "already done" (e.g. starting a running domain). */
static int dom_action(struct vr_node *n, const char *uuid, const char *what,
                      int (*fn)(virDomainPtr), bool missing_ok, int benign,
                      struct vr_error *err)
{
    virDomainPtr dom;
    int ret;

    /* another installation's domain is, to an op that makes ours absent,
     * ours being absent already; to the others, an error */
    if (find_own_dom(LN(n), uuid, missing_ok, &dom, NULL, err) < 0)
        return -1;
    if (!dom) {
        if (missing_ok)
            return 0;
        return vr_err(err, VR_E_HYPERVISOR, "unable to %s domain '%s': it is "
                      "not defined on this host", what, uuid);
    }
    ret = fn(dom);
    if (ret < 0 && benign && lv_code() == benign)
        ret = 0;
    if (ret < 0) {
        char msg[64];
        snprintf(msg, sizeof(msg), "unable to %s domain", what);
        lv_err(LN(n), err, msg, uuid);
    }
    put_dom(LN(n), dom);
    return ret < 0 ? -1 : 0;
}

static int do_start(virDomainPtr d)
{
    int active = virDomainIsActive(d);
    if (active == 1)
        return 0;
    return virDomainCreate(d);
}

static int do_shutdown(virDomainPtr d)
{
    if (virDomainIsActive(d) == 0)
        return 0;
    return virDomainShutdownFlags(d, VIR_DOMAIN_SHUTDOWN_ACPI_POWER_BTN);
}

static int do_destroy(virDomainPtr d)
{
    if (virDomainIsActive(d) == 0)
        return 0;
    return virDomainDestroy(d);
}

static int do_reboot(virDomainPtr d)
{
    return virDomainReboot(d, VIR_DOMAIN_REBOOT_ACPI_POWER_BTN);
}

static int do_reset(virDomainPtr d) { return virDomainReset(d, 0); }

static int do_pause(virDomainPtr d)
{
    int st = 0, reason = 0;
    if (virDomainGetState(d, &st, &reason, 0) == 0 && st == VIR_DOMAIN_PAUSED)
        return 0;
    return virDomainSuspend(d);
}

static int do_resume(virDomainPtr d)
{
    int st = 0, reason = 0;
    if (virDomainGetState(d, &st, &reason, 0) == 0 && st == VIR_DOMAIN_RUNNING)
        return 0;
    return virDomainResume(d);
}

static int do_save(virDomainPtr d)
{
    if (virDomainIsActive(d) == 0 && virDomainHasManagedSaveImage(d, 0) == 1)
        return 0;
    return virDomainManagedSave(d, 0);
}

static int do_discard_save(virDomainPtr d)
{
    if (virDomainHasManagedSaveImage(d, 0) != 1)
        return 0;
    return virDomainManagedSaveRemove(d, 0);
}

static int do_undefine(virDomainPtr d)
{
    if (virDomainIsActive(d) == 1 && virDomainDestroy(d) < 0)
        return -1;
    return virDomainUndefineFlags(d, VIR_DOMAIN_UNDEFINE_MANAGED_SAVE |
                                         VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA |
                                         VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA |
                                         VIR_DOMAIN_UNDEFINE_NVRAM);
}

static int ln_dom_start(struct vr_node *n, const char *uuid,
                        struct vr_error *err)
{
    return dom_action(n, uuid, "start", do_start, false,
                      VIR_ERR_OPERATION_INVALID, err);
}

static int ln_dom_shutdown(struct vr_node *n, const char *uuid,
                           struct vr_error *err)
{
    return dom_action(n, uuid, "shut down", do_shutdown, true,
                      VIR_ERR_OPERATION_INVALID, err);
}

static int ln_dom_destroy(struct vr_node *n, const char *uuid,
                          struct vr_error *err)
{
    return dom_action(n, uuid, "power off", do_destroy, true,
                      VIR_ERR_OPERATION_INVALID, err);
}

/* Non-idempotent: once per request id. */
static int once_action(struct vr_node *n, const char *uuid,
                       const char *request_id, const char *what,
                       int (*fn)(virDomainPtr), struct vr_error *err)
{
    int rc;

    if (vr_node_request_begin(n, request_id, &rc, err))
        return rc;
    rc = dom_action(n, uuid, what, fn, false, 0, err);
    /* libvirtd gone silent or away mid-call: it may have been done */
    vr_node_request_end(n, request_id, rc,
                        rc < 0 && (err->code == VR_E_TIMEOUT ||
                                   err->code == VR_E_UNAVAILABLE));
    return rc;
}

static int ln_dom_reboot(struct vr_node *n, const char *uuid,
                         const char *request_id, struct vr_error *err)
{
    return once_action(n, uuid, request_id, "reboot", do_reboot, err);
}

static int ln_dom_reset(struct vr_node *n, const char *uuid,
                        const char *request_id, struct vr_error *err)
{
    return once_action(n, uuid, request_id, "reset", do_reset, err);
}

static int ln_dom_pause(struct vr_node *n, const char *uuid,
                        struct vr_error *err)
{
    return dom_action(n, uuid, "pause", do_pause, false, 0, err);
}

static int ln_dom_resume(struct vr_node *n, const char *uuid,
                         struct vr_error *err)
{
    return dom_action(n, uuid, "resume", do_resume, false, 0, err);
}

static int ln_dom_save(struct vr_node *n, const char *uuid,
                       struct vr_error *err)
{
    return dom_action(n, uuid, "suspend", do_save, false, 0, err);
}

static int ln_dom_discard_save(struct vr_node *n, const char *uuid,
                               struct vr_error *err)
{
    return dom_action(n, uuid, "discard the saved state of", do_discard_save,
                      true, 0, err);
}

static int ln_dom_undefine(struct vr_node *n, const char *uuid,
                           struct vr_error *err)
{
    return dom_action(n, uuid, "undefine", do_undefine, true,
                      VIR_ERR_NO_DOMAIN, err);
}

/* The VNC socket of a running domain from its live XML ("" if none). */
static void vnc_socket(virDomainPtr dom, char *out, size_t size)
{
    char *xml = virDomainGetXMLDesc(dom, 0);
    xmlDocPtr doc;
    xmlXPathContextPtr ctx;
    xmlXPathObjectPtr o;

    out[0] = '\0';
    if (!xml)
        return;
    doc = xmlReadMemory(xml, (int)strlen(xml), "dom.xml", NULL,
                        XML_PARSE_NONET | XML_PARSE_NOERROR |
                            XML_PARSE_NOWARNING);
    free(xml);
    if (!doc)
        return;
    ctx = xmlXPathNewContext(doc);
    o = xmlXPathEvalExpression(
        BAD_CAST "string((/domain/devices/graphics[@type='vnc']/@socket | "
                 "/domain/devices/graphics[@type='vnc']/listen"
                 "[@type='socket']/@socket)[1])",
        ctx);
    if (o && o->stringval && o->stringval[0] == '/')
        vr_strlcpy(out, (const char *)o->stringval, size);
    xmlXPathFreeObject(o);
    xmlXPathFreeContext(ctx);
    xmlFreeDoc(doc);
}

/* Fill instance/vm_id from Vireo's metadata element. */
/* Vireo's metadata of a domain into out->instance and out->vm_id.  0
 * also when it has none (or has just gone); -1 when libvirt could not
 * say (its error left for lv_err). */
static int read_metadata(virDomainPtr dom, struct vr_dom_info *out)
{
    char *meta = virDomainGetMetadata(dom, VIR_DOMAIN_METADATA_ELEMENT,
                                      VR_DOMXML_NS, 0);
    xmlDocPtr doc;
    xmlNodePtr root;
    xmlChar *v;

    if (!meta) {
        int code = lv_code();
        return code == VIR_ERR_NO_DOMAIN_METADATA ||
                       code == VIR_ERR_NO_DOMAIN ? 0 : -1;
    }
    doc = xmlReadMemory(meta, (int)strlen(meta), "meta.xml", NULL,
                        XML_PARSE_NONET | XML_PARSE_NOERROR |
                            XML_PARSE_NOWARNING);
    free(meta);
    if (!doc)
        return 0;   /* unreadable: names no installation */
    root = xmlDocGetRootElement(doc);
    if (root) {
        v = xmlGetProp(root, BAD_CAST "instance");
        if (v)
            vr_strlcpy(out->instance, (const char *)v, sizeof(out->instance));
        xmlFree(v);
        v = xmlGetProp(root, BAD_CAST "id");
        if (v)
            out->vm_id = strtoll((const char *)v, NULL, 10);
        xmlFree(v);
    }
    xmlFreeDoc(doc);
    return 0;
}

/* -1 if the domain's metadata cannot be read (see read_metadata). */
static int fill_info(virDomainPtr dom, struct vr_dom_info *out)
{
    int st = 0, reason = 0;

    virDomainGetUUIDString(dom, out->uuid);
    if (virDomainGetState(dom, &st, &reason, 0) == 0)
        out->state = map_state(dom, st, reason);
    else
        out->state = VR_DOM_BUSY;
    if (out->state == VR_DOM_RUNNING || out->state == VR_DOM_PAUSED)
        vnc_socket(dom, out->vnc_socket, sizeof(out->vnc_socket));
    return read_metadata(dom, out);
}

static int ln_dom_info(struct vr_node *n, const char *uuid,
                       struct vr_dom_info *out, struct vr_error *err)
{
    virDomainPtr dom;

    memset(out, 0, sizeof(*out));
    vr_strlcpy(out->uuid, uuid, sizeof(out->uuid));
    if (find_dom(LN(n), uuid, &dom, err) < 0)
        return -1;
    if (!dom) {
        out->state = VR_DOM_NONE;
        return 0;
    }
    if (fill_info(dom, out) < 0) {
        lv_err(LN(n), err, "unable to read the metadata of domain", uuid);
        put_dom(LN(n), dom);
        return -1;
    }
    put_dom(LN(n), dom);
    if (strcmp(out->instance, LN(n)->instance) != 0) {
        /* not ours: as far as this installation goes, absent */
        char instance[VR_UUID_LEN];
        vr_strlcpy(instance, out->instance, sizeof(instance));
        memset(out, 0, sizeof(*out));
        vr_strlcpy(out->uuid, uuid, sizeof(out->uuid));
        vr_strlcpy(out->instance, instance, sizeof(out->instance));
        out->state = VR_DOM_NONE;
        out->foreign = true;
    }
    return 0;
}

static int ln_dom_list(struct vr_node *n, const char *instance,
                       struct vr_dom_info **out, size_t *count,
                       struct vr_error *err)
{
    virConnectPtr c = get_conn(LN(n), err);
    virDomainPtr *doms = NULL;
    bool failed = false;
    int nd;

    *out = NULL;
    *count = 0;
    if (!c)
        return -1;
    nd = virConnectListAllDomains(c, &doms, 0);
    if (nd < 0) {
        lv_err(LN(n), err, "unable to list domains", NULL);
        put_conn(LN(n), c);
        return -1;
    }
    *out = vr_calloc((size_t)nd + 1, sizeof(**out));
    for (int i = 0; i < nd; i++) {
        struct vr_dom_info info;
        memset(&info, 0, sizeof(info));
        /* a domain whose metadata cannot be read fails the list: left
         * out, it would look gone */
        if (!failed && fill_info(doms[i], &info) < 0) {
            lv_err(LN(n), err, "unable to read the metadata of domain",
                   info.uuid);
            failed = true;
        } else if (strcmp(info.instance, instance) == 0)
            (*out)[(*count)++] = info;
        virDomainFree(doms[i]);
    }
    free(doms);
    put_conn(LN(n), c);
    if (failed) {
        free(*out);
        *out = NULL;
        *count = 0;
        return -1;
    }
    return 0;
}

static int ln_console_read(struct vr_node *n, const char *uuid,
                           int64_t offset, size_t max, char **data,
                           size_t *len, struct vr_error *err)
{
    vr_autofree char *path = NULL;
    struct stat st;
    ssize_t r;
    int fd;

    if (!vr_uuid_valid(uuid))
        return vr_err(err, VR_E_INTERNAL, "bad uuid");
    path = vr_asprintf("%s/%s/console.log", LN(n)->system_dir, uuid);
    *data = NULL;
    *len = 0;
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT) {
            *data = vr_strdup("");
            return 0;
        }
        return vr_err(err, VR_E_INTERNAL, "unable to open the console log: "
                      "%s", strerror(errno));
    }
    if (fstat(fd, &st) == 0 && offset < 0) {
        offset = st.st_size + offset;
        if (offset < 0)
            offset = 0;
    }
    *data = vr_malloc(max + 1);
    r = pread(fd, *data, max, offset);
    close(fd);
    if (r < 0) {
        free(*data);
        *data = NULL;
        return vr_err(err, VR_E_INTERNAL, "unable to read the console log: "
                      "%s", strerror(errno));
    }
    (*data)[r] = '\0';
    *len = (size_t)r;
    return 0;
}

static void ln_close(struct vr_node *n)
{
    struct local_node *ln = LN(n);
    virConnectPtr ev;

    if (!ln)
        return;
    pthread_mutex_lock(&ln->lock);
    ev = take_ev_conn(ln);
    if (ln->opening) {
        /* still opening (libvirtd does not answer): it closes what it
         * gets, whenever that is */
        opener_unref(ln->opening);
        ln->opening = NULL;
    }
    pthread_mutex_unlock(&ln->lock);
    if (ev)
        virConnectClose(ev);
    for (int i = 0; i < ln->nidle; i++)
        virConnectClose(ln->idle[i]);
    ln->nidle = 0;
    atomic_store(&ln->ev_stop, true);
    /* wake the loop: the timer fires every 200 ms */
    pthread_join(ln->ev_thread, NULL);
    virEventRemoveTimeout(ln->ev_timer);
    pthread_mutex_destroy(&ln->lock);
    free(ln->uri);
    free(ln->system_dir);
    free(ln->probe_kernel);
    free(ln->probe_initrd);
    free(ln->force_hv);
    free(ln);
    n->priv = NULL;
}

static const struct vr_node_ops local_ops = {
    .name = "local",
    .host_info = ln_host_info,
    .probe_hypervisor = ln_probe_hypervisor,
    .disk_prepare = ln_disk_prepare,
    .vm_storage_remove = ln_vm_storage_remove,
    .vm_storage_list = ln_vm_storage_list,
    .dom_define = ln_dom_define,
    .dom_start = ln_dom_start,
    .dom_shutdown = ln_dom_shutdown,
    .dom_destroy = ln_dom_destroy,
    .dom_reboot = ln_dom_reboot,
    .dom_reset = ln_dom_reset,
    .dom_pause = ln_dom_pause,
    .dom_resume = ln_dom_resume,
    .dom_save = ln_dom_save,
    .dom_discard_save = ln_dom_discard_save,
    .dom_undefine = ln_dom_undefine,
    .dom_info = ln_dom_info,
    .dom_list = ln_dom_list,
    .console_read = ln_console_read,
    .close = ln_close,
};

struct vr_node *vr_node_local_open(const struct vr_node_local_cfg *cfg,
                                   vr_node_event_fn on_event, void *ctx,
                                   struct vr_error *err)
{
    struct local_node *ln = vr_calloc(1, sizeof(*ln));
    struct vr_node *n = vr_node_new(&local_ops, ln, on_event, ctx);
    virConnectPtr c;

    pthread_once(&ev_once, ev_register);
    ln->node = n;
    ln->uri = vr_strdup(cfg->libvirt_uri ? cfg->libvirt_uri : "qemu:///system");
    ln->system_dir = vr_strdup(cfg->system_dir);
    ln->probe_kernel = vr_strdup(cfg->probe_kernel);
    ln->probe_initrd = vr_strdup(cfg->probe_initrd);
    ln->force_hv = vr_strdup(cfg->force_hypervisor);
    ln->probe_timeout_s = cfg->probe_timeout_s > 0 ? cfg->probe_timeout_s : 20;
    ln->timeout_s = cfg->timeout_s > 0 ? cfg->timeout_s : 30;
    vr_strlcpy(ln->instance, cfg->instance ? cfg->instance : "",
               sizeof(ln->instance));
    ln->lifecycle_cb = -1;
    pthread_mutex_init(&ln->lock, NULL);
    /* a periodic timer keeps the loop turning so that it sees ev_stop */
    ln->ev_timer = virEventAddTimeout(200, ev_tick, NULL, NULL);
    if (pthread_create(&ln->ev_thread, NULL, ev_loop, ln) != 0) {
        vr_err(err, VR_E_INTERNAL, "unable to start the libvirt event thread");
        virEventRemoveTimeout(ln->ev_timer);
        pthread_mutex_destroy(&ln->lock);
        free(ln->uri); free(ln->system_dir); free(ln->probe_kernel);
        free(ln->probe_initrd); free(ln->force_hv);
        free(ln);
        free(n);
        return NULL;
    }
    if (!vr_uuid_valid(ln->instance)) {
        vr_err(err, VR_E_INTERNAL, "the local node needs the installation's "
               "id");
        ln_close(n);
        free(n);
        return NULL;
    }
    if (vr_mkdir_p(cfg->system_dir, 0711, err) < 0 ||
        !(c = get_conn(ln, err))) {
        ln_close(n);
        free(n);
        return NULL;
    }
    put_conn(ln, c);
    return n;
}

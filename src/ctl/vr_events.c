#include "vr_events.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

struct vr_event {
    atomic_int refs;
    uint64_t seq;
    struct vr_event_meta meta;
    char name[16];
    size_t len;
    char text[];               /* the SSE block, NUL-terminated */
};

struct vr_events {
    pthread_mutex_t lock;
    pthread_cond_t cond;       /* CLOCK_MONOTONIC */
    struct vr_event **ring;    /* slot = seq % cap; the ring's references */
    size_t cap;
    uint64_t head;             /* newest seq */
    bool shutdown;
    /* vr_events_set_notify; `notifying` counts calls under way (made
     * outside the lock), so that unsetting waits for them to end */
    void (*notify)(void *ctx, uint64_t head);
    void *notify_ctx;
    int notifying;
    pthread_cond_t notified;
};

struct vr_events *vr_events_new(size_t capacity)
{
    struct vr_events *ev = vr_calloc(1, sizeof(*ev));
    pthread_condattr_t ca;

    ev->cap = capacity ? capacity : 1024;
    ev->ring = vr_calloc(ev->cap, sizeof(*ev->ring));
    pthread_mutex_init(&ev->lock, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&ev->cond, &ca);
    pthread_condattr_destroy(&ca);
    pthread_cond_init(&ev->notified, NULL);
    return ev;
}

void vr_event_unref(struct vr_event *e)
{
    if (e && atomic_fetch_sub(&e->refs, 1) == 1)
        free(e);
}

void vr_events_free(struct vr_events *ev)
{
    if (!ev)
        return;
    for (size_t i = 0; i < ev->cap; i++)
        vr_event_unref(ev->ring[i]);
    free(ev->ring);
    pthread_mutex_destroy(&ev->lock);
    pthread_cond_destroy(&ev->cond);
    pthread_cond_destroy(&ev->notified);
    free(ev);
}

void vr_events_set_notify(struct vr_events *ev,
                          void (*fn)(void *ctx, uint64_t head), void *ctx)
{
    pthread_mutex_lock(&ev->lock);
    ev->notify = fn;
    ev->notify_ctx = ctx;
    /* a call to the old callback may be under way: it ends first */
    while (ev->notifying)
        pthread_cond_wait(&ev->notified, &ev->lock);
    pthread_mutex_unlock(&ev->lock);
}

/* Call the callback copied under the lock (ev->notifying counted). */
static void call_notify(struct vr_events *ev,
                        void (*fn)(void *, uint64_t), void *ctx,
                        uint64_t head)
{
    if (!fn)
        return;
    fn(ctx, head);
    pthread_mutex_lock(&ev->lock);
    if (--ev->notifying == 0)
        pthread_cond_broadcast(&ev->notified);
    pthread_mutex_unlock(&ev->lock);
}

uint64_t vr_events_publish(struct vr_events *ev, const char *name,
                           const struct vr_event_meta *meta,
                           const char *data)
{
    /* everything but the sequence is made before the lock */
    size_t nlen = strlen(name), dlen = strlen(data);
    size_t cap = nlen + dlen + 64;
    struct vr_event *e = vr_malloc(sizeof(*e) + cap), *old;
    void (*notify)(void *, uint64_t);
    void *nctx;
    uint64_t seq;

    atomic_init(&e->refs, 1);
    vr_strlcpy(e->name, name, sizeof(e->name));
    if (meta)
        e->meta = *meta;
    else
        memset(&e->meta, 0, sizeof(e->meta)), e->meta.res = -1;
    pthread_mutex_lock(&ev->lock);
    seq = ++ev->head;
    e->seq = seq;
    e->len = (size_t)snprintf(e->text, cap, "id: %llu\nevent: %s\ndata: %s\n\n",
                              (unsigned long long)seq, name, data);
    old = ev->ring[seq % ev->cap];
    ev->ring[seq % ev->cap] = e;
    notify = ev->notify;
    nctx = ev->notify_ctx;
    if (notify)
        ev->notifying++;
    pthread_cond_broadcast(&ev->cond);
    pthread_mutex_unlock(&ev->lock);
    vr_event_unref(old);
    call_notify(ev, notify, nctx, seq);
    return seq;
}

uint64_t vr_events_head(struct vr_events *ev)
{
    uint64_t h;
    pthread_mutex_lock(&ev->lock);
    h = ev->head;
    pthread_mutex_unlock(&ev->lock);
    return h;
}

size_t vr_events_take(struct vr_events *ev, uint64_t *cursor,
                      struct vr_event **out, size_t max, uint64_t *missed)
{
    uint64_t oldest;
    size_t n = 0;

    *missed = 0;
    pthread_mutex_lock(&ev->lock);
    oldest = ev->head >= ev->cap ? ev->head - ev->cap + 1 : 1;
    if (*cursor > ev->head)
        *cursor = ev->head;     /* from before a restart: caller's job */
    if (*cursor + 1 < oldest) {
        *missed = oldest - *cursor - 1;
        *cursor = oldest - 1;
    }
    while (n < max && *cursor < ev->head) {
        struct vr_event *e = ev->ring[(*cursor + 1) % ev->cap];
        atomic_fetch_add(&e->refs, 1);
        out[n++] = e;
        (*cursor)++;
    }
    pthread_mutex_unlock(&ev->lock);
    return n;
}

uint64_t vr_event_seq(const struct vr_event *e)
{
    return e->seq;
}

const char *vr_event_name(const struct vr_event *e)
{
    return e->name;
}

const struct vr_event_meta *vr_event_meta(const struct vr_event *e)
{
    return &e->meta;
}

const char *vr_event_text(const struct vr_event *e, size_t *len)
{
    if (len)
        *len = e->len;
    return e->text;
}

static void deadline_after(struct timespec *ts, int timeout_ms)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += timeout_ms / 1000;
    ts->tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

/* Wait with ev->lock held until head > seq, timeout or shutdown. */
static void wait_locked(struct vr_events *ev, uint64_t seq, int timeout_ms)
{
    struct timespec ts;

    deadline_after(&ts, timeout_ms);
    while (ev->head <= seq && !ev->shutdown) {
        if (pthread_cond_timedwait(&ev->cond, &ev->lock, &ts) == ETIMEDOUT)
            break;
    }
}

uint64_t vr_events_wait(struct vr_events *ev, uint64_t seq, int timeout_ms)
{
    uint64_t h;
    pthread_mutex_lock(&ev->lock);
    wait_locked(ev, seq, timeout_ms);
    h = ev->head;
    pthread_mutex_unlock(&ev->lock);
    return h;
}

int vr_events_read(struct vr_events *ev, uint64_t *cursor, int timeout_ms,
                   bool (*filter)(const struct vr_event *e, void *ctx),
                   void *ctx, struct vr_buf *out)
{
    struct vr_event *batch[256];
    uint64_t missed;
    bool first = true;
    size_t n;

    pthread_mutex_lock(&ev->lock);
    wait_locked(ev, *cursor, timeout_ms);
    if (ev->shutdown) {
        pthread_mutex_unlock(&ev->lock);
        return -1;
    }
    if (ev->head <= *cursor) {
        pthread_mutex_unlock(&ev->lock);
        return 0;
    }
    pthread_mutex_unlock(&ev->lock);
    while ((n = vr_events_take(ev, cursor, batch, VR_ARRAY_SIZE(batch),
                               &missed)) > 0) {
        if (first && missed)
            vr_buf_addf(out, "id: %llu\nevent: reset\ndata: {\"missed\":%llu}"
                        "\n\n", (unsigned long long)(vr_event_seq(batch[0]) - 1),
                        (unsigned long long)missed);
        first = false;
        for (size_t i = 0; i < n; i++) {
            if (!filter || filter(batch[i], ctx))
                vr_buf_add(out, batch[i]->text, batch[i]->len);
            vr_event_unref(batch[i]);
        }
    }
    return 1;
}

void vr_events_shutdown(struct vr_events *ev)
{
    void (*notify)(void *, uint64_t);
    void *nctx;
    uint64_t head;

    pthread_mutex_lock(&ev->lock);
    ev->shutdown = true;
    pthread_cond_broadcast(&ev->cond);
    notify = ev->notify;
    nctx = ev->notify_ctx;
    if (notify)
        ev->notifying++;
    head = ev->head;
    pthread_mutex_unlock(&ev->lock);
    call_notify(ev, notify, nctx, head);
}

bool vr_events_is_shutdown(struct vr_events *ev)
{
    bool s;
    pthread_mutex_lock(&ev->lock);
    s = ev->shutdown;
    pthread_mutex_unlock(&ev->lock);
    return s;
}

#include "vr_events.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <time.h>

struct ev_slot {
    uint64_t seq;
    char *name;
    char *data;
};

struct vr_events {
    pthread_mutex_t lock;
    pthread_cond_t cond;       /* CLOCK_MONOTONIC */
    struct ev_slot *ring;
    size_t cap;
    uint64_t head;             /* newest seq; slot = seq % cap */
    bool shutdown;
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
    return ev;
}

void vr_events_free(struct vr_events *ev)
{
    if (!ev)
        return;
    for (size_t i = 0; i < ev->cap; i++) {
        free(ev->ring[i].name);
        free(ev->ring[i].data);
    }
    free(ev->ring);
    pthread_mutex_destroy(&ev->lock);
    pthread_cond_destroy(&ev->cond);
    free(ev);
}

uint64_t vr_events_publish(struct vr_events *ev, const char *name,
                           const char *data)
{
    struct ev_slot *s;
    uint64_t seq;

    pthread_mutex_lock(&ev->lock);
    seq = ++ev->head;
    s = &ev->ring[seq % ev->cap];
    free(s->name);
    free(s->data);
    s->seq = seq;
    s->name = vr_strdup(name);
    s->data = vr_strdup(data);
    pthread_cond_broadcast(&ev->cond);
    pthread_mutex_unlock(&ev->lock);
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
                   bool (*filter)(const char *name, const char *data,
                                  void *ctx),
                   void *ctx, struct vr_buf *out)
{
    uint64_t oldest;

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
    oldest = ev->head >= ev->cap ? ev->head - ev->cap + 1 : 1;
    if (*cursor + 1 < oldest) {
        vr_buf_addf(out, "id: %llu\nevent: reset\ndata: {\"missed\":%llu}"
                    "\n\n", (unsigned long long)(oldest - 1),
                    (unsigned long long)(oldest - *cursor - 1));
        *cursor = oldest - 1;
    }
    for (uint64_t s = *cursor + 1; s <= ev->head; s++) {
        const struct ev_slot *slot = &ev->ring[s % ev->cap];
        if (!filter || filter(slot->name, slot->data, ctx))
            vr_buf_addf(out, "id: %llu\nevent: %s\ndata: %s\n\n",
                        (unsigned long long)s, slot->name, slot->data);
    }
    *cursor = ev->head;
    pthread_mutex_unlock(&ev->lock);
    return 1;
}

void vr_events_shutdown(struct vr_events *ev)
{
    pthread_mutex_lock(&ev->lock);
    ev->shutdown = true;
    pthread_cond_broadcast(&ev->cond);
    pthread_mutex_unlock(&ev->lock);
}

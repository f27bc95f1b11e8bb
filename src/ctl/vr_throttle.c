#include "vr_throttle.h"

#include <stdlib.h>

#include "vr_util.h"

#define KEY_SIZE 128

struct throttle_entry {
    char key[KEY_SIZE];            /* a copy, to find it when sweeping */
    int failures;
    int64_t locked_until;
    int64_t last;
};

void vr_throttle_init(struct vr_throttle *t, int burst, int64_t base_ms,
                      int64_t max_ms)
{
    pthread_mutex_init(&t->lock, NULL);
    vr_map_init_str(&t->keys);
    t->burst = burst;
    t->base_ms = base_ms;
    t->max_ms = max_ms;
    t->forget_ms = 15 * 60 * 1000;
    t->max_keys = 100000;
}

static void free_all(struct vr_map *m)
{
    size_t pos = 0;
    void *e;
    while ((e = vr_map_next(m, &pos)))
        free(e);
}

void vr_throttle_release(struct vr_throttle *t)
{
    free_all(&t->keys);
    vr_map_release(&t->keys);
    pthread_mutex_destroy(&t->lock);
}

/* Make room: drop keys that are neither locked nor recent; if the table
 * is still full (a flood of distinct keys), drop everything unlocked. */
static void sweep(struct vr_throttle *t, int64_t now)
{
    struct throttle_entry **victims;
    struct throttle_entry *e;
    size_t pos = 0, n = 0;

    if (t->keys.count < t->max_keys)
        return;
    victims = vr_malloc(t->keys.count * sizeof(*victims));
    while ((e = vr_map_next(&t->keys, &pos)))
        if (e->locked_until <= now)
            victims[n++] = e;
    for (size_t i = 0; i < n; i++)
        free(vr_map_del_str(&t->keys, victims[i]->key));
    free(victims);
}

/* Keys longer than KEY_SIZE - 1 are cut, the same way everywhere. */
static const char *cut(const char *key, char buf[KEY_SIZE])
{
    vr_strlcpy(buf, key, KEY_SIZE);
    return buf;
}

int64_t vr_throttle_wait(struct vr_throttle *t, const char *key, int64_t now)
{
    struct throttle_entry *e;
    int64_t wait = 0;
    char buf[KEY_SIZE];

    key = cut(key, buf);
    pthread_mutex_lock(&t->lock);
    e = vr_map_get_str(&t->keys, key);
    if (e && now - e->last > t->forget_ms) {
        free(vr_map_del_str(&t->keys, key));
        e = NULL;
    }
    if (e && e->locked_until > now)
        wait = e->locked_until - now;
    pthread_mutex_unlock(&t->lock);
    return wait;
}

/* Count one failure of `e` at `now` (t->lock held): the burst-th
 * failure locks the key for base_ms, each later one for twice as long as
 * the one before, up to max_ms. */
static void count_failure(struct vr_throttle *t, struct throttle_entry *e,
                          int64_t now)
{
    e->failures++;
    e->last = now;
    if (e->failures >= t->burst) {
        int shift = e->failures - t->burst;
        int64_t delay = shift > 20 ? t->max_ms : t->base_ms << shift;
        if (delay > t->max_ms)
            delay = t->max_ms;
        e->locked_until = now + delay;
    }
}

static struct throttle_entry *entry(struct vr_throttle *t, const char *key,
                                    int64_t now)
{
    struct throttle_entry *e = vr_map_get_str(&t->keys, key);

    if (e && now - e->last > t->forget_ms && e->locked_until <= now) {
        free(vr_map_del_str(&t->keys, key));
        e = NULL;
    }
    if (!e) {
        sweep(t, now);
        e = vr_calloc(1, sizeof(*e));
        vr_strlcpy(e->key, key, sizeof(e->key));
        vr_map_put_str(&t->keys, e->key, e);
    }
    return e;
}

int64_t vr_throttle_try(struct vr_throttle *t, const char *key, int64_t now)
{
    struct throttle_entry *e;
    int64_t wait = 0;
    char buf[KEY_SIZE];

    key = cut(key, buf);
    pthread_mutex_lock(&t->lock);
    e = entry(t, key, now);
    if (e->locked_until > now)
        wait = e->locked_until - now;
    else
        count_failure(t, e, now);
    pthread_mutex_unlock(&t->lock);
    return wait;
}

void vr_throttle_fail(struct vr_throttle *t, const char *key, int64_t now)
{
    char buf[KEY_SIZE];

    key = cut(key, buf);
    pthread_mutex_lock(&t->lock);
    count_failure(t, entry(t, key, now), now);
    pthread_mutex_unlock(&t->lock);
}

void vr_throttle_undo(struct vr_throttle *t, const char *key)
{
    struct throttle_entry *e;
    char buf[KEY_SIZE];

    key = cut(key, buf);
    pthread_mutex_lock(&t->lock);
    e = vr_map_get_str(&t->keys, key);
    if (e && e->failures > 0) {
        e->failures--;
        /* a lock exists only from the burst-th failure on */
        if (e->failures < t->burst)
            e->locked_until = 0;
    }
    pthread_mutex_unlock(&t->lock);
}

void vr_throttle_ok(struct vr_throttle *t, const char *key)
{
    char buf[KEY_SIZE];

    key = cut(key, buf);
    pthread_mutex_lock(&t->lock);
    free(vr_map_del_str(&t->keys, key));
    pthread_mutex_unlock(&t->lock);
}

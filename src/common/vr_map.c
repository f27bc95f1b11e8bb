#include "vr_map.h"

#include <stdbool.h>
#include <string.h>

#include "vr_util.h"

enum { SLOT_EMPTY, SLOT_LIVE, SLOT_DEAD };

struct vr_map_slot {
    int state;
    uint64_t hash;
    char *skey;
    int64_t ikey;
    void *val;
};

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    while (*s) {
        h ^= (unsigned char)*s++;
        h *= 1099511628211ULL;
    }
    return h ^ (h >> 29);
}

static uint64_t hash_int(int64_t k)
{
    uint64_t x = (uint64_t)k;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

static void map_init(struct vr_map *m, int str_keys)
{
    m->cap = 16;
    m->count = m->used = 0;
    m->str_keys = str_keys;
    m->slots = vr_calloc(m->cap, sizeof(*m->slots));
}

void vr_map_init_str(struct vr_map *m) { map_init(m, 1); }
void vr_map_init_int(struct vr_map *m) { map_init(m, 0); }

void vr_map_release(struct vr_map *m)
{
    if (!m->slots)
        return;
    for (size_t i = 0; i < m->cap; i++)
        free(m->slots[i].skey);
    free(m->slots);
    m->slots = NULL;
    m->cap = m->count = m->used = 0;
}

static bool slot_match(const struct vr_map *m, const struct vr_map_slot *s,
                       uint64_t h, const char *skey, int64_t ikey)
{
    if (s->state != SLOT_LIVE || s->hash != h)
        return false;
    return m->str_keys ? strcmp(s->skey, skey) == 0 : s->ikey == ikey;
}

static struct vr_map_slot *map_find(const struct vr_map *m, uint64_t h,
                                    const char *skey, int64_t ikey)
{
    size_t mask = m->cap - 1;
    for (size_t i = h & mask, n = 0; n < m->cap; i = (i + 1) & mask, n++) {
        struct vr_map_slot *s = &m->slots[i];
        if (s->state == SLOT_EMPTY)
            return NULL;
        if (slot_match(m, s, h, skey, ikey))
            return s;
    }
    return NULL;
}

static void map_rehash(struct vr_map *m, size_t newcap)
{
    struct vr_map_slot *old = m->slots;
    size_t oldcap = m->cap;

    m->slots = vr_calloc(newcap, sizeof(*m->slots));
    m->cap = newcap;
    m->used = m->count;
    for (size_t i = 0; i < oldcap; i++) {
        size_t mask = newcap - 1, j;
        if (old[i].state != SLOT_LIVE) {
            continue;
        }
        for (j = old[i].hash & mask; m->slots[j].state != SLOT_EMPTY;
             j = (j + 1) & mask)
            ;
        m->slots[j] = old[i];
    }
    /* tombstoned keys were freed at delete time */
    free(old);
}

static void *map_put(struct vr_map *m, uint64_t h, const char *skey,
                     int64_t ikey, void *val)
{
    struct vr_map_slot *s = map_find(m, h, skey, ikey);
    size_t mask, i;
    void *prev;

    if (s) {
        prev = s->val;
        s->val = val;
        return prev;
    }
    if ((m->used + 1) * 4 > m->cap * 3)
        map_rehash(m, m->count * 2 + 2 > m->cap / 2 ? m->cap * 2 : m->cap);
    mask = m->cap - 1;
    for (i = h & mask; m->slots[i].state == SLOT_LIVE; i = (i + 1) & mask)
        ;
    s = &m->slots[i];
    if (s->state == SLOT_EMPTY)
        m->used++;
    s->state = SLOT_LIVE;
    s->hash = h;
    s->skey = skey ? vr_strdup(skey) : NULL;
    s->ikey = ikey;
    s->val = val;
    m->count++;
    return NULL;
}

static void *map_del(struct vr_map *m, uint64_t h, const char *skey,
                     int64_t ikey)
{
    struct vr_map_slot *s = map_find(m, h, skey, ikey);
    void *prev;

    if (!s)
        return NULL;
    prev = s->val;
    free(s->skey);
    s->skey = NULL;
    s->val = NULL;
    s->state = SLOT_DEAD;
    m->count--;
    return prev;
}

void *vr_map_put_str(struct vr_map *m, const char *key, void *val)
{
    return map_put(m, hash_str(key), key, 0, val);
}

void *vr_map_put_int(struct vr_map *m, int64_t key, void *val)
{
    return map_put(m, hash_int(key), NULL, key, val);
}

void *vr_map_get_str(const struct vr_map *m, const char *key)
{
    struct vr_map_slot *s = map_find(m, hash_str(key), key, 0);
    return s ? s->val : NULL;
}

void *vr_map_get_int(const struct vr_map *m, int64_t key)
{
    struct vr_map_slot *s = map_find(m, hash_int(key), NULL, key);
    return s ? s->val : NULL;
}

void *vr_map_del_str(struct vr_map *m, const char *key)
{
    return map_del(m, hash_str(key), key, 0);
}

void *vr_map_del_int(struct vr_map *m, int64_t key)
{
    return map_del(m, hash_int(key), NULL, key);
}

void *vr_map_next(const struct vr_map *m, size_t *pos)
{
    while (*pos < m->cap) {
        struct vr_map_slot *s = &m->slots[(*pos)++];
        if (s->state == SLOT_LIVE)
            return s->val;
    }
    return NULL;
}

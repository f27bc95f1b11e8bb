/*
 * vr_throttle.h - failed-login throttling by key (a user name, a source
 * address).
 *
 * Each key may fail `burst` times freely; every further failure locks it
 * for a delay that doubles (base_ms, 2*base_ms, ... up to max_ms).  A
 * success clears the key; a key idle for `forget_ms` is forgotten.  The
 * table is bounded (`max_keys`): when full, the stalest entry goes.
 * Thread-safe.
 */
#ifndef VR_THROTTLE_H
#define VR_THROTTLE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "vr_map.h"

struct vr_throttle {
    pthread_mutex_t lock;
    struct vr_map keys;            /* key -> struct throttle_entry * */
    int burst;
    int64_t base_ms, max_ms, forget_ms;
    size_t max_keys;
};

void vr_throttle_init(struct vr_throttle *t, int burst, int64_t base_ms,
                      int64_t max_ms);
void vr_throttle_release(struct vr_throttle *t);

/* 0 if `key` may try now, else the milliseconds to wait. */
int64_t vr_throttle_wait(struct vr_throttle *t, const char *key, int64_t now);
void vr_throttle_fail(struct vr_throttle *t, const char *key, int64_t now);
void vr_throttle_ok(struct vr_throttle *t, const char *key);

#endif

/*
 * vr_throttle.h - failed-login throttling by key (a user name, a source
 * address).
 *
 * A key may be tried `burst` times; then it is locked for base_ms, and
 * every further failure after the lock ends locks it again for twice as
 * long (up to max_ms).  An attempt is counted when it *starts*
 * (vr_throttle_try): concurrent attempts cannot get past the burst while
 * the first ones are still being checked.  A success clears the key
 * (vr_throttle_ok) or, for a key that successes must not clear (an
 * address shared by many users), gives its attempt back
 * (vr_throttle_undo).  A key idle for `forget_ms` is forgotten.  The
 * table is bounded (`max_keys`): when full, unlocked entries go.
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

/* Times (`now`) are vr_mono_ms(): a wall clock step changes no wait.
 * 0 if `key` may try now, else the milliseconds to wait.  Counts
 * nothing. */
int64_t vr_throttle_wait(struct vr_throttle *t, const char *key, int64_t now);
/* Start an attempt: 0 if `key` may try now, and the attempt is counted as
 * a failure until vr_throttle_ok or vr_throttle_undo says otherwise;
 * else the milliseconds to wait (nothing counted). */
int64_t vr_throttle_try(struct vr_throttle *t, const char *key, int64_t now);
/* Count a failure that was not started with vr_throttle_try. */
void vr_throttle_fail(struct vr_throttle *t, const char *key, int64_t now);
/* The attempt succeeded: forget the key. */
void vr_throttle_ok(struct vr_throttle *t, const char *key);
/* The attempt succeeded but must not clear the key: take back the one
 * failure vr_throttle_try counted. */
void vr_throttle_undo(struct vr_throttle *t, const char *key);

#endif

/*
 * vr_map.h - hash maps from a string or a 64-bit integer key to a pointer.
 *
 * Open addressing with linear probing and tombstones.  A string key is
 * copied into the map (the map owns its copy); values are borrowed: the map
 * never frees them.  Not thread-safe: the owner holds its own lock.
 */
#ifndef VR_MAP_H
#define VR_MAP_H

#include <stddef.h>
#include <stdint.h>

struct vr_map_slot;

struct vr_map {
    struct vr_map_slot *slots;
    size_t cap;    /* number of slots, a power of two */
    size_t count;  /* live entries */
    size_t used;   /* live + tombstones */
    int str_keys;  /* 1: string keys, 0: integer keys */
};

void vr_map_init_str(struct vr_map *m);
void vr_map_init_int(struct vr_map *m);
void vr_map_release(struct vr_map *m);

/* Insert or replace; returns the previous value or NULL. */
void *vr_map_put_str(struct vr_map *m, const char *key, void *val);
void *vr_map_put_int(struct vr_map *m, int64_t key, void *val);
void *vr_map_get_str(const struct vr_map *m, const char *key);
void *vr_map_get_int(const struct vr_map *m, int64_t key);
/* Remove; returns the removed value or NULL. */
void *vr_map_del_str(struct vr_map *m, const char *key);
void *vr_map_del_int(struct vr_map *m, int64_t key);

/* Iterate: `*pos` starts at 0; returns the next value or NULL at the end.
 * The map must not change during the walk. */
void *vr_map_next(const struct vr_map *m, size_t *pos);

#endif

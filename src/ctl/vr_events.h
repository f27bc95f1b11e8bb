/*
 * vr_events.h - the event bus: a bounded ring of recent events with
 * sequence numbers, read by Server-Sent-Events clients and long-polls.
 *
 * An event is immutable once published and reference counted: readers
 * take references to a batch under the bus lock (pointer copies only) and
 * filter, format and send them after releasing it, so that no reader ever
 * holds the lock while it works and a publisher (a committing transaction)
 * never waits for readers.  Each event carries the ownership of its
 * object (vr_event_meta) so that a filter decides without parsing JSON.
 *
 * A reader that falls more than the ring's capacity behind is told how
 * many events it missed and resumes from the oldest event kept.
 * Thread-safe.
 */
#ifndef VR_EVENTS_H
#define VR_EVENTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vr_util.h"

struct vr_events;
struct vr_event;

/* Who an event's object belongs to (for filtering by the reader's
 * rights).  res < 0: an event about no object. */
struct vr_event_meta {
    int res;                   /* enum vr_res */
    int64_t id, owner_id, group_id;
    unsigned perms;
    int64_t cluster_id;        /* a host's cluster (ACL rules scoped to
                                * it); 0 */
};

struct vr_events *vr_events_new(size_t capacity);
void vr_events_free(struct vr_events *ev);

/* Append an event (`name`, `data` and `meta` copied; meta may be NULL).
 * Returns its sequence.  The notify callback runs after the bus lock is
 * released. */
uint64_t vr_events_publish(struct vr_events *ev, const char *name,
                           const struct vr_event_meta *meta,
                           const char *data);
/* Sequence of the newest event (0 if none yet). */
uint64_t vr_events_head(struct vr_events *ev);

/* Take references to up to `max` events newer than *cursor into `out`
 * (release each with vr_event_unref) and advance *cursor past them.  If
 * the cursor had fallen out of the ring, *missed says how many events
 * were lost (else 0) and the batch starts at the oldest kept.  Never
 * blocks. */
size_t vr_events_take(struct vr_events *ev, uint64_t *cursor,
                      struct vr_event **out, size_t max, uint64_t *missed);
void vr_event_unref(struct vr_event *e);
uint64_t vr_event_seq(const struct vr_event *e);
const char *vr_event_name(const struct vr_event *e);
const struct vr_event_meta *vr_event_meta(const struct vr_event *e);
/* The event as an SSE block: "id: N\nevent: NAME\ndata: JSON\n\n". */
const char *vr_event_text(const struct vr_event *e, size_t *len);

/* Called (outside the bus lock) after each publish and at shutdown:
 * streams and long-polls waiting for events hang here.  One callback;
 * setting another (or NULL) returns once no call to the old one is under
 * way, so its context may then be freed. */
void vr_events_set_notify(struct vr_events *ev,
                          void (*fn)(void *ctx, uint64_t head), void *ctx);

/* Wait until an event newer than *cursor exists (or timeout_ms passes, or
 * shutdown), then append every such event accepted by `filter` (NULL:
 * all) to `out` in SSE form and advance *cursor; the filter runs outside
 * the lock.  Returns 1 if events were read (possibly all filtered out),
 * 0 on timeout, -1 after shutdown.  If the reader fell behind, a "reset"
 * event is emitted first.  (For blocking readers: tests, tools.) */
int vr_events_read(struct vr_events *ev, uint64_t *cursor, int timeout_ms,
                   bool (*filter)(const struct vr_event *e, void *ctx),
                   void *ctx, struct vr_buf *out);

/* Block until the head passes `seq` or timeout; returns the new head. */
uint64_t vr_events_wait(struct vr_events *ev, uint64_t seq, int timeout_ms);

/* Wake every reader for good (daemon shutdown). */
void vr_events_shutdown(struct vr_events *ev);
bool vr_events_is_shutdown(struct vr_events *ev);

#endif

/*
 * vr_events.h - the event bus: a bounded ring of recent events with
 * sequence numbers, read by Server-Sent-Events clients and long-polls.
 *
 * Publishers append (name + JSON data); readers keep a cursor (the last
 * sequence they saw) and block until something newer arrives.  A reader
 * that falls more than the ring's capacity behind is told so and resumes
 * from the oldest event kept.  Thread-safe.
 */
#ifndef VR_EVENTS_H
#define VR_EVENTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vr_util.h"

struct vr_events;

struct vr_events *vr_events_new(size_t capacity);
void vr_events_free(struct vr_events *ev);

/* Append an event; `name` and `data` are copied.  Returns its sequence. */
uint64_t vr_events_publish(struct vr_events *ev, const char *name,
                           const char *data);
/* Sequence of the newest event (0 if none yet). */
uint64_t vr_events_head(struct vr_events *ev);

/* Wait until an event newer than *cursor exists (or timeout_ms passes, or
 * shutdown), then append every such event accepted by `filter` (NULL:
 * all) to `out` in SSE form ("id: N\nevent: NAME\ndata: JSON\n\n") and
 * advance *cursor.  Returns 1 if events were read (possibly all filtered
 * out), 0 on timeout, -1 after shutdown.  If the reader fell behind, a
 * "reset" event is emitted first. */
int vr_events_read(struct vr_events *ev, uint64_t *cursor, int timeout_ms,
                   bool (*filter)(const char *name, const char *data,
                                  void *ctx),
                   void *ctx, struct vr_buf *out);

/* Block until the head passes `seq` or timeout; returns the new head. */
uint64_t vr_events_wait(struct vr_events *ev, uint64_t seq, int timeout_ms);

/* Wake every reader for good (daemon shutdown). */
void vr_events_shutdown(struct vr_events *ev);

#endif

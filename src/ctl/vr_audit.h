/*
 * vr_audit.h - the audit log: one JSON line per mutating API call (and
 * per login attempt), appended to <state_dir>/audit.log (0600, opened
 * O_APPEND, never rewritten by vireod), readable by superusers through
 * GET /api/v1/audit.
 */
#ifndef VR_AUDIT_H
#define VR_AUDIT_H

#include <stdint.h>

#include "vr_error.h"
#include "vr_util.h"

struct vr_audit;

struct vr_audit_entry {
    int64_t time_ms;
    int64_t user_id;               /* 0: not authenticated */
    char user[64];                 /* name (for a login: the one tried) */
    int64_t token_id;
    int64_t group_id;              /* the session's group */
    char source[64];               /* client address */
    char method[8];
    char path[256];
    char kind[16];                 /* object kind, "" if none */
    int64_t object_id;
    char object_name[64];
    int status;                    /* HTTP status answered */
    char detail[160];              /* the error, if it failed */
};

struct vr_audit *vr_audit_open(const char *path, struct vr_error *err);
void vr_audit_close(struct vr_audit *a);
/* Append one entry (thread-safe; written with one write(2)). */
void vr_audit_write(struct vr_audit *a, const struct vr_audit_entry *e);

struct vr_audit_filter {
    const char *user;              /* user name, NULL: all */
    const char *kind;              /* object kind, NULL: all */
    int64_t object_id;             /* 0: all */
    int64_t since_ms;              /* 0: all */
};
/* Matching entries, newest first, `offset`/`limit` applied, as a JSON
 * array appended to `out`; *total counts every match. */
int vr_audit_read(struct vr_audit *a, const struct vr_audit_filter *f,
                  size_t offset, size_t limit, struct vr_buf *out,
                  size_t *total, struct vr_error *err);

#endif

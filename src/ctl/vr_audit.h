/*
 * vr_audit.h - the audit log: one JSON line per mutating API call (and
 * per login attempt that got its password checked), appended to
 * <state_dir>/audit.log (0600, opened O_APPEND), readable by superusers
 * through GET /api/v1/audit.
 *
 * The file is bounded: past `max_size` bytes it is rotated (audit.log.1,
 * .2, ... up to `keep` files; the oldest goes) and reading walks every
 * file kept, newest first.  Requests refused before anyone was
 * authenticated (no or a bad token, a throttled login, a bad body) are
 * not written one by one, which would let an unauthenticated client
 * flood the log: they are counted per source address and written as one
 * line per address and minute ("count": N).
 */
#ifndef VR_AUDIT_H
#define VR_AUDIT_H

#include <stdint.h>

#include "vr_enum.h"
#include "vr_error.h"
#include "vr_util.h"

struct vr_audit;

/* The kinds of object an entry can name (its "kind").  One list for the
 * handlers that set it, the `kind` filter of GET /api/v1/audit and the
 * document: tests/unit/test_openapi.c checks that docs/openapi.json
 * lists exactly these. */
#define VR_AUDIT_KINDS(X)                                                  \
    X(VR_AUDIT_NONE, "")                                                   \
    X(VR_AUDIT_VM, "vm")                                                   \
    X(VR_AUDIT_IMAGE, "image")                                             \
    X(VR_AUDIT_HOST, "host")                                               \
    X(VR_AUDIT_JOB, "job")                                                 \
    X(VR_AUDIT_USER, "user")                                               \
    X(VR_AUDIT_GROUP, "group")                                             \
    X(VR_AUDIT_ACL, "acl")                                                 \
    X(VR_AUDIT_TOKEN, "token")                                             \
    X(VR_AUDIT_VMGROUP, "vm_group")                                        \
    X(VR_AUDIT_CLUSTER, "cluster")

VR_ENUM_TYPE(vr_audit_kind, VR_AUDIT_KINDS, VR_AUDIT__LAST);

/* The name of a kind ("" for VR_AUDIT_NONE); the kind named `s` (not
 * ""): 0, or -1 if there is none. */
VR_ENUM_DECLARE(vr_audit_kind, vr_audit_kind);

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

/* `max_size` bytes per file (0: never rotate), `keep` rotated files. */
struct vr_audit *vr_audit_open(const char *path, uint64_t max_size, int keep,
                               struct vr_error *err);
/* Writes what is still counted, then closes. */
void vr_audit_close(struct vr_audit *a);
/* Append one entry (thread-safe; written with one write(2)). */
void vr_audit_write(struct vr_audit *a, const struct vr_audit_entry *e);
/* Count one request refused before authentication (`e` as for
 * vr_audit_write); written in a summary line per source and minute. */
void vr_audit_refused(struct vr_audit *a, const struct vr_audit_entry *e);
/* Write the summaries whose minute is over (the monitor calls it). */
void vr_audit_flush(struct vr_audit *a, int64_t now_ms);

struct vr_audit_filter {
    const char *user;              /* user name, NULL: all */
    const char *kind;              /* object kind, NULL: all */
    int64_t object_id;             /* 0: all */
    int64_t since_ms;              /* 0: all */
};
/* Matching entries of every file kept, newest first, `offset`/`limit`
 * applied, as a JSON array appended to `out`; *total counts every
 * match. */
int vr_audit_read(struct vr_audit *a, const struct vr_audit_filter *f,
                  size_t offset, size_t limit, struct vr_buf *out,
                  size_t *total, struct vr_error *err);

#endif

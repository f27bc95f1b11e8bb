/*
 * vr_json.h - strict reading of JSON objects (jansson) for requests and for
 * records loaded from the store.
 *
 * Every getter names the field in its error message, rejects a wrong type,
 * and leaves the output untouched when an optional field is absent.
 */
#ifndef VR_JSON_H
#define VR_JSON_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "vr_error.h"

/* Limits on untrusted JSON: nesting depth and array length. */
#define VR_JSON_MAX_DEPTH 16
#define VR_JSON_MAX_ARRAY 1024

/* Parse an untrusted body: must be a JSON object, within the limits above.
 * Returns a new reference or NULL with err (VR_E_INVALID). */
json_t *vr_json_parse_body(const char *data, size_t len, struct vr_error *err);

/* Refuse any key of `obj` not listed in the NULL-terminated `allowed`. */
int vr_json_only(const json_t *obj, const char *const allowed[],
                 struct vr_error *err);

/* Getters: return 1 if present and valid, 0 if absent (and not required),
 * -1 with err on a wrong type or range or if required and absent. */
int vr_json_str(const json_t *obj, const char *key, bool required,
                const char **out, struct vr_error *err);
int vr_json_int(const json_t *obj, const char *key, bool required,
                int64_t min, int64_t max, int64_t *out, struct vr_error *err);
int vr_json_bool(const json_t *obj, const char *key, bool required, bool *out,
                 struct vr_error *err);

/* Copy a string member into a fixed buffer (empty string if absent/null). */
void vr_json_copy_str(const json_t *obj, const char *key, char *dst,
                      size_t size);
int64_t vr_json_get_i64(const json_t *obj, const char *key);

/* Set a string member, or null when `s` is NULL or empty. */
void vr_json_set_str_or_null(json_t *obj, const char *key, const char *s);
/* Set an RFC 3339 time string, or null for 0. */
void vr_json_set_time(json_t *obj, const char *key, int64_t ms);
/* Parse an RFC 3339 string written by vr_json_set_time (0 if null). */
int64_t vr_json_get_time(const json_t *obj, const char *key);

/* Serialize compactly; caller frees. */
char *vr_json_dump(const json_t *j);

#endif

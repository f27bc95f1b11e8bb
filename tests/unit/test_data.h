/* test_data.h - the unit tests' data files (tests/data/), found through
 * $VIREO_SOURCE_ROOT (meson sets it).  Include after <cmocka.h>. */
#ifndef TEST_DATA_H
#define TEST_DATA_H

#include <stdlib.h>

#include "vr_util.h"

/* tests/data/<rel>; the caller frees. */
static inline char *data_path(const char *rel)
{
    const char *root = getenv("VIREO_SOURCE_ROOT");
    return vr_asprintf("%s/tests/data/%s", root ? root : "..", rel);
}

/* The contents of tests/data/<rel> (at most 1 MiB); fails the test if it
 * cannot be read.  The caller frees. */
static inline char *load(const char *rel)
{
    char *path = data_path(rel), *data = NULL;
    struct vr_error err = VR_ERROR_INIT;

    if (vr_read_file(path, 1 << 20, &data, NULL, &err) < 0)
        fail_msg("%s: %s", path, err.msg);
    free(path);
    return data;
}

#endif

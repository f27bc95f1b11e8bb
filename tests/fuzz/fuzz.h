/*
 * fuzz.h - helpers shared by the libFuzzer harnesses (tests/fuzz/README.md).
 *
 * A harness turns its input into the C strings or buffers that the code
 * under test receives in the daemon, calls it, checks the contract stated
 * in that code's header with FUZZ_CHECK, and frees everything it got
 * (LeakSanitizer runs after every input).  A failed check aborts, so
 * libFuzzer saves the input as a reproducer like any crash.
 */
#ifndef VR_FUZZ_H
#define VR_FUZZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vr_error.h"
#include "vr_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define FUZZ_CHECK(cond)                                                   \
    do {                                                                   \
        if (!(cond)) {                                                     \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__,         \
                    __LINE__, #cond);                                      \
            abort();                                                       \
        }                                                                  \
    } while (0)

/* The input as a NUL-terminated copy; C string functions see it up to its
 * first NUL byte, as they would see a string handed over by libmicrohttpd.
 * Caller frees. */
static inline char *fuzz_str(const uint8_t *data, size_t size)
{
    char *s = vr_malloc(size + 1);
    if (size)
        memcpy(s, data, size);
    s[size] = '\0';
    return s;
}

/* An error as the API would send it: a code and a terminated, non-empty
 * message. */
static inline bool fuzz_err_ok(const struct vr_error *err)
{
    return err->code != VR_E_NONE && err->code < VR_E__LAST &&
           err->msg[0] != '\0' &&
           memchr(err->msg, '\0', sizeof(err->msg)) != NULL;
}

#endif

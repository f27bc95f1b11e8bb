/* Hash maps against a reference model under random churn. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "vr_map.h"
#include "vr_util.h"

#define N 5000

static void test_int_model(void **state)
{
    struct vr_map m;
    static int present[N];
    static int vals[N];
    unsigned seed = 12345;
    size_t count = 0;

    (void)state;
    vr_map_init_int(&m);
    for (int round = 0; round < 200000; round++) {
        int k = (int)(rand_r(&seed) % N);
        int op = (int)(rand_r(&seed) % 3);
        if (op < 2) {
            void *prev = vr_map_put_int(&m, k, &vals[k]);
            assert_true(present[k] ? prev == &vals[k] : prev == NULL);
            if (!present[k])
                count++;
            present[k] = 1;
        } else {
            void *prev = vr_map_del_int(&m, k);
            assert_true(present[k] ? prev == &vals[k] : prev == NULL);
            if (present[k])
                count--;
            present[k] = 0;
        }
        assert_int_equal(m.count, count);
    }
    for (int k = 0; k < N; k++)
        assert_true((vr_map_get_int(&m, k) != NULL) == (present[k] != 0));
    {
        size_t pos = 0, seen = 0;
        while (vr_map_next(&m, &pos))
            seen++;
        assert_int_equal(seen, count);
    }
    vr_map_release(&m);
}

static void test_str(void **state)
{
    struct vr_map m;
    char key[32];
    int v = 1;

    (void)state;
    vr_map_init_str(&m);
    for (int i = 0; i < 1000; i++) {
        snprintf(key, sizeof(key), "vm-%d", i);
        assert_null(vr_map_put_str(&m, key, &v));
    }
    for (int i = 0; i < 1000; i += 2) {
        snprintf(key, sizeof(key), "vm-%d", i);
        assert_ptr_equal(vr_map_del_str(&m, key), &v);
    }
    for (int i = 0; i < 1000; i++) {
        snprintf(key, sizeof(key), "vm-%d", i);
        assert_true((vr_map_get_str(&m, key) != NULL) == (i % 2 == 1));
    }
    assert_int_equal(m.count, 500);
    vr_map_release(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_int_model),
        cmocka_unit_test(test_str),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

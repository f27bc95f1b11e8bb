/* The event bus: ordering, filtering, overflow, shutdown. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <cmocka.h>

#include "vr_events.h"

static bool only_vm(const char *name, const char *data, void *ctx)
{
    (void)data;
    (void)ctx;
    return strcmp(name, "vm") == 0;
}

static void test_read_filter(void **state)
{
    struct vr_events *ev = vr_events_new(8);
    struct vr_buf b = VR_BUF_INIT;
    uint64_t cur = 0;

    (void)state;
    vr_buf_init(&b);
    assert_int_equal(vr_events_read(ev, &cur, 10, NULL, NULL, &b), 0);
    vr_events_publish(ev, "vm", "{\"id\":1}");
    vr_events_publish(ev, "job", "{\"id\":2}");
    vr_events_publish(ev, "vm", "{\"id\":3}");
    assert_int_equal(vr_events_read(ev, &cur, 10, only_vm, NULL, &b), 1);
    assert_int_equal(cur, 3);
    assert_string_equal(b.data, "id: 1\nevent: vm\ndata: {\"id\":1}\n\n"
                                "id: 3\nevent: vm\ndata: {\"id\":3}\n\n");
    vr_buf_release(&b);
    vr_events_free(ev);
}

static void test_overflow(void **state)
{
    struct vr_events *ev = vr_events_new(4);
    struct vr_buf b = VR_BUF_INIT;
    uint64_t cur = 0;
    char data[32];

    (void)state;
    vr_buf_init(&b);
    for (int i = 1; i <= 10; i++) {
        snprintf(data, sizeof(data), "{\"n\":%d}", i);
        vr_events_publish(ev, "vm", data);
    }
    assert_int_equal(vr_events_read(ev, &cur, 10, NULL, NULL, &b), 1);
    /* 10 published, 4 kept: 6 missed, then 7..10 */
    assert_non_null(strstr(b.data, "id: 6\nevent: reset\ndata: {\"missed\":6}"));
    assert_null(strstr(b.data, "{\"n\":6}"));
    assert_non_null(strstr(b.data, "id: 7\n"));
    assert_non_null(strstr(b.data, "id: 10\n"));
    assert_int_equal(cur, 10);
    vr_buf_release(&b);
    vr_events_free(ev);
}

struct waiter {
    struct vr_events *ev;
    int rc;
    struct vr_buf b;
};

static void *wait_thread(void *arg)
{
    struct waiter *w = arg;
    uint64_t cur = vr_events_head(w->ev);
    vr_buf_init(&w->b);
    w->rc = vr_events_read(w->ev, &cur, 10000, NULL, NULL, &w->b);
    return NULL;
}

static void test_wakeup_and_shutdown(void **state)
{
    struct waiter w;
    pthread_t t;
    int64_t t0;

    (void)state;
    memset(&w, 0, sizeof(w));
    w.ev = vr_events_new(16);
    pthread_create(&t, NULL, wait_thread, &w);
    vr_sleep_ms(50);
    vr_events_publish(w.ev, "job", "{}");
    pthread_join(t, NULL);
    assert_int_equal(w.rc, 1);
    assert_non_null(strstr(w.b.data, "event: job"));
    vr_buf_release(&w.b);

    t0 = vr_mono_ms();
    pthread_create(&t, NULL, wait_thread, &w);
    vr_sleep_ms(50);
    vr_events_shutdown(w.ev);
    pthread_join(t, NULL);
    assert_int_equal(w.rc, -1);
    assert_true(vr_mono_ms() - t0 < 5000);
    vr_buf_release(&w.b);
    vr_events_free(w.ev);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_read_filter),
        cmocka_unit_test(test_overflow),
        cmocka_unit_test(test_wakeup_and_shutdown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

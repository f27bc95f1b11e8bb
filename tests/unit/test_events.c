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

static bool only_vm(const struct vr_event *e, void *ctx)
{
    (void)ctx;
    return strcmp(vr_event_name(e), "vm") == 0;
}

static void test_read_filter(void **state)
{
    struct vr_events *ev = vr_events_new(8);
    struct vr_buf b = VR_BUF_INIT;
    uint64_t cur = 0;

    (void)state;
    vr_buf_init(&b);
    assert_int_equal(vr_events_read(ev, &cur, 10, NULL, NULL, &b), 0);
    vr_events_publish(ev, "vm", NULL, "{\"id\":1}");
    vr_events_publish(ev, "job", NULL, "{\"id\":2}");
    vr_events_publish(ev, "vm", NULL, "{\"id\":3}");
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
        vr_events_publish(ev, "vm", NULL, data);
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
    vr_events_publish(w.ev, "job", NULL, "{}");
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

/* A batch taken stays valid however far the ring moves on. */
static void test_take_holds_references(void **state)
{
    struct vr_events *ev = vr_events_new(4);
    struct vr_event *got[8];
    struct vr_event_meta m = {3, 42, 7, 9, 0640, 0};
    uint64_t cur = 0, missed;
    size_t n;

    (void)state;
    vr_events_publish(ev, "vm", &m, "{\"a\":1}");
    vr_events_publish(ev, "vm", NULL, "{\"a\":2}");
    n = vr_events_take(ev, &cur, got, 8, &missed);
    assert_int_equal(n, 2);
    assert_int_equal(missed, 0);
    for (int i = 0; i < 20; i++)
        vr_events_publish(ev, "job", NULL, "{}");
    assert_string_equal(vr_event_text(got[0], NULL),
                        "id: 1\nevent: vm\ndata: {\"a\":1}\n\n");
    assert_int_equal(vr_event_meta(got[0])->owner_id, 7);
    assert_int_equal(vr_event_meta(got[0])->perms, 0640);
    assert_int_equal(vr_event_meta(got[1])->res, -1);
    vr_event_unref(got[0]);
    vr_event_unref(got[1]);
    /* behind by more than the ring: told how many were lost */
    n = vr_events_take(ev, &cur, got, 8, &missed);
    assert_int_equal(missed, 16);
    assert_int_equal(n, 4);
    assert_int_equal(vr_event_seq(got[0]), 19);
    for (size_t i = 0; i < n; i++)
        vr_event_unref(got[i]);
    vr_events_free(ev);
}

/* Readers filter outside the bus lock: a reader that takes 20 ms per
 * event never delays a publisher. */
static bool slow_filter(const struct vr_event *e, void *ctx)
{
    (void)e;
    (void)ctx;
    vr_sleep_ms(20);
    return true;
}

static void *slow_reader(void *arg)
{
    struct vr_events *ev = arg;
    struct vr_buf b = VR_BUF_INIT;
    uint64_t cur = 0;

    vr_buf_init(&b);
    while (cur < 50 && vr_events_read(ev, &cur, 1000, slow_filter, NULL,
                                      &b) >= 0)
        ;
    vr_buf_release(&b);
    return NULL;
}

static void test_readers_never_block_publishers(void **state)
{
    struct vr_events *ev = vr_events_new(64);
    pthread_t t[4];
    int64_t worst = 0;

    (void)state;
    for (int i = 0; i < 25; i++)
        vr_events_publish(ev, "vm", NULL, "{}");
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, slow_reader, ev);
    vr_sleep_ms(30);
    for (int i = 0; i < 25; i++) {
        int64_t t0 = vr_mono_ms(), dt;
        vr_events_publish(ev, "vm", NULL, "{}");
        dt = vr_mono_ms() - t0;
        if (dt > worst)
            worst = dt;
        vr_sleep_ms(2);
    }
    /* four readers spend 0.5 s each in their filters meanwhile */
    assert_true(worst < 10);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    vr_events_free(ev);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_read_filter),
        cmocka_unit_test(test_take_holds_references),
        cmocka_unit_test(test_readers_never_block_publishers),
        cmocka_unit_test(test_overflow),
        cmocka_unit_test(test_wakeup_and_shutdown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* The authorization decision, quotas and login throttling. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "vr_authz.h"
#include "vr_throttle.h"

struct fixture {
    char dir[64];
    struct vr_db db;
    struct vr_authz az;
};

static int setup(void **state)
{
    struct fixture *f = vr_calloc(1, sizeof(*f));
    struct vr_error err = VR_ERROR_INIT;
    char *url;

    strcpy(f->dir, "/tmp/vr-authz-XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    url = vr_asprintf("sqlite:%s/t.db", f->dir);
    if (vr_db_open(&f->db, url, &err) < 0)
        return -1;
    free(url);
    vr_authz_init(&f->az);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    vr_authz_release(&f->az);
    vr_db_close(&f->db);
    vr_rm_rf(f->dir, NULL);
    free(f);
    return 0;
}

static void add_acl(struct fixture *f, enum vr_acl_who who, int64_t who_id,
                    unsigned res, int64_t res_id, unsigned rights)
{
    struct vr_acl a;
    memset(&a, 0, sizeof(a));
    a.hdr.id = vr_pool_next_id(&f->db.acls);
    a.who = who;
    a.who_id = who_id;
    a.resources = res;
    a.resource_id = res_id;
    a.rights = rights;
    assert_int_equal(vr_db_put(&f->db, &f->db.acls, &a, NULL), 0);
    vr_authz_reload(&f->az, &f->db.acls);
}

static struct vr_principal who(int64_t user, int64_t group, bool admin)
{
    struct vr_principal p;
    memset(&p, 0, sizeof(p));
    p.user_id = user;
    p.group_id = group;
    p.super = group == VR_GROUP_SUPERUSERS;
    p.group_admin = admin;
    p.groups[p.ngroups++] = group;
    return p;
}

static struct vr_obj obj(int64_t id, int64_t owner, int64_t group,
                         unsigned perms)
{
    struct vr_obj h;
    memset(&h, 0, sizeof(h));
    h.id = id;
    h.owner_id = owner;
    h.group_id = group;
    h.perms = perms;
    return h;
}

static void test_permission_bits(void **state)
{
    struct fixture *f = *state;
    struct vr_obj vm = obj(7, 10, 3, 0640);
    struct vr_principal owner = who(10, 3, false), peer = who(11, 3, false),
                        other = who(20, 4, false), super = who(1, 1, false),
                        gadmin = who(12, 3, true), oadmin = who(21, 4, true);

    /* owner: use + manage, not admin */
    assert_true(vr_authz_can(&f->az, &owner, VR_RES_VM, &vm, VR_RIGHT_USE));
    assert_true(vr_authz_can(&f->az, &owner, VR_RES_VM, &vm, VR_RIGHT_MANAGE));
    assert_false(vr_authz_can(&f->az, &owner, VR_RES_VM, &vm, VR_RIGHT_ADMIN));
    /* group member: use only */
    assert_true(vr_authz_can(&f->az, &peer, VR_RES_VM, &vm, VR_RIGHT_USE));
    assert_false(vr_authz_can(&f->az, &peer, VR_RES_VM, &vm, VR_RIGHT_MANAGE));
    /* another tenant: nothing; its group admin: nothing either */
    assert_false(vr_authz_can(&f->az, &other, VR_RES_VM, &vm, VR_RIGHT_USE));
    assert_false(vr_authz_can(&f->az, &oadmin, VR_RES_VM, &vm, VR_RIGHT_USE));
    /* the group's admin and a superuser: everything */
    assert_true(vr_authz_can(&f->az, &gadmin, VR_RES_VM, &vm, VR_RIGHT_ADMIN));
    assert_true(vr_authz_can(&f->az, &super, VR_RES_VM, &vm, VR_RIGHT_ADMIN));
    /* a member working in another group loses the group digit */
    peer.group_id = 5;
    assert_false(vr_authz_can(&f->az, &peer, VR_RES_VM, &vm, VR_RIGHT_USE));
    /* others digit */
    vm.perms = 0604;
    assert_true(vr_authz_can(&f->az, &other, VR_RES_VM, &vm, VR_RIGHT_USE));
    assert_false(vr_authz_can(&f->az, &other, VR_RES_VM, &vm,
                              VR_RIGHT_MANAGE));
    /* no create without a rule */
    assert_false(vr_authz_can_create(&f->az, &owner, VR_RES_VM));
    assert_true(vr_authz_can_create(&f->az, &super, VR_RES_HOST));
}

static void test_acl_rules(void **state)
{
    struct fixture *f = *state;
    struct vr_obj host = obj(3, 1, 1, 0660), host2 = obj(4, 1, 1, 0660);
    struct vr_obj img = obj(9, 1, 1, 0600);
    struct vr_principal alice = who(10, 3, false), bob = who(20, 4, false);

    assert_false(vr_authz_can(&f->az, &alice, VR_RES_HOST, &host,
                              VR_RIGHT_USE));
    /* group 3 may use host 3 only */
    add_acl(f, VR_ACL_GROUP, 3, 1u << VR_RES_HOST, 3, VR_RIGHT_USE);
    assert_true(vr_authz_can(&f->az, &alice, VR_RES_HOST, &host,
                             VR_RIGHT_USE));
    assert_false(vr_authz_can(&f->az, &alice, VR_RES_HOST, &host2,
                              VR_RIGHT_USE));
    assert_false(vr_authz_can(&f->az, &alice, VR_RES_HOST, &host,
                              VR_RIGHT_MANAGE));
    assert_false(vr_authz_can(&f->az, &bob, VR_RES_HOST, &host,
                              VR_RIGHT_USE));
    /* everyone may use image 9 */
    add_acl(f, VR_ACL_ALL, 0, 1u << VR_RES_IMAGE, 9, VR_RIGHT_USE);
    assert_true(vr_authz_can(&f->az, &bob, VR_RES_IMAGE, &img, VR_RIGHT_USE));
    /* bob may create VMs, alice not */
    add_acl(f, VR_ACL_USER, 20, 1u << VR_RES_VM, 0, VR_RIGHT_CREATE);
    assert_true(vr_authz_can_create(&f->az, &bob, VR_RES_VM));
    assert_false(vr_authz_can_create(&f->az, &bob, VR_RES_IMAGE));
    assert_false(vr_authz_can_create(&f->az, &alice, VR_RES_VM));
    assert_int_equal(vr_authz_rules(&f->az), 3);
}

static void test_self_and_groups(void **state)
{
    struct fixture *f = *state;
    struct vr_obj me = obj(10, 10, 3, 0600), g3 = obj(3, 1, 3, 0640),
                  g4 = obj(4, 1, 4, 0640);
    struct vr_principal alice = who(10, 3, false);

    alice.groups[alice.ngroups++] = 4;
    assert_true(vr_authz_can(&f->az, &alice, VR_RES_USER, &me,
                             VR_RIGHT_MANAGE));
    assert_false(vr_authz_can(&f->az, &alice, VR_RES_USER, &me,
                              VR_RIGHT_ADMIN));
    /* a member sees its groups, even the one it is not working in */
    assert_true(vr_authz_can(&f->az, &alice, VR_RES_GROUP, &g4, VR_RIGHT_USE));
    assert_true(vr_authz_can(&f->az, &alice, VR_RES_GROUP, &g3, VR_RIGHT_USE));
    assert_false(vr_authz_can(&f->az, &alice, VR_RES_GROUP, &g4,
                              VR_RIGHT_MANAGE));
}

static void test_quota_arith(void **state)
{
    struct vr_quota limit, usage, add, own, dflt, eff;
    struct vr_error err = VR_ERROR_INIT;

    (void)state;
    vr_quota_fill(&limit, VR_QUOTA_UNLIMITED);
    memset(&usage, 0, sizeof(usage));
    memset(&add, 0, sizeof(add));
    limit.vms = 2;
    add.vms = 1;
    add.memory_mib = 512;
    assert_int_equal(vr_quota_check(&limit, &usage, &add, "user 'x'", &err),
                     0);
    vr_quota_add(&usage, &add, 1);
    vr_quota_add(&usage, &add, 1);
    assert_int_equal(vr_quota_check(&limit, &usage, &add, "user 'x'", &err),
                     -1);
    assert_int_equal(err.code, VR_E_CONFLICT);
    assert_string_equal(err.msg, "quota exceeded: VMs of user 'x' would be 3, "
                                 "the limit is 2");
    vr_quota_add(&usage, &add, -1);
    vr_quota_add(&usage, &add, -1);
    vr_quota_add(&usage, &add, -1);
    assert_int_equal(usage.vms, 0);
    /* defaults */
    vr_quota_fill(&own, VR_QUOTA_DEFAULT);
    own.vcpus = 8;
    vr_quota_fill(&dflt, VR_QUOTA_UNLIMITED);
    dflt.vms = 5;
    vr_quota_effective(&own, &dflt, &eff);
    assert_int_equal(eff.vms, 5);
    assert_int_equal(eff.vcpus, 8);
    assert_int_equal(eff.images, VR_QUOTA_UNLIMITED);
}

static void test_quota_request(void **state)
{
    struct vr_quota q;
    struct vr_error err = VR_ERROR_INIT;
    json_t *j;

    (void)state;
    vr_quota_fill(&q, 0);
    j = json_pack("{s:i, s:s, s:s, s:s}", "vms", 10, "memory_mib", "4G",
                  "vcpus", "unlimited", "images", "default");
    assert_int_equal(vr_quota_parse_request(&q, j, true, &err), 0);
    assert_int_equal(q.vms, 10);
    assert_int_equal(q.memory_mib, 4096);
    assert_int_equal(q.vcpus, VR_QUOTA_UNLIMITED);
    assert_int_equal(q.images, VR_QUOTA_DEFAULT);
    assert_int_equal(vr_quota_parse_request(&q, j, false, &err), -1);
    json_decref(j);
    j = json_pack("{s:i}", "vms", -3);
    assert_int_equal(vr_quota_parse_request(&q, j, true, &err), -1);
    json_decref(j);
    j = json_pack("{s:i}", "gpus", 1);
    assert_int_equal(vr_quota_parse_request(&q, j, true, &err), -1);
    assert_non_null(strstr(err.msg, "unknown quota"));
    json_decref(j);
    j = json_pack("{s:s}", "vms", "4G");
    assert_int_equal(vr_quota_parse_request(&q, j, true, &err), -1);
    json_decref(j);
}

static void test_throttle(void **state)
{
    struct vr_throttle t;
    int64_t now = 1000000;

    (void)state;
    vr_throttle_init(&t, 3, 1000, 8000);
    /* three tries; the third failure locks for 1 s */
    for (int i = 0; i < 2; i++) {
        assert_int_equal(vr_throttle_wait(&t, "u:bob", now), 0);
        vr_throttle_fail(&t, "u:bob", now);
    }
    assert_int_equal(vr_throttle_wait(&t, "u:bob", now), 0);
    vr_throttle_fail(&t, "u:bob", now);              /* 3rd: 1 s */
    assert_int_equal(vr_throttle_wait(&t, "u:bob", now), 1000);
    assert_int_equal(vr_throttle_wait(&t, "u:bob", now + 1000), 0);
    vr_throttle_fail(&t, "u:bob", now + 1000);       /* 4th: 2 s */
    assert_int_equal(vr_throttle_wait(&t, "u:bob", now + 1000), 2000);
    for (int i = 0; i < 10; i++)
        vr_throttle_fail(&t, "u:bob", now + 2000);
    assert_int_equal(vr_throttle_wait(&t, "u:bob", now + 2000), 8000);
    /* other keys are not affected; success clears */
    assert_int_equal(vr_throttle_wait(&t, "u:alice", now), 0);
    vr_throttle_ok(&t, "u:bob");
    assert_int_equal(vr_throttle_wait(&t, "u:bob", now + 2000), 0);
    /* a flood of distinct keys stays bounded */
    t.max_keys = 100;
    for (int i = 0; i < 1000; i++) {
        char k[32];
        snprintf(k, sizeof(k), "a:10.0.%d.%d", i / 256, i % 256);
        vr_throttle_fail(&t, k, now);
    }
    assert_true(t.keys.count <= 100);
    vr_throttle_release(&t);
}

/* Attempts are counted when they start: however many run at once, only
 * `burst` get through before the key locks; undo gives one back. */
static void test_throttle_reserve(void **state)
{
    struct vr_throttle t;
    int64_t now = 5000000;
    int passed = 0;

    (void)state;
    vr_throttle_init(&t, 5, 1000, 8000);
    /* 60 attempts begin before any of them ends */
    for (int i = 0; i < 60; i++)
        if (vr_throttle_try(&t, "u:eve", now) == 0)
            passed++;
    assert_int_equal(passed, 5);
    assert_int_equal(vr_throttle_wait(&t, "u:eve", now), 1000);
    /* a success clears the key */
    vr_throttle_ok(&t, "u:eve");
    assert_int_equal(vr_throttle_try(&t, "u:eve", now), 0);
    /* undo: attempts that succeed on a shared key never lock it */
    for (int i = 0; i < 100; i++) {
        assert_int_equal(vr_throttle_try(&t, "a:127.0.0.1", now), 0);
        vr_throttle_undo(&t, "a:127.0.0.1");
    }
    /* four failures, then a success given back: the fifth try is free,
     * the sixth locked */
    for (int i = 0; i < 4; i++)
        assert_int_equal(vr_throttle_try(&t, "a:10.0.0.9", now), 0);
    assert_int_equal(vr_throttle_try(&t, "a:10.0.0.9", now), 0);
    assert_true(vr_throttle_wait(&t, "a:10.0.0.9", now) > 0);
    vr_throttle_undo(&t, "a:10.0.0.9");
    assert_int_equal(vr_throttle_wait(&t, "a:10.0.0.9", now), 0);
    assert_int_equal(vr_throttle_try(&t, "a:10.0.0.9", now), 0);
    assert_true(vr_throttle_try(&t, "a:10.0.0.9", now) > 0);
    vr_throttle_release(&t);
}

/* Users: MANAGE and ADMIN on another user need ADMIN over every group of
 * that user and are never granted on a superuser to a non-superuser,
 * whatever the permission bits, the group administration or ACL rules
 * say. */
static void put_group(struct fixture *f, int64_t id, int64_t admin)
{
    struct vr_group g;
    memset(&g, 0, sizeof(g));
    g.hdr.id = id;
    vr_pool_seen_id(&f->db.groups, id);
    snprintf(g.hdr.name, sizeof(g.hdr.name), "g%lld", (long long)id);
    g.hdr.owner_id = 1;
    g.hdr.group_id = id;
    g.hdr.perms = 0640;
    if (admin)
        g.admins[g.nadmins++] = admin;
    assert_int_equal(vr_db_put(&f->db, &f->db.groups, &g, NULL), 0);
}

static struct vr_user user(int64_t id, int64_t primary, int64_t second)
{
    struct vr_user u;
    memset(&u, 0, sizeof(u));
    u.hdr.id = id;
    snprintf(u.hdr.name, sizeof(u.hdr.name), "u%lld", (long long)id);
    u.hdr.owner_id = id;
    u.hdr.group_id = primary;
    u.hdr.perms = 0600;
    if (second)
        u.groups[u.ngroups++] = second;
    return u;
}

static void test_user_bound(void **state)
{
    struct fixture *f = *state;
    struct vr_pool *gp = &f->db.groups;
    /* group 3: acme (admin 12); group 4: other tenant; 1: superusers */
    struct vr_principal gadmin = who(12, 3, true), plain = who(13, 3, false),
                        super = who(1, 1, false);
    struct vr_user in3 = user(20, 3, 0), in3and4 = user(21, 3, 4),
                   sam = user(22, 3, VR_GROUP_SUPERUSERS), self = user(12, 3, 0);

    put_group(f, VR_GROUP_SUPERUSERS, 0);
    put_group(f, 3, 12);
    put_group(f, 4, 0);
    /* the group administrator rules a user of its group only */
    assert_true(vr_authz_can_user(&f->az, &gadmin, &in3, gp,
                                  VR_RIGHT_ADMIN));
    assert_true(vr_authz_can_user(&f->az, &gadmin, &in3and4, gp,
                                  VR_RIGHT_USE));
    assert_false(vr_authz_can_user(&f->az, &gadmin, &in3and4, gp,
                                   VR_RIGHT_MANAGE));
    assert_false(vr_authz_can_user(&f->az, &gadmin, &sam, gp,
                                   VR_RIGHT_MANAGE));
    assert_false(vr_authz_can_user(&f->az, &gadmin, &sam, gp,
                                   VR_RIGHT_ADMIN));
    /* ...and cannot skip the bound through vr_authz_can */
    assert_false(vr_authz_can(&f->az, &gadmin, VR_RES_USER, &sam.hdr,
                              VR_RIGHT_MANAGE));
    /* a superuser may; a user manages itself */
    assert_true(vr_authz_can_user(&f->az, &super, &sam, gp, VR_RIGHT_ADMIN));
    assert_true(vr_authz_can_user(&f->az, &gadmin, &self, gp,
                                  VR_RIGHT_MANAGE));
    /* an ACL rule granting MANAGE on every user: bounded just the same */
    add_acl(f, VR_ACL_USER, 13, 1u << VR_RES_USER, 0,
            VR_RIGHT_USE | VR_RIGHT_MANAGE | VR_RIGHT_ADMIN);
    assert_false(vr_authz_can_user(&f->az, &plain, &in3, gp,
                                   VR_RIGHT_MANAGE));
    assert_false(vr_authz_can_user(&f->az, &plain, &sam, gp,
                                   VR_RIGHT_MANAGE));
    assert_true(vr_authz_can_user(&f->az, &plain, &sam, gp, VR_RIGHT_USE));
    /* with ADMIN over groups 3 and 4 as well, it reaches the user in both
     * but never the superuser */
    add_acl(f, VR_ACL_USER, 13, 1u << VR_RES_GROUP, 0, VR_RIGHT_ADMIN);
    assert_true(vr_authz_can_user(&f->az, &plain, &in3and4, gp,
                                  VR_RIGHT_MANAGE));
    assert_false(vr_authz_can_user(&f->az, &plain, &sam, gp,
                                   VR_RIGHT_MANAGE));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_permission_bits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_acl_rules, setup, teardown),
        cmocka_unit_test_setup_teardown(test_self_and_groups, setup, teardown),
        cmocka_unit_test(test_quota_arith),
        cmocka_unit_test(test_quota_request),
        cmocka_unit_test(test_throttle),
        cmocka_unit_test(test_throttle_reserve),
        cmocka_unit_test_setup_teardown(test_user_bound, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

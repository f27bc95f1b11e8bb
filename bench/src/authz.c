/*
 * bench-authz: the cost of authenticating and authorizing one request
 * (token lookup + ACL decision) with 10,000 users and 1,000 ACL rules,
 * and the cost of one password check with the chosen Argon2id parameters.
 *
 * Usage: bench-authz [USERS] [RULES] [ITERATIONS]
 * Prints one JSON object on its last line.
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/resource.h>

#include "bench.h"
#include "vr_ctl.h"



int main(int argc, char **argv)
{
    int nusers = argc > 1 ? atoi(argv[1]) : 10000;
    int nrules = argc > 2 ? atoi(argv[2]) : 1000;
    int iters = argc > 3 ? atoi(argv[3]) : 200000;
    int ngroups = 100;
    char dir[] = "/tmp/vireo-bench-authz-XXXXXX";
    struct vr_config cfg;
    struct vr_ctl ctl;
    struct vr_error err = VR_ERROR_INIT;
    char **tokens;
    struct vr_vm vm;
    struct vr_tx tx;
    double t0, total, *lat;
    int allowed = 0;
    unsigned seed = 42;
    char *url;

    if (sodium_init() < 0 || !mkdtemp(dir))
        return 1;
    vr_config_defaults(&cfg, dir);
    vr_config_finish(&cfg);
    memset(&ctl, 0, sizeof(ctl));
    ctl.cfg = &cfg;
    url = vr_asprintf("sqlite:%s/b.db", dir);
    if (vr_db_open(&ctl.db, url, &err) < 0) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    vr_authz_init(&ctl.authz);

    /* groups, users (one token each), rules */
    vr_tx_begin(&ctl.db, &tx, &err);
    for (int g = 1; g <= ngroups; g++) {
        struct vr_group grp;
        memset(&grp, 0, sizeof(grp));
        grp.hdr.id = g;
        snprintf(grp.hdr.name, sizeof(grp.hdr.name), "g%d", g);
        vr_quota_fill(&grp.quota, VR_QUOTA_UNLIMITED);
        vr_quota_fill(&grp.user_quota, VR_QUOTA_UNLIMITED);
        vr_tx_put(&tx, &ctl.db.groups, &grp, &err);
    }
    vr_tx_commit(&tx, &err);
    tokens = vr_calloc((size_t)nusers, sizeof(char *));
    for (int base = 0; base < nusers; base += 1000) {
        vr_tx_begin(&ctl.db, &tx, &err);
        for (int i = base; i < base + 1000 && i < nusers; i++) {
            struct vr_user u;
            struct vr_token t;
            unsigned char rnd[32], d[32];
            char hex[65];
            memset(&u, 0, sizeof(u));
            u.hdr.id = i + 1;
            snprintf(u.hdr.name, sizeof(u.hdr.name), "user%d", i);
            u.hdr.owner_id = u.hdr.id;
            u.hdr.group_id = 2 + i % (ngroups - 1);
            u.hdr.perms = 0600;
            u.enabled = true;
            vr_strlcpy(u.auth, "local", sizeof(u.auth));
            vr_quota_fill(&u.quota, VR_QUOTA_DEFAULT);
            if (vr_tx_put(&tx, &ctl.db.users, &u, &err) < 0) {
                fprintf(stderr, "%s\n", err.msg);
                return 1;
            }
            randombytes_buf(rnd, sizeof(rnd));
            vr_hex(rnd, sizeof(rnd), hex);
            tokens[i] = vr_asprintf("vr_%s", hex);
            crypto_generichash(d, sizeof(d), (unsigned char *)tokens[i],
                               strlen(tokens[i]), NULL, 0);
            memset(&t, 0, sizeof(t));
            t.hdr.id = i + 1;
            t.hdr.owner_id = u.hdr.id;
            t.hdr.group_id = u.hdr.group_id;
            vr_hex(d, sizeof(d), t.hash);
            t.expires_at = vr_now_ms() + 3600 * 1000;
            vr_tx_put(&tx, &ctl.db.tokens, &t, &err);
        }
        if (vr_tx_commit(&tx, &err) < 0) {
            fprintf(stderr, "%s\n", err.msg);
            return 1;
        }
    }
    vr_tx_begin(&ctl.db, &tx, &err);
    for (int i = 0; i < nrules; i++) {
        struct vr_acl a;
        memset(&a, 0, sizeof(a));
        a.hdr.id = i + 1;
        a.who = (enum vr_acl_who)(i % 3);
        a.who_id = a.who == VR_ACL_USER ? 1 + rand_r(&seed) % nusers
                   : a.who == VR_ACL_GROUP ? 2 + rand_r(&seed) % (ngroups - 1)
                                           : 0;
        a.resources = 1u << (rand_r(&seed) % VR_RES__LAST);
        /* rules that never match the VM below: every decision walks
         * the caller's rules to the end (the worst case) */
        a.resource_id = 200000 + rand_r(&seed) % 100000;
        a.rights = VR_RIGHT_USE;
        vr_tx_put(&tx, &ctl.db.acls, &a, &err);
    }
    vr_tx_commit(&tx, &err);
    vr_authz_reload(&ctl.authz, &ctl.db.acls);

    /* a VM owned by user 1 in group 2 */
    memset(&vm, 0, sizeof(vm));
    vm.hdr.id = 12345;
    vm.hdr.owner_id = 1;
    vm.hdr.group_id = 2;
    vm.hdr.perms = 0640;

    lat = vr_malloc((size_t)iters * sizeof(double));
    t0 = now_ns();
    for (int i = 0; i < iters; i++) {
        struct vr_principal who;
        double a = now_ns();
        const char *tok = tokens[rand_r(&seed) % nusers];
        if (vr_auth_token(&ctl, tok, &who, &err) < 0) {
            fprintf(stderr, "auth failed: %s\n", err.msg);
            return 1;
        }
        allowed += vr_authz_can(&ctl.authz, &who, VR_RES_VM, &vm.hdr,
                                VR_RIGHT_USE);
        lat[i] = now_ns() - a;
    }
    total = now_ns() - t0;
    qsort(lat, (size_t)iters, sizeof(double), cmp_double);

    /* one password check with the production parameters */
    char hash[VR_PWHASH_SIZE];
    double login_ms;
    vr_auth_hash_password("correct horse battery", hash, &err);
    t0 = now_ns();
    for (int i = 0; i < 5; i++)
        if (crypto_pwhash_str_verify(hash, "correct horse battery", 21) != 0)
            return 1;
    login_ms = (now_ns() - t0) / 5 / 1e6;

    {
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        printf("{\"benchmark\":\"authn+authz per request\",\"users\":%d,"
               "\"tokens\":%d,\"acl_rules\":%zu,\"iterations\":%d,"
               "\"mean_us\":%.3f,\"p50_us\":%.3f,\"p99_us\":%.3f,"
               "\"allowed\":%d,\"goal_us\":5,"
               "\"login_argon2id_ms\":%.1f,\"argon2id\":\"3 passes, 32 MiB\","
               "\"rss_mb\":%.1f}\n",
               nusers, nusers, vr_authz_rules(&ctl.authz), iters,
               total / iters / 1e3, lat[iters / 2] / 1e3,
               lat[(size_t)iters * 99 / 100] / 1e3, allowed, login_ms,
               ru.ru_maxrss / 1024.0);
    }
    for (int i = 0; i < nusers; i++)
        free(tokens[i]);
    free(tokens);
    free(lat);
    vr_authz_release(&ctl.authz);
    vr_db_close(&ctl.db);
    vr_config_release(&cfg);
    free(url);
    vr_rm_rf(dir, NULL);
    return 0;
}

/*
 * vr_auth.c - accounts, logins and API tokens.
 *
 * Passwords: Argon2id through libsodium's crypto_pwhash_str, 3 passes over
 * 32 MiB (about 60 ms per check on the reference 2-core machine; see
 * bench/authz).  The encoded string carries its parameters, and a hash
 * made with other parameters is upgraded at the next successful login.
 * Tokens: 32 random bytes shown once as "vr_" + hex; only their BLAKE2b
 * digest is stored, and looked up through the token pool's hash index.
 * A token works in one group of its user (the session's group).
 */
#include <sodium.h>
#include <string.h>

#include "vr_ctl.h"
#include "vr_log.h"
#include "vr_tenancy.h"

#define MOD "auth"
#define TOKEN_PREFIX "vr_"

#define PW_OPSLIMIT 3ULL
#define PW_MEMLIMIT (32ULL << 20)

int vr_auth_hash_password(const char *password, char out[VR_PWHASH_SIZE],
                          struct vr_error *err)
{
    _Static_assert(VR_PWHASH_SIZE >= crypto_pwhash_STRBYTES, "pwhash size");
    if (crypto_pwhash_str(out, password, strlen(password), PW_OPSLIMIT,
                          PW_MEMLIMIT) != 0)
        return vr_err(err, VR_E_INTERNAL, "unable to hash a password (out of "
                      "memory)");
    return 0;
}

static void token_digest(const char *token, char out[VR_TOKEN_HASH_SIZE])
{
    unsigned char d[32];
    crypto_generichash(d, sizeof(d), (const unsigned char *)token,
                       strlen(token), NULL, 0);
    vr_hex(d, sizeof(d), out);
}

/* ---- first start, and records from before tenancy */

struct fixup {
    struct vr_pool *pool;
    int64_t ids[256];
    size_t n;
};

static int find_unowned(const void *obj, void *ctx)
{
    const struct vr_obj *h = obj;
    struct fixup *f = ctx;
    if (h->group_id == 0 || h->owner_id == 0)
        f->ids[f->n++] = h->id;
    return f->n == VR_ARRAY_SIZE(f->ids);
}

/* Objects made before users had groups belong to the admin and the
 * superuser group; hosts stay invisible to tenants. */
static int adopt_unowned(struct vr_ctl *ctl, struct vr_pool *pool,
                         unsigned perms, struct vr_error *err)
{
    struct fixup f;

    do {
        struct vr_tx tx;
        memset(&f, 0, sizeof(f));
        f.pool = pool;
        vr_pool_foreach(pool, find_unowned, &f);
        if (!f.n)
            return 0;
        if (vr_tx_begin(&ctl->db, &tx, err) < 0)
            return -1;
        for (size_t i = 0; i < f.n; i++) {
            void *obj = vr_pool_dup(pool, f.ids[i]);
            struct vr_obj *h = obj;
            if (!obj)
                continue;
            if (!h->owner_id)
                h->owner_id = VR_USER_ADMIN;
            if (!h->group_id)
                h->group_id = VR_GROUP_SUPERUSERS;
            h->perms = perms;
            if (vr_tx_put(&tx, pool, obj, err) < 0) {
                vr_obj_free(pool->kind, obj);
                vr_tx_abort(&tx);
                return -1;
            }
            vr_obj_free(pool->kind, obj);
        }
        if (vr_tx_commit(&tx, err) < 0)
            return -1;
    } while (f.n == VR_ARRAY_SIZE(f.ids));
    return 0;
}

int vr_auth_bootstrap(struct vr_ctl *ctl, struct vr_error *err)
{
    static const char alphabet[] =
        "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    struct vr_user u;
    unsigned char rnd[20];
    char password[21], line[32];
    char *path;
    struct vr_tx tx;

    if (sodium_init() < 0)
        return vr_err(err, VR_E_INTERNAL, "libsodium failed to initialise");
    if (vr_pool_count(&ctl->db.groups) == 0) {
        if (vr_tx_begin(&ctl->db, &tx, err) < 0)
            return -1;
        if (vr_groups_put_new(ctl, &tx, VR_GROUP_SUPERUSERS, "superusers",
                              VR_USER_ADMIN, err) < 0 ||
            vr_groups_put_new(ctl, &tx, VR_GROUP_USERS, "users",
                              VR_USER_ADMIN, err) < 0) {
            vr_tx_abort(&tx);
            return -1;
        }
        if (vr_tx_commit(&tx, err) < 0)
            return -1;
        VR_INFO(MOD, "created the groups 'superusers' and 'users'");
    }
    if (vr_pool_count(&ctl->db.users) == 0) {
        vr_random_bytes(rnd, sizeof(rnd));
        for (size_t i = 0; i < sizeof(rnd); i++)
            password[i] = alphabet[rnd[i] % (sizeof(alphabet) - 1)];
        password[sizeof(rnd)] = '\0';

        memset(&u, 0, sizeof(u));
        u.hdr.id = VR_USER_ADMIN;
        vr_pool_seen_id(&ctl->db.users, u.hdr.id);
        vr_strlcpy(u.hdr.name, "admin", sizeof(u.hdr.name));
        u.hdr.owner_id = u.hdr.id;
        u.hdr.group_id = VR_GROUP_SUPERUSERS;
        u.hdr.perms = 0600;
        vr_strlcpy(u.auth, "local", sizeof(u.auth));
        u.enabled = true;
        vr_quota_fill(&u.quota, VR_QUOTA_DEFAULT);
        if (vr_auth_hash_password(password, u.pwhash, err) < 0)
            return -1;
        path = vr_asprintf("%s/admin-password", ctl->cfg->state_dir);
        snprintf(line, sizeof(line), "%s\n", password);
        sodium_memzero(password, sizeof(password));
        if (vr_write_file_atomic(path, line, strlen(line), 0600, err) < 0) {
            sodium_memzero(line, sizeof(line));
            free(path);
            return -1;
        }
        sodium_memzero(line, sizeof(line));
        if (vr_db_put(&ctl->db, &ctl->db.users, &u, err) < 0) {
            free(path);
            return -1;
        }
        VR_INFO(MOD, "created the 'admin' account; its password is in %s",
                path);
        free(path);
    }
    if (adopt_unowned(ctl, &ctl->db.hosts, 0660, err) < 0 ||
        adopt_unowned(ctl, &ctl->db.images, VR_PERMS_DEFAULT, err) < 0 ||
        adopt_unowned(ctl, &ctl->db.vms, VR_PERMS_DEFAULT, err) < 0 ||
        adopt_unowned(ctl, &ctl->db.jobs, VR_PERMS_DEFAULT, err) < 0)
        return -1;
    vr_authz_reload(&ctl->authz, &ctl->db.acls);
    return 0;
}

/* ---- tokens */

/* ttl_s: asked for (0: the setting token_ttl, which is also the most a
 * client may ask for); not_after and parent: those of the token it is
 * switched from (0: a login). */
static int issue_token(struct vr_ctl *ctl, const struct vr_user *u,
                       int64_t group, int ttl_s, int64_t not_after,
                       int64_t parent, const char *what, char **token_out,
                       int64_t *token_id, struct vr_error *err)
{
    struct vr_token t;
    unsigned char rnd[32];
    char hex[65];

    if (ttl_s <= 0 || ttl_s > ctl->cfg->token_ttl_s)
        ttl_s = ctl->cfg->token_ttl_s;
    vr_random_bytes(rnd, sizeof(rnd));
    vr_hex(rnd, sizeof(rnd), hex);
    memset(&t, 0, sizeof(t));
    t.hdr.id = vr_pool_next_id(&ctl->db.tokens);
    t.hdr.owner_id = u->hdr.id;
    t.hdr.group_id = group;
    t.hdr.perms = 0600;
    t.parent_id = parent;
    vr_strlcpy(t.hdr.name, what, sizeof(t.hdr.name));
    *token_out = vr_asprintf(TOKEN_PREFIX "%s", hex);
    token_digest(*token_out, t.hash);
    sodium_memzero(hex, sizeof(hex));
    t.expires_at = vr_now_ms() + (int64_t)ttl_s * 1000;
    if (not_after && t.expires_at > not_after)
        t.expires_at = not_after;
    if (vr_db_put(&ctl->db, &ctl->db.tokens, &t, err) < 0) {
        if (err->code != VR_E_STORAGE_FULL) {
            free(*token_out);
            *token_out = NULL;
            return -1;
        }
        /* logins keep working while the store's disk is full (someone
         * must log in to free it): the token lives in memory only */
        VR_WARN(MOD, "%s; the %s token of '%s' is kept in memory only "
                "and ends when vireod stops", err->msg, what, u->hdr.name);
        vr_err_clear(err);
        vr_db_put_volatile(&ctl->db, &ctl->db.tokens, &t);
    }
    *token_id = t.hdr.id;
    return 0;
}

/* The group a session of `u` will work in; -1 with err if not one of its
 * groups. */
static int64_t session_group(struct vr_ctl *ctl, const struct vr_user *u,
                             const char *group, struct vr_error *err)
{
    int64_t gid;

    if (!group || !*group)
        return u->hdr.group_id;
    gid = vr_pool_resolve(&ctl->db.groups, group);
    if (!gid || !vr_user_in_group(u, gid))
        return vr_err(err, VR_E_FORBIDDEN, "user '%s' is not a member of "
                      "group '%.64s'", u->hdr.name, group);
    return gid;
}

/* The user that a successful external login maps to, created on first
 * login in the backend's group. */
static int external_user(struct vr_ctl *ctl, const char *name,
                         struct vr_user *u, struct vr_error *err)
{
    int64_t id = vr_pool_id_by_name(&ctl->db.users, name);
    int64_t gid;

    if (id && vr_pool_get(&ctl->db.users, id, u) == 0)
        return 0;
    gid = vr_pool_resolve(&ctl->db.groups, ctl->ldap->group);
    if (!gid)
        gid = VR_GROUP_USERS;
    memset(u, 0, sizeof(*u));
    u->hdr.id = vr_pool_next_id(&ctl->db.users);
    vr_strlcpy(u->hdr.name, name, sizeof(u->hdr.name));
    u->hdr.owner_id = u->hdr.id;
    u->hdr.group_id = gid;
    u->hdr.perms = 0600;
    vr_strlcpy(u->auth, ctl->ldap->name, sizeof(u->auth));
    u->enabled = true;
    vr_quota_fill(&u->quota, VR_QUOTA_DEFAULT);
    if (vr_db_put(&ctl->db, &ctl->db.users, u, err) < 0)
        return -1;
    VR_INFO(MOD, "user '%s' created at its first %s login", name,
            ctl->ldap->name);
    return 0;
}

/* 1 right, 0 wrong, -1 error.  Fills *u on success. */
static int check_password(struct vr_ctl *ctl, const char *user,
                          const char *password, struct vr_user *u,
                          struct vr_error *err)
{
    int64_t id = vr_name_check(user, "user name", NULL) == 0
                     ? vr_pool_id_by_name(&ctl->db.users, user)
                     : 0;
    bool local;

    /* a user deleted meanwhile is an unknown user */
    if (id && vr_pool_get(&ctl->db.users, id, u) < 0)
        id = 0;
    local = id && strcmp(u->auth, "local") == 0;
    int rc;

    if (local) {
        if (crypto_pwhash_str_verify(u->pwhash, password, strlen(password)))
            return 0;
        if (crypto_pwhash_str_needs_rehash(u->pwhash, PW_OPSLIMIT,
                                           PW_MEMLIMIT) == 1) {
            struct vr_user up = *u;
            if (vr_auth_hash_password(password, up.pwhash, NULL) == 0 &&
                vr_db_put(&ctl->db, &ctl->db.users, &up, NULL) == 0)
                VR_INFO(MOD, "upgraded the password hash of '%s'", user);
        }
        return 1;
    }
    if (ctl->ldap && (!id || strcmp(u->auth, ctl->ldap->name) == 0) &&
        vr_name_check(user, "user name", NULL) == 0) {
        rc = ctl->ldap->verify(ctl->ldap, user, password, err);
        if (rc != 1)
            return rc;
        return external_user(ctl, user, u, err) < 0 ? -1 : 1;
    }
    /* spend the time a check would take, so that a wrong user name and a
     * wrong password look alike */
    {
        char dummy[VR_PWHASH_SIZE];
        vr_auth_hash_password("x", dummy, NULL);
    }
    return 0;
}

int vr_auth_login(struct vr_ctl *ctl, const char *user, const char *password,
                  const char *group, const char *source, int ttl_s,
                  char **token_out, int64_t *token_id, int64_t *retry_ms,
                  struct vr_error *err)
{
    char ukey[96], skey[96];
    struct vr_user u;
    int64_t now = vr_mono_ms(), wait, gid;  /* throttles: monotonic */
    int rc;

    *retry_ms = 0;
    snprintf(ukey, sizeof(ukey), "u:%.64s", user);
    snprintf(skey, sizeof(skey), "a:%.64s", source ? source : "?");
    /* The attempt is counted before the password is checked, so that
     * parallel guesses cannot pass the burst while the first ones are
     * being hashed: the address first (an attempt on a locked user still
     * counts against the address hammering it), then the user. */
    wait = vr_throttle_try(&ctl->throttle_addr, skey, now);
    if (!wait)
        wait = vr_throttle_try(&ctl->throttle_user, ukey, now);
    if (wait) {
        *retry_ms = wait;
        return vr_err(err, VR_E_THROTTLED, "too many failed logins; try "
                      "again in %lld s", (long long)(wait + 999) / 1000);
    }
    rc = check_password(ctl, user, password, &u, err);
    if (rc < 0) {
        /* the backend failed: not the caller's failure */
        vr_throttle_undo(&ctl->throttle_user, ukey);
        vr_throttle_undo(&ctl->throttle_addr, skey);
        return -1;
    }
    if (rc == 0 || !u.enabled) {
        VR_INFO(MOD, "failed login for '%.64s' from %s", user,
                source ? source : "?");
        return vr_err(err, VR_E_UNAUTHENTICATED,
                      "wrong user name or password");
    }
    /* a success clears the user's count; the address gets back only
     * this attempt: one good account must not reset a guessing run
     * against others */
    vr_throttle_ok(&ctl->throttle_user, ukey);
    vr_throttle_undo(&ctl->throttle_addr, skey);
    gid = session_group(ctl, &u, group, err);
    if (gid < 0)
        return -1;
    return issue_token(ctl, &u, gid, ttl_s, 0, 0, "login", token_out,
                       token_id, err);
}

int vr_auth_check_current(struct vr_ctl *ctl, int64_t user_id,
                          const char *password, struct vr_error *err)
{
    char ukey[96];
    struct vr_user u;
    int64_t wait;

    if (vr_pool_get(&ctl->db.users, user_id, &u) < 0)
        return vr_err(err, VR_E_NOT_FOUND, "user not found");
    if (strcmp(u.auth, "local") != 0)
        return vr_err(err, VR_E_CONFLICT, "user '%s' authenticates with %s; "
                      "change the password there", u.hdr.name, u.auth);
    snprintf(ukey, sizeof(ukey), "u:%.64s", u.hdr.name);
    wait = vr_throttle_try(&ctl->throttle_user, ukey, vr_mono_ms());
    if (wait)
        return vr_err(err, VR_E_THROTTLED, "too many failed attempts; try "
                      "again in %lld s", (long long)(wait + 999) / 1000);
    if (!password ||
        crypto_pwhash_str_verify(u.pwhash, password, strlen(password)) != 0)
        return vr_err(err, VR_E_FORBIDDEN, "the current password is wrong");
    vr_throttle_ok(&ctl->throttle_user, ukey);
    return 0;
}

int vr_auth_switch(struct vr_ctl *ctl, const struct vr_principal *who,
                   const char *group, int ttl_s, char **token_out,
                   int64_t *token_id, struct vr_error *err)
{
    struct vr_user u;
    struct vr_token cur;
    int64_t gid;

    if (vr_pool_get(&ctl->db.users, who->user_id, &u) < 0 ||
        vr_pool_get(&ctl->db.tokens, who->token_id, &cur) < 0)
        return vr_err(err, VR_E_UNAUTHENTICATED, "account gone");
    gid = session_group(ctl, &u, group, err);
    if (gid < 0)
        return -1;
    /* a switch never outlives the token it came from, and is revoked
     * with it */
    return issue_token(ctl, &u, gid, ttl_s, cur.expires_at, cur.hdr.id,
                       "switch", token_out, token_id, err);
}

int vr_auth_token(struct vr_ctl *ctl, const char *token,
                  struct vr_principal *who, struct vr_error *err)
{
    char digest[VR_TOKEN_HASH_SIZE];
    int64_t id;

    if (!token || strncmp(token, TOKEN_PREFIX, 3) != 0 || strlen(token) != 67)
        return vr_err(err, VR_E_UNAUTHENTICATED, "invalid token");
    token_digest(token, digest);
    id = vr_pool_id_by_alt(&ctl->db.tokens, digest);
    if (!id)
        return vr_err(err, VR_E_UNAUTHENTICATED, "invalid token");
    return vr_auth_principal(ctl, id, who, err);
}

int vr_auth_principal(struct vr_ctl *ctl, int64_t token_id,
                      struct vr_principal *who, struct vr_error *err)
{
    struct vr_token t;
    struct vr_user u;
    struct vr_group g;

    if (vr_pool_get(&ctl->db.tokens, token_id, &t) < 0)
        return vr_err(err, VR_E_UNAUTHENTICATED, "invalid token");
    if (t.expires_at <= vr_now_ms())
        return vr_err(err, VR_E_UNAUTHENTICATED, "token expired");
    if (vr_pool_get(&ctl->db.users, t.hdr.owner_id, &u) < 0 || !u.enabled)
        return vr_err(err, VR_E_UNAUTHENTICATED, "account disabled");
    /* a token of a group the user has left no longer works */
    if (!vr_user_in_group(&u, t.hdr.group_id) ||
        vr_pool_get(&ctl->db.groups, t.hdr.group_id, &g) < 0)
        return vr_err(err, VR_E_UNAUTHENTICATED,
                      "the token's group is no longer the user's");
    memset(who, 0, sizeof(*who));
    who->user_id = u.hdr.id;
    who->token_id = t.hdr.id;
    who->group_id = g.hdr.id;
    who->super = g.hdr.id == VR_GROUP_SUPERUSERS;
    who->group_admin = vr_group_has_admin(&g, u.hdr.id);
    who->groups[who->ngroups++] = u.hdr.group_id;
    for (int i = 0; i < u.ngroups && who->ngroups < VR_USER_MAX_GROUPS; i++)
        who->groups[who->ngroups++] = u.groups[i];
    vr_strlcpy(who->name, u.hdr.name, sizeof(who->name));
    vr_strlcpy(who->group_name, g.hdr.name, sizeof(who->group_name));
    return 0;
}

/* Collect `id` and every token switched from it, directly or not. */
struct family {
    int64_t *ids;
    size_t n, cap;
    bool grew;
};

static bool in_family(const struct family *f, int64_t id)
{
    for (size_t i = 0; i < f->n; i++)
        if (f->ids[i] == id)
            return true;
    return false;
}

static void family_add(struct family *f, int64_t id)
{
    if (f->n == f->cap) {
        f->cap = f->cap ? f->cap * 2 : 8;
        f->ids = vr_realloc(f->ids, f->cap * sizeof(*f->ids));
    }
    f->ids[f->n++] = id;
    f->grew = true;
}

static int add_children(const void *obj, void *ctx)
{
    const struct vr_token *t = obj;
    struct family *f = ctx;
    if (t->parent_id && in_family(f, t->parent_id) &&
        !in_family(f, t->hdr.id))
        family_add(f, t->hdr.id);
    return 0;
}

int vr_auth_revoke_tx(struct vr_ctl *ctl, struct vr_tx *tx, int64_t token_id,
                      struct vr_error *err)
{
    struct family f = {NULL, 0, 0, false};
    int ret = 0;

    family_add(&f, token_id);
    while (f.grew) {
        f.grew = false;
        vr_pool_foreach(&ctl->db.tokens, add_children, &f);
    }
    for (size_t i = 0; i < f.n && ret == 0; i++)
        if (vr_pool_has(&ctl->db.tokens, f.ids[i]))
            ret = vr_tx_del(tx, &ctl->db.tokens, f.ids[i], err);
    free(f.ids);
    return ret;
}

int vr_auth_revoke(struct vr_ctl *ctl, int64_t token_id, struct vr_error *err)
{
    struct vr_tx tx;

    if (vr_tx_begin(&ctl->db, &tx, err) < 0)
        return -1;
    if (!vr_pool_has(&ctl->db.tokens, token_id)) {
        vr_tx_abort(&tx);
        return vr_err(err, VR_E_NOT_FOUND, "token %lld not found",
                      (long long)token_id);
    }
    if (vr_auth_revoke_tx(ctl, &tx, token_id, err) < 0) {
        vr_tx_abort(&tx);
        return -1;
    }
    return vr_tx_commit(&tx, err);
}

/* A token of the user *(int64_t *)ctx. */
static bool token_of(const void *obj, void *ctx)
{
    return ((const struct vr_obj *)obj)->owner_id == *(int64_t *)ctx;
}

int vr_auth_revoke_user(struct vr_ctl *ctl, struct vr_tx *tx, int64_t user_id,
                        int64_t keep, struct vr_error *err)
{
    size_t n;
    int64_t *ids = vr_pool_ids(&ctl->db.tokens, token_of, &user_id, &n);
    int ret = 0;

    for (size_t i = 0; i < n && ret == 0; i++)
        if (ids[i] != keep)
            ret = vr_tx_del(tx, &ctl->db.tokens, ids[i], err);
    free(ids);
    return ret;
}

struct expire_ctx {
    int64_t now;
    int64_t ids[256];
    size_t n;
};

static int collect_expired(const void *obj, void *opaque)
{
    const struct vr_token *t = obj;
    struct expire_ctx *ec = opaque;
    if (t->expires_at <= ec->now && ec->n < VR_ARRAY_SIZE(ec->ids))
        ec->ids[ec->n++] = t->hdr.id;
    return ec->n == VR_ARRAY_SIZE(ec->ids);
}

/* An expired token is kept this long before the sweep removes it, so that
 * its holder is told "token expired" (and not "invalid token") whatever
 * the sweep's timing: what a client is told depends only on the token. */
#define KEEP_EXPIRED_MS (24LL * 3600 * 1000)

void vr_auth_expire(struct vr_ctl *ctl)
{
    struct expire_ctx ec;

    do {
        struct vr_tx tx;
        memset(&ec, 0, sizeof(ec));
        ec.now = vr_now_ms() - KEEP_EXPIRED_MS;
        vr_pool_foreach(&ctl->db.tokens, collect_expired, &ec);
        if (!ec.n || vr_tx_begin(&ctl->db, &tx, NULL) < 0)
            return;
        for (size_t i = 0; i < ec.n; i++)
            vr_tx_del(&tx, &ctl->db.tokens, ec.ids[i], NULL);
        if (vr_tx_commit(&tx, NULL) < 0)
            return;
    } while (ec.n == VR_ARRAY_SIZE(ec.ids));
}

/*
 * vr_auth.c - built-in accounts and API tokens.
 *
 * Passwords: Argon2id through libsodium's crypto_pwhash_str (the encoded
 * string carries its parameters, so they can be raised later).
 * Tokens: 32 random bytes shown once as "vr_" + hex; only their BLAKE2b
 * digest is stored, and looked up through the token pool's hash index, so
 * authenticating a request is one hash and one table lookup.
 */
#include <sodium.h>
#include <string.h>

#include "vr_ctl.h"
#include "vr_log.h"

#define MOD "auth"
#define TOKEN_PREFIX "vr_"

/* Argon2id cost: libsodium's "interactive" limits (64 MiB, 2 passes). */
#define PW_OPSLIMIT crypto_pwhash_OPSLIMIT_INTERACTIVE
#define PW_MEMLIMIT crypto_pwhash_MEMLIMIT_INTERACTIVE

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

int vr_auth_bootstrap(struct vr_ctl *ctl, struct vr_error *err)
{
    static const char alphabet[] =
        "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    struct vr_user u;
    unsigned char rnd[20];
    char password[21];
    char *path;

    if (sodium_init() < 0)
        return vr_err(err, VR_E_INTERNAL, "libsodium failed to initialise");
    if (vr_pool_count(&ctl->db.users) > 0)
        return 0;
    vr_random_bytes(rnd, sizeof(rnd));
    for (size_t i = 0; i < sizeof(rnd); i++)
        password[i] = alphabet[rnd[i] % (sizeof(alphabet) - 1)];
    password[sizeof(rnd)] = '\0';

    memset(&u, 0, sizeof(u));
    u.hdr.id = vr_pool_next_id(&ctl->db.users);
    vr_strlcpy(u.hdr.name, "admin", sizeof(u.hdr.name));
    u.admin = true;
    u.enabled = true;
    if (vr_auth_hash_password(password, u.pwhash, err) < 0)
        return -1;
    path = vr_asprintf("%s/admin-password", ctl->cfg->state_dir);
    {
        char line[32];
        snprintf(line, sizeof(line), "%s\n", password);
        if (vr_write_file_atomic(path, line, strlen(line), 0600, err) < 0) {
            free(path);
            return -1;
        }
    }
    sodium_memzero(password, sizeof(password));
    if (vr_db_put(&ctl->db, &ctl->db.users, &u, err) < 0) {
        free(path);
        return -1;
    }
    VR_INFO(MOD, "created the 'admin' account; its password is in %s", path);
    free(path);
    return 0;
}

int vr_auth_login(struct vr_ctl *ctl, const char *user, const char *password,
                  int ttl_s, char **token_out, int64_t *token_id,
                  struct vr_error *err)
{
    struct vr_user u;
    struct vr_token t;
    unsigned char rnd[32];
    char hex[65];
    int64_t id = vr_pool_id_by_name(&ctl->db.users, user);
    bool ok;

    if (id && vr_pool_get(&ctl->db.users, id, &u) == 0) {
        ok = crypto_pwhash_str_verify(u.pwhash, password, strlen(password)) ==
                 0 &&
             u.enabled;
    } else {
        /* spend the same time on an unknown user as on a known one */
        char dummy[VR_PWHASH_SIZE];
        vr_auth_hash_password("x", dummy, NULL);
        ok = false;
    }
    if (!ok)
        return vr_err(err, VR_E_UNAUTHENTICATED,
                      "wrong user name or password");
    if (ttl_s <= 0)
        ttl_s = ctl->cfg->token_ttl_s;
    vr_random_bytes(rnd, sizeof(rnd));
    vr_hex(rnd, sizeof(rnd), hex);
    memset(&t, 0, sizeof(t));
    t.hdr.id = vr_pool_next_id(&ctl->db.tokens);
    t.hdr.owner_id = u.hdr.id;
    vr_strlcpy(t.hdr.name, "login", sizeof(t.hdr.name));
    *token_out = vr_asprintf(TOKEN_PREFIX "%s", hex);
    token_digest(*token_out, t.hash);
    t.expires_at = vr_now_ms() + (int64_t)ttl_s * 1000;
    if (vr_db_put(&ctl->db, &ctl->db.tokens, &t, err) < 0) {
        free(*token_out);
        *token_out = NULL;
        return -1;
    }
    *token_id = t.hdr.id;
    return 0;
}

int vr_auth_token(struct vr_ctl *ctl, const char *token,
                  struct vr_principal *who, struct vr_error *err)
{
    char digest[VR_TOKEN_HASH_SIZE];
    struct vr_token t;
    struct vr_user u;
    int64_t id;

    if (!token || strncmp(token, TOKEN_PREFIX, 3) != 0 || strlen(token) != 67)
        return vr_err(err, VR_E_UNAUTHENTICATED, "invalid token");
    token_digest(token, digest);
    id = vr_pool_id_by_alt(&ctl->db.tokens, digest);
    if (!id || vr_pool_get(&ctl->db.tokens, id, &t) < 0)
        return vr_err(err, VR_E_UNAUTHENTICATED, "invalid token");
    if (t.expires_at <= vr_now_ms())
        return vr_err(err, VR_E_UNAUTHENTICATED, "token expired");
    if (vr_pool_get(&ctl->db.users, t.hdr.owner_id, &u) < 0 || !u.enabled)
        return vr_err(err, VR_E_UNAUTHENTICATED, "account disabled");
    who->user_id = u.hdr.id;
    who->token_id = t.hdr.id;
    who->admin = u.admin;
    vr_strlcpy(who->name, u.hdr.name, sizeof(who->name));
    return 0;
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
    if (vr_tx_del(&tx, &ctl->db.tokens, token_id, err) < 0) {
        vr_tx_abort(&tx);
        return -1;
    }
    return vr_tx_commit(&tx, err);
}

struct expire_ctx {
    int64_t now;
    int64_t ids[VR_TX_MAX];
    size_t n;
};

static int collect_expired(const void *obj, void *opaque)
{
    const struct vr_token *t = obj;
    struct expire_ctx *ec = opaque;
    if (t->expires_at <= ec->now && ec->n < VR_TX_MAX)
        ec->ids[ec->n++] = t->hdr.id;
    return ec->n == VR_TX_MAX;
}

void vr_auth_expire(struct vr_ctl *ctl)
{
    struct expire_ctx ec;

    do {
        struct vr_tx tx;
        memset(&ec, 0, sizeof(ec));
        ec.now = vr_now_ms();
        vr_pool_foreach(&ctl->db.tokens, collect_expired, &ec);
        if (!ec.n || vr_tx_begin(&ctl->db, &tx, NULL) < 0)
            return;
        for (size_t i = 0; i < ec.n; i++)
            vr_tx_del(&tx, &ctl->db.tokens, ec.ids[i], NULL);
        if (vr_tx_commit(&tx, NULL) < 0)
            return;
    } while (ec.n == VR_TX_MAX);
}

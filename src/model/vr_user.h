/* vr_user.h - users and their API tokens. */
#ifndef VR_USER_H
#define VR_USER_H

#include "vr_obj.h"

#define VR_PWHASH_SIZE 128     /* crypto_pwhash_STRBYTES */
#define VR_TOKEN_HASH_SIZE 65  /* hex of a 32-byte BLAKE2b digest */

struct vr_user {
    struct vr_obj hdr;
    char pwhash[VR_PWHASH_SIZE];   /* Argon2id encoded string; secret */
    bool admin;
    bool enabled;
};

/* An API token.  Only a hash of the secret is stored. */
struct vr_token {
    struct vr_obj hdr;             /* name = description; owner = user */
    char hash[VR_TOKEN_HASH_SIZE];
    int64_t expires_at;            /* ms since the epoch */
};

extern const struct vr_kind vr_user_kind;
extern const struct vr_kind vr_token_kind;

#endif

/* vr_ldap_priv.h - LDAP backend internals exported for the unit tests only. */
#ifndef VR_LDAP_PRIV_H
#define VR_LDAP_PRIV_H

#include <stddef.h>

#include "vr_error.h"

/* Escape `in` as an attribute value of a DN (RFC 4514 section 2.4) into
 * out (`size` bytes, NUL included): a backslash before '"', '+', ',', ';',
 * '<', '=', '>', '\\', a leading ' ' or '#' and a trailing ' '; control
 * characters and DEL as "\XX".  Returns the length written, or -1 (out
 * holding "") if it does not fit. */
int vr_ldap_escape_dn(const char *in, char *out, size_t size);

/* Check a bind-name template: exactly one "%s", "%%" for a literal '%',
 * no other '%' sequence.  VR_E_INVALID with a message naming the setting
 * otherwise. */
int vr_ldap_template_check(const char *tmpl, struct vr_error *err);

/* The bind name for `user`: the template (checked) with its "%s" replaced
 * by the escaped user name.  -1 (out holding "") if it does not fit. */
int vr_ldap_bind_name(const char *tmpl, const char *user, char *out,
                      size_t size);

#endif

/*
 * vr_ldap.h - LDAP / Active Directory password checking: an authentication
 * backend (struct vr_auth_backend, vr_ctl.h) named "ldap".
 *
 * A login is checked by a simple bind as the user: the bind name is made
 * from the `ldap_user_dn` template, whose one `%s` becomes the user name
 * escaped for a DN (RFC 4514).  For OpenLDAP that is a DN
 * ("uid=%s,ou=people,dc=example,dc=org"); for Active Directory a user
 * principal name ("%s@corp.example") or a down-level name ("CORP\%s").
 * Nothing is searched and no service account is needed.
 *
 * Every check opens a connection of its own (no shared handle, so checks
 * run in parallel on the API threads) with the `ldap_timeout` for the
 * connection and for each operation, StartTLS first when `ldap_starttls`
 * is set; a certificate that does not verify (against `ldap_ca_file`, or
 * the system's CAs) is never accepted.  A refusal costs what a local
 * password check costs, so that timing does not tell local account names
 * from others.  Passwords are never logged.
 */
#ifndef VR_LDAP_H
#define VR_LDAP_H

#include "vr_config.h"
#include "vr_ctl.h"

/* The backend for cfg's ldap_* settings (ldap_uri must be set).  Checks
 * the settings (URI syntax, exactly one `%s` in the template, a readable
 * CA file, TLS settings that agree) and contacts no server.  The caller
 * owns the result and frees it with its close(); its `group` is left
 * empty for the caller to fill.  NULL with err (VR_E_INVALID) if the
 * settings are inconsistent. */
struct vr_auth_backend *vr_ldap_open(const struct vr_config *cfg,
                                     struct vr_error *err);

#endif

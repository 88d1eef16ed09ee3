/*
 * rbac.h: permission checks against the cached permission set of a
 * principal (see rbac.c for the grammar, the matching rules and how the
 * cache is invalidated).
 */
#ifndef TC_RBAC_H
#define TC_RBAC_H

#include "postgres.h"
#include "utils/uuid.h"

/*
 * Does principal hold permission perm (len bytes, already validated)?
 * False for a NULL principal.  Allocates nothing when the set is cached.
 */
extern bool tc_has_permission(const pg_uuid_t *principal, const char *perm, int len);

/* Installs principal.c's fallback: the principal linked to the login role. */
extern void tc_rbac_init(void);

#endif

/*
 * principal.h: the current principal of this backend's transaction.
 *
 * Set only by tracechain.authenticate() (through _set_principal, which no
 * role but the extension's owner may call), kept in backend memory rather
 * than in a setting a client could SET, and cleared at the end of every
 * transaction, so a connection handed to another client by a
 * transaction-mode pooler carries nothing over.
 */
#ifndef TC_PRINCIPAL_H
#define TC_PRINCIPAL_H

#include "postgres.h"
#include "storage/itemptr.h"
#include "utils/uuid.h"

/*
 * The current principal, or NULL when none: the one authenticate() set for
 * this transaction, else whatever the fallback hook answers (rbac installs
 * one: the principal linked to the session's login role), else NULL.
 */
extern const pg_uuid_t *tc_current_principal(void);

/*
 * Consulted by tc_current_principal() only when authenticate() has set no
 * principal in this transaction; returns NULL for none.  Installed once from
 * a module's *_init() (rbac: rbac_link_login).  The pointer it returns must
 * stay valid until the end of the transaction.
 */
typedef const pg_uuid_t *(*tc_principal_fallback_hook_type) (void);
extern PGDLLIMPORT tc_principal_fallback_hook_type tc_principal_fallback_hook;

/* The current session's id (0 when none) and assurance level (0 when none). */
extern int64 tc_current_session_id(void);
extern int	tc_current_aal(void);

/* Raise the current session's assurance level (after MFA) for this transaction. */
extern void tc_set_current_aal(int aal);

/*
 * Where authenticate() found the current session's row (a hint for a direct
 * re-read, to be checked: the row may have been updated since); false when
 * unknown.
 */
extern bool tc_current_session_tid(ItemPointerData *tid);

extern void tc_principal_init(void);

#endif

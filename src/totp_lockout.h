/*
 * totp_lockout.h: consecutive TOTP failures per principal and the lockout
 * they start, in shared memory with a durable copy in
 * tracechain.totp_lockouts (totp_lockout.c; SQL in totp_lockout.sql).
 */
#ifndef TC_TOTP_LOCKOUT_H
#define TC_TOTP_LOCKOUT_H

#include "utils/uuid.h"

/*
 * Charge one attempt before any code is checked: -1 when the principal is
 * locked (fail without checking), else the consecutive failures counting
 * this one; reaching tracechain.totp_max_failures starts the lockout.
 */
extern int32 tc_totp_attempt_charge(const pg_uuid_t *p);

/* The charged attempt succeeded: the count starts again from zero. */
extern void tc_totp_attempt_forgive(const pg_uuid_t *p);

/* GUCs tracechain.totp_max_failures, _lockout, _lockout_slots; shared memory; the worker's job. */
extern void tc_totp_lockout_init(void);

#endif

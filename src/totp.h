/*
 * totp.h: TOTP multi-factor (RFC 6238 through liboath).
 *
 * Everything this module offers is SQL (src/totp.sql, docs/totp.md); the
 * only C entry point other modules see is its initialization.
 */
#ifndef TC_TOTP_H
#define TC_TOTP_H

/* GUCs tracechain.totp_*, and the shared-memory lockout table. */
extern void tc_totp_init(void);

#endif

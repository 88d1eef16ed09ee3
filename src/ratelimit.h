/*
 * ratelimit.h: rate limiting and IP blocking in shared memory (ratelimit.c,
 * ratelimit.sql, docs/ratelimit.md).
 */
#ifndef TC_RATELIMIT_H
#define TC_RATELIMIT_H

#include "postgres.h"
#include "utils/inet.h"

/* Settings, the shared-memory table and the worker job "rate-limit blocks". */
extern void tc_ratelimit_init(void);

/*
 * Login throttling, what _login_throttle_ok / _login_throttle_fail do, for
 * C callers: whether another attempt of `kind` ("siwe", "totp") may be made
 * from ip and for principal (either may be NULL); with `charge`, count one
 * failed attempt (false once over the limit).
 */
extern bool tc_login_throttle(const char *kind, const inet *ip, const char *principal, bool charge);

#endif

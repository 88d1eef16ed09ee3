/*
 * ratelimit.h: rate limiting and IP blocking in shared memory (ratelimit.c,
 * ratelimit.sql, docs/ratelimit.md).
 */
#ifndef TC_RATELIMIT_H
#define TC_RATELIMIT_H

/* Settings, the shared-memory table and the worker job "rate-limit blocks". */
extern void tc_ratelimit_init(void);

#endif

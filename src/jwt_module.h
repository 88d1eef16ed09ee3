/*
 * jwt_module.h: the JWT module's entry for _PG_init (jwt.c).  The pure
 * compact-form code is src/core/jwt.h.
 */
#ifndef TC_JWT_MODULE_H
#define TC_JWT_MODULE_H

/* GUCs tracechain.jwt_issuer, jwt_audience, jwt_leeway, jwt_max_ttl. */
extern void tc_jwt_init(void);

#endif

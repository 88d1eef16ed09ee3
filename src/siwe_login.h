/*
 * siwe_login.h: the siwe module (siwe.c, siwe.sql).  Named apart from
 * src/core/siwe.h, the pure parser it uses.
 */
#ifndef TC_SIWE_LOGIN_H
#define TC_SIWE_LOGIN_H

/* Defines the tracechain.siwe_* settings and tracechain.default_wallet_role. */
extern void tc_siwe_init(void);

#endif

/*
 * ethsig.h: Ethereum signature recovery for other modules (siwe).
 *
 * One libsecp256k1 context per backend, created and randomized on first use.
 */
#ifndef TC_ETHSIG_H
#define TC_ETHSIG_H

#include "postgres.h"

/*
 * Recover the 20-byte address that signed the 32-byte digest with the
 * 65-byte r || s || v signature.  Refuses (false, *why set to a static
 * phrase) a wrong length, v outside {0, 1, 27, 28}, r or s zero or >= n,
 * s > n/2 (EIP-2) and signatures that recover no key.  Allocates nothing.
 */
extern bool tc_eth_recover(const uint8 *digest32, const uint8 *sig, size_t siglen,
						   uint8 addr[20], const char **why);

#endif

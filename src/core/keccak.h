/*
 * keccak.h: Keccak-256 as Ethereum uses it (the original Keccak padding,
 * domain byte 0x01, not SHA3-256's 0x06).  The permutation is nettle's
 * sha3_permute (Keccak-f[1600]); this file only does the sponge.
 *
 * Pure C, no PostgreSQL headers.
 */
#ifndef TC_KECCAK_H
#define TC_KECCAK_H

#include <stddef.h>
#include <stdint.h>

#define TC_KECCAK256_LEN 32
#define TC_KECCAK256_RATE 136	/* (1600 - 2 * 256) / 8 */

typedef struct tc_keccak_ctx
{
	uint64_t	a[25];			/* the state, lane-wise, as nettle keeps it */
	uint8_t		block[TC_KECCAK256_RATE];
	size_t		index;			/* bytes buffered in block */
} tc_keccak_ctx;

void		tc_keccak256_init(tc_keccak_ctx *ctx);
void		tc_keccak256_update(tc_keccak_ctx *ctx, const uint8_t *in, size_t len);
void		tc_keccak256_final(tc_keccak_ctx *ctx, uint8_t out[TC_KECCAK256_LEN]);

/* One-shot. */
void		tc_keccak256(const uint8_t *in, size_t len, uint8_t out[TC_KECCAK256_LEN]);

#endif

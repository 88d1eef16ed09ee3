/*
 * keccak.c: the Keccak-256 sponge over nettle's Keccak-f[1600] (see keccak.h).
 */
#include "keccak.h"

#include <string.h>

#include <nettle/sha3.h>

_Static_assert(sizeof(((struct sha3_state *) 0)->a) == sizeof(((tc_keccak_ctx *) 0)->a),
			   "nettle's sha3_state must be 25 lanes");

/* XOR one rate-sized block into the state, lanes little-endian, and permute. */
static void
absorb_block(tc_keccak_ctx *ctx, const uint8_t *blk)
{
	struct sha3_state st;

	for (int i = 0; i < TC_KECCAK256_RATE / 8; i++)
	{
		uint64_t	lane = 0;

		for (int b = 7; b >= 0; b--)
			lane = (lane << 8) | blk[i * 8 + b];
		ctx->a[i] ^= lane;
	}
	memcpy(st.a, ctx->a, sizeof(st.a));
	sha3_permute(&st);
	memcpy(ctx->a, st.a, sizeof(st.a));
}

void
tc_keccak256_init(tc_keccak_ctx *ctx)
{
	memset(ctx, 0, sizeof(*ctx));
}

void
tc_keccak256_update(tc_keccak_ctx *ctx, const uint8_t *in, size_t len)
{
	if (len == 0)
		return;
	if (ctx->index > 0)
	{
		size_t		take = TC_KECCAK256_RATE - ctx->index;

		if (take > len)
			take = len;
		memcpy(ctx->block + ctx->index, in, take);
		ctx->index += take;
		in += take;
		len -= take;
		if (ctx->index < TC_KECCAK256_RATE)
			return;
		absorb_block(ctx, ctx->block);
		ctx->index = 0;
	}
	while (len >= TC_KECCAK256_RATE)
	{
		absorb_block(ctx, in);
		in += TC_KECCAK256_RATE;
		len -= TC_KECCAK256_RATE;
	}
	if (len > 0)
	{
		memcpy(ctx->block, in, len);
		ctx->index = len;
	}
}

void
tc_keccak256_final(tc_keccak_ctx *ctx, uint8_t out[TC_KECCAK256_LEN])
{
	/* Keccak pad10*1 with the original domain byte 0x01 (SHA3 uses 0x06). */
	memset(ctx->block + ctx->index, 0, TC_KECCAK256_RATE - ctx->index);
	ctx->block[ctx->index] ^= 0x01;
	ctx->block[TC_KECCAK256_RATE - 1] ^= 0x80;
	absorb_block(ctx, ctx->block);
	for (int i = 0; i < TC_KECCAK256_LEN; i++)
		out[i] = (uint8_t) (ctx->a[i / 8] >> (8 * (i % 8)));
	memset(ctx, 0, sizeof(*ctx));
}

void
tc_keccak256(const uint8_t *in, size_t len, uint8_t out[TC_KECCAK256_LEN])
{
	tc_keccak_ctx ctx;

	tc_keccak256_init(&ctx);
	tc_keccak256_update(&ctx, in, len);
	tc_keccak256_final(&ctx, out);
}

/*
 * eth.c: Ethereum addresses, hex, signature encoding checks and the EIP-191
 * prefix (see eth.h).
 */
#include "encoding.h"
#include "eth.h"

#include <string.h>

#include "keccak.h"

/* The secp256k1 group order n, and floor(n / 2), big-endian. */
static const uint8_t secp256k1_n[32] = {
	0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFE,
	0xBA, 0xAE, 0xDC, 0xE6, 0xAF, 0x48, 0xA0, 0x3B, 0xBF, 0xD2, 0x5E, 0x8C, 0xD0, 0x36, 0x41, 0x41
};
static const uint8_t secp256k1_half_n[32] = {
	0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
	0x5D, 0x57, 0x6E, 0x73, 0x57, 0xA4, 0x50, 0x1D, 0xDF, 0xE9, 0x2F, 0x46, 0x68, 0x1B, 0x20, 0xA0
};

long
tc_eth_hex_decode(const char *s, size_t len, uint8_t *out, size_t cap)
{
	if (len < 2 || s[0] != '0' || s[1] != 'x')
		return -1;
	return tc_hex_decode(s + 2, len - 2, out, cap);
}

static void
checksum_text(const uint8_t addr[TC_ETH_ADDR_LEN], char out[TC_ETH_ADDR_TEXT_LEN], int checksum)
{
	static const char digits[] = "0123456789abcdef";
	uint8_t		h[32];

	out[0] = '0';
	out[1] = 'x';
	for (int i = 0; i < TC_ETH_ADDR_LEN; i++)
	{
		out[2 + 2 * i] = digits[addr[i] >> 4];
		out[3 + 2 * i] = digits[addr[i] & 15];
	}
	if (!checksum)
		return;
	/* EIP-55: upper-case the letter at i when nibble i of keccak(lower hex) is >= 8. */
	tc_keccak256((const uint8_t *) out + 2, 40, h);
	for (int i = 0; i < 40; i++)
	{
		int			nib = (i % 2 == 0) ? h[i / 2] >> 4 : h[i / 2] & 15;
		char	   *c = &out[2 + i];

		if (*c >= 'a' && *c <= 'f' && nib >= 8)
			*c = (char) (*c - 'a' + 'A');
	}
}

void
tc_eth_address_checksum(const uint8_t addr[TC_ETH_ADDR_LEN], char out[TC_ETH_ADDR_TEXT_LEN])
{
	checksum_text(addr, out, 1);
}

void
tc_eth_address_lower(const uint8_t addr[TC_ETH_ADDR_LEN], char out[TC_ETH_ADDR_TEXT_LEN])
{
	checksum_text(addr, out, 0);
}

tc_eth_addr_status
tc_eth_address_parse(const char *s, size_t len, uint8_t out[TC_ETH_ADDR_LEN])
{
	int			has_lower = 0,
				has_upper = 0;
	char		cs[TC_ETH_ADDR_TEXT_LEN];

	if (len != TC_ETH_ADDR_TEXT_LEN || tc_eth_hex_decode(s, len, out, TC_ETH_ADDR_LEN) != TC_ETH_ADDR_LEN)
		return TC_ADDR_MALFORMED;
	for (size_t i = 2; i < len; i++)
	{
		if (s[i] >= 'a' && s[i] <= 'f')
			has_lower = 1;
		else if (s[i] >= 'A' && s[i] <= 'F')
			has_upper = 1;
	}
	if (has_lower && has_upper)
	{
		tc_eth_address_checksum(out, cs);
		if (memcmp(cs, s, TC_ETH_ADDR_TEXT_LEN) != 0)
			return TC_ADDR_BAD_CHECKSUM;
	}
	return TC_ADDR_OK;
}

/* Big-endian comparison of two 32-byte numbers: <0, 0, >0. */
static int
cmp32(const uint8_t *a, const uint8_t *b)
{
	return memcmp(a, b, 32);
}

static int
is_zero32(const uint8_t *a)
{
	uint8_t		acc = 0;

	for (int i = 0; i < 32; i++)
		acc |= a[i];
	return acc == 0;
}

tc_eth_sig_status
tc_eth_sig_check(const uint8_t *sig, size_t len, int *recid)
{
	const uint8_t *r = sig,
			   *s = sig + 32;
	uint8_t		v;

	if (sig == NULL || len != TC_ETH_SIG_LEN)
		return TC_SIG_BAD_LENGTH;
	v = sig[64];
	if (v == 0 || v == 1)
		*recid = v;
	else if (v == 27 || v == 28)
		*recid = v - 27;
	else
		return TC_SIG_BAD_V;
	if (is_zero32(r) || cmp32(r, secp256k1_n) >= 0)
		return TC_SIG_BAD_R;
	if (is_zero32(s) || cmp32(s, secp256k1_n) >= 0)
		return TC_SIG_BAD_S;
	if (cmp32(s, secp256k1_half_n) > 0)
		return TC_SIG_HIGH_S;
	return TC_SIG_OK;
}

const char *
tc_eth_sig_status_text(tc_eth_sig_status st)
{
	switch (st)
	{
		case TC_SIG_OK:
			return "valid encoding";
		case TC_SIG_BAD_LENGTH:
			return "signature must be 65 bytes (r, s, v)";
		case TC_SIG_BAD_V:
			return "signature v must be 0, 1, 27 or 28";
		case TC_SIG_BAD_R:
			return "signature r is zero or not below the curve order";
		case TC_SIG_BAD_S:
			return "signature s is zero or not below the curve order";
		case TC_SIG_HIGH_S:
			return "signature s is in the upper half of the curve order (EIP-2)";
	}
	return "invalid signature";
}

size_t
tc_eip191_prefix(size_t msglen, char out[TC_EIP191_PREFIX_MAX])
{
	static const char head[] = "\x19" "Ethereum Signed Message:\n";
	size_t		hl = sizeof(head) - 1;
	char		digits[24];
	size_t		nd = 0;

	memcpy(out, head, hl);
	do
	{
		digits[nd++] = (char) ('0' + msglen % 10);
		msglen /= 10;
	} while (msglen > 0);
	for (size_t i = 0; i < nd; i++)
		out[hl + i] = digits[nd - 1 - i];
	return hl + nd;
}

void
tc_eip191_hash(const uint8_t *msg, size_t len, uint8_t out[32])
{
	char		prefix[TC_EIP191_PREFIX_MAX];
	size_t		pl = tc_eip191_prefix(len, prefix);
	tc_keccak_ctx ctx;

	tc_keccak256_init(&ctx);
	tc_keccak256_update(&ctx, (const uint8_t *) prefix, pl);
	tc_keccak256_update(&ctx, msg, len);
	tc_keccak256_final(&ctx, out);
}

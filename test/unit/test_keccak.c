/*
 * test_keccak.c: Keccak-256, EIP-191, EIP-55 and the signature encoding
 * checks of src/core (no server).  Prints TAP-style lines.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "encoding.h"
#include "eth.h"
#include "keccak.h"

static int	n = 0,
			failed = 0;

static void
check(int cond, const char *what)
{
	n++;
	if (!cond)
		failed++;
	printf("%sok %d - %s\n", cond ? "" : "not ", n, what);
}

static int
digest_is(const uint8_t d[32], const char *hex)
{
	char		h[65];

	tc_hex_encode(d, 32, h);
	h[64] = '\0';
	return strcmp(h, hex) == 0;
}

static void
test_keccak(void)
{
	uint8_t		d[32];
	uint8_t    *big;
	tc_keccak_ctx ctx;

	tc_keccak256((const uint8_t *) "", 0, d);
	check(digest_is(d, "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"), "keccak256(\"\")");
	tc_keccak256((const uint8_t *) "abc", 3, d);
	check(digest_is(d, "4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45"), "keccak256(\"abc\")");
	/* Not SHA3-256 (which is 3a985da7... for "abc"). */
	check(!digest_is(d, "3a985da74fe225b2045c172d6bd390bd855f086e3e9d525b46bfe24511431532"), "keccak256 is not sha3-256");
	tc_keccak256((const uint8_t *) "The quick brown fox jumps over the lazy dog", 43, d);
	check(digest_is(d, "4d741b6f1eb29cb2a9b9911c82f56fa8d73b04959d3d9d222895df6c0b28aa15"), "keccak256(quick brown fox)");

	/* Block boundaries: 135, 136, 137 bytes and a 1 MB input, fed in odd pieces. */
	big = malloc(1000000);
	memset(big, 'a', 1000000);
	{
		int			ok = 1;
		size_t		lens[] = {135, 136, 137, 272, 1000000};

		for (size_t k = 0; k < sizeof(lens) / sizeof(lens[0]); k++)
		{
			uint8_t		one[32];
			size_t		off = 0,
						step = 1;

			tc_keccak256(big, lens[k], one);
			tc_keccak256_init(&ctx);
			while (off < lens[k])
			{
				size_t		take = step < lens[k] - off ? step : lens[k] - off;

				tc_keccak256_update(&ctx, big + off, take);
				off += take;
				step = step * 3 + 1;
			}
			tc_keccak256_final(&ctx, d);
			ok &= memcmp(one, d, 32) == 0;
		}
		check(ok, "keccak256: incremental equals one-shot across block boundaries");
	}
	tc_keccak256(big, 1000000, d);
	/* keccak256 of one million 'a' */
	check(digest_is(d, "fadae6b49f129bbb812be8407b7b2894f34aecf6dbd1f9b0f0c7e9853098fc96"), "keccak256(1e6 x 'a')");
	free(big);
}

static void
test_eip191(void)
{
	uint8_t		d[32];
	char		p[TC_EIP191_PREFIX_MAX];
	size_t		pl;

	tc_eip191_hash((const uint8_t *) "hello world", 11, d);
	check(digest_is(d, "d9eba16ed0ecae432b71fe008c98cc872bb4cc214d3220a36f365326cf807d68"), "EIP-191 hash of \"hello world\"");
	pl = tc_eip191_prefix(0, p);
	check(pl == 27 && memcmp(p, "\x19" "Ethereum Signed Message:\n0", 27) == 0, "EIP-191 prefix, empty message");
	pl = tc_eip191_prefix(18446744073709551615UL, p);
	check(pl == 26 + 20 && memcmp(p + 26, "18446744073709551615", 20) == 0, "EIP-191 prefix, largest length");
}

static void
test_eip55(void)
{
	/* The examples of EIP-55. */
	const char *ex[] = {
		"0x52908400098527886E0F7030069857D2E4169EE7",
		"0x8617E340B3D01FA5F11F306F4090FD50E238070D",
		"0xde709f2102306220921060314715629080e2fb77",
		"0x27b1fdb04752bbc536007a920d24acb045561c26",
		"0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
		"0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
		"0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB",
		"0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
	};
	uint8_t		a[20];
	char		cs[42];
	int			ok = 1;

	for (size_t i = 0; i < sizeof(ex) / sizeof(ex[0]); i++)
	{
		ok &= tc_eth_address_parse(ex[i], 42, a) == TC_ADDR_OK;
		tc_eth_address_checksum(a, cs);
		ok &= memcmp(cs, ex[i], 42) == 0;
	}
	check(ok, "EIP-55: the EIP's examples parse and are their own checksum");
	check(tc_eth_address_parse("0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed", 42, a) == TC_ADDR_OK, "EIP-55: all lower accepted");
	check(tc_eth_address_parse("0x5AAEB6053F3E94C9B9A09F33669435E7EF1BEAED", 42, a) == TC_ADDR_OK, "EIP-55: all upper accepted");
	check(tc_eth_address_parse("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD", 42, a) == TC_ADDR_BAD_CHECKSUM, "EIP-55: one wrong case refused");
	check(tc_eth_address_parse("5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", 40, a) == TC_ADDR_MALFORMED, "address: no 0x refused");
	check(tc_eth_address_parse("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAe", 41, a) == TC_ADDR_MALFORMED, "address: 39 digits refused");
	check(tc_eth_address_parse("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAedd", 43, a) == TC_ADDR_MALFORMED, "address: 41 digits refused");
	check(tc_eth_address_parse("0xg aeb6053f3e94c9b9a09f33669435e7ef1beaed", 42, a) == TC_ADDR_MALFORMED, "address: non-hex refused");
	check(tc_eth_address_parse("0X5aaeb6053f3e94c9b9a09f33669435e7ef1beaed", 42, a) == TC_ADDR_MALFORMED, "address: 0X refused");
	tc_eth_address_parse("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", 42, a);
	tc_eth_address_lower(a, cs);
	check(memcmp(cs, "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed", 42) == 0, "address: lower-case form");
}

static void
test_sig(void)
{
	uint8_t		sig[65];
	int			recid = -1;
	static const uint8_t n[32] = {
		0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFE,
		0xBA, 0xAE, 0xDC, 0xE6, 0xAF, 0x48, 0xA0, 0x3B, 0xBF, 0xD2, 0x5E, 0x8C, 0xD0, 0x36, 0x41, 0x41
	};
	static const uint8_t half[32] = {
		0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
		0x5D, 0x57, 0x6E, 0x73, 0x57, 0xA4, 0x50, 0x1D, 0xDF, 0xE9, 0x2F, 0x46, 0x68, 0x1B, 0x20, 0xA0
	};
	const char *hex = "0x0d5df3f9681b000a5b3a1d4252803318136714deba10c578f9b33718ad9c816e5520a6f19168136aa11e38d691d28a422bce4be3bf290fdb8efe45cdaefb20251c";
	uint8_t		buf[70];

	check(tc_eth_hex_decode(hex, strlen(hex), buf, sizeof(buf)) == 65, "0x-hex: 65-byte signature decodes");
	check(tc_eth_hex_decode(hex + 2, strlen(hex) - 2, buf, sizeof(buf)) == -1, "0x-hex: no 0x refused");
	check(tc_eth_hex_decode(hex, strlen(hex) - 1, buf, sizeof(buf)) == -1, "0x-hex: odd length refused");
	check(tc_eth_hex_decode(hex, strlen(hex), buf, 64) == -1, "0x-hex: too long for the buffer refused");
	check(tc_eth_hex_decode("0x", 2, buf, 0) == 0, "0x-hex: empty");

	memcpy(sig, buf, 65);
	check(tc_eth_sig_check(sig, 65, &recid) == TC_SIG_OK && recid == 1, "signature: v = 28 gives recid 1");
	check(tc_eth_sig_check(sig, 64, &recid) == TC_SIG_BAD_LENGTH, "signature: 64 bytes refused");
	for (int v = 0; v < 256; v++)
	{
		tc_eth_sig_status st;

		sig[64] = (uint8_t) v;
		st = tc_eth_sig_check(sig, 65, &recid);
		if ((v == 0 || v == 1 || v == 27 || v == 28) != (st == TC_SIG_OK))
		{
			check(0, "signature: v values");
			goto v_done;
		}
	}
	check(1, "signature: only v in {0, 1, 27, 28} accepted (29, 35+ refused)");
v_done:
	sig[64] = 27;
	memcpy(sig + 32, half, 32);
	check(tc_eth_sig_check(sig, 65, &recid) == TC_SIG_OK, "signature: s = n/2 accepted");
	sig[63]++;
	check(tc_eth_sig_check(sig, 65, &recid) == TC_SIG_HIGH_S, "signature: s = n/2 + 1 refused (EIP-2)");
	memcpy(sig + 32, n, 32);
	check(tc_eth_sig_check(sig, 65, &recid) == TC_SIG_BAD_S, "signature: s = n refused");
	memset(sig + 32, 0, 32);
	check(tc_eth_sig_check(sig, 65, &recid) == TC_SIG_BAD_S, "signature: s = 0 refused");
	memcpy(sig + 32, buf + 32, 32);
	memset(sig, 0, 32);
	check(tc_eth_sig_check(sig, 65, &recid) == TC_SIG_BAD_R, "signature: r = 0 refused");
	memcpy(sig, n, 32);
	check(tc_eth_sig_check(sig, 65, &recid) == TC_SIG_BAD_R, "signature: r = n refused");
	memset(sig, 0xff, 32);
	check(tc_eth_sig_check(sig, 65, &recid) == TC_SIG_BAD_R, "signature: r = 2^256 - 1 refused");
}

int
main(void)
{
	test_keccak();
	test_eip191();
	test_eip55();
	test_sig();
	printf("# keccak/eth: %d tests, %d failed\n", n, failed);
	return failed ? 1 : 0;
}

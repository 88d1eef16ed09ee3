/*
 * ethsig_bench.c: the C half of bench/ethsig/run.sh.
 *
 *   ethsig_bench sigs N FILE      N personal_sign signatures of "bench message <i>" by
 *                                 random keys, as COPY text: message, digest, signature
 *   ethsig_bench logins N FILE NONCES
 *                                 N signed SIWE messages for bench.example (1000 wallets,
 *                                 Issued At now), and their nonces as COPY text
 *   ethsig_bench loop FILE        secp256k1_ecdsa_recover over FILE's signatures in a
 *                                 plain loop, one context; prints calls per second
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <secp256k1.h>
#include <secp256k1_recovery.h>

#include "encoding.h"
#include "eth.h"
#include "keccak.h"
#include "siwe.h"

static secp256k1_context *ctx;

static void
random_bytes(uint8_t *b, size_t n)
{
	FILE	   *f = fopen("/dev/urandom", "rb");

	if (f == NULL || fread(b, 1, n, f) != n)
	{
		perror("/dev/urandom");
		exit(1);
	}
	fclose(f);
}

static void
new_key(uint8_t key[32], uint8_t addr[20])
{
	secp256k1_pubkey pk;
	uint8_t		pub[65],
				h[32];
	size_t		len = 65;

	do
		random_bytes(key, 32);
	while (!secp256k1_ec_seckey_verify(ctx, key));
	if (!secp256k1_ec_pubkey_create(ctx, &pk, key))
		exit(1);
	secp256k1_ec_pubkey_serialize(ctx, pub, &len, &pk, SECP256K1_EC_UNCOMPRESSED);
	tc_keccak256(pub + 1, 64, h);
	memcpy(addr, h + 12, 20);
}

static void
sign(const uint8_t key[32], const uint8_t digest[32], uint8_t sig[65])
{
	secp256k1_ecdsa_recoverable_signature rs;
	int			recid;

	if (!secp256k1_ecdsa_sign_recoverable(ctx, &rs, digest, key, NULL, NULL))
		exit(1);
	secp256k1_ecdsa_recoverable_signature_serialize_compact(ctx, sig, &recid, &rs);
	sig[64] = (uint8_t) (27 + recid);
}

static void
put_hex(FILE *f, const uint8_t *b, size_t n, const char *prefix)
{
	char	   *h = malloc(2 * n + 1);

	tc_hex_encode(b, n, h);
	h[2 * n] = '\0';
	fprintf(f, "%s%s", prefix, h);
	free(h);
}

static int
gen_sigs(long n, const char *path)
{
	FILE	   *f = fopen(path, "w");
	uint8_t		key[32],
				addr[20],
				d[32],
				sig[65];
	char		msg[64];

	if (f == NULL)
		return 1;
	for (long i = 0; i < n; i++)
	{
		int			len = snprintf(msg, sizeof(msg), "bench message %ld", i);

		if (i % 100 == 0)
			new_key(key, addr);
		tc_eip191_hash((const uint8_t *) msg, (size_t) len, d);
		sign(key, d, sig);
		fprintf(f, "%s\t", msg);
		put_hex(f, d, 32, "\\\\x");
		fputc('\t', f);
		put_hex(f, sig, 65, "\\\\x");
		fputc('\n', f);
	}
	return fclose(f) != 0;
}

static int
gen_logins(long n, const char *path, const char *nonce_path)
{
	FILE	   *f = fopen(path, "w"),
			   *fn = fopen(nonce_path, "w");
	enum
	{
		WALLETS = 1000
	};
	static uint8_t keys[WALLETS][32],
				addrs[WALLETS][20];
	struct timespec ts;
	char		nonce[32],
				buf[1024];

	if (f == NULL || fn == NULL)
		return 1;
	for (int w = 0; w < WALLETS; w++)
		new_key(keys[w], addrs[w]);
	clock_gettime(CLOCK_REALTIME, &ts);
	for (long i = 0; i < n; i++)
	{
		tc_siwe_fields fl;
		const char *err;
		size_t		len;
		uint8_t		d[32],
					sig[65];
		char		lower[42];
		int			w = (int) (i % WALLETS);

		memset(&fl, 0, sizeof(fl));
		snprintf(nonce, sizeof(nonce), "bench%020ld", i);
		fl.domain = (tc_span) {"bench.example", 13};
		memcpy(fl.addr, addrs[w], 20);
		fl.statement = (tc_span) {"Sign in to the benchmark.", 25};
		fl.uri = (tc_span) {"https://bench.example/login", 27};
		fl.chain_id = 1;
		fl.nonce = (tc_span) {nonce, strlen(nonce)};
		fl.issued_at_us = (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
		len = tc_siwe_build(&fl, buf, sizeof(buf), &err);
		if (len == 0 || len > sizeof(buf))
			return 1;
		tc_eip191_hash((const uint8_t *) buf, len, d);
		sign(keys[w], d, sig);
		for (size_t k = 0; k < len; k++)
		{
			if (buf[k] == '\n')
				fputs("\\n", f);
			else
				fputc(buf[k], f);
		}
		fputc('\t', f);
		put_hex(f, sig, 65, "0x");
		fputc('\n', f);
		tc_eth_address_lower(addrs[w], lower);
		fprintf(fn, "%s\t%.42s\tbench.example\n", nonce, lower);
	}
	return (fclose(f) != 0) | (fclose(fn) != 0);
}

static int
loop(const char *path)
{
	FILE	   *f = fopen(path, "r");
	char		line[512];
	long		n = 0,
				cap = 1024,
				ok = 0;
	uint8_t    *d = malloc(32 * cap),
			   *s = malloc(65 * cap);
	struct timespec t0,
				t1;
	double		secs;

	if (f == NULL)
		return 1;
	while (fgets(line, sizeof(line), f))
	{
		char	   *t1p = strchr(line, '\t'),
				   *t2p = t1p ? strchr(t1p + 1, '\t') : NULL;

		if (t2p == NULL)
			continue;
		if (n == cap)
		{
			cap *= 2;
			d = realloc(d, 32 * cap);
			s = realloc(s, 65 * cap);
		}
		/* fields are \\x-prefixed hex */
		if (tc_hex_decode(t1p + 4, 64, d + 32 * n, 32) != 32 || tc_hex_decode(t2p + 4, 130, s + 65 * n, 65) != 65)
			return 1;
		n++;
	}
	fclose(f);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (long i = 0; i < n; i++)
	{
		secp256k1_ecdsa_recoverable_signature rs;
		secp256k1_pubkey pk;
		const uint8_t *sig = s + 65 * i;

		if (secp256k1_ecdsa_recoverable_signature_parse_compact(ctx, &rs, sig, sig[64] - 27) &&
			secp256k1_ecdsa_recover(ctx, &pk, &rs, d + 32 * i))
			ok++;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	secs = (double) (t1.tv_sec - t0.tv_sec) + (double) (t1.tv_nsec - t0.tv_nsec) / 1e9;
	if (ok != n)
		fprintf(stderr, "only %ld of %ld recovered\n", ok, n);
	printf("%ld %.3f %.0f\n", n, secs, (double) n / secs);
	return 0;
}

int
main(int argc, char **argv)
{
	uint8_t		seed[32];

	ctx = secp256k1_context_create(SECP256K1_CONTEXT_NONE);
	random_bytes(seed, 32);
	if (!secp256k1_context_randomize(ctx, seed))
		return 1;
	if (argc == 4 && strcmp(argv[1], "sigs") == 0)
		return gen_sigs(atol(argv[2]), argv[3]);
	if (argc == 5 && strcmp(argv[1], "logins") == 0)
		return gen_logins(atol(argv[2]), argv[3], argv[4]);
	if (argc == 3 && strcmp(argv[1], "loop") == 0)
		return loop(argv[2]);
	fprintf(stderr, "usage: ethsig_bench sigs N FILE | logins N FILE NONCES | loop FILE\n");
	return 2;
}

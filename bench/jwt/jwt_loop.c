/*
 * jwt_loop.c: the raw OpenSSL operations under jwt_sign / jwt_verify, in a
 * plain C loop, for bench/jwt/run.sh: HMAC-SHA256 of a token-sized signing
 * input (sign = verify), and ECDSA P-256 SHA-256 sign and verify with
 * EVP_DigestSign / EVP_DigestVerify on a preparsed key.  Prints
 * "hs256 <ops/s>", "es256_sign <ops/s>", "es256_verify <ops/s>".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int
main(int argc, char **argv)
{
	/* a typical signing input: header.payload of about 200 characters */
	const char *in = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6Imp3dDoxIn0."
		"eyJuIjogMSwgInN1YiI6ICJ1c2VyLTEiLCAicm9sZSI6ICJhcHAiLCAiZXhwIjogMTcwMDAwMzYwMCwgImlhdCI6IDE3MDAwMDAwMDAsICJuYmYiOiAxNzAwMDAwMDAwfQ";
	size_t		inlen = strlen(in);
	unsigned char key[32],
				mac[32],
				sig[80];
	unsigned int maclen;
	int			n = argc > 1 ? atoi(argv[1]) : 200000;
	int			ne = argc > 2 ? atoi(argv[2]) : 20000;
	double		t0,
				t;
	EVP_PKEY   *pkey = EVP_EC_gen("P-256");
	size_t		siglen = 0;

	memset(key, 7, sizeof(key));
	t0 = now();
	for (int i = 0; i < n; i++)
		HMAC(EVP_sha256(), key, 32, (const unsigned char *) in, inlen, mac, &maclen);
	t = now() - t0;
	printf("hs256 %.0f\n", n / t);

	t0 = now();
	for (int i = 0; i < ne; i++)
	{
		EVP_MD_CTX *md = EVP_MD_CTX_new();

		siglen = sizeof(sig);
		EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, pkey);
		EVP_DigestSign(md, sig, &siglen, (const unsigned char *) in, inlen);
		EVP_MD_CTX_free(md);
	}
	t = now() - t0;
	printf("es256_sign %.0f\n", ne / t);

	t0 = now();
	for (int i = 0; i < ne; i++)
	{
		EVP_MD_CTX *md = EVP_MD_CTX_new();

		EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, pkey);
		if (EVP_DigestVerify(md, sig, siglen, (const unsigned char *) in, inlen) != 1)
			return 1;
		EVP_MD_CTX_free(md);
	}
	t = now() - t0;
	printf("es256_verify %.0f\n", ne / t);
	EVP_PKEY_free(pkey);
	return 0;
}

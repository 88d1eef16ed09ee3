/*
 * sha_loop.c: the reference for the verify_audit_chain benchmark.
 *
 * Reads, one per line on standard input, the hex of exactly the bytes that
 * verify_audit_chain hashes for each row (prev_hash || canonical encoding),
 * keeps them in memory, then times SHA-256 over all of them with OpenSSL's
 * EVP interface (one context, reused, as the extension does) and prints
 * "rows seconds rows_per_second".
 */
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "encoding.h"

int
main(void)
{
	size_t		cap = 1 << 20,
				n = 0;
	unsigned char **bufs = malloc(cap * sizeof(*bufs));
	size_t	   *lens = malloc(cap * sizeof(*lens));
	char	   *line = NULL;
	size_t		linecap = 0;
	ssize_t		l;
	EVP_MD	   *md = EVP_MD_fetch(NULL, "SHA256", NULL);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned char out[32],
				acc = 0;
	struct timespec t0,
				t1;
	double		secs;

	while ((l = getline(&line, &linecap, stdin)) > 0)
	{
		if (line[l - 1] == '\n')
			line[--l] = '\0';
		if (n == cap)
		{
			cap *= 2;
			bufs = realloc(bufs, cap * sizeof(*bufs));
			lens = realloc(lens, cap * sizeof(*lens));
		}
		bufs[n] = malloc(l / 2 + 1);
		if (tc_hex_decode(line, l, bufs[n], l / 2 + 1) < 0)
		{
			fprintf(stderr, "bad hex on line %zu\n", n + 1);
			return 1;
		}
		lens[n++] = l / 2;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (size_t i = 0; i < n; i++)
	{
		EVP_DigestInit_ex2(ctx, md, NULL);
		EVP_DigestUpdate(ctx, bufs[i], lens[i]);
		EVP_DigestFinal_ex(ctx, out, NULL);
		acc ^= out[0];
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	secs = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
	printf("%zu %.6f %.0f %u\n", n, secs, n / secs, acc);
	return 0;
}

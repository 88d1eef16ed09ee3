/*
 * fuzz_siwe.c: libFuzzer harness for the EIP-4361 parser, RFC 3339 times,
 * addresses and signature hex of src/core.  Build and run:
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Isrc/core \
 *     test/fuzz/fuzz_siwe.c src/core/siwe.c src/core/eth.c src/core/keccak.c -lnettle -o /tmp/fuzz_siwe
 *   /tmp/fuzz_siwe -max_total_time=60 -dict=test/fuzz/siwe.dict test/fuzz/corpus/siwe
 *
 * Besides not crashing, it checks that a parsed message's spans lie inside
 * the input, and that a message rebuilt from the parsed fields parses again.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "eth.h"
#include "siwe.h"

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
inside(const char *base, size_t size, tc_span s)
{
	if (s.len > 0 && (s.p < base || s.p + s.len > base + size))
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* An exact-size heap copy, so ASan sees any read past the end. */
	char	   *msg = malloc(size ? size : 1);
	size_t		cap = tc_siwe_max_resources(size);
	tc_span    *res = malloc(cap * sizeof(tc_span));
	tc_siwe_msg m;
	const char *err;
	int64_t		us;
	uint8_t		buf[80];

	memcpy(msg, data, size);
	if (tc_siwe_parse(msg, size, &m, res, cap, &err) == 0)
	{
		tc_siwe_fields f;
		char	   *out;
		size_t		len;

		inside(msg, size, m.domain);
		inside(msg, size, m.uri);
		inside(msg, size, m.nonce);
		inside(msg, size, m.statement);
		inside(msg, size, m.request_id);
		for (size_t i = 0; i < m.n_resources; i++)
			inside(msg, size, res[i]);
		memset(&f, 0, sizeof(f));
		f.domain = m.domain;
		memcpy(f.addr, m.addr, sizeof(f.addr));
		if (m.has_statement)
			f.statement = m.statement;
		f.uri = m.uri;
		f.chain_id = m.chain_id;
		f.nonce = m.nonce;
		f.issued_at_us = m.issued_at_us;
		f.has_expiration_time = m.has_expiration_time;
		f.expiration_time_us = m.expiration_time_us;
		len = tc_siwe_build(&f, NULL, 0, &err);
		if (len > 0)
		{
			tc_siwe_msg m2;

			out = malloc(len);
			tc_siwe_build(&f, out, len, &err);
			/* Times outside 0000-9999 are not built; everything else must round-trip. */
			if (len <= TC_SIWE_MAX_LEN && tc_siwe_parse(out, len, &m2, res, cap, &err) != 0)
				abort();
			free(out);
		}
	}
	else if (err == NULL)
		abort();
	(void) tc_rfc3339_parse(msg, size, &us);
	(void) tc_eth_hex_decode(msg, size, buf, sizeof(buf));
	(void) tc_eth_address_parse(msg, size, buf);
	(void) tc_siwe_valid_uri(msg, size);
	(void) tc_siwe_valid_authority(msg, size);
	free(res);
	free(msg);
	return 0;
}

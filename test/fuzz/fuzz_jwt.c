/*
 * fuzz_jwt.c: libFuzzer harness for the JWT compact form, the strict JSON
 * validator, the header parser and policy, and the ES256 signature encoding
 * of src/core/jwt.c.  Build and run:
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Isrc/core \
 *     test/fuzz/fuzz_jwt.c src/core/jwt.c src/core/encoding.c -o /tmp/fuzz_jwt
 *   /tmp/fuzz_jwt -max_total_time=60
 *
 * Besides not crashing, it checks that segments lie inside the input, that
 * decoded header strings are NUL-terminated within their buffers, and that
 * DER <-> r || s conversion round-trips.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jwt.h"

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	tc_jwt_parts p;
	tc_jwt_header h;
	int32_t		ver;
	uint8_t		raw[64],
				der[TC_JWT_ES256_DER_MAX],
				back[64];
	long		l;

	/* the input as a JSON text and as a header */
	(void) tc_json_object_check(data, size);
	if (tc_jwt_header_parse(data, size, &h) == 0)
	{
		if (memchr(h.alg, 0, sizeof(h.alg)) == NULL || memchr(h.kid, 0, sizeof(h.kid)) == NULL ||
			memchr(h.typ, 0, sizeof(h.typ)) == NULL)
			abort();
		(void) tc_jwt_header_check(&h, TC_JWT_ALG_HS256, "jwt", 3, &ver);
		(void) tc_jwt_header_check(&h, TC_JWT_ALG_ES256, "a:b", 3, &ver);
	}
	/* as a token */
	if (tc_jwt_split((const char *) data, size, &p) == 0)
	{
		for (int i = 0; i < 3; i++)
		{
			uint8_t    *buf = malloc(p.seglen[i] * 3 / 4 + 1);

			if ((const uint8_t *) p.seg[i] < data || (const uint8_t *) p.seg[i] + p.seglen[i] > data + size)
				abort();
			l = tc_jwt_segment_decode(p.seg[i], p.seglen[i], buf, p.seglen[i] * 3 / 4 + 1);
			if (l >= 0)
			{
				if (i == 0)
					(void) tc_jwt_header_parse(buf, (size_t) l, &h);
				else if (i == 1)
					(void) tc_json_object_check(buf, (size_t) l);
			}
			free(buf);
		}
	}
	/* as DER, and r || s */
	if (tc_jwt_ecdsa_der_to_raw(data, size, raw) == 0)
	{
		l = tc_jwt_ecdsa_raw_to_der(raw, der, sizeof(der));
		if (l != (long) size || memcmp(der, data, size) != 0)
			abort();
	}
	if (size >= 64 && (l = tc_jwt_ecdsa_raw_to_der(data, der, sizeof(der))) > 0)
	{
		if (tc_jwt_ecdsa_der_to_raw(der, (size_t) l, back) != 0 || memcmp(back, data, 64) != 0)
			abort();
	}
	return 0;
}

/*
 * fuzz_base32.c: the base32 decoder of src/core/base32.c (TOTP secrets).
 * A decode never writes more than inlen * 5 / 8 bytes, honours cap (-2 when
 * one byte short), and what it returns encodes and decodes back to itself.
 */
#include "fuzz_common.h"
#include "base32.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	   *in = fz_dup(data, size);
	size_t		cap = size * 5 / 8;
	uint8_t    *out = malloc(cap ? cap : 1);
	long		n = tc_base32_decode(in, size, out, cap);

	FZ_CHECK(n >= -2);
	if (n > 0)
	{
		size_t		elen = tc_base32_encoded_len((size_t) n);
		char	   *enc = malloc(elen ? elen : 1);
		uint8_t    *back = malloc((size_t) n);
		uint8_t    *small = malloc((size_t) n);

		FZ_CHECK((size_t) n <= cap);
		tc_base32_encode(out, (size_t) n, enc);
		FZ_CHECK(tc_base32_decode(enc, elen, back, (size_t) n) == n);
		FZ_CHECK(memcmp(back, out, (size_t) n) == 0);
		/* one byte short of room: refused, not overrun */
		FZ_CHECK(tc_base32_decode(in, size, small, (size_t) n - 1) == -2);
		free(enc);
		free(back);
		free(small);
	}
	free(out);
	free(in);
	return 0;
}

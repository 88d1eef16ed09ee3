/*
 * fuzz_encoding.c: hex and base64url decoders of src/core/encoding.c, and
 * tc_ct_equal.  A successful decode re-encodes to the input (hex: up to case;
 * base64url: exactly, as the decoder is strict).
 */
#include <ctype.h>

#include "fuzz_common.h"
#include "encoding.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	   *in = fz_dup(data, size);
	size_t		cap = size / 2 + 1;
	uint8_t    *out = malloc(cap);
	char	   *enc = malloc(2 * cap + 4);
	long		n;

	n = tc_hex_decode(in, size, out, size / 2);
	if (n >= 0)
	{
		FZ_CHECK((size_t) n * 2 == size);
		tc_hex_encode(out, (size_t) n, enc);
		for (size_t i = 0; i < size; i++)
			FZ_CHECK(enc[i] == tolower((unsigned char) in[i]));
	}
	free(out);
	free(enc);

	cap = size * 3 / 4;
	out = malloc(cap ? cap : 1);
	n = tc_b64url_decode(in, size, out, cap);
	if (n >= 0)
	{
		FZ_CHECK((size_t) n <= cap);
		FZ_CHECK(tc_b64url_encoded_len((size_t) n) == size);
		enc = malloc(size + 1);
		tc_b64url_encode(out, (size_t) n, enc);
		FZ_CHECK(memcmp(enc, in, size) == 0);
		free(enc);
	}
	free(out);

	if (size >= 2)
	{
		size_t		h = size / 2;

		FZ_CHECK((tc_ct_equal(in, in + h, h) != 0) == (memcmp(in, in + h, h) == 0));
	}
	free(in);
	return 0;
}

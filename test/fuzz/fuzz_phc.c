/*
 * fuzz_phc.c: the PHC scrypt string parser of src/core/phc.c and the
 * standard base64 it uses.  A parsed string has parameters within limits and
 * formats back to exactly the input (one encoding per hash); a format into a
 * buffer one byte short fails instead of overrunning.
 */
#include "fuzz_common.h"
#include "phc.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	   *in = fz_dup(data, size);
	tc_phc_scrypt h;

	if (tc_phc_scrypt_parse(in, size, &h) == 0)
	{
		char	   *out = malloc(size + 1);
		int			n;

		FZ_CHECK(tc_phc_params_ok(h.ln, h.r, h.p));
		FZ_CHECK(h.saltlen >= TC_PHC_SALT_MIN && h.saltlen <= TC_PHC_SALT_MAX);
		FZ_CHECK(h.hashlen >= TC_PHC_HASH_MIN && h.hashlen <= TC_PHC_HASH_MAX);
		n = tc_phc_scrypt_format(&h, out, size + 1);
		FZ_CHECK(n >= 0 && (size_t) n == size && memcmp(out, in, size) == 0);
		FZ_CHECK(tc_phc_scrypt_format(&h, out, size) < 0);
		free(out);
	}
	if (size >= 12)
	{
		unsigned	v[3];

		memcpy(v, data, sizeof(v));
		(void) tc_phc_params_ok(v[0], v[1], v[2]);
	}
	{
		size_t		cap = size * 3 / 4;
		uint8_t    *dec = malloc(cap ? cap : 1);
		long		n = tc_b64std_decode(in, size, dec, cap);

		if (n >= 0)
		{
			char	   *enc = malloc(size + 1);

			FZ_CHECK((size_t) n <= cap && tc_b64std_encoded_len((size_t) n) == size);
			tc_b64std_encode(dec, (size_t) n, enc);
			FZ_CHECK(memcmp(enc, in, size) == 0);
			free(enc);
		}
		free(dec);
	}
	free(in);
	return 0;
}

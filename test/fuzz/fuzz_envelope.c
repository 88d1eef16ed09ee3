/*
 * fuzz_envelope.c: libFuzzer harness for the envelope and PHC parsers of
 * src/core.  Build and run:
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Isrc/core \
 *     test/fuzz/fuzz_envelope.c src/core/envelope.c src/core/phc.c -o /tmp/fuzz_envelope
 *   /tmp/fuzz_envelope -max_total_time=60
 *
 * (or test/fuzz/run.sh [seconds] envelope).
 *
 * Besides not crashing, it checks that a parsed envelope's fields lie inside
 * the input and add up to its length, that a header written from the parsed
 * fields is the input's header, and that a parsed PHC string formats back to
 * exactly the input (one encoding per hash).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "envelope.h"
#include "phc.h"

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	tc_envelope e;
	tc_phc_scrypt h;
	char		out[TC_PHC_MAXLEN + 1];

	if (tc_envelope_parse(data, size, &e) == 0)
	{
		uint8_t		hdr[TC_ENV_HDR_LEN];

		if (e.header != data || e.nonce != data + 9 || e.ct != data + TC_ENV_HDR_LEN ||
			e.ctlen + TC_ENV_OVERHEAD != size || e.tag != data + size - TC_ENV_TAG_LEN)
			abort();
		if (tc_envelope_write_header(hdr, sizeof(hdr), e.key_id, e.version, e.nonce) != TC_ENV_HDR_LEN ||
			memcmp(hdr, data, TC_ENV_HDR_LEN) != 0)
			abort();
	}
	if (tc_phc_scrypt_parse((const char *) data, size, &h) == 0)
	{
		int			n = tc_phc_scrypt_format(&h, out, sizeof(out));

		if (n < 0 || (size_t) n != size || memcmp(out, data, size) != 0)
			abort();
	}
	{
		uint8_t		dec[256];
		long		n = tc_b64std_decode((const char *) data, size, dec, sizeof(dec));

		if (n >= 0)
		{
			char		enc[400];

			if ((size_t) n > sizeof(dec) || tc_b64std_encoded_len((size_t) n) != size)
				abort();
			tc_b64std_encode(dec, (size_t) n, enc);
			if (memcmp(enc, data, size) != 0)
				abort();
		}
	}
	return 0;
}

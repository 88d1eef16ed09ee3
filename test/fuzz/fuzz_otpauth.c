/*
 * fuzz_otpauth.c: the otpauth:// URI writer and recovery-code normalizer of
 * src/core/otpauth.c, with issuer, account and secret taken from the input
 * (they come from the caller).  The URI never exceeds tc_otpauth_uri_max and
 * never writes past cap; escaped text uses only the unreserved set and %XX;
 * a formatted recovery code normalizes to itself.
 */
#include "fuzz_common.h"
#include "otpauth.h"

static int
unreserved(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		strchr("-_.!~*'()", c) != NULL;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	   *in;
	size_t		a,
				b,
				max,
				len,
				elen;
	char	   *uri,
			   *esc;
	int			digits,
				period;
	char		norm[TC_RECOVERY_CHARS];
	char		code[TC_RECOVERY_TEXT_LEN];

	if (size < 4)
		return 0;
	a = data[0] % (size - 3);
	b = data[1] % (size - 3 - a + 1);
	digits = 6 + data[2] % 3;
	period = 1 + data[3];
	in = fz_dup(data + 4, size - 4);
	size -= 4;
	if (a + b > size)
		b = size - a;

	max = tc_otpauth_uri_max(a, b, size - a - b, 6);
	uri = malloc(max + 1);
	len = tc_otpauth_uri(uri, max + 1, in, a, in + a, b, in + a + b, size - a - b,
						 "SHA256", digits, period);
	FZ_CHECK(len <= max);
	FZ_CHECK(memcmp(uri, "otpauth://totp/", 15) == 0);
	/* too small a buffer: the full length is still reported, nothing overrun */
	if (len > 0)
		FZ_CHECK(tc_otpauth_uri(uri, len / 2, in, a, in + a, b, in + a + b, size - a - b,
								"SHA256", digits, period) == len);
	free(uri);

	esc = malloc(3 * size + 1);
	elen = tc_uri_component_escape(in, size, esc);
	FZ_CHECK(elen <= 3 * size);
	for (size_t i = 0; i < elen; i++)
	{
		if (esc[i] == '%')
		{
			FZ_CHECK(i + 2 < elen);
			i += 2;
		}
		else
			FZ_CHECK(unreserved(esc[i]));
	}
	free(esc);

	if (tc_recovery_normalize(in, size, norm))
		for (int i = 0; i < TC_RECOVERY_CHARS; i++)
			FZ_CHECK(norm[i] != '-' && norm[i] != ' ' && !(norm[i] >= 'A' && norm[i] <= 'Z'));
	if (size >= TC_RECOVERY_RANDOM_BYTES)
	{
		char		norm2[TC_RECOVERY_CHARS];

		tc_recovery_format((const uint8_t *) in, code);
		FZ_CHECK(tc_recovery_normalize(code, sizeof(code), norm2) == 1);
	}
	free(in);
	return 0;
}

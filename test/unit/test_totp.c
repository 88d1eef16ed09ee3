/*
 * test_totp.c: unit tests of src/core/base32.c and src/core/otpauth.c (no
 * server).  Prints TAP-style lines.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base32.h"
#include "otpauth.h"

static int	n = 0,
			failed = 0;

static void
check(int cond, const char *what)
{
	n++;
	if (!cond)
		failed++;
	printf("%sok %d - %s\n", cond ? "" : "not ", n, what);
}

static void
test_base32_vectors(void)
{
	/* RFC 4648 section 10 */
	const char *plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
	const char *padded[] = {"", "MY======", "MZXQ====", "MZXW6===", "MZXW6YQ=", "MZXW6YTB", "MZXW6YTBOI======"};
	int			allok = 1;

	for (int i = 0; i < 7; i++)
	{
		size_t		l = strlen(plain[i]);
		size_t		el = tc_base32_encoded_len(l);
		char		enc[32];
		uint8_t		out[16];
		char		lower[32];

		tc_base32_encode((const uint8_t *) plain[i], l, enc);
		allok &= el <= strlen(padded[i]) && memcmp(enc, padded[i], el) == 0;
		/* unpadded, padded and lower-case all decode */
		allok &= tc_base32_decode(padded[i], el, out, sizeof(out)) == (long) l && memcmp(out, plain[i], l) == 0;
		allok &= tc_base32_decode(padded[i], strlen(padded[i]), out, sizeof(out)) == (long) l &&
			memcmp(out, plain[i], l) == 0;
		for (size_t j = 0; j <= strlen(padded[i]); j++)
			lower[j] = (padded[i][j] >= 'A' && padded[i][j] <= 'Z') ? (char) (padded[i][j] + 32) : padded[i][j];
		allok &= tc_base32_decode(lower, strlen(lower), out, sizeof(out)) == (long) l;
	}
	check(allok, "base32: RFC 4648 vectors, padded, unpadded, lower case");
}

static void
test_base32_malformed(void)
{
	uint8_t		out[64];

	check(tc_base32_decode("MZXW6YT1", 8, out, sizeof(out)) == -1, "base32: digit 1 refused");
	check(tc_base32_decode("MZXW 6YTB", 9, out, sizeof(out)) == -1, "base32: whitespace refused");
	check(tc_base32_decode("M", 1, out, sizeof(out)) == -1, "base32: length 1 refused");
	check(tc_base32_decode("MZX", 3, out, sizeof(out)) == -1, "base32: length 3 refused");
	check(tc_base32_decode("MZXW6Y", 6, out, sizeof(out)) == -1, "base32: length 6 refused");
	check(tc_base32_decode("MY=====", 7, out, sizeof(out)) == -1, "base32: short padding refused");
	check(tc_base32_decode("MY======MY======", 16, out, sizeof(out)) == -1, "base32: padding in the middle refused");
	check(tc_base32_decode("========", 8, out, sizeof(out)) == -1, "base32: padding only refused");
	check(tc_base32_decode("MZXW6YTBOI", 10, out, 5) == -2, "base32: output too small reported");
	check(tc_base32_decode("MZXW6YTBOI", 10, out, 6) == 6, "base32: exact capacity suffices");
	check(tc_base32_decode("MZ\0W6YTB", 8, out, sizeof(out)) == -1, "base32: NUL byte refused");
}

static void
test_base32_roundtrip(void)
{
	int			allok = 1;

	srand(42);
	for (int iter = 0; iter < 2000; iter++)
	{
		size_t		l = (size_t) (rand() % 70);
		uint8_t		in[70],
					out[70];
		char		enc[128];

		for (size_t i = 0; i < l; i++)
			in[i] = (uint8_t) rand();
		tc_base32_encode(in, l, enc);
		allok &= tc_base32_decode(enc, tc_base32_encoded_len(l), out, l) == (long) l && memcmp(in, out, l) == 0;
	}
	check(allok, "base32: 2000 random round trips at exact capacity");
}

static void
test_escape(void)
{
	char		out[64];
	size_t		k = tc_uri_component_escape("a b:c/d?&=%~*'()!-_.", 20, out);

	out[k] = '\0';
	check(strcmp(out, "a%20b%3Ac%2Fd%3F%26%3D%25~*'()!-_.") == 0, "uri escape matches encodeURIComponent");
	k = tc_uri_component_escape("\xc3\xa9", 2, out);
	out[k] = '\0';
	check(strcmp(out, "%C3%A9") == 0, "uri escape: UTF-8 bytes");
}

static void
test_uri(void)
{
	char		buf[512];
	size_t		max = tc_otpauth_uri_max(10, 16, 32, 4);
	size_t		len = tc_otpauth_uri(buf, sizeof(buf), "TraceChain", 10, "alice@example.com", 17,
									 "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP", 32, "SHA1", 6, 30);
	const char *want = "otpauth://totp/TraceChain:alice%40example.com?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
		"&period=30&digits=6&algorithm=SHA1&issuer=TraceChain";

	check(len == strlen(want) && strcmp(buf, want) == 0, "otpauth URI in otplib's keyuri form");
	check(len < max + 1, "otpauth URI within the announced maximum");
	len = tc_otpauth_uri(buf, 20, "TraceChain", 10, "alice", 5, "JBSW", 4, "SHA1", 6, 30);
	check(len >= 20 && memcmp(buf, "otpauth://totp/Trac", 19) == 0, "otpauth URI: small buffer reports the length, no overflow");
	{
		/* worst case: every byte escaped */
		char		issuer[200],
					account[200];
		char	   *big;

		memset(issuer, ':', sizeof(issuer));
		memset(account, '%', sizeof(account));
		max = tc_otpauth_uri_max(200, 200, 32, 6);
		big = malloc(max);
		len = tc_otpauth_uri(big, max, issuer, 200, account, 200, "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP", 32,
							 "SHA512", 8, 300);
		check(len < max && big[len] == '\0', "otpauth URI: worst case fits the maximum");
		free(big);
	}
}

static void
test_recovery(void)
{
	uint8_t		rnd[TC_RECOVERY_RANDOM_BYTES] = {1, 2, 3, 4, 5, 6, 7};
	char		code[TC_RECOVERY_TEXT_LEN + 1];
	char		norm[TC_RECOVERY_CHARS];
	char		upper[TC_RECOVERY_TEXT_LEN + 3];

	tc_recovery_format(rnd, code);
	code[TC_RECOVERY_TEXT_LEN] = '\0';
	check(strlen(code) == 11 && code[5] == '-', "recovery code: xxxxx-xxxxx");
	check(tc_recovery_normalize(code, strlen(code), norm) == 1 && memcmp(norm, code, 5) == 0 &&
		  memcmp(norm + 5, code + 6, 5) == 0, "recovery code: normalizes to its 10 characters");
	for (int i = 0; i < 11; i++)
		upper[i] = (code[i] >= 'a' && code[i] <= 'z') ? (char) (code[i] - 32) : code[i];
	upper[11] = ' ';
	upper[12] = '\0';
	check(tc_recovery_normalize(upper, 12, norm) == 1, "recovery code: upper case and spaces accepted");
	check(tc_recovery_normalize("123456", 6, norm) == 0, "recovery code: a TOTP code is not one");
	check(tc_recovery_normalize("12345678", 8, norm) == 0, "recovery code: an 8-digit TOTP code is not one");
	check(tc_recovery_normalize("abcde-fghijk", 12, norm) == 0, "recovery code: too long refused");
	check(tc_recovery_normalize("abcde-fgh1j", 11, norm) == 0, "recovery code: digit 1 refused");
}

int
main(void)
{
	test_base32_vectors();
	test_base32_malformed();
	test_base32_roundtrip();
	test_escape();
	test_uri();
	test_recovery();
	printf("1..%d\n", n);
	return failed ? 1 : 0;
}

/*
 * test_core.c: unit tests of src/core (no server).  Prints TAP-style lines.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "audit_enc.h"
#include "encoding.h"

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
test_hex(void)
{
	uint8_t		out[8];
	char		enc[16];
	const uint8_t in[3] = {0x00, 0xab, 0xff};

	tc_hex_encode(in, 3, enc);
	check(memcmp(enc, "00abff", 6) == 0, "hex encode");
	check(tc_hex_decode("00ABff", 6, out, sizeof(out)) == 3 && memcmp(out, in, 3) == 0, "hex decode, mixed case");
	check(tc_hex_decode("abc", 3, out, sizeof(out)) == -1, "hex: odd length refused");
	check(tc_hex_decode("zz", 2, out, sizeof(out)) == -1, "hex: non-hex refused");
	check(tc_hex_decode("0011223344556677ff", 18, out, 8) == -1, "hex: output too small refused");
	check(tc_hex_decode("", 0, out, 0) == 0, "hex: empty");
}

static void
test_b64url(void)
{
	/* RFC 4648 test vectors, URL-safe and unpadded. */
	const char *plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
	const char *b64[] = {"", "Zg", "Zm8", "Zm9v", "Zm9vYg", "Zm9vYmE", "Zm9vYmFy"};
	uint8_t		out[16];
	char		enc[16];
	int			allok = 1;

	for (int i = 0; i < 7; i++)
	{
		size_t		l = strlen(plain[i]);

		tc_b64url_encode((const uint8_t *) plain[i], l, enc);
		allok &= tc_b64url_encoded_len(l) == strlen(b64[i]) && memcmp(enc, b64[i], strlen(b64[i])) == 0;
		allok &= tc_b64url_decode(b64[i], strlen(b64[i]), out, sizeof(out)) == (long) l &&
			memcmp(out, plain[i], l) == 0;
	}
	check(allok, "base64url RFC 4648 vectors round-trip");
	{
		const uint8_t x[2] = {0xfb, 0xff};

		tc_b64url_encode(x, 2, enc);
		check(memcmp(enc, "-_8", 3) == 0, "base64url uses - and _");
	}
	check(tc_b64url_decode("Zm9v=", 5, out, sizeof(out)) == -1, "base64url: padding refused");
	check(tc_b64url_decode("Zm+v", 4, out, sizeof(out)) == -1, "base64url: + refused");
	check(tc_b64url_decode("Z", 1, out, sizeof(out)) == -1, "base64url: length 1 mod 4 refused");
	check(tc_b64url_decode("Zh", 2, out, sizeof(out)) == -1, "base64url: non-zero trailing bits refused");
	check(tc_b64url_decode("Zm9vYmFy", 8, out, 5) == -1, "base64url: output too small refused");
}

static void
test_audit_enc(void)
{
	tc_field	f[3] = {{"1", 1}, {NULL, 0}, {"", 0}};
	uint8_t		out[32];
	const uint8_t want[] = {0, 0, 0, 1, '1', 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0};
	char		buf[40];
	const uint8_t u[16] = {0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0, 1, 2, 3, 4, 5, 6, 7, 8};

	check(tc_audit_encoded_len(f, 3) == sizeof(want), "audit encoding length");
	check(tc_audit_encode(f, 3, out, sizeof(out)) == sizeof(want) && memcmp(out, want, sizeof(want)) == 0,
		  "audit encoding: length-prefixed, NULL as ff ff ff ff, empty as 0");
	check(tc_audit_encode(f, 3, out, 5) == 0, "audit encoding: short buffer refused");
	check(tc_audit_format_epoch_us(0, buf) == 1 && buf[0] == '0', "epoch 0");
	check(tc_audit_format_epoch_us(1764790430123456LL, buf) == 16 && memcmp(buf, "1764790430123456", 16) == 0,
		  "epoch microseconds in decimal");
	check(tc_audit_format_epoch_us(-5, buf) == 2 && memcmp(buf, "-5", 2) == 0, "negative epoch");
	{
		/* every length and both signs, against printf */
		int64_t		vals[] = {9, 10, 99, 100, 101, 999, 1000, 12345, -10, -99, -100, -1234567,
			INT64_MAX, INT64_MIN, INT64_MIN + 1};
		bool		all = true;

		for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++)
		{
			char		want[32];
			int			wn = snprintf(want, sizeof(want), "%lld", (long long) vals[i]);

			if (tc_audit_format_epoch_us(vals[i], buf) != (size_t) wn || memcmp(buf, want, wn) != 0)
				all = false;
		}
		for (int64_t v = -100000; v <= 100000 && all; v += 7)
		{
			char		want[32];
			int			wn = snprintf(want, sizeof(want), "%lld", (long long) v);

			if (tc_audit_format_epoch_us(v, buf) != (size_t) wn || memcmp(buf, want, wn) != 0)
				all = false;
		}
		check(all, "epoch formatting matches printf for every length, INT64_MIN and INT64_MAX");
	}
	tc_audit_format_uuid(u, buf);
	check(memcmp(buf, "12345678-9abc-def0-0102-030405060708", 36) == 0, "uuid canonical text");
}

int
main(void)
{
	test_hex();
	test_b64url();
	test_audit_enc();
	{
		uint8_t		a[4] = {1, 2, 3, 4},
					b[4] = {1, 2, 3, 5};

		check(tc_ct_equal(a, a, 4) && !tc_ct_equal(a, b, 4), "constant-time compare");
	}
	printf("1..%d\n", n);
	return failed ? 1 : 0;
}

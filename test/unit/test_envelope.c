/*
 * test_envelope.c: unit tests of src/core/envelope.c and src/core/phc.c (no server).
 */
#include <stdio.h>
#include <string.h>

#include "envelope.h"
#include "phc.h"

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
test_envelope(void)
{
	uint8_t		buf[64];
	uint8_t		nonce[TC_ENV_NONCE_LEN];
	tc_envelope e;

	for (int i = 0; i < TC_ENV_NONCE_LEN; i++)
		nonce[i] = (uint8_t) (0xa0 + i);
	check(tc_envelope_write_header(buf, sizeof(buf), 0x01020304, 7, nonce) == TC_ENV_HDR_LEN, "write header");
	check(buf[0] == 1 && buf[1] == 1 && buf[2] == 2 && buf[3] == 3 && buf[4] == 4, "format byte, key id big-endian");
	check(buf[5] == 0 && buf[6] == 0 && buf[7] == 0 && buf[8] == 7, "version big-endian");
	check(memcmp(buf + 9, nonce, 12) == 0, "nonce at offset 9");
	memset(buf + TC_ENV_HDR_LEN, 0x55, 5 + TC_ENV_TAG_LEN);
	check(tc_envelope_parse(buf, TC_ENV_OVERHEAD + 5, &e) == 0, "parse");
	check(e.key_id == 0x01020304 && e.version == 7 && e.ctlen == 5, "parsed fields");
	check(e.ct == buf + 21 && e.tag == buf + 26 && e.nonce == buf + 9 && e.header == buf, "parsed offsets");
	check(tc_envelope_parse(buf, TC_ENV_OVERHEAD, &e) == 0 && e.ctlen == 0, "empty plaintext");
	check(tc_envelope_parse(buf, TC_ENV_OVERHEAD - 1, &e) == -1, "truncated refused");
	check(tc_envelope_parse(buf, 0, &e) == -1, "empty refused");
	check(tc_envelope_parse(NULL, 40, &e) == -1, "null refused");
	buf[0] = 2;
	check(tc_envelope_parse(buf, TC_ENV_OVERHEAD + 5, &e) == -1, "unknown format refused");
	buf[0] = 1;
	check(tc_envelope_write_header(buf, TC_ENV_HDR_LEN - 1, 1, 1, nonce) == -1, "small buffer refused");
	check(tc_envelope_write_header(buf, sizeof(buf), 0, 1, nonce) == -1, "key id 0 refused");
	check(tc_envelope_write_header(buf, sizeof(buf), 1, 0, nonce) == -1, "version 0 refused");
	memset(buf + 1, 0, 4);
	check(tc_envelope_parse(buf, TC_ENV_OVERHEAD, &e) == -1, "parse: key id 0 refused");
	check(tc_envelope_len(10) == 47 && tc_envelope_len((size_t) -1) == 0, "length and overflow");
}

static void
test_b64std(void)
{
	char		out[16];
	uint8_t		dec[16];

	tc_b64std_encode((const uint8_t *) "foob", 4, out);
	check(tc_b64std_encoded_len(4) == 6 && memcmp(out, "Zm9vYg", 6) == 0, "b64 encode, no padding");
	check(tc_b64std_decode("Zm9vYg", 6, dec, sizeof(dec)) == 4 && memcmp(dec, "foob", 4) == 0, "b64 decode");
	check(tc_b64std_decode("Zm9vYh", 6, dec, sizeof(dec)) == -1, "b64: non-zero trailing bits refused");
	check(tc_b64std_decode("Zm9vYg==", 8, dec, sizeof(dec)) == -1, "b64: padding refused");
	check(tc_b64std_decode("Zm9-", 4, dec, sizeof(dec)) == -1, "b64: url alphabet refused");
	check(tc_b64std_decode("Zm9vYmFy", 8, dec, 5) == -1, "b64: output too small refused");
	check(tc_b64std_decode("Z", 1, dec, sizeof(dec)) == -1, "b64: impossible length refused");
}

static void
test_phc(void)
{
	tc_phc_scrypt h,
				p;
	char		s[TC_PHC_MAXLEN];
	int			len;
	const char *bad[] = {
		"$scrypt$ln=15,r=8,p=1$c2FsdHNhbHQ$",
		"$scrypt$ln=15,r=8,p=1$c2FsdHNhbHQ",
		"$scrypt$ln=015,r=8,p=1$c2FsdHNhbHQ$MDEyMzQ1Njc4OWFiY2RlZg",
		"$scrypt$ln=21,r=8,p=1$c2FsdHNhbHQ$MDEyMzQ1Njc4OWFiY2RlZg",
		"$scrypt$ln=20,r=32,p=1$c2FsdHNhbHQ$MDEyMzQ1Njc4OWFiY2RlZg",
		"$scrypt$ln=18,r=8,p=16$c2FsdHNhbHQ$MDEyMzQ1Njc4OWFiY2RlZg",
		"$scrypt$ln=20,r=2,p=3$c2FsdHNhbHQ$MDEyMzQ1Njc4OWFiY2RlZg",
		"$scrypt$ln=15,r=8,p=0$c2FsdHNhbHQ$MDEyMzQ1Njc4OWFiY2RlZg",
		"$scrypt$ln=15,r=8$c2FsdHNhbHQ$MDEyMzQ1Njc4OWFiY2RlZg",
		"$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$MDEyMzQ1Njc4OWFiY2RlZg",
		"$scrypt$ln=15,r=8,p=1$c2Fsd$MDEyMzQ1Njc4OWFiY2RlZg",
		"$scrypt$ln=15,r=8,p=1$c2FsdHNhbHQ$MDEyMzQ1Njc4OWFiY2RlZg$",
		"$scrypt$ln=15,r=8,p=1$c2FsdHNhbHQ$MDEyMzQ1Njc4OWFiY2Rl",
		"",
	};

	memset(&h, 0, sizeof(h));
	h.ln = 15;
	h.r = 8;
	h.p = 1;
	h.saltlen = 16;
	h.hashlen = 32;
	for (int i = 0; i < 16; i++)
		h.salt[i] = (uint8_t) i;
	for (int i = 0; i < 32; i++)
		h.hash[i] = (uint8_t) (255 - i);
	len = tc_phc_scrypt_format(&h, s, sizeof(s));
	check(len > 0 && strncmp(s, "$scrypt$ln=15,r=8,p=1$", 22) == 0, "phc format");
	check(tc_phc_scrypt_parse(s, (size_t) len, &p) == 0, "phc parse");
	check(p.ln == 15 && p.r == 8 && p.p == 1 && p.saltlen == 16 && p.hashlen == 32 &&
		  memcmp(p.salt, h.salt, 16) == 0 && memcmp(p.hash, h.hash, 32) == 0, "phc round trip");
	check(tc_phc_scrypt_format(&h, s, 20) == -1, "phc format: small buffer refused");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
	{
		char		what[64];

		snprintf(what, sizeof(what), "phc parse refuses malformed string %zu", i);
		check(tc_phc_scrypt_parse(bad[i], strlen(bad[i]), &p) == -1, what);
	}
	check(tc_phc_scrypt_parse(s, (size_t) len - 1, &p) == -1 || p.hashlen != 32, "phc: truncated not accepted as is");
}

int
main(void)
{
	test_envelope();
	test_b64std();
	test_phc();
	printf("1..%d\n", n);
	return failed ? 1 : 0;
}

/*
 * test_jwt.c: the JWT compact form, the strict JSON validator, the header
 * policy and the ES256 signature conversion of src/core/jwt.c (no server).
 * Prints TAP-style lines.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "encoding.h"
#include "jwt.h"

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

static int
split(const char *s)
{
	tc_jwt_parts p;

	return tc_jwt_split(s, strlen(s), &p);
}

static int
js(const char *s)
{
	return tc_json_object_check((const uint8_t *) s, strlen(s));
}

static int
hdr(const char *s, tc_jwt_alg alg, const char *key, int32_t *ver)
{
	tc_jwt_header h;
	int			rc = tc_jwt_header_parse((const uint8_t *) s, strlen(s), &h);

	if (rc != 0)
		return rc;
	return tc_jwt_header_check(&h, alg, key, strlen(key), ver);
}

int
main(void)
{
	tc_jwt_parts p;
	int32_t		ver = 0;
	char		buf[256];
	long		l;

	/* splitting */
	check(tc_jwt_split("aGVsbG8.d29ybGQ.c2ln", 20, &p) == 0 && p.seglen[0] == 7 && p.seglen[1] == 7 &&
		  p.seglen[2] == 4 && p.signing_input_len == 15, "three segments");
	check(split("a.b") == TC_JWT_E_SEGMENTS, "two segments refused");
	check(split("a.b.c.d") == TC_JWT_E_SEGMENTS, "four segments refused");
	check(split("..") == TC_JWT_E_EMPTY_SEGMENT, "three dots of nothing refused");
	check(split("a..c") == TC_JWT_E_EMPTY_SEGMENT, "empty payload refused");
	check(split("a.b.") == TC_JWT_E_EMPTY_SEGMENT, "empty signature (alg none style) refused");
	check(split("a.b.c=") == TC_JWT_E_BASE64URL, "padding refused");
	check(split("a.b .c") == TC_JWT_E_BASE64URL, "whitespace refused");
	check(split("a.b+/.c") == TC_JWT_E_BASE64URL, "standard base64 alphabet refused");
	check(split("") == TC_JWT_E_SEGMENTS, "empty token refused");
	{
		char	   *big = malloc(TC_JWT_MAX_LEN + 2);

		memset(big, 'a', TC_JWT_MAX_LEN + 1);
		big[1] = '.';
		big[3] = '.';
		check(tc_jwt_split(big, TC_JWT_MAX_LEN + 1, &p) == TC_JWT_E_TOO_LONG, "token above 16 KiB refused");
		check(tc_jwt_split(big, TC_JWT_MAX_LEN, &p) == 0, "token of exactly 16 KiB splits");
		free(big);
	}
	{
		uint8_t		out[8];

		check(tc_jwt_segment_decode("aGk", 3, out, sizeof(out)) == 2 && memcmp(out, "hi", 2) == 0,
			  "segment decodes");
		check(tc_jwt_segment_decode("aGl", 3, out, sizeof(out)) < 0, "non-canonical trailing bits refused");
		check(tc_jwt_segment_decode("a", 1, out, sizeof(out)) < 0, "one-character segment refused");
	}

	/* JSON */
	check(js("{}") == 0, "empty object");
	check(js(" {\"a\" : [1, -2.5e10, true, false, null, {\"b\": \"\\u00e9\\ud83d\\ude00\"}]}\n") == 0,
		  "object with every kind of value");
	check(js("{\"a\":\"\xc3\xa9\xf0\x9f\x98\x80\"}") == 0, "UTF-8 in strings");
	check(js("[]") == TC_JWT_E_NOT_OBJECT, "array at the top refused");
	check(js("\"x\"") == TC_JWT_E_NOT_OBJECT, "string at the top refused");
	check(js("42") == TC_JWT_E_NOT_OBJECT, "number at the top refused");
	check(js("") == TC_JWT_E_JSON, "empty refused");
	check(js("{\"a\":1,}") == TC_JWT_E_JSON, "trailing comma refused");
	check(js("{\"a\":1} x") == TC_JWT_E_JSON, "trailing garbage refused");
	check(js("{\"a\":01}") == TC_JWT_E_JSON, "leading zero refused");
	check(js("{\"a\":1.}") == TC_JWT_E_JSON, "bare decimal point refused");
	check(js("{\"a\":'x'}") == TC_JWT_E_JSON, "single quotes refused");
	check(js("{\"a\":\"x\ty\"}") == TC_JWT_E_JSON, "control character in a string refused");
	check(js("{\"a\":\"\\x\"}") == TC_JWT_E_JSON, "unknown escape refused");
	check(js("{\"a\":\"\\u12\"}") == TC_JWT_E_JSON, "short \\u escape refused");
	check(js("{\"a\":\"\\u0000\"}") == TC_JWT_E_JSON_NUL, "\\u0000 refused");
	check(js("{\"a\":\"\\ud800\"}") == TC_JWT_E_JSON_UTF8, "lone high surrogate refused");
	check(js("{\"a\":\"\\udc00\"}") == TC_JWT_E_JSON_UTF8, "lone low surrogate refused");
	check(js("{\"a\":\"\xff\"}") == TC_JWT_E_JSON_UTF8, "invalid UTF-8 byte refused");
	check(js("{\"a\":\"\xc0\xaf\"}") == TC_JWT_E_JSON_UTF8, "overlong UTF-8 refused");
	check(js("{\"a\":\"\xed\xa0\x80\"}") == TC_JWT_E_JSON_UTF8, "UTF-8 surrogate refused");
	check(js("{\"a\":\"\xf4\x90\x80\x80\"}") == TC_JWT_E_JSON_UTF8, "above U+10FFFF refused");
	check(js("{\"a\":\"\xe2\x82\"}") == TC_JWT_E_JSON_UTF8, "truncated UTF-8 refused");
	check(js("{\"a\":1e99999}") == TC_JWT_E_JSON_NUMBER, "huge exponent refused");
	check(js("{\"a\":-1.5E-99}") == 0, "two-digit exponent accepted");
	check(js("{\"a\":1e100}") == TC_JWT_E_JSON_NUMBER, "three-digit exponent refused");
	check(js("{\"a\":1,\"a\":2}") == TC_JWT_E_JSON_DUPLICATE, "duplicate member refused");
	check(js("{\"exp\":1,\"\\u0065xp\":2}") == TC_JWT_E_JSON_DUPLICATE, "duplicate member in escaped form refused");
	check(js("{\"a\":{\"b\":1,\"b\":2}}") == 0, "duplicate below the top is left to jsonb");
	check(js("{\"a\":tru}") == TC_JWT_E_JSON, "truncated literal refused");
	check(js("{\"a\":\"x") == TC_JWT_E_JSON, "unterminated string refused");
	{
		char		deep[200];
		size_t		o = 0;

		o += (size_t) sprintf(deep + o, "{\"a\":");
		for (int i = 0; i < 31; i++)
			deep[o++] = '[';
		for (int i = 0; i < 31; i++)
			deep[o++] = ']';
		deep[o++] = '}';
		deep[o] = '\0';
		check(js(deep) == 0, "depth 32 accepted");
		o = 0;
		o += (size_t) sprintf(deep + o, "{\"a\":");
		for (int i = 0; i < 32; i++)
			deep[o++] = '[';
		for (int i = 0; i < 32; i++)
			deep[o++] = ']';
		deep[o++] = '}';
		deep[o] = '\0';
		check(js(deep) == TC_JWT_E_JSON_DEPTH, "depth 33 refused");
	}
	{
		/* 100,000 open brackets: no stack overflow, refused at depth 33 */
		size_t		len = 100000;
		char	   *b = malloc(len + 6);

		memcpy(b, "{\"a\":", 5);
		memset(b + 5, '[', len);
		b[len + 5] = '\0';
		check(js(b) == TC_JWT_E_JSON_DEPTH, "100,000 brackets refused without recursion");
		free(b);
	}
	{
		char	   *b = malloc(20 * (TC_JWT_MAX_MEMBERS + 2));
		size_t		o = 0;

		b[o++] = '{';
		for (int i = 0; i <= TC_JWT_MAX_MEMBERS; i++)
			o += (size_t) sprintf(b + o, "%s\"k%d\":1", i ? "," : "", i);
		b[o++] = '}';
		b[o] = '\0';
		check(js(b) == TC_JWT_E_JSON_MEMBERS, "too many members refused");
		free(b);
	}

	/* the header */
	check(hdr("{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":\"jwt:3\"}", TC_JWT_ALG_HS256, "jwt", &ver) == 0 &&
		  ver == 3, "HS256 header with kid");
	check(hdr("{\"kid\":\"a:b:12\",\"alg\":\"ES256\"}", TC_JWT_ALG_ES256, "a:b", &ver) == 0 && ver == 12,
		  "ES256 header without typ, key name with a colon");
	check(hdr("{\"alg\":\"HS256\",\"typ\":\"jwt\",\"kid\":\"jwt:1\"}", TC_JWT_ALG_HS256, "jwt", &ver) == 0,
		  "typ in lower case");
	check(hdr("{\"alg\":\"none\",\"kid\":\"jwt:1\"}", TC_JWT_ALG_HS256, "jwt", &ver) == TC_JWT_E_ALG_NONE,
		  "alg none refused");
	check(hdr("{\"alg\":\"nOnE\",\"kid\":\"jwt:1\"}", TC_JWT_ALG_HS256, "jwt", &ver) == TC_JWT_E_ALG_NONE,
		  "alg NoNe refused");
	check(hdr("{\"typ\":\"JWT\",\"kid\":\"jwt:1\"}", TC_JWT_ALG_HS256, "jwt", &ver) == TC_JWT_E_ALG_MISSING,
		  "missing alg refused");
	check(hdr("{\"alg\":\"ES256\",\"kid\":\"jwt:1\"}", TC_JWT_ALG_HS256, "jwt", &ver) == TC_JWT_E_ALG_MISMATCH,
		  "ES256 for an HS256 key refused");
	check(hdr("{\"alg\":\"HS256\",\"kid\":\"jwt:1\"}", TC_JWT_ALG_ES256, "jwt", &ver) == TC_JWT_E_ALG_MISMATCH,
		  "HS256 for an ES256 key refused (key confusion)");
	check(hdr("{\"alg\":\"hs256\",\"kid\":\"jwt:1\"}", TC_JWT_ALG_HS256, "jwt", &ver) == TC_JWT_E_ALG_MISMATCH,
		  "alg is case-sensitive");
	check(hdr("{\"alg\":\"HS512\",\"kid\":\"jwt:1\"}", TC_JWT_ALG_HS256, "jwt", &ver) == TC_JWT_E_ALG_MISMATCH,
		  "HS512 refused");
	check(hdr("{\"alg\":\"HS256\",\"typ\":\"JOSE\",\"kid\":\"jwt:1\"}", TC_JWT_ALG_HS256, "jwt", &ver) == TC_JWT_E_TYP,
		  "typ JOSE refused");
	check(hdr("{\"alg\":\"HS256\",\"crit\":[\"b64\"],\"kid\":\"jwt:1\"}", TC_JWT_ALG_HS256, "jwt", &ver) == TC_JWT_E_CRIT,
		  "crit refused");
	check(hdr("{\"alg\":\"HS256\"}", TC_JWT_ALG_HS256, "jwt", &ver) == TC_JWT_E_KID_MISSING, "missing kid refused");
	check(hdr("{\"alg\":\"HS256\",\"kid\":\"other:1\"}", TC_JWT_ALG_HS256, "jwt", &ver) == TC_JWT_E_KID_OTHER_KEY,
		  "kid of another key refused");
	check(hdr("{\"alg\":\"HS256\",\"kid\":\"jwtx:1\"}", TC_JWT_ALG_HS256, "jwt", &ver) == TC_JWT_E_KID_OTHER_KEY,
		  "kid of a longer name refused");
	check(hdr("{\"alg\":\"HS256\",\"kid\":\"jwt\"}", TC_JWT_ALG_HS256, "jwt", &ver) == TC_JWT_E_KID_OTHER_KEY,
		  "kid without version refused");
	check(hdr("{\"alg\":\"HS256\",\"kid\":\"jwt:01\"}", TC_JWT_ALG_HS256, "jwt", &ver) == TC_JWT_E_KID_OTHER_KEY,
		  "kid version with a leading zero refused");
	check(hdr("{\"alg\":\"HS256\",\"kid\":\"jwt:0\"}", TC_JWT_ALG_HS256, "jwt", &ver) == TC_JWT_E_KID_OTHER_KEY,
		  "kid version 0 refused");
	check(hdr("{\"alg\":\"HS256\",\"kid\":\"jwt:2147483648\"}", TC_JWT_ALG_HS256, "jwt", &ver) == TC_JWT_E_KID_OTHER_KEY,
		  "kid version above 2^31 - 1 refused");
	check(hdr("{\"alg\":\"HS256\",\"kid\":\"jwt:1x\"}", TC_JWT_ALG_HS256, "jwt", &ver) == TC_JWT_E_KID_OTHER_KEY,
		  "kid version with a letter refused");
	check(hdr("{\"alg\":256,\"kid\":\"jwt:1\"}", TC_JWT_ALG_HS256, "jwt", &ver) == TC_JWT_E_HEADER_FIELD,
		  "numeric alg refused as malformed");
	check(hdr("{\"alg\":\"HS256\",\"kid\":\"jwt:1\",\"alg\":\"none\"}", TC_JWT_ALG_HS256, "jwt", &ver) == TC_JWT_E_JSON_DUPLICATE,
		  "two algs refused");
	check(hdr("{\"alg\":\"HS256HS256HS256HS256\",\"kid\":\"jwt:1\"}", TC_JWT_ALG_HS256, "jwt", &ver) == TC_JWT_E_HEADER_FIELD,
		  "long alg refused");
	check(hdr("{\"\\u0061lg\":\"\\u0048S256\",\"kid\":\"jwt:1\"}", TC_JWT_ALG_HS256, "jwt", &ver) == 0,
		  "escaped member name and value decoded");
	check(tc_jwt_err_is_malformed(TC_JWT_E_HEADER_FIELD) && !tc_jwt_err_is_malformed(TC_JWT_E_ALG_NONE),
		  "malformed and refused are told apart");

	l = tc_jwt_header_write(TC_JWT_ALG_ES256, "jwt", 3, 42, buf, sizeof(buf));
	check(l > 0 && (size_t) l == strlen("{\"alg\":\"ES256\",\"typ\":\"JWT\",\"kid\":\"jwt:42\"}") &&
		  memcmp(buf, "{\"alg\":\"ES256\",\"typ\":\"JWT\",\"kid\":\"jwt:42\"}", (size_t) l) == 0,
		  "header written");
	check(tc_jwt_header_write(TC_JWT_ALG_HS256, "jwt", 3, 1, buf, 20) < 0, "header write bounded");
	check(tc_jwt_header_write(TC_JWT_ALG_HS256, "j\"t", 3, 1, buf, sizeof(buf)) < 0, "unsafe name refused");

	/* ES256 signature conversion */
	{
		uint8_t		raw[64],
					back[64],
					der[TC_JWT_ES256_DER_MAX];

		for (int i = 0; i < 64; i++)
			raw[i] = (uint8_t) (0x80 + i);	/* both high-bit: 0x00 prefixes */
		l = tc_jwt_ecdsa_raw_to_der(raw, der, sizeof(der));
		check(l == 72 && der[0] == 0x30 && der[1] == 70 && der[2] == 2 && der[3] == 33 && der[4] == 0,
			  "raw to DER with sign bytes");
		check(tc_jwt_ecdsa_der_to_raw(der, (size_t) l, back) == 0 && memcmp(raw, back, 64) == 0, "DER back to raw");
		memset(raw, 0, 64);
		raw[31] = 1;
		raw[63] = 0x7f;
		l = tc_jwt_ecdsa_raw_to_der(raw, der, sizeof(der));
		check(l == 8 && memcmp(der, "\x30\x06\x02\x01\x01\x02\x01\x7f", 8) == 0, "short integers minimal");
		check(tc_jwt_ecdsa_der_to_raw(der, (size_t) l, back) == 0 && memcmp(raw, back, 64) == 0, "short DER back to raw");
		raw[31] = 0;
		check(tc_jwt_ecdsa_raw_to_der(raw, der, sizeof(der)) < 0, "r = 0 refused");
		check(tc_jwt_ecdsa_der_to_raw((const uint8_t *) "\x30\x07\x02\x02\x00\x01\x02\x01\x7f", 9, back) < 0,
			  "non-minimal DER integer refused");
		check(tc_jwt_ecdsa_der_to_raw((const uint8_t *) "\x30\x06\x02\x01\x81\x02\x01\x7f", 8, back) < 0,
			  "negative DER integer refused");
		check(tc_jwt_ecdsa_der_to_raw((const uint8_t *) "\x30\x07\x02\x01\x01\x02\x01\x7f\x00", 9, back) < 0,
			  "DER length mismatch refused");
		check(tc_jwt_ecdsa_der_to_raw((const uint8_t *) "\x30\x06\x02\x01\x01\x02\x02\x7f", 8, back) < 0,
			  "DER integer past the end refused");
		check(tc_jwt_ecdsa_der_to_raw((const uint8_t *) "\x30\x06\x02\x01\x00\x02\x01\x7f", 8, back) < 0,
			  "DER r = 0 refused");
	}

	printf("# %d tests, %d failed\n", n, failed);
	return failed ? 1 : 0;
}

/*
 * jwt.c: the JWT compact serialization, strictly (see jwt.h).
 */
#include "jwt.h"

#include <string.h>

#include "encoding.h"

const char *
tc_jwt_strerror(int err)
{
	switch ((tc_jwt_err) err)
	{
		case TC_JWT_OK:
			return "ok";
		case TC_JWT_E_TOO_LONG:
			return "the token is too long";
		case TC_JWT_E_SEGMENTS:
			return "the token does not have exactly three segments";
		case TC_JWT_E_EMPTY_SEGMENT:
			return "a segment of the token is empty";
		case TC_JWT_E_BASE64URL:
			return "a segment is not strict base64url (no padding, no whitespace)";
		case TC_JWT_E_JSON:
			return "invalid JSON";
		case TC_JWT_E_JSON_DEPTH:
			return "JSON nested too deeply";
		case TC_JWT_E_JSON_UTF8:
			return "invalid UTF-8 in JSON";
		case TC_JWT_E_JSON_NUL:
			return "JSON string with \\u0000";
		case TC_JWT_E_JSON_NUMBER:
			return "JSON number out of range";
		case TC_JWT_E_JSON_DUPLICATE:
			return "duplicate member name";
		case TC_JWT_E_JSON_MEMBERS:
			return "too many members";
		case TC_JWT_E_NOT_OBJECT:
			return "not a JSON object";
		case TC_JWT_E_HEADER_FIELD:
			return "alg, typ or kid is not a short string";
		case TC_JWT_E_ALG_MISSING:
			return "the header has no alg";
		case TC_JWT_E_ALG_NONE:
			return "alg none is refused";
		case TC_JWT_E_ALG_MISMATCH:
			return "the algorithm is not the key's";
		case TC_JWT_E_TYP:
			return "typ is not JWT";
		case TC_JWT_E_CRIT:
			return "the header has crit";
		case TC_JWT_E_KID_MISSING:
			return "the header has no kid";
		case TC_JWT_E_KID_OTHER_KEY:
			return "kid names another key";
		case TC_JWT_E_SIGNATURE:
			return "the signature has the wrong form";
	}
	return "unknown error";
}

int
tc_jwt_err_is_malformed(int err)
{
	return err >= TC_JWT_E_TOO_LONG && err <= TC_JWT_E_HEADER_FIELD;
}

const char *
tc_jwt_alg_name(tc_jwt_alg alg)
{
	return alg == TC_JWT_ALG_HS256 ? "HS256" : alg == TC_JWT_ALG_ES256 ? "ES256" : "?";
}

static int
is_b64url(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		c == '-' || c == '_';
}

int
tc_jwt_split(const char *tok, size_t len, tc_jwt_parts *out)
{
	size_t		start = 0;
	int			n = 0;

	memset(out, 0, sizeof(*out));
	if (len > TC_JWT_MAX_LEN)
		return TC_JWT_E_TOO_LONG;
	for (size_t i = 0; i <= len; i++)
	{
		if (i == len || tok[i] == '.')
		{
			if (n >= 3)
				return TC_JWT_E_SEGMENTS;
			out->seg[n] = tok + start;
			out->seglen[n] = i - start;
			n++;
			start = i + 1;
		}
		else if (!is_b64url((unsigned char) tok[i]))
			return TC_JWT_E_BASE64URL;
	}
	if (n != 3)
		return TC_JWT_E_SEGMENTS;
	for (int k = 0; k < 3; k++)
		if (out->seglen[k] == 0)
			return TC_JWT_E_EMPTY_SEGMENT;
	out->signing_input_len = out->seglen[0] + 1 + out->seglen[1];
	return TC_JWT_OK;
}

long
tc_jwt_segment_decode(const char *seg, size_t seglen, uint8_t *out, size_t cap)
{
	return tc_b64url_decode(seg, seglen, out, cap);
}

/* ---------------------------------------------------------------------
 * A strict JSON validator (RFC 8259)
 */

#define NUMBER_MAX 100			/* characters */
#define EXPONENT_DIGITS_MAX 2

typedef struct jp
{
	const uint8_t *p;
	size_t		len;
	size_t		pos;
	int			err;
} jp;

typedef struct span
{
	const uint8_t *p;			/* the string's content between the quotes, escaped */
	size_t		len;
} span;

static void
skip_ws(jp *j)
{
	while (j->pos < j->len &&
		   (j->p[j->pos] == ' ' || j->p[j->pos] == '\t' || j->p[j->pos] == '\n' || j->p[j->pos] == '\r'))
		j->pos++;
}

static int
fail(jp *j, int err)
{
	if (j->err == 0)
		j->err = err;
	return -1;
}

static int
hexval(uint8_t c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Four hex digits at s[0..4) (the caller checked there are four); -1 if not hex. */
static long
hex4(const uint8_t *s)
{
	long		v = 0;

	for (int i = 0; i < 4; i++)
	{
		int			h = hexval(s[i]);

		if (h < 0)
			return -1;
		v = v * 16 + h;
	}
	return v;
}

/*
 * One UTF-8 sequence at s[0..n): its length, or 0 when invalid (overlong,
 * surrogate, above U+10FFFF, truncated).
 */
static size_t
utf8_seq(const uint8_t *s, size_t n, uint32_t *cp)
{
	uint8_t		c = s[0];

	if (c < 0x80)
	{
		*cp = c;
		return 1;
	}
	if (c >= 0xC2 && c <= 0xDF)
	{
		if (n < 2 || (s[1] & 0xC0) != 0x80)
			return 0;
		*cp = ((uint32_t) (c & 0x1F) << 6) | (s[1] & 0x3F);
		return 2;
	}
	if (c >= 0xE0 && c <= 0xEF)
	{
		if (n < 3 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80)
			return 0;
		if (c == 0xE0 && s[1] < 0xA0)
			return 0;			/* overlong */
		if (c == 0xED && s[1] >= 0xA0)
			return 0;			/* surrogate */
		*cp = ((uint32_t) (c & 0x0F) << 12) | ((uint32_t) (s[1] & 0x3F) << 6) | (s[2] & 0x3F);
		return 3;
	}
	if (c >= 0xF0 && c <= 0xF4)
	{
		if (n < 4 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80 || (s[3] & 0xC0) != 0x80)
			return 0;
		if (c == 0xF0 && s[1] < 0x90)
			return 0;			/* overlong */
		if (c == 0xF4 && s[1] >= 0x90)
			return 0;			/* above U+10FFFF */
		*cp = ((uint32_t) (c & 0x07) << 18) | ((uint32_t) (s[1] & 0x3F) << 12) |
			((uint32_t) (s[2] & 0x3F) << 6) | (s[3] & 0x3F);
		return 4;
	}
	return 0;
}

/* A string at j->pos (on the opening quote); its escaped content in *out. */
static int
parse_string(jp *j, span *out)
{
	size_t		start;

	if (j->pos >= j->len || j->p[j->pos] != '"')
		return fail(j, TC_JWT_E_JSON);
	start = ++j->pos;
	while (j->pos < j->len)
	{
		uint8_t		c = j->p[j->pos];

		if (c == '"')
		{
			if (out)
			{
				out->p = j->p + start;
				out->len = j->pos - start;
			}
			j->pos++;
			return 0;
		}
		if (c < 0x20)
			return fail(j, TC_JWT_E_JSON);
		if (c == '\\')
		{
			uint8_t		e;

			if (j->pos + 1 >= j->len)
				return fail(j, TC_JWT_E_JSON);
			e = j->p[j->pos + 1];
			if (e == 'u')
			{
				long		u;

				if (j->len - j->pos < 6 || (u = hex4(j->p + j->pos + 2)) < 0)
					return fail(j, TC_JWT_E_JSON);
				if (u == 0)
					return fail(j, TC_JWT_E_JSON_NUL);
				if (u >= 0xDC00 && u <= 0xDFFF)
					return fail(j, TC_JWT_E_JSON_UTF8);	/* lone low surrogate */
				if (u >= 0xD800 && u <= 0xDBFF)
				{
					long		lo;

					if (j->len - j->pos < 12 || j->p[j->pos + 6] != '\\' || j->p[j->pos + 7] != 'u' ||
						(lo = hex4(j->p + j->pos + 8)) < 0xDC00 || lo > 0xDFFF)
						return fail(j, TC_JWT_E_JSON_UTF8);
					j->pos += 12;
				}
				else
					j->pos += 6;
			}
			else if (e == '"' || e == '\\' || e == '/' || e == 'b' || e == 'f' || e == 'n' ||
					 e == 'r' || e == 't')
				j->pos += 2;
			else
				return fail(j, TC_JWT_E_JSON);
		}
		else if (c < 0x80)
			j->pos++;
		else
		{
			uint32_t	cp;
			size_t		n = utf8_seq(j->p + j->pos, j->len - j->pos, &cp);

			if (n == 0)
				return fail(j, TC_JWT_E_JSON_UTF8);
			j->pos += n;
		}
	}
	return fail(j, TC_JWT_E_JSON);		/* unterminated */
}

static int
is_digit(uint8_t c)
{
	return c >= '0' && c <= '9';
}

static int
parse_number(jp *j)
{
	size_t		start = j->pos;
	size_t		expdigits = 0;

	if (j->pos < j->len && j->p[j->pos] == '-')
		j->pos++;
	if (j->pos >= j->len || !is_digit(j->p[j->pos]))
		return fail(j, TC_JWT_E_JSON);
	if (j->p[j->pos] == '0')
		j->pos++;
	else
		while (j->pos < j->len && is_digit(j->p[j->pos]))
			j->pos++;
	if (j->pos < j->len && j->p[j->pos] == '.')
	{
		j->pos++;
		if (j->pos >= j->len || !is_digit(j->p[j->pos]))
			return fail(j, TC_JWT_E_JSON);
		while (j->pos < j->len && is_digit(j->p[j->pos]))
			j->pos++;
	}
	if (j->pos < j->len && (j->p[j->pos] == 'e' || j->p[j->pos] == 'E'))
	{
		j->pos++;
		if (j->pos < j->len && (j->p[j->pos] == '+' || j->p[j->pos] == '-'))
			j->pos++;
		if (j->pos >= j->len || !is_digit(j->p[j->pos]))
			return fail(j, TC_JWT_E_JSON);
		while (j->pos < j->len && is_digit(j->p[j->pos]))
		{
			j->pos++;
			expdigits++;
		}
	}
	if (j->pos - start > NUMBER_MAX || expdigits > EXPONENT_DIGITS_MAX)
		return fail(j, TC_JWT_E_JSON_NUMBER);
	return 0;
}

static int
parse_literal(jp *j, const char *lit)
{
	size_t		n = strlen(lit);

	if (j->len - j->pos < n || memcmp(j->p + j->pos, lit, n) != 0)
		return fail(j, TC_JWT_E_JSON);
	j->pos += n;
	return 0;
}

/*
 * Iterate over the code points of a validated string's escaped content:
 * returns the next one and advances *i, or -1 at the end.
 */
static long
str_next(const span *s, size_t *i)
{
	uint32_t	cp;
	size_t		n;

	if (*i >= s->len)
		return -1;
	if (s->p[*i] == '\\')
	{
		uint8_t		e = s->p[*i + 1];

		*i += 2;
		switch (e)
		{
			case 'b':
				return '\b';
			case 'f':
				return '\f';
			case 'n':
				return '\n';
			case 'r':
				return '\r';
			case 't':
				return '\t';
			case 'u':
				{
					long		u = hex4(s->p + *i);

					*i += 4;
					if (u >= 0xD800 && u <= 0xDBFF)
					{
						long		lo = hex4(s->p + *i + 2);

						*i += 6;
						return 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00);
					}
					return u;
				}
			default:
				return e;		/* " \ / */
		}
	}
	n = utf8_seq(s->p + *i, s->len - *i, &cp);
	*i += n ? n : 1;			/* validated: n > 0 */
	return (long) cp;
}

static int
str_equal(const span *a, const span *b)
{
	size_t		i = 0,
				k = 0;

	for (;;)
	{
		long		x = str_next(a, &i);
		long		y = str_next(b, &k);

		if (x != y)
			return 0;
		if (x < 0)
			return 1;
	}
}

static int
str_equal_ascii(const span *a, const char *lit)
{
	size_t		i = 0;

	for (const char *q = lit;; q++)
	{
		long		x = str_next(a, &i);

		if (*q == '\0')
			return x < 0;
		if (x != (unsigned char) *q)
			return 0;
	}
}

/* Decode a validated string into out (UTF-8, NUL-terminated); -1 when longer than cap - 1. */
static int
str_decode(const span *s, char *out, size_t cap)
{
	size_t		i = 0,
				o = 0;
	long		cp;

	while ((cp = str_next(s, &i)) >= 0)
	{
		size_t		n = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;

		if (o + n >= cap)
			return -1;
		switch (n)
		{
			case 1:
				out[o++] = (char) cp;
				break;
			case 2:
				out[o++] = (char) (0xC0 | (cp >> 6));
				out[o++] = (char) (0x80 | (cp & 0x3F));
				break;
			case 3:
				out[o++] = (char) (0xE0 | (cp >> 12));
				out[o++] = (char) (0x80 | ((cp >> 6) & 0x3F));
				out[o++] = (char) (0x80 | (cp & 0x3F));
				break;
			default:
				out[o++] = (char) (0xF0 | (cp >> 18));
				out[o++] = (char) (0x80 | ((cp >> 12) & 0x3F));
				out[o++] = (char) (0x80 | ((cp >> 6) & 0x3F));
				out[o++] = (char) (0x80 | (cp & 0x3F));
		}
	}
	out[o] = '\0';
	return 0;
}

/*
 * A value at j->pos.  Nesting is tracked with an explicit depth (no
 * recursion deeper than TC_JWT_MAX_DEPTH).
 */
static int	parse_value(jp *j, int depth);

typedef void (*member_fn) (void *ctx, const span *key, size_t vstart, size_t vend);

/* An object at j->pos; when fn is given, it sees each member (top level only). */
static int
parse_object(jp *j, int depth, member_fn fn, void *ctx, span *keys, size_t maxkeys)
{
	size_t		nkeys = 0;

	if (depth > TC_JWT_MAX_DEPTH)
		return fail(j, TC_JWT_E_JSON_DEPTH);
	j->pos++;					/* { */
	skip_ws(j);
	if (j->pos < j->len && j->p[j->pos] == '}')
	{
		j->pos++;
		return 0;
	}
	for (;;)
	{
		span		key;
		size_t		vstart;

		skip_ws(j);
		if (parse_string(j, &key) < 0)
			return -1;
		if (keys)
		{
			if (nkeys >= maxkeys)
				return fail(j, TC_JWT_E_JSON_MEMBERS);
			for (size_t k = 0; k < nkeys; k++)
				if (str_equal(&keys[k], &key))
					return fail(j, TC_JWT_E_JSON_DUPLICATE);
			keys[nkeys++] = key;
		}
		skip_ws(j);
		if (j->pos >= j->len || j->p[j->pos] != ':')
			return fail(j, TC_JWT_E_JSON);
		j->pos++;
		skip_ws(j);
		vstart = j->pos;
		if (parse_value(j, depth) < 0)
			return -1;
		if (fn)
			fn(ctx, &key, vstart, j->pos);
		skip_ws(j);
		if (j->pos >= j->len)
			return fail(j, TC_JWT_E_JSON);
		if (j->p[j->pos] == '}')
		{
			j->pos++;
			return 0;
		}
		if (j->p[j->pos] != ',')
			return fail(j, TC_JWT_E_JSON);
		j->pos++;
	}
}

static int
parse_array(jp *j, int depth)
{
	if (depth > TC_JWT_MAX_DEPTH)
		return fail(j, TC_JWT_E_JSON_DEPTH);
	j->pos++;					/* [ */
	skip_ws(j);
	if (j->pos < j->len && j->p[j->pos] == ']')
	{
		j->pos++;
		return 0;
	}
	for (;;)
	{
		skip_ws(j);
		if (parse_value(j, depth) < 0)
			return -1;
		skip_ws(j);
		if (j->pos >= j->len)
			return fail(j, TC_JWT_E_JSON);
		if (j->p[j->pos] == ']')
		{
			j->pos++;
			return 0;
		}
		if (j->p[j->pos] != ',')
			return fail(j, TC_JWT_E_JSON);
		j->pos++;
	}
}

static int
parse_value(jp *j, int depth)
{
	if (j->pos >= j->len)
		return fail(j, TC_JWT_E_JSON);
	switch (j->p[j->pos])
	{
		case '{':
			return parse_object(j, depth + 1, NULL, NULL, NULL, 0);
		case '[':
			return parse_array(j, depth + 1);
		case '"':
			return parse_string(j, NULL);
		case 't':
			return parse_literal(j, "true");
		case 'f':
			return parse_literal(j, "false");
		case 'n':
			return parse_literal(j, "null");
		default:
			return parse_number(j);
	}
}

/* The whole text: whitespace, an object, whitespace. */
static int
parse_top(const uint8_t *p, size_t len, member_fn fn, void *ctx)
{
	jp			j = {p, len, 0, 0};
	span		keys[TC_JWT_MAX_MEMBERS];

	skip_ws(&j);
	if (j.pos >= len)
		return TC_JWT_E_JSON;
	if (p[j.pos] != '{')
	{
		/* say "not an object" only for valid JSON of another type */
		if (parse_value(&j, 0) < 0)
			return j.err;
		skip_ws(&j);
		return j.pos == len ? TC_JWT_E_NOT_OBJECT : TC_JWT_E_JSON;
	}
	if (parse_object(&j, 1, fn, ctx, keys, TC_JWT_MAX_MEMBERS) < 0)
		return j.err;
	skip_ws(&j);
	if (j.pos != len)
		return TC_JWT_E_JSON;
	return TC_JWT_OK;
}

int
tc_json_object_check(const uint8_t *p, size_t len)
{
	return parse_top(p, len, NULL, NULL);
}

/* ---------------------------------------------------------------------
 * The JOSE header
 */

typedef struct hdr_ctx
{
	const uint8_t *p;
	tc_jwt_header *h;
	int			err;
} hdr_ctx;

static void
hdr_string(hdr_ctx *c, size_t vstart, size_t vend, char *out, size_t cap, int *has)
{
	jp			j = {c->p, vend, vstart, 0};
	span		s;

	*has = 1;
	if (c->p[vstart] != '"' || parse_string(&j, &s) < 0 || str_decode(&s, out, cap) < 0)
	{
		if (c->err == 0)
			c->err = TC_JWT_E_HEADER_FIELD;
	}
}

static void
hdr_member(void *ctx, const span *key, size_t vstart, size_t vend)
{
	hdr_ctx    *c = ctx;

	if (str_equal_ascii(key, "alg"))
		hdr_string(c, vstart, vend, c->h->alg, sizeof(c->h->alg), &c->h->has_alg);
	else if (str_equal_ascii(key, "typ"))
		hdr_string(c, vstart, vend, c->h->typ, sizeof(c->h->typ), &c->h->has_typ);
	else if (str_equal_ascii(key, "kid"))
		hdr_string(c, vstart, vend, c->h->kid, sizeof(c->h->kid), &c->h->has_kid);
	else if (str_equal_ascii(key, "crit"))
		c->h->has_crit = 1;
}

int
tc_jwt_header_parse(const uint8_t *p, size_t len, tc_jwt_header *h)
{
	hdr_ctx		c = {p, h, 0};
	int			rc;

	memset(h, 0, sizeof(*h));
	rc = parse_top(p, len, hdr_member, &c);
	if (rc != TC_JWT_OK)
		return rc;
	return c.err;
}

static int
ascii_ieq(const char *a, const char *b)
{
	for (;; a++, b++)
	{
		char		x = *a,
					y = *b;

		if (x >= 'a' && x <= 'z')
			x = (char) (x - 'a' + 'A');
		if (y >= 'a' && y <= 'z')
			y = (char) (y - 'a' + 'A');
		if (x != y)
			return 0;
		if (x == '\0')
			return 1;
	}
}

int
tc_jwt_header_check(const tc_jwt_header *h, tc_jwt_alg expected,
					const char *key_name, size_t key_name_len, int32_t *version)
{
	size_t		kidlen,
				colon;
	int64_t		v = 0;

	if (!h->has_alg)
		return TC_JWT_E_ALG_MISSING;
	/* "none" in any case: RFC 8725 section 2.1 */
	if (ascii_ieq(h->alg, "none"))
		return TC_JWT_E_ALG_NONE;
	if (strcmp(h->alg, tc_jwt_alg_name(expected)) != 0)
		return TC_JWT_E_ALG_MISMATCH;
	if (h->has_typ && !ascii_ieq(h->typ, "JWT"))
		return TC_JWT_E_TYP;
	if (h->has_crit)
		return TC_JWT_E_CRIT;
	if (!h->has_kid)
		return TC_JWT_E_KID_MISSING;
	kidlen = strlen(h->kid);
	/* <name>:<version>; the name may itself contain colons */
	if (kidlen < key_name_len + 2 || memcmp(h->kid, key_name, key_name_len) != 0 ||
		h->kid[key_name_len] != ':')
		return TC_JWT_E_KID_OTHER_KEY;
	colon = key_name_len;
	if (h->kid[colon + 1] == '0' || kidlen - colon - 1 > 10)
		return TC_JWT_E_KID_OTHER_KEY;
	for (size_t i = colon + 1; i < kidlen; i++)
	{
		if (h->kid[i] < '0' || h->kid[i] > '9')
			return TC_JWT_E_KID_OTHER_KEY;
		v = v * 10 + (h->kid[i] - '0');
	}
	if (v < 1 || v > INT32_MAX)
		return TC_JWT_E_KID_OTHER_KEY;
	*version = (int32_t) v;
	return TC_JWT_OK;
}

long
tc_jwt_header_write(tc_jwt_alg alg, const char *key_name, size_t key_name_len,
					int32_t version, char *out, size_t cap)
{
	char		ver[16];
	const char *a = tc_jwt_alg_name(alg);
	size_t		vl = 0,
				need;
	uint32_t	v = (uint32_t) version;
	char		rev[16];
	size_t		o = 0;

	if (version < 1)
		return -1;
	do
	{
		rev[vl++] = (char) ('0' + v % 10);
		v /= 10;
	} while (v > 0);
	for (size_t i = 0; i < vl; i++)
		ver[i] = rev[vl - 1 - i];
	/* {"alg":"XXXXX","typ":"JWT","kid":"name:ver"} */
	need = 8 + strlen(a) + 21 + key_name_len + 1 + vl + 2;
	if (need > cap)
		return -1;
	for (size_t i = 0; i < key_name_len; i++)
		if (key_name[i] == '"' || key_name[i] == '\\' || (unsigned char) key_name[i] < 0x20)
			return -1;
#define PUT(s, n) do { memcpy(out + o, (s), (n)); o += (n); } while (0)
	PUT("{\"alg\":\"", 8);
	PUT(a, strlen(a));
	PUT("\",\"typ\":\"JWT\",\"kid\":\"", 21);
	PUT(key_name, key_name_len);
	PUT(":", 1);
	PUT(ver, vl);
	PUT("\"}", 2);
#undef PUT
	return (long) o;
}

/* ---------------------------------------------------------------------
 * ES256 signatures: r || s <-> DER ECDSA-Sig-Value
 */

/* One DER INTEGER at der[*pos..end): positive, minimal, value at most 32 bytes, into out (left-padded). */
static int
der_int(const uint8_t *der, size_t end, size_t *pos, uint8_t out[32])
{
	size_t		p = *pos,
				len;

	if (end - p < 2 || der[p] != 0x02)
		return -1;
	len = der[p + 1];
	p += 2;
	if (len == 0 || len > 33 || len > end - p)
		return -1;
	if (der[p] & 0x80)
		return -1;				/* negative */
	if (len == 1 && der[p] == 0x00)
		return -1;				/* zero: never a valid r or s */
	if (len > 1 && der[p] == 0x00 && !(der[p + 1] & 0x80))
		return -1;				/* not minimal */
	if (der[p] == 0x00 && len > 1)
	{
		p++;
		len--;
	}
	if (len > 32)
		return -1;
	memset(out, 0, 32);
	memcpy(out + 32 - len, der + p, len);
	*pos = p + len;
	return 0;
}

int
tc_jwt_ecdsa_der_to_raw(const uint8_t *der, size_t derlen, uint8_t raw[TC_JWT_ES256_SIG_LEN])
{
	size_t		pos = 2;

	if (derlen < 8 || derlen > TC_JWT_ES256_DER_MAX || der[0] != 0x30 || der[1] != derlen - 2)
		return -1;
	if (der_int(der, derlen, &pos, raw) < 0 || der_int(der, derlen, &pos, raw + 32) < 0 || pos != derlen)
		return -1;
	return 0;
}

/* The DER INTEGER of a 32-byte big-endian value; returns its length, or 0 for zero. */
static size_t
der_put_int(const uint8_t v[32], uint8_t *out)
{
	size_t		skip = 0,
				n,
				o = 0;

	while (skip < 32 && v[skip] == 0)
		skip++;
	if (skip == 32)
		return 0;
	n = 32 - skip;
	out[o++] = 0x02;
	out[o++] = (uint8_t) (n + ((v[skip] & 0x80) ? 1 : 0));
	if (v[skip] & 0x80)
		out[o++] = 0x00;
	memcpy(out + o, v + skip, n);
	return o + n;
}

long
tc_jwt_ecdsa_raw_to_der(const uint8_t raw[TC_JWT_ES256_SIG_LEN], uint8_t *der, size_t cap)
{
	uint8_t		buf[TC_JWT_ES256_DER_MAX];
	size_t		rl,
				sl;

	rl = der_put_int(raw, buf + 2);
	if (rl == 0)
		return -1;
	sl = der_put_int(raw + 32, buf + 2 + rl);
	if (sl == 0)
		return -1;
	buf[0] = 0x30;
	buf[1] = (uint8_t) (rl + sl);
	if (2 + rl + sl > cap)
		return -1;
	memcpy(der, buf, 2 + rl + sl);
	return (long) (2 + rl + sl);
}

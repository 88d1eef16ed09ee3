/*
 * siwe.c: strict EIP-4361 parser and builder (see siwe.h).
 *
 * The grammar is the EIP's ABNF (with RFC 3986 for URIs and authorities and
 * RFC 3339 for times).  Every read is bounded by the span it belongs to.
 */
#include "siwe.h"

#include <string.h>

#define HEADER_SUFFIX " wants you to sign in with your Ethereum account:"

/* ---- character classes (RFC 3986) ---- */

static int
is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static int
is_hexdig(char c)
{
	return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static int
is_unreserved(char c)
{
	return is_alpha(c) || is_digit(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

static int
is_sub_delim(char c)
{
	return c != '\0' && strchr("!$&'()*+,;=", c) != NULL;
}

/*
 * Length of the run at s[i..len) of characters that are unreserved,
 * pct-encoded, sub-delims or one of `extra`; -1 when a '%' is not followed
 * by two hex digits.
 */
static long
run_of(const char *s, size_t len, size_t i, const char *extra)
{
	size_t		start = i;

	while (i < len)
	{
		char		c = s[i];

		if (c == '%')
		{
			if (i + 2 >= len)
				return -1;
			if (!is_hexdig(s[i + 1]) || !is_hexdig(s[i + 2]))
				return -1;
			i += 3;
			continue;
		}
		if (is_unreserved(c) || is_sub_delim(c) || (c != '\0' && extra != NULL && strchr(extra, c) != NULL))
		{
			i++;
			continue;
		}
		break;
	}
	return (long) (i - start);
}

/* The whole of s[0..len) is made of the class run_of accepts with `extra`. */
static int
all_of(const char *s, size_t len, const char *extra)
{
	long		n = run_of(s, len, 0, extra);

	return n >= 0 && (size_t) n == len;
}

static int
valid_scheme(const char *s, size_t len)
{
	if (len == 0 || !is_alpha(s[0]))
		return 0;
	for (size_t i = 1; i < len; i++)
		if (!is_alpha(s[i]) && !is_digit(s[i]) && s[i] != '+' && s[i] != '-' && s[i] != '.')
			return 0;
	return 1;
}

/* IP-literal contents: IPv6address (loosely: hex digits, ':' and '.') or IPvFuture. */
static int
valid_ip_literal(const char *s, size_t len)
{
	size_t		colons = 0;

	if (len == 0)
		return 0;
	if (s[0] == 'v' || s[0] == 'V')
	{
		size_t		i = 1;

		while (i < len && is_hexdig(s[i]))
			i++;
		if (i == 1 || i >= len || s[i] != '.' || i + 1 >= len)
			return 0;
		for (i++; i < len; i++)
			if (!is_unreserved(s[i]) && !is_sub_delim(s[i]) && s[i] != ':')
				return 0;
		return 1;
	}
	for (size_t i = 0; i < len; i++)
	{
		if (s[i] == ':')
			colons++;
		else if (!is_hexdig(s[i]) && s[i] != '.')
			return 0;
	}
	return colons >= 2 && colons <= 7 && len <= 45;
}

/* authority = [ userinfo "@" ] host [ ":" port ], with a non-empty host. */
int
tc_siwe_valid_authority(const char *s, size_t len)
{
	const char *at = memchr(s, '@', len);
	size_t		i = 0;

	if (len == 0)
		return 0;
	if (at != NULL)
	{
		size_t		ul = (size_t) (at - s);

		if (!all_of(s, ul, ":"))
			return 0;
		i = ul + 1;
	}
	if (i < len && s[i] == '[')
	{
		const char *close = memchr(s + i, ']', len - i);

		if (close == NULL || !valid_ip_literal(s + i + 1, (size_t) (close - s - i - 1)))
			return 0;
		i = (size_t) (close - s) + 1;
	}
	else
	{
		long		n = run_of(s, len, i, NULL);

		if (n <= 0)
			return 0;
		i += (size_t) n;
	}
	if (i < len)
	{
		if (s[i] != ':')
			return 0;
		for (i++; i < len; i++)
			if (!is_digit(s[i]))
				return 0;
	}
	return 1;
}

/* A path: pchar and '/' only. */
static int
valid_path(const char *s, size_t len)
{
	return all_of(s, len, ":@/");
}

/* URI = scheme ":" hier-part [ "?" query ] [ "#" fragment ] (RFC 3986). */
int
tc_siwe_valid_uri(const char *s, size_t len)
{
	const char *colon = memchr(s, ':', len);
	size_t		i,
				hier_end,
				q_end;
	const char *q,
			   *h;

	if (colon == NULL || !valid_scheme(s, (size_t) (colon - s)))
		return 0;
	i = (size_t) (colon - s) + 1;
	h = memchr(s + i, '#', len - i);
	q_end = h ? (size_t) (h - s) : len;
	q = memchr(s + i, '?', q_end - i);
	hier_end = q ? (size_t) (q - s) : q_end;
	if (h != NULL && !all_of(h + 1, len - q_end - 1, ":@/?"))
		return 0;
	if (q != NULL && !all_of(q + 1, q_end - hier_end - 1, ":@/?"))
		return 0;
	if (hier_end - i >= 2 && s[i] == '/' && s[i + 1] == '/')
	{
		size_t		a = i + 2,
					e = a;

		while (e < hier_end && s[e] != '/')
			e++;
		/* An empty host is allowed by RFC 3986 for some schemes; not here. */
		if (!tc_siwe_valid_authority(s + a, e - a))
			return 0;
		return valid_path(s + e, hier_end - e);
	}
	return valid_path(s + i, hier_end - i);
}

/* statement: printable ASCII except " % < > \ ^ ` { | } (the EIP's reserved / unreserved / " "). */
int
tc_siwe_valid_statement(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
	{
		char		c = s[i];

		if (is_alpha(c) || is_digit(c) || c == ' ' || is_unreserved(c) || is_sub_delim(c) ||
			(c != '\0' && strchr(":/?#[]@", c) != NULL))
			continue;
		return 0;
	}
	return 1;
}

int
tc_siwe_valid_nonce(const char *s, size_t len)
{
	if (len < TC_SIWE_NONCE_MIN || len > TC_SIWE_NONCE_MAX)
		return 0;
	for (size_t i = 0; i < len; i++)
		if (!is_alpha(s[i]) && !is_digit(s[i]))
			return 0;
	return 1;
}

int
tc_siwe_valid_request_id(const char *s, size_t len)
{
	return all_of(s, len, ":@");
}

/* ---- RFC 3339 ---- */

static int64_t
days_from_civil(int64_t y, unsigned m, unsigned d)
{
	int64_t		era;
	unsigned	yoe,
				doy,
				doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (unsigned) (y - era * 400);
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t) doe - 719468;
}

static void
civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
	int64_t		era;
	unsigned	doe,
				yoe,
				doy,
				mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = (unsigned) (z - era * 146097);
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (int64_t) yoe + era * 400 + (*m <= 2);
}

static int
digits(const char *s, size_t n, int *v)
{
	int			x = 0;

	for (size_t i = 0; i < n; i++)
	{
		if (!is_digit(s[i]))
			return 0;
		x = x * 10 + (s[i] - '0');
	}
	*v = x;
	return 1;
}

int
tc_rfc3339_parse(const char *s, size_t len, int64_t *us)
{
	int			y,
				mo,
				d,
				h,
				mi,
				sec,
				oh = 0,
				om = 0,
				sign = 0;
	static const int mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int			leap,
				dim;
	size_t		i = 19;
	int64_t		frac_us = 0,
				t;

	if (len < 20 || len > 40)
		return -1;
	if (!digits(s, 4, &y) || s[4] != '-' || !digits(s + 5, 2, &mo) || s[7] != '-' ||
		!digits(s + 8, 2, &d) || (s[10] != 'T' && s[10] != 't') ||
		!digits(s + 11, 2, &h) || s[13] != ':' || !digits(s + 14, 2, &mi) || s[16] != ':' ||
		!digits(s + 17, 2, &sec))
		return -1;
	if (mo < 1 || mo > 12 || h > 23 || mi > 59 || sec > 60)
		return -1;
	leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	dim = mdays[mo - 1] + (mo == 2 && leap);
	if (d < 1 || d > dim)
		return -1;
	if (s[i] == '.')
	{
		size_t		nd = 0;
		int64_t		scale = 100000;

		i++;
		while (i < len && is_digit(s[i]))
		{
			if (nd < 6)
			{
				frac_us += (s[i] - '0') * scale;
				scale /= 10;
			}
			nd++;
			i++;
		}
		if (nd == 0 || nd > 9)
			return -1;
	}
	if (i >= len)
		return -1;
	if (s[i] == 'Z' || s[i] == 'z')
		i++;
	else if (s[i] == '+' || s[i] == '-')
	{
		sign = s[i] == '+' ? 1 : -1;
		if (len - i != 6 || !digits(s + i + 1, 2, &oh) || s[i + 3] != ':' || !digits(s + i + 4, 2, &om) ||
			oh > 23 || om > 59)
			return -1;
		i += 6;
	}
	else
		return -1;
	if (i != len)
		return -1;
	t = days_from_civil(y, (unsigned) mo, (unsigned) d) * 86400 + h * 3600 + mi * 60 + sec;
	t -= (int64_t) sign * (oh * 3600 + om * 60);
	*us = t * 1000000 + frac_us;
	return 0;
}

size_t
tc_rfc3339_format(int64_t us, char out[TC_SIWE_TIME_TEXT_MAX])
{
	int64_t		secs = us >= 0 ? us / 1000000 : -((-us + 999999) / 1000000);
	int64_t		rem_us = us - secs * 1000000;
	int64_t		days = secs >= 0 ? secs / 86400 : -((-secs + 86399) / 86400);
	int64_t		sod = secs - days * 86400;
	int64_t		y;
	unsigned	m,
				d;
	int			ms = (int) (rem_us / 1000);
	int			v[7];
	static const int w[7] = {4, 2, 2, 2, 2, 2, 3};
	static const char sep[7] = {'-', '-', 'T', ':', ':', '.', 'Z'};
	size_t		o = 0;

	civil_from_days(days, &y, &m, &d);
	if (y < 0 || y > 9999)
		return 0;
	v[0] = (int) y;
	v[1] = (int) m;
	v[2] = (int) d;
	v[3] = (int) (sod / 3600);
	v[4] = (int) (sod / 60 % 60);
	v[5] = (int) (sod % 60);
	v[6] = ms;
	for (int f = 0; f < 7; f++)
	{
		int			x = v[f];

		for (int k = w[f] - 1; k >= 0; k--)
		{
			out[o + (size_t) k] = (char) ('0' + x % 10);
			x /= 10;
		}
		o += (size_t) w[f];
		out[o++] = sep[f];
	}
	return o;
}

/* ---- the message ---- */

typedef struct cursor
{
	const char *p;				/* NULL after the last line */
	const char *end;
} cursor;

static int
next_line(cursor *c, tc_span *line)
{
	const char *nl;

	if (c->p == NULL)
		return 0;
	nl = memchr(c->p, '\n', (size_t) (c->end - c->p));
	line->p = c->p;
	if (nl != NULL)
	{
		line->len = (size_t) (nl - c->p);
		c->p = nl + 1;
	}
	else
	{
		line->len = (size_t) (c->end - c->p);
		c->p = NULL;
	}
	return 1;
}

static int
starts_with(tc_span l, const char *prefix)
{
	size_t		n = strlen(prefix);

	return l.len >= n && memcmp(l.p, prefix, n) == 0;
}

/* The fields after the address, in the order the grammar puts them. */
enum
{
	F_URI, F_VERSION, F_CHAIN_ID, F_NONCE, F_ISSUED_AT,
	F_EXPIRATION, F_NOT_BEFORE, F_REQUEST_ID, F_RESOURCES, F_COUNT
};

static const char *const field_prefix[F_COUNT] = {
	"URI: ", "Version: ", "Chain ID: ", "Nonce: ", "Issued At: ",
	"Expiration Time: ", "Not Before: ", "Request ID: ", "Resources:"
};

static const char *const field_missing[F_COUNT] = {
	"missing URI field", "missing Version field", "missing Chain ID field",
	"missing Nonce field", "missing Issued At field", NULL, NULL, NULL, NULL
};

static const char *const field_out_of_order[F_COUNT] = {
	"URI field out of order or repeated", "Version field out of order or repeated",
	"Chain ID field out of order or repeated", "Nonce field out of order or repeated",
	"Issued At field out of order or repeated", "Expiration Time field out of order or repeated",
	"Not Before field out of order or repeated", "Request ID field out of order or repeated",
	"Resources field out of order or repeated"
};

/* Which field a line starts, or -1. */
static int
field_of(tc_span l)
{
	for (int f = 0; f < F_COUNT; f++)
	{
		if (f == F_RESOURCES ? (l.len == 10 && memcmp(l.p, "Resources:", 10) == 0) : starts_with(l, field_prefix[f]))
			return f;
	}
	return -1;
}

/* Does a later line (from cursor c on) start field f? */
static int
later_has(cursor c, int f)
{
	tc_span		l;

	while (next_line(&c, &l))
		if (field_of(l) == f)
			return 1;
	return 0;
}

size_t
tc_siwe_max_resources(size_t len)
{
	return len / 5 + 1;			/* each needs at least "\n- a:" */
}

/* Take the required field f from the next line into *val. */
static int
take_required(cursor *c, int f, tc_span *val, const char **err)
{
	tc_span		l;
	cursor		before = *c;

	if (!next_line(c, &l))
	{
		*err = field_missing[f];
		return -1;
	}
	if (!starts_with(l, field_prefix[f]))
	{
		int			other = field_of(l);

		*c = before;
		if (other >= 0 && other < f)
			*err = field_out_of_order[other];
		else if (later_has(before, f))
			*err = field_out_of_order[f];
		else
			*err = field_missing[f];
		return -1;
	}
	val->p = l.p + strlen(field_prefix[f]);
	val->len = l.len - strlen(field_prefix[f]);
	return 0;
}

static int
parse_chain_id(tc_span v, uint64_t *out)
{
	uint64_t	x = 0;

	if (v.len == 0 || v.len > 19 || (v.len > 1 && v.p[0] == '0'))
		return -1;
	for (size_t i = 0; i < v.len; i++)
	{
		if (!is_digit(v.p[i]))
			return -1;
		x = x * 10 + (uint64_t) (v.p[i] - '0');
	}
	*out = x;
	return 0;
}

#define FAIL(msg) do { *err = (msg); return -1; } while (0)

int
tc_siwe_parse(const char *msg, size_t len, tc_siwe_msg *m, tc_span *resources, size_t res_cap,
			  const char **err)
{
	cursor		c;
	tc_span		l,
				v;
	size_t		sl = strlen(HEADER_SUFFIX);
	int			last = F_ISSUED_AT;

	memset(m, 0, sizeof(*m));
	if (msg == NULL)
		FAIL("message is missing");
	if (len > TC_SIWE_MAX_LEN)
		FAIL("message is too long");
	for (size_t i = 0; i < len; i++)
	{
		unsigned char ch = (unsigned char) msg[i];

		if (ch == '\r')
			FAIL("message contains a carriage return (lines must end with LF only)");
		if (ch != '\n' && (ch < 0x20 || ch > 0x7e))
			FAIL("message contains a control or non-ASCII character");
	}
	if (len == 0)
		FAIL("message is empty");
	if (msg[len - 1] == '\n')
		FAIL("message ends with a line break");
	c.p = msg;
	c.end = msg + len;

	/* [scheme "://"] domain " wants you to sign in with your Ethereum account:" */
	next_line(&c, &l);
	if (l.len <= sl || memcmp(l.p + l.len - sl, HEADER_SUFFIX, sl) != 0)
		FAIL("first line is not \"<domain> wants you to sign in with your Ethereum account:\"");
	v.p = l.p;
	v.len = l.len - sl;
	for (size_t i = 0; i + 3 <= v.len; i++)
	{
		if (memcmp(v.p + i, "://", 3) == 0)
		{
			m->has_scheme = 1;
			m->scheme.p = v.p;
			m->scheme.len = i;
			v.p += i + 3;
			v.len -= i + 3;
			if (!valid_scheme(m->scheme.p, m->scheme.len))
				FAIL("invalid scheme before the domain");
			break;
		}
	}
	if (!tc_siwe_valid_authority(v.p, v.len))
		FAIL("invalid domain (an RFC 3986 authority)");
	m->domain = v;

	/* address */
	if (!next_line(&c, &l))
		FAIL("missing address line");
	switch (tc_eth_address_parse(l.p, l.len, m->addr))
	{
		case TC_ADDR_OK:
			break;
		case TC_ADDR_BAD_CHECKSUM:
			FAIL("address has mixed case but not its EIP-55 checksum");
		default:
			FAIL("invalid address (0x followed by 40 hexadecimal digits)");
	}
	m->address = l;

	/* LF [ statement LF ] LF */
	if (!next_line(&c, &l) || l.len != 0)
		FAIL("expected an empty line after the address");
	if (!next_line(&c, &l))
		FAIL("missing URI field");
	if (l.len == 0)
	{
		cursor		peek = c;
		tc_span		l2;

		if (next_line(&peek, &l2) && l2.len == 0)
		{
			/* an empty statement: the line after it is blank too */
			m->has_statement = 1;
			m->statement = l;
			c = peek;
		}
	}
	else
	{
		if (field_of(l) >= 0)
			FAIL("expected an empty line before the URI field");
		if (!tc_siwe_valid_statement(l.p, l.len))
			FAIL("statement contains a character the grammar does not allow");
		m->has_statement = 1;
		m->statement = l;
		if (!next_line(&c, &l) || l.len != 0)
			FAIL("expected an empty line after the statement");
	}

	if (take_required(&c, F_URI, &m->uri, err) < 0)
		return -1;
	if (!tc_siwe_valid_uri(m->uri.p, m->uri.len))
		FAIL("invalid URI (RFC 3986)");
	if (take_required(&c, F_VERSION, &m->version, err) < 0)
		return -1;
	if (m->version.len != 1 || m->version.p[0] != '1')
		FAIL("unsupported version (must be 1)");
	if (take_required(&c, F_CHAIN_ID, &v, err) < 0)
		return -1;
	if (parse_chain_id(v, &m->chain_id) < 0)
		FAIL("invalid Chain ID (decimal digits, no leading zero)");
	if (take_required(&c, F_NONCE, &m->nonce, err) < 0)
		return -1;
	if (!tc_siwe_valid_nonce(m->nonce.p, m->nonce.len))
		FAIL("invalid nonce (8 to 128 letters and digits)");
	if (take_required(&c, F_ISSUED_AT, &m->issued_at, err) < 0)
		return -1;
	if (tc_rfc3339_parse(m->issued_at.p, m->issued_at.len, &m->issued_at_us) < 0)
		FAIL("invalid Issued At (an RFC 3339 date-time)");

	while (next_line(&c, &l))
	{
		int			f = field_of(l);

		if (f < 0)
		{
			if (l.len == 0)
				FAIL("unexpected empty line after Issued At");
			FAIL("unexpected line after Issued At (not Expiration Time, Not Before, Request ID or Resources)");
		}
		if (f <= last)
			FAIL(field_out_of_order[f]);
		last = f;
		v.p = l.p + strlen(field_prefix[f]);
		v.len = l.len - strlen(field_prefix[f]);
		switch (f)
		{
			case F_EXPIRATION:
				m->has_expiration_time = 1;
				m->expiration_time = v;
				if (tc_rfc3339_parse(v.p, v.len, &m->expiration_time_us) < 0)
					FAIL("invalid Expiration Time (an RFC 3339 date-time)");
				break;
			case F_NOT_BEFORE:
				m->has_not_before = 1;
				m->not_before = v;
				if (tc_rfc3339_parse(v.p, v.len, &m->not_before_us) < 0)
					FAIL("invalid Not Before (an RFC 3339 date-time)");
				break;
			case F_REQUEST_ID:
				m->has_request_id = 1;
				m->request_id = v;
				if (!tc_siwe_valid_request_id(v.p, v.len))
					FAIL("invalid Request ID (RFC 3986 pchar only)");
				break;
			case F_RESOURCES:
				m->has_resources = 1;
				while (next_line(&c, &l))
				{
					if (l.len < 2 || l.p[0] != '-' || l.p[1] != ' ')
					{
						if (field_of(l) >= 0)
							FAIL("field after Resources (Resources must come last)");
						FAIL("a resource line must be \"- \" followed by a URI");
					}
					if (!tc_siwe_valid_uri(l.p + 2, l.len - 2))
						FAIL("invalid resource URI (RFC 3986)");
					if (m->n_resources >= res_cap)
						FAIL("too many resources");
					resources[m->n_resources].p = l.p + 2;
					resources[m->n_resources].len = l.len - 2;
					m->n_resources++;
				}
				break;
			default:
				FAIL("field out of order or repeated");
		}
	}
	*err = NULL;
	return 0;
}

/* ---- the builder ---- */

typedef struct sbuf
{
	char	   *out;
	size_t		cap;
	size_t		len;
} sbuf;

static void
put(sbuf *b, const char *s, size_t n)
{
	if (b->len < b->cap)
	{
		size_t		room = b->cap - b->len;

		memcpy(b->out + b->len, s, n < room ? n : room);
	}
	b->len += n;
}

static void
puts_(sbuf *b, const char *s)
{
	put(b, s, strlen(s));
}

static void
put_u64(sbuf *b, uint64_t x)
{
	char		d[24];
	size_t		n = 0;

	do
	{
		d[sizeof(d) - 1 - n++] = (char) ('0' + x % 10);
		x /= 10;
	} while (x > 0);
	put(b, d + sizeof(d) - n, n);
}

static int
put_time(sbuf *b, int64_t us)
{
	char		t[TC_SIWE_TIME_TEXT_MAX];
	size_t		n = tc_rfc3339_format(us, t);

	if (n == 0)
		return -1;
	put(b, t, n);
	return 0;
}

#undef FAIL
#define FAIL(msg) do { *err = (msg); return 0; } while (0)

size_t
tc_siwe_build(const tc_siwe_fields *f, char *out, size_t cap, const char **err)
{
	sbuf		b = {out, cap, 0};
	char		addr[TC_ETH_ADDR_TEXT_LEN];

	*err = NULL;
	if (f->domain.p == NULL || !tc_siwe_valid_authority(f->domain.p, f->domain.len))
		FAIL("invalid domain (an RFC 3986 authority such as example.com)");
	if (f->statement.p != NULL && !tc_siwe_valid_statement(f->statement.p, f->statement.len))
		FAIL("statement contains a character the grammar does not allow (line breaks, \" % < > \\ ^ ` { | } or non-ASCII)");
	if (f->uri.p == NULL || !tc_siwe_valid_uri(f->uri.p, f->uri.len))
		FAIL("invalid URI (RFC 3986)");
	if (f->nonce.p == NULL || !tc_siwe_valid_nonce(f->nonce.p, f->nonce.len))
		FAIL("invalid nonce");
	tc_eth_address_checksum(f->addr, addr);
	put(&b, f->domain.p, f->domain.len);
	puts_(&b, HEADER_SUFFIX "\n");
	put(&b, addr, sizeof(addr));
	puts_(&b, "\n\n");
	if (f->statement.p != NULL)
	{
		put(&b, f->statement.p, f->statement.len);
		puts_(&b, "\n");
	}
	puts_(&b, "\nURI: ");
	put(&b, f->uri.p, f->uri.len);
	puts_(&b, "\nVersion: 1\nChain ID: ");
	put_u64(&b, f->chain_id);
	puts_(&b, "\nNonce: ");
	put(&b, f->nonce.p, f->nonce.len);
	puts_(&b, "\nIssued At: ");
	if (put_time(&b, f->issued_at_us) < 0)
		FAIL("Issued At is out of range");
	if (f->has_expiration_time)
	{
		puts_(&b, "\nExpiration Time: ");
		if (put_time(&b, f->expiration_time_us) < 0)
			FAIL("Expiration Time is out of range");
	}
	return b.len;
}

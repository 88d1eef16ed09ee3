/*
 * otpauth.c: otpauth URIs and recovery codes (see otpauth.h).
 */
#include <stdio.h>
#include <string.h>

#include "otpauth.h"

static int
unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		c == '-' || c == '_' || c == '.' || c == '!' || c == '~' || c == '*' ||
		c == '\'' || c == '(' || c == ')';
}

size_t
tc_uri_component_escape(const char *in, size_t len, char *out)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t		o = 0;

	for (size_t i = 0; i < len; i++)
	{
		unsigned char c = (unsigned char) in[i];

		if (unreserved(c))
			out[o++] = (char) c;
		else
		{
			out[o++] = '%';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		}
	}
	return o;
}

size_t
tc_otpauth_uri_max(size_t issuer_len, size_t account_len, size_t secret_len, size_t algorithm_len)
{
	/* fixed text < 80 chars, two numbers < 24 chars, the escaped issuer twice */
	return 128 + 6 * issuer_len + 3 * account_len + secret_len + algorithm_len;
}

/* Append helpers: they count past cap without writing, like snprintf. */
typedef struct sink
{
	char	   *out;
	size_t		cap;
	size_t		len;
} sink;

static void
put(sink *s, const char *p, size_t n)
{
	if (s->len + n < s->cap)
		memcpy(s->out + s->len, p, n);
	s->len += n;
}

static void
put_escaped(sink *s, const char *p, size_t n)
{
	char		buf[3];

	for (size_t i = 0; i < n; i++)
		put(s, buf, tc_uri_component_escape(p + i, 1, buf));
}

static void
put_int(sink *s, int v)
{
	char		buf[16];
	int			n = snprintf(buf, sizeof(buf), "%d", v);

	put(s, buf, (size_t) n);
}

size_t
tc_otpauth_uri(char *out, size_t cap,
			   const char *issuer, size_t issuer_len,
			   const char *account, size_t account_len,
			   const char *secret, size_t secret_len,
			   const char *algorithm, int digits, int period)
{
	sink		s = {out, cap, 0};

	put(&s, "otpauth://totp/", 15);
	put_escaped(&s, issuer, issuer_len);
	put(&s, ":", 1);
	put_escaped(&s, account, account_len);
	put(&s, "?secret=", 8);
	put(&s, secret, secret_len);
	put(&s, "&period=", 8);
	put_int(&s, period);
	put(&s, "&digits=", 8);
	put_int(&s, digits);
	put(&s, "&algorithm=", 11);
	put(&s, algorithm, strlen(algorithm));
	put(&s, "&issuer=", 8);
	put_escaped(&s, issuer, issuer_len);
	if (s.len < cap)
		out[s.len] = '\0';
	return s.len;
}

static const char rc_alphabet[] = "abcdefghijklmnopqrstuvwxyz234567";

void
tc_recovery_format(const uint8_t rnd[TC_RECOVERY_RANDOM_BYTES], char *out)
{
	uint64_t	acc = 0;
	int			o = 0;

	for (int i = 0; i < TC_RECOVERY_RANDOM_BYTES; i++)
		acc = (acc << 8) | rnd[i];
	for (int i = 0; i < TC_RECOVERY_CHARS; i++)
	{
		if (i == TC_RECOVERY_CHARS / 2)
			out[o++] = '-';
		out[o++] = rc_alphabet[(acc >> (5 * i)) & 31];
	}
}

int
tc_recovery_normalize(const char *in, size_t len, char out[TC_RECOVERY_CHARS])
{
	size_t		n = 0;

	if (len > 64)
		return 0;
	for (size_t i = 0; i < len; i++)
	{
		unsigned char c = (unsigned char) in[i];

		if (c == '-' || c == ' ')
			continue;
		if (c >= 'A' && c <= 'Z')
			c = (unsigned char) (c - 'A' + 'a');
		if (!((c >= 'a' && c <= 'z') || (c >= '2' && c <= '7')))
			return 0;
		if (n == TC_RECOVERY_CHARS)
			return 0;
		out[n++] = (char) c;
	}
	return n == TC_RECOVERY_CHARS;
}

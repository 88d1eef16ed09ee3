/*
 * encoding.c: strict hex and base64url codecs, constant-time compare.
 */
#include "encoding.h"

static const char hexdigits[] = "0123456789abcdef";
static const char b64url[] =
"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

void
tc_hex_encode(const uint8_t *in, size_t len, char *out)
{
	for (size_t i = 0; i < len; i++)
	{
		out[2 * i] = hexdigits[in[i] >> 4];
		out[2 * i + 1] = hexdigits[in[i] & 0x0f];
	}
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

long
tc_hex_decode(const char *in, size_t inlen, uint8_t *out, size_t cap)
{
	if (inlen % 2 != 0 || inlen / 2 > cap)
		return -1;
	for (size_t i = 0; i < inlen; i += 2)
	{
		int			hi = hexval(in[i]);
		int			lo = hexval(in[i + 1]);

		if (hi < 0 || lo < 0)
			return -1;
		out[i / 2] = (uint8_t) ((hi << 4) | lo);
	}
	return (long) (inlen / 2);
}

size_t
tc_b64url_encoded_len(size_t len)
{
	return (len / 3) * 4 + ((len % 3) ? (len % 3) + 1 : 0);
}

void
tc_b64_encode_with(const char alphabet[64], const uint8_t *in, size_t len, char *out)
{
	size_t		i = 0,
				o = 0;

	for (; i + 3 <= len; i += 3)
	{
		uint32_t	v = ((uint32_t) in[i] << 16) | ((uint32_t) in[i + 1] << 8) | in[i + 2];

		out[o++] = alphabet[(v >> 18) & 63];
		out[o++] = alphabet[(v >> 12) & 63];
		out[o++] = alphabet[(v >> 6) & 63];
		out[o++] = alphabet[v & 63];
	}
	if (len - i == 1)
	{
		uint32_t	v = (uint32_t) in[i] << 16;

		out[o++] = alphabet[(v >> 18) & 63];
		out[o++] = alphabet[(v >> 12) & 63];
	}
	else if (len - i == 2)
	{
		uint32_t	v = ((uint32_t) in[i] << 16) | ((uint32_t) in[i + 1] << 8);

		out[o++] = alphabet[(v >> 18) & 63];
		out[o++] = alphabet[(v >> 12) & 63];
		out[o++] = alphabet[(v >> 6) & 63];
	}
}

void
tc_b64url_encode(const uint8_t *in, size_t len, char *out)
{
	tc_b64_encode_with(b64url, in, len, out);
}

/* The value of a base64 digit; c62 and c63 name the alphabet's last two. */
static inline int
b64val(char c, char c62, char c63)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == c62)
		return 62;
	if (c == c63)
		return 63;
	return -1;
}

long
tc_b64_decode_with(char c62, char c63, const char *in, size_t inlen, uint8_t *out, size_t cap)
{
	size_t		rem = inlen % 4;
	size_t		need = (inlen / 4) * 3 + (rem ? rem - 1 : 0);
	size_t		i = 0,
				o = 0;

	if (rem == 1 || need > cap)
		return -1;
	for (; i + 4 <= inlen; i += 4)
	{
		int			a = b64val(in[i], c62, c63),
					b = b64val(in[i + 1], c62, c63),
					c = b64val(in[i + 2], c62, c63),
					d = b64val(in[i + 3], c62, c63);

		if ((a | b | c | d) < 0)
			return -1;
		out[o++] = (uint8_t) ((a << 2) | (b >> 4));
		out[o++] = (uint8_t) (((b & 15) << 4) | (c >> 2));
		out[o++] = (uint8_t) (((c & 3) << 6) | d);
	}
	if (rem == 2)
	{
		int			a = b64val(in[i], c62, c63),
					b = b64val(in[i + 1], c62, c63);

		if ((a | b) < 0 || (b & 15) != 0)
			return -1;
		out[o++] = (uint8_t) ((a << 2) | (b >> 4));
	}
	else if (rem == 3)
	{
		int			a = b64val(in[i], c62, c63),
					b = b64val(in[i + 1], c62, c63),
					c = b64val(in[i + 2], c62, c63);

		if ((a | b | c) < 0 || (c & 3) != 0)
			return -1;
		out[o++] = (uint8_t) ((a << 2) | (b >> 4));
		out[o++] = (uint8_t) (((b & 15) << 4) | (c >> 2));
	}
	return (long) o;
}

long
tc_b64url_decode(const char *in, size_t inlen, uint8_t *out, size_t cap)
{
	return tc_b64_decode_with('-', '_', in, inlen, out, cap);
}

int
tc_ct_equal(const void *a, const void *b, size_t len)
{
	const volatile uint8_t *x = a;
	const volatile uint8_t *y = b;
	uint8_t		d = 0;

	for (size_t i = 0; i < len; i++)
		d |= x[i] ^ y[i];
	return d == 0;
}

/*
 * base32.c: RFC 4648 base32 (see base32.h).
 */
#include "base32.h"

static const char b32_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

size_t
tc_base32_encoded_len(size_t len)
{
	return (len / 5) * 8 + (size_t[]) {0, 2, 4, 5, 7}[len % 5];
}

void
tc_base32_encode(const uint8_t *in, size_t len, char *out)
{
	uint32_t	acc = 0;
	int			bits = 0;
	size_t		o = 0;

	for (size_t i = 0; i < len; i++)
	{
		acc = (acc << 8) | in[i];
		bits += 8;
		while (bits >= 5)
		{
			bits -= 5;
			out[o++] = b32_alphabet[(acc >> bits) & 31];
		}
		acc &= (1u << bits) - 1;
	}
	if (bits > 0)
		out[o++] = b32_alphabet[(acc << (5 - bits)) & 31];
}

static int
b32_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a';
	if (c >= '2' && c <= '7')
		return c - '2' + 26;
	return -1;
}

long
tc_base32_decode(const char *in, size_t inlen, uint8_t *out, size_t cap)
{
	size_t		n = inlen;
	size_t		rem;
	uint32_t	acc = 0;
	int			bits = 0;
	size_t		o = 0;

	/* Padding: only at the end, and only to complete a block of 8. */
	while (n > 0 && in[n - 1] == '=')
		n--;
	if (n < inlen)
	{
		if (inlen % 8 != 0 || inlen - n >= 8)
			return -1;
	}
	rem = n % 8;
	if (rem == 1 || rem == 3 || rem == 6)
		return -1;
	if (n / 8 * 5 + (size_t[]) {0, 0, 1, 0, 2, 3, 0, 4}[rem] > cap)
		return -2;
	for (size_t i = 0; i < n; i++)
	{
		int			v = b32_value((unsigned char) in[i]);

		if (v < 0)
			return -1;
		acc = (acc << 5) | (uint32_t) v;
		bits += 5;
		if (bits >= 8)
		{
			bits -= 8;
			out[o++] = (uint8_t) (acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	return (long) o;
}

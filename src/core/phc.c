/*
 * phc.c: PHC strings for scrypt (see phc.h).
 */
#include <stdio.h>
#include <string.h>

#include "encoding.h"
#include "phc.h"

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t
tc_b64std_encoded_len(size_t len)
{
	return tc_b64url_encoded_len(len);	/* unpadded: the same length */
}

void
tc_b64std_encode(const uint8_t *in, size_t len, char *out)
{
	tc_b64_encode_with(b64, in, len, out);
}

long
tc_b64std_decode(const char *in, size_t inlen, uint8_t *out, size_t cap)
{
	return tc_b64_decode_with('+', '/', in, inlen, out, cap);
}

int
tc_phc_params_ok(unsigned ln, unsigned r, unsigned p)
{
	if (ln < 1 || ln > 20 || r < 1 || r > 32 || p < 1 || p > 16)
		return 0;
	return (uint64_t) 128 * r * ((uint64_t) 1 << ln) <= TC_PHC_MAXMEM &&
		(uint64_t) 128 * r * ((uint64_t) 1 << ln) * p <= TC_PHC_MAXWORK;
}

/* A decimal 1..9999 without sign or leading zero; advances *pos. */
static int
parse_uint(const char *in, size_t len, size_t *pos, unsigned *out)
{
	size_t		i = *pos;
	unsigned	v = 0;
	size_t		digits = 0;

	while (i < len && in[i] >= '0' && in[i] <= '9')
	{
		if (digits == 0 && in[i] == '0')
			return -1;
		if (++digits > 4)
			return -1;
		v = v * 10 + (unsigned) (in[i] - '0');
		i++;
	}
	if (digits == 0)
		return -1;
	*pos = i;
	*out = v;
	return 0;
}

static int
expect(const char *in, size_t len, size_t *pos, const char *lit)
{
	size_t		n = strlen(lit);

	if (len - *pos < n || memcmp(in + *pos, lit, n) != 0)
		return -1;
	*pos += n;
	return 0;
}

/* Field up to the next '$' (or the end): returns its length and advances. */
static size_t
field(const char *in, size_t len, size_t *pos)
{
	size_t		start = *pos;

	while (*pos < len && in[*pos] != '$')
		(*pos)++;
	return *pos - start;
}

int
tc_phc_scrypt_parse(const char *in, size_t len, tc_phc_scrypt *out)
{
	size_t		pos = 0,
				flen,
				fstart;
	long		n;

	if (in == NULL || out == NULL || len > TC_PHC_MAXLEN)
		return -1;
	memset(out, 0, sizeof(*out));
	if (expect(in, len, &pos, "$scrypt$ln=") || parse_uint(in, len, &pos, &out->ln) ||
		expect(in, len, &pos, ",r=") || parse_uint(in, len, &pos, &out->r) ||
		expect(in, len, &pos, ",p=") || parse_uint(in, len, &pos, &out->p) ||
		expect(in, len, &pos, "$"))
		return -1;
	if (!tc_phc_params_ok(out->ln, out->r, out->p))
		return -1;
	fstart = pos;
	flen = field(in, len, &pos);
	if (pos >= len)				/* need "$hash" after the salt */
		return -1;
	n = tc_b64std_decode(in + fstart, flen, out->salt, sizeof(out->salt));
	if (n < TC_PHC_SALT_MIN)
		return -1;
	out->saltlen = (size_t) n;
	pos++;
	fstart = pos;
	flen = field(in, len, &pos);
	if (pos != len)
		return -1;
	n = tc_b64std_decode(in + fstart, flen, out->hash, sizeof(out->hash));
	if (n < TC_PHC_HASH_MIN)
		return -1;
	out->hashlen = (size_t) n;
	return 0;
}

int
tc_phc_scrypt_format(const tc_phc_scrypt *h, char *out, size_t cap)
{
	char		head[64];
	int			hl;
	size_t		sl,
				dl,
				total;

	if (h == NULL || out == NULL || !tc_phc_params_ok(h->ln, h->r, h->p) ||
		h->saltlen < TC_PHC_SALT_MIN || h->saltlen > TC_PHC_SALT_MAX ||
		h->hashlen < TC_PHC_HASH_MIN || h->hashlen > TC_PHC_HASH_MAX)
		return -1;
	hl = snprintf(head, sizeof(head), "$scrypt$ln=%u,r=%u,p=%u$", h->ln, h->r, h->p);
	if (hl < 0 || (size_t) hl >= sizeof(head))
		return -1;
	sl = tc_b64std_encoded_len(h->saltlen);
	dl = tc_b64std_encoded_len(h->hashlen);
	total = (size_t) hl + sl + 1 + dl;
	if (total + 1 > cap)
		return -1;
	memcpy(out, head, (size_t) hl);
	tc_b64std_encode(h->salt, h->saltlen, out + hl);
	out[hl + sl] = '$';
	tc_b64std_encode(h->hash, h->hashlen, out + hl + sl + 1);
	out[total] = '\0';
	return (int) total;
}

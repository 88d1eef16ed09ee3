/*
 * audit_enc.c: canonical encoding of audit rows (see audit_enc.h).
 */
#include <string.h>

#include "audit_enc.h"
#include "encoding.h"

size_t
tc_audit_encoded_len(const tc_field *fields, int nfields)
{
	size_t		total = 0;

	for (int i = 0; i < nfields; i++)
	{
		total += 4;
		if (fields[i].ptr == NULL)
			continue;
		if (fields[i].len >= TC_AUDIT_NULL_LEN)
			return 0;
		total += fields[i].len;
	}
	return total;
}

size_t
tc_audit_encode(const tc_field *fields, int nfields, uint8_t *out, size_t cap)
{
	size_t		need = tc_audit_encoded_len(fields, nfields);
	size_t		o = 0;

	if (need == 0 || need > cap)
		return 0;
	for (int i = 0; i < nfields; i++)
	{
		uint32_t	l = fields[i].ptr ? (uint32_t) fields[i].len : TC_AUDIT_NULL_LEN;

		out[o++] = (uint8_t) (l >> 24);
		out[o++] = (uint8_t) (l >> 16);
		out[o++] = (uint8_t) (l >> 8);
		out[o++] = (uint8_t) l;
		if (fields[i].ptr && fields[i].len > 0)
		{
			memcpy(out + o, fields[i].ptr, fields[i].len);
			o += fields[i].len;
		}
	}
	return o;
}

size_t
tc_audit_format_epoch_us(int64_t us, char *buf)
{
	static const char pairs[] =
		"00010203040506070809101112131415161718192021222324252627282930313233343536373839"
		"40414243444546474849505152535455565758596061626364656667686970717273747576777879"
		"8081828384858687888990919293949596979899";
	char		tmp[24];
	size_t		n = sizeof(tmp),
				o = 0;
	uint64_t	u;

	if (us < 0)
	{
		buf[o++] = '-';
		u = (uint64_t) (-(us + 1)) + 1;
	}
	else
		u = (uint64_t) us;
	/* two digits at a time, from the right */
	while (u >= 100)
	{
		unsigned	d = (unsigned) (u % 100);

		u /= 100;
		n -= 2;
		tmp[n] = pairs[2 * d];
		tmp[n + 1] = pairs[2 * d + 1];
	}
	if (u >= 10)
	{
		n -= 2;
		tmp[n] = pairs[2 * u];
		tmp[n + 1] = pairs[2 * u + 1];
	}
	else
		tmp[--n] = (char) ('0' + u);
	memcpy(buf + o, tmp + n, sizeof(tmp) - n);
	return o + sizeof(tmp) - n;
}

void
tc_audit_format_uuid(const uint8_t uuid[16], char *buf)
{
	size_t		o = 0;

	for (int i = 0; i < 16; i++)
	{
		if (i == 4 || i == 6 || i == 8 || i == 10)
			buf[o++] = '-';
		tc_hex_encode(uuid + i, 1, buf + o);
		o += 2;
	}
}

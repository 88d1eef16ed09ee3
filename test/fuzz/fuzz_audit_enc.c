/*
 * fuzz_audit_enc.c: the canonical field encoding enc() of the audit chain
 * (src/core/audit_enc.c).  The input is split into up to nine fields at
 * 0x00 bytes (a field "\xff" alone is SQL NULL); the encoding has exactly the
 * announced length, decodes back to the same fields, and an encode into a
 * buffer one byte short fails.  Epoch and uuid formatting stay in bounds.
 */
#include "fuzz_common.h"
#include "audit_enc.h"

static uint32_t
be32(const uint8_t *p)
{
	return ((uint32_t) p[0] << 24) | ((uint32_t) p[1] << 16) | ((uint32_t) p[2] << 8) | p[3];
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	   *in = fz_dup(data, size);
	tc_field	f[TC_AUDIT_NFIELDS];
	int			nf = 0;
	size_t		start = 0,
				len,
				off = 0;
	uint8_t    *out;

	for (size_t i = 0; i <= size && nf < TC_AUDIT_NFIELDS; i++)
		if (i == size || in[i] == '\0')
		{
			f[nf].ptr = in + start;
			f[nf].len = i - start;
			if (f[nf].len == 1 && (uint8_t) in[start] == 0xff)
				f[nf].ptr = NULL;
			nf++;
			start = i + 1;
		}
	len = tc_audit_encoded_len(f, nf);
	FZ_CHECK(len > 0 || nf == 0);
	out = malloc(len ? len : 1);
	FZ_CHECK(tc_audit_encode(f, nf, out, len) == len);
	for (int i = 0; i < nf; i++)
	{
		uint32_t	l;

		FZ_CHECK(off + 4 <= len);
		l = be32(out + off);
		off += 4;
		if (f[i].ptr == NULL)
			FZ_CHECK(l == TC_AUDIT_NULL_LEN);
		else
		{
			FZ_CHECK(l == f[i].len && off + l <= len && memcmp(out + off, f[i].ptr, l) == 0);
			off += l;
		}
	}
	FZ_CHECK(off == len);
	if (len > 0)
		FZ_CHECK(tc_audit_encode(f, nf, out, len - 1) == 0);
	free(out);

	if (size >= 16)
	{
		int64_t		us;
		char		buf[24];
		char		u[36];

		memcpy(&us, data, sizeof(us));
		FZ_CHECK(tc_audit_format_epoch_us(us, buf) <= sizeof(buf));
		tc_audit_format_uuid(data, u);
	}
	free(in);
	return 0;
}

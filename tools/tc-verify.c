/*
 * tc-verify: verify an export of tracechain.audit_log without trusting the
 * database.  Recomputes every row's hash with the canonical encoding the
 * README documents (src/core/audit_enc.c, the same code the server uses),
 * checks ids and links, and optionally that a published digest is part of
 * the exported chain.
 *
 * Export (psql, any role that may read audit_log):
 *   SET timezone = 'UTC';
 *   \copy (SELECT id, at, type, actor, db_user, action, resource, details, ip, prev_hash, hash
 *          FROM tracechain.audit_log ORDER BY id) TO 'audit.csv' WITH (FORMAT csv, HEADER)
 * Verify:
 *   tc-verify audit.csv [LAST_ID HASH]
 * Exit status 0 when everything verifies, 1 with the first bad row named, 2 on bad input.
 */
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit_enc.h"
#include "csv.h"
#include "encoding.h"

#define NCOL 11

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian). */
static long long
days_from_civil(long long y, unsigned m, unsigned d)
{
	long long	era;
	unsigned	yoe,
				doy,
				doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (unsigned) (y - era * 400);
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (long long) doe - 719468;
}

static int
digits(const char *s, size_t len, size_t at, int n, long long *out)
{
	long long	v = 0;

	if (at + n > len)
		return 0;
	for (int i = 0; i < n; i++)
	{
		if (s[at + i] < '0' || s[at + i] > '9')
			return 0;
		v = v * 10 + (s[at + i] - '0');
	}
	*out = v;
	return 1;
}

/* "YYYY-MM-DD HH:MM:SS[.ffffff]±HH[:MM]" to microseconds since the epoch. */
static int
parse_timestamp(const char *s, size_t len, long long *us)
{
	long long	y, mo, d, h, mi, se, frac = 0, oh = 0, om = 0;
	size_t		p = 19;
	int			nfrac = 0,
				sign;

	if (!digits(s, len, 0, 4, &y) || len < 19 || s[4] != '-' || !digits(s, len, 5, 2, &mo) ||
		s[7] != '-' || !digits(s, len, 8, 2, &d) || s[10] != ' ' || !digits(s, len, 11, 2, &h) ||
		s[13] != ':' || !digits(s, len, 14, 2, &mi) || s[16] != ':' || !digits(s, len, 17, 2, &se))
		return 0;
	if (p < len && s[p] == '.')
	{
		p++;
		while (p < len && s[p] >= '0' && s[p] <= '9' && nfrac < 6)
		{
			frac = frac * 10 + (s[p++] - '0');
			nfrac++;
		}
		if (nfrac == 0)
			return 0;
		while (nfrac < 6)
		{
			frac *= 10;
			nfrac++;
		}
	}
	if (p >= len || (s[p] != '+' && s[p] != '-'))
		return 0;
	sign = s[p] == '-' ? -1 : 1;
	if (!digits(s, len, p + 1, 2, &oh))
		return 0;
	p += 3;
	if (p < len && s[p] == ':')
	{
		if (!digits(s, len, p + 1, 2, &om))
			return 0;
		p += 3;
	}
	if (p != len || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60)
		return 0;
	*us = ((days_from_civil(y, (unsigned) mo, (unsigned) d) * 86400 + h * 3600 + mi * 60 + se
			- sign * (oh * 3600 + om * 60)) * 1000000) + frac;
	return 1;
}

static int
parse_hash(const tc_csv_field *f, unsigned char out[32])
{
	return f->ptr && f->len == 66 && f->ptr[0] == '\\' && f->ptr[1] == 'x' &&
		tc_hex_decode(f->ptr + 2, 64, out, 32) == 32;
}

int
main(int argc, char **argv)
{
	FILE	   *fh;
	char	   *in = NULL,
			   *scratch;
	size_t		len = 0,
				cap = 0,
				pos = 0,
				n;
	tc_csv_field f[NCOL + 1];
	unsigned char prev[32] = {0},
				want[32];
	long long	expect_id = 0,
				want_id = 0,
				rows = 0;
	int			have_prev = 0,
				want_found = 0,
				nf;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned char *buf = NULL;
	size_t		bufcap = 0;

	if (argc != 2 && argc != 4)
	{
		fprintf(stderr, "usage: tc-verify audit.csv [LAST_ID HASH]\n");
		return 2;
	}
	if (argc == 4 && (sscanf(argv[2], "%lld", &want_id) != 1 || strlen(argv[3]) != 64 ||
					  tc_hex_decode(argv[3], 64, want, 32) != 32))
	{
		fprintf(stderr, "tc-verify: the digest is a row id and 64 hex digits\n");
		return 2;
	}
	if (!(fh = fopen(argv[1], "rb")))
	{
		perror(argv[1]);
		return 2;
	}
	for (;;)
	{
		if (len == cap && !(in = realloc(in, cap = cap ? cap * 2 : 1 << 20)))
			return 2;
		if ((n = fread(in + len, 1, cap - len, fh)) == 0)
			break;
		len += n;
	}
	fclose(fh);
	if (!(scratch = malloc(len + 1)))
		return 2;

	nf = tc_csv_record(in, len, &pos, f, NCOL + 1, scratch, len + 1);	/* header */
	if (nf != NCOL || f[0].len != 2 || memcmp(f[0].ptr, "id", 2) != 0)
	{
		fprintf(stderr, "tc-verify: expected the header id,at,type,actor,db_user,action,resource,details,ip,prev_hash,hash\n");
		return 2;
	}
	while ((nf = tc_csv_record(in, len, &pos, f, NCOL + 1, scratch, len + 1)) != 0)
	{
		long long	id,
					at;
		char		idtxt[24],
					attxt[24];
		unsigned char row_prev[32],
					row_hash[32],
					hash[32];
		tc_field	e[TC_AUDIT_NFIELDS];
		size_t		need;

		rows++;
		if (nf != NCOL || !f[0].ptr || f[0].len == 0 || f[0].len > 18 ||
			!digits(f[0].ptr, f[0].len, 0, (int) f[0].len, &id) || !f[1].ptr ||
			!parse_timestamp(f[1].ptr, f[1].len, &at) ||
			!parse_hash(&f[9], row_prev) || !parse_hash(&f[10], row_hash))
		{
			printf("row %lld of the file: malformed (export with SET timezone = 'UTC' as the README shows)\n", rows);
			return 2;
		}
		if (expect_id == 0)
			expect_id = id;		/* the export may start after an archived prefix */
		if (id != expect_id)
		{
			printf("BAD: row %lld is missing (ids jump from %lld to %lld)\n", expect_id, expect_id - 1, id);
			return 1;
		}
		if (have_prev ? memcmp(row_prev, prev, 32) != 0 : (id == 1 && memcmp(row_prev, (unsigned char[32]) {0}, 32) != 0))
		{
			printf("BAD: prev_hash of row %lld does not match the hash of row %lld\n", id, id - 1);
			return 1;
		}
		snprintf(idtxt, sizeof(idtxt), "%lld", id);
		e[0].ptr = idtxt;
		e[0].len = strlen(idtxt);
		e[1].ptr = attxt;
		e[1].len = tc_audit_format_epoch_us(at, attxt);
		for (int i = 2; i < TC_AUDIT_NFIELDS; i++)
		{
			e[i].ptr = f[i].ptr;
			e[i].len = f[i].len;
		}
		need = 32 + tc_audit_encoded_len(e, TC_AUDIT_NFIELDS);
		if (need > bufcap && !(buf = realloc(buf, bufcap = need * 2)))
			return 2;
		memcpy(buf, row_prev, 32);
		if (tc_audit_encode(e, TC_AUDIT_NFIELDS, buf + 32, bufcap - 32) != need - 32 ||
			EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1 || EVP_DigestUpdate(ctx, buf, need) != 1 ||
			EVP_DigestFinal_ex(ctx, hash, NULL) != 1)
			return 2;
		if (memcmp(hash, row_hash, 32) != 0)
		{
			printf("BAD: hash of row %lld does not match its contents\n", id);
			return 1;
		}
		if (id == want_id)
			want_found = memcmp(hash, want, 32) == 0 ? 1 : -1;
		memcpy(prev, hash, 32);
		have_prev = 1;
		expect_id = id + 1;
	}
	if (argc == 4 && want_found != 1)
	{
		printf("BAD: the digest (%lld, %s) is %s\n", want_id, argv[3],
			   want_found == -1 ? "not the hash of that row" : "beyond the exported rows");
		return 1;
	}
	printf("OK: %lld rows verify (ids %lld..%lld)%s\n", rows, expect_id - rows, expect_id - 1,
		   argc == 4 ? "; the digest is part of the chain" : "");
	return 0;
}

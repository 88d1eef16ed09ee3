/*
 * csv.c: see csv.h.
 */
#include "csv.h"

int
tc_csv_record(const char *in, size_t inlen, size_t *pos,
			  tc_csv_field *fields, int maxf, char *scratch, size_t scap)
{
	size_t		p = *pos,
				o = 0;
	int			n = 0;

	if (p >= inlen)
		return 0;
	for (;;)
	{
		size_t		start = o;
		int			quoted = 0;

		if (n >= maxf)
			return -1;
		if (p < inlen && in[p] == '"')
		{
			quoted = 1;
			p++;
			for (;;)
			{
				if (p >= inlen)
					return -1;	/* unterminated quote */
				if (in[p] == '"')
				{
					if (p + 1 < inlen && in[p + 1] == '"')
					{
						if (o >= scap)
							return -1;
						scratch[o++] = '"';
						p += 2;
						continue;
					}
					p++;
					break;
				}
				if (o >= scap)
					return -1;
				scratch[o++] = in[p++];
			}
		}
		else
		{
			while (p < inlen && in[p] != ',' && in[p] != '\n' && in[p] != '\r')
			{
				if (in[p] == '"' || o >= scap)
					return -1;	/* a quote inside an unquoted field */
				scratch[o++] = in[p++];
			}
		}
		fields[n].ptr = (quoted || o > start) ? scratch + start : NULL;
		fields[n].len = o - start;
		n++;
		if (p >= inlen)
			break;
		if (in[p] == ',')
		{
			p++;
			continue;
		}
		if (in[p] == '\r' && p + 1 < inlen && in[p + 1] == '\n')
			p++;
		if (in[p] == '\n' || in[p] == '\r')
		{
			p++;
			break;
		}
		return -1;				/* junk after a closing quote */
	}
	*pos = p;
	return n;
}

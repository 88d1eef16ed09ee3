/*
 * fuzz_csv.c: the CSV record reader of src/core/csv.c (registry imports).
 * Reads every record of the input: each call either ends (0), fails (-1) or
 * advances the position; every field lies inside the scratch buffer; a
 * scratch buffer one byte smaller than the input suffices or fails cleanly.
 */
#include "fuzz_common.h"
#include "csv.h"

#define MAXF 16

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	   *in = fz_dup(data, size);
	size_t		scap = size;
	char	   *scratch = malloc(scap ? scap : 1);
	tc_csv_field f[MAXF];
	size_t		pos = 0;

	for (;;)
	{
		size_t		before = pos;
		int			n = tc_csv_record(in, size, &pos, f, MAXF, scratch, scap);

		if (n <= 0)
			break;
		FZ_CHECK(n <= MAXF);
		FZ_CHECK(pos > before && pos <= size);
		for (int i = 0; i < n; i++)
			if (f[i].ptr)
				FZ_CHECK(f[i].ptr >= scratch && f[i].ptr + f[i].len <= scratch + scap);
			else
				FZ_CHECK(f[i].len == 0);
	}
	/* a tiny scratch buffer and few fields: refused, not overrun */
	pos = 0;
	while (tc_csv_record(in, size, &pos, f, 2, scratch, scap < 3 ? scap : 3) > 0)
		;
	free(scratch);
	free(in);
	return 0;
}

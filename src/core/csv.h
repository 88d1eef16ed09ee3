/*
 * csv.h: a strict reader of PostgreSQL's COPY ... WITH (FORMAT csv) output.
 *
 * Pure C, explicit lengths.  A field is NULL when it is empty and unquoted
 * (COPY's default NULL in CSV), the empty string when it is "".
 */
#ifndef TC_CSV_H
#define TC_CSV_H

#include <stddef.h>

typedef struct tc_csv_field
{
	const char *ptr;			/* into the caller's scratch buffer; NULL for SQL NULL */
	size_t		len;
} tc_csv_field;

/*
 * Read one record starting at *pos of in[0..inlen).  Unescaped field bytes
 * go to scratch (capacity scap; a record never needs more than its own
 * length).  Returns the number of fields (at most maxf), 0 at end of input,
 * or -1 when the record is malformed or does not fit.  Advances *pos past
 * the record's line end.
 */
int			tc_csv_record(const char *in, size_t inlen, size_t *pos,
						  tc_csv_field *fields, int maxf, char *scratch, size_t scap);

#endif

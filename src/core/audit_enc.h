/*
 * audit_enc.h: the canonical encoding of an audit row.
 *
 * hash(row) = SHA-256(prev_hash || enc(row)), where enc(row) is the
 * concatenation, in this order, of the fields
 *     id, at, type, actor, db_user, action, resource, details, ip
 * each written as a 4-byte big-endian length followed by that many bytes
 * of its canonical text (UTF-8), or as the 4 bytes ff ff ff ff for NULL.
 * The canonical texts are documented in the README ("Audit chain").
 *
 * Pure C: the server, the unit tests, the fuzzers and the independent
 * verifier share this one definition.
 */
#ifndef TC_AUDIT_ENC_H
#define TC_AUDIT_ENC_H

#include <stddef.h>
#include <stdint.h>

#define TC_AUDIT_NFIELDS 9
#define TC_AUDIT_NULL_LEN 0xFFFFFFFFu
#define TC_HASH_LEN 32

typedef struct tc_field
{
	const char *ptr;			/* NULL means SQL NULL */
	size_t		len;
} tc_field;

/* Bytes enc() needs for these fields; 0 when a field is too long to encode. */
size_t		tc_audit_encoded_len(const tc_field *fields, int nfields);

/*
 * Write enc(fields) into out.  Returns the number of bytes written, or 0
 * when cap is too small or a field cannot be encoded.
 */
size_t		tc_audit_encode(const tc_field *fields, int nfields, uint8_t *out, size_t cap);

/*
 * Format the canonical text of `at`: microseconds since 1970-01-01 00:00:00
 * UTC in decimal.  buf needs 24 bytes; returns the length.
 */
size_t		tc_audit_format_epoch_us(int64_t us, char *buf);

/* Canonical lower-case text of a 16-byte UUID; buf needs 36 bytes. */
void		tc_audit_format_uuid(const uint8_t uuid[16], char *buf);

#endif

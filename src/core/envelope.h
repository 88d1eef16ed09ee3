/*
 * envelope.h: the tracechain encryption envelope, version 1.
 *
 * Pure C (no PostgreSQL headers).  Byte by byte (all integers big-endian):
 *
 *   offset  length  field
 *   0       1       format: 0x01 = AES-256-GCM, 96-bit nonce, 128-bit tag
 *   1       4       key id (the keys.id of the named key, same for all versions)
 *   5       4       key version (1, 2, ...)
 *   9       12      nonce (random, fresh for every encryption)
 *   21      n       ciphertext (n = plaintext length, n >= 0)
 *   21+n    16      GCM tag
 *
 * The associated data of the GCM operation is the 21-byte header (bytes
 * 0..20) followed by the caller's context (its UTF-8 bytes, possibly none),
 * so neither the header nor the context can be changed without the tag
 * failing.  The parser checks lengths only; authenticity is GCM's job.
 */
#ifndef TC_ENVELOPE_H
#define TC_ENVELOPE_H

#include <stddef.h>
#include <stdint.h>

#define TC_ENV_FORMAT_V1	0x01
#define TC_ENV_NONCE_LEN	12
#define TC_ENV_TAG_LEN		16
#define TC_ENV_HDR_LEN		(1 + 4 + 4 + TC_ENV_NONCE_LEN)	/* 21 */
#define TC_ENV_OVERHEAD		(TC_ENV_HDR_LEN + TC_ENV_TAG_LEN)	/* 37 */

typedef struct tc_envelope
{
	uint8_t		format;
	uint32_t	key_id;
	uint32_t	version;
	const uint8_t *header;		/* TC_ENV_HDR_LEN bytes: the authenticated header */
	const uint8_t *nonce;		/* TC_ENV_NONCE_LEN bytes */
	const uint8_t *ct;			/* ctlen bytes */
	size_t		ctlen;
	const uint8_t *tag;			/* TC_ENV_TAG_LEN bytes */
} tc_envelope;

/*
 * Split len bytes at in into the fields above (pointers into in).  Returns 0,
 * or -1 when the input is shorter than the overhead or has an unknown format
 * byte, a key id of 0 or a version of 0.
 */
int			tc_envelope_parse(const uint8_t *in, size_t len, tc_envelope *out);

/*
 * Write the header for (key_id, version, nonce) into out (cap bytes).
 * Returns TC_ENV_HDR_LEN, or -1 when cap is too small or key_id/version is 0.
 */
int			tc_envelope_write_header(uint8_t *out, size_t cap, uint32_t key_id,
									 uint32_t version, const uint8_t *nonce);

/* Total envelope length for a plaintext of ptlen bytes; 0 on overflow. */
size_t		tc_envelope_len(size_t ptlen);

#endif

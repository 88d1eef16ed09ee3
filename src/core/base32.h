/*
 * base32.h: RFC 4648 base32, with explicit lengths and caller buffers.
 *
 * Pure C (no PostgreSQL headers): TOTP secrets arrive as base32 text from
 * SQL callers and authenticator apps, so this is the parser for that
 * untrusted input.  Unit tests: test/unit/test_totp.c.
 */
#ifndef TC_BASE32_H
#define TC_BASE32_H

#include <stddef.h>
#include <stdint.h>

/* Characters of unpadded base32 for len bytes. */
size_t		tc_base32_encoded_len(size_t len);

/* Upper-case base32 without padding; writes tc_base32_encoded_len(len) chars, no terminator. */
void		tc_base32_encode(const uint8_t *in, size_t len, char *out);

/*
 * Decode inlen characters of base32: A-Z and 2-7 in either case, optionally
 * followed by '=' padding to a multiple of 8 characters.  No whitespace.
 * Lengths that no byte string encodes to (1, 3 or 6 characters past a
 * multiple of 8) are malformed.  Returns the number of bytes written, -1
 * when malformed, -2 when the result would exceed cap.  Needs no more than
 * inlen * 5 / 8 bytes.
 */
long		tc_base32_decode(const char *in, size_t inlen, uint8_t *out, size_t cap);

#endif

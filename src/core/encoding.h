/*
 * encoding.h: hex and base64url, strict, with explicit lengths.
 *
 * Pure C (no PostgreSQL headers) so that unit tests and fuzzers link it alone.
 * Every decoder takes the input length and an output capacity and never reads
 * or writes past either; it returns the number of bytes written, or -1 when
 * the input is malformed or does not fit.
 */
#ifndef TC_ENCODING_H
#define TC_ENCODING_H

#include <stddef.h>
#include <stdint.h>

/* Lower-case hex of len bytes into out (2*len bytes, no terminator). */
void		tc_hex_encode(const uint8_t *in, size_t len, char *out);

/*
 * Decode exactly inlen hex digits (either case).  An odd length or any
 * non-hex character is malformed.  Needs cap >= inlen / 2.
 */
long		tc_hex_decode(const char *in, size_t inlen, uint8_t *out, size_t cap);

/* Length of base64url (no padding) for len bytes. */
size_t		tc_b64url_encoded_len(size_t len);

/*
 * Unpadded base64 with the given 64-character alphabet (RFC 4648 sections 4
 * and 5 differ only in it); writes tc_b64url_encoded_len(len) chars.
 */
void		tc_b64_encode_with(const char alphabet[64], const uint8_t *in, size_t len, char *out);

/* base64url without padding (RFC 4648 section 5); writes tc_b64url_encoded_len(len) chars. */
void		tc_b64url_encode(const uint8_t *in, size_t len, char *out);

/*
 * Strict base64url decode: no padding, no whitespace, only the URL-safe
 * alphabet, and unused trailing bits must be zero (so each byte string has
 * exactly one encoding).  Needs cap >= inlen * 3 / 4.
 */
long		tc_b64url_decode(const char *in, size_t inlen, uint8_t *out, size_t cap);

/* The same decoder for the alphabet whose last two digits are c62 and c63 ('+' '/': standard). */
long		tc_b64_decode_with(char c62, char c63, const char *in, size_t inlen, uint8_t *out, size_t cap);

/* Constant-time comparison of two equal-length buffers: 1 when equal. */
int			tc_ct_equal(const void *a, const void *b, size_t len);

#endif

/*
 * phc.h: PHC string format for scrypt password hashes.
 *
 * Pure C (no PostgreSQL headers).  The string is
 *
 *   $scrypt$ln=<log2 N>,r=<block size>,p=<parallelism>$<salt>$<hash>
 *
 * with salt and hash in standard base64 without padding (the PHC string
 * format's "B64").  Parameters are decimal without sign or leading zeros.
 * The parser refuses anything else, and parameters outside
 * 1 <= ln <= 20, 1 <= r <= 32, 1 <= p <= 16, 128 * r * 2^ln <= 256 MiB, so a
 * stored hash can never make verification arbitrarily expensive.
 */
#ifndef TC_PHC_H
#define TC_PHC_H

#include <stddef.h>
#include <stdint.h>

#define TC_PHC_SALT_MIN 8
#define TC_PHC_SALT_MAX 64
#define TC_PHC_HASH_MIN 16
#define TC_PHC_HASH_MAX 64
#define TC_PHC_MAXLEN 256
#define TC_PHC_MAXMEM ((uint64_t) 256 * 1024 * 1024)
/*
 * Most work a hash may ask for, as 128 * r * N * p bytes of mixing (16 times
 * the default ln=15, r=8, p=1): scrypt cannot be interrupted, so a stored or
 * supplied hash must not be able to hold a backend for long.
 */
#define TC_PHC_MAXWORK ((uint64_t) 512 * 1024 * 1024)

typedef struct tc_phc_scrypt
{
	unsigned	ln;
	unsigned	r;
	unsigned	p;
	uint8_t		salt[TC_PHC_SALT_MAX];
	size_t		saltlen;
	uint8_t		hash[TC_PHC_HASH_MAX];
	size_t		hashlen;
} tc_phc_scrypt;

/* 1 when (ln, r, p) are within the limits above. */
int			tc_phc_params_ok(unsigned ln, unsigned r, unsigned p);

/* Parse len bytes at in; 0 on success, -1 when malformed or out of limits. */
int			tc_phc_scrypt_parse(const char *in, size_t len, tc_phc_scrypt *out);

/*
 * Write the NUL-terminated PHC string of *h into out (cap bytes).  Returns
 * its length, or -1 when it does not fit or *h is out of limits.
 */
int			tc_phc_scrypt_format(const tc_phc_scrypt *h, char *out, size_t cap);

/* Standard base64 without padding: encoded length, encoder, strict decoder (-1 if malformed). */
size_t		tc_b64std_encoded_len(size_t len);
void		tc_b64std_encode(const uint8_t *in, size_t len, char *out);
long		tc_b64std_decode(const char *in, size_t inlen, uint8_t *out, size_t cap);

#endif

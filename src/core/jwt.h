/*
 * jwt.h: the JWT compact serialization (RFC 7515 section 7.1, RFC 7519),
 * strictly, with explicit lengths.
 *
 * Pure C (no PostgreSQL headers) so that unit tests and fuzzers link it alone.
 * What is here needs no key and no clock:
 *   - tc_jwt_split: exactly three non-empty base64url segments, at most
 *     TC_JWT_MAX_LEN bytes in all;
 *   - tc_json_object_check: a strict RFC 8259 validator for the header and
 *     the payload (an object at the top, valid UTF-8, bounded depth, no
 *     duplicate member names at the top, no \u0000, no lone surrogates,
 *     bounded numbers), so that what PostgreSQL's jsonb parser sees next is
 *     known to be valid;
 *   - tc_jwt_header_parse / tc_jwt_header_check: the JOSE header's alg, typ,
 *     kid and crit, and the policy of RFC 8725 (alg must be the key's; none
 *     and anything else refused; kid must name the key);
 *   - ES256 signatures: raw r || s (RFC 7518 section 3.4) to and from the DER
 *     ECDSA-Sig-Value OpenSSL reads and writes.
 * No function reads or writes past the lengths it is given.
 */
#ifndef TC_JWT_H
#define TC_JWT_H

#include <stddef.h>
#include <stdint.h>

/* Longest token accepted (checked before anything is decoded). */
#define TC_JWT_MAX_LEN 16384
/* Deepest nesting of arrays and objects in the header or payload. */
#define TC_JWT_MAX_DEPTH 32
/* Most members of the top-level object of the header or payload. */
#define TC_JWT_MAX_MEMBERS 512

#define TC_JWT_ALG_MAX 16
#define TC_JWT_TYP_MAX 32
#define TC_JWT_KID_MAX 128

#define TC_JWT_HS256_SIG_LEN 32
#define TC_JWT_ES256_SIG_LEN 64
/* Longest DER ECDSA-Sig-Value for P-256: 30 len (02 21 00 r) (02 21 00 s) */
#define TC_JWT_ES256_DER_MAX 72

typedef enum tc_jwt_alg
{
	TC_JWT_ALG_HS256 = 1,
	TC_JWT_ALG_ES256 = 2
} tc_jwt_alg;

/* Results; 0 is success.  tc_jwt_strerror says each in words. */
typedef enum tc_jwt_err
{
	TC_JWT_OK = 0,
	/* malformed (the module reports these as 22P02) */
	TC_JWT_E_TOO_LONG,
	TC_JWT_E_SEGMENTS,			/* not exactly three segments */
	TC_JWT_E_EMPTY_SEGMENT,
	TC_JWT_E_BASE64URL,			/* not strict base64url */
	TC_JWT_E_JSON,				/* not JSON */
	TC_JWT_E_JSON_DEPTH,
	TC_JWT_E_JSON_UTF8,
	TC_JWT_E_JSON_NUL,			/* \u0000, which jsonb cannot store */
	TC_JWT_E_JSON_NUMBER,		/* a number too long or with a huge exponent */
	TC_JWT_E_JSON_DUPLICATE,	/* a member name twice at the top */
	TC_JWT_E_JSON_MEMBERS,		/* too many members at the top */
	TC_JWT_E_NOT_OBJECT,		/* the top is not an object */
	TC_JWT_E_HEADER_FIELD,		/* alg, typ or kid not a string, or too long */
	/* refused (the module reports these as 28000) */
	TC_JWT_E_ALG_MISSING,
	TC_JWT_E_ALG_NONE,
	TC_JWT_E_ALG_MISMATCH,		/* another algorithm than the key's */
	TC_JWT_E_TYP,				/* typ present and not JWT */
	TC_JWT_E_CRIT,				/* crit present: no extension is understood */
	TC_JWT_E_KID_MISSING,
	TC_JWT_E_KID_OTHER_KEY,		/* kid is not <this key's name>:<version> */
	TC_JWT_E_SIGNATURE			/* a signature of the wrong form */
} tc_jwt_err;

extern const char *tc_jwt_strerror(int err);
/* Whether err is one of the malformed-input errors (22P02). */
extern int	tc_jwt_err_is_malformed(int err);

/* "HS256", "ES256". */
extern const char *tc_jwt_alg_name(tc_jwt_alg alg);

typedef struct tc_jwt_parts
{
	const char *seg[3];			/* header, payload, signature (base64url) */
	size_t		seglen[3];
	size_t		signing_input_len;	/* header "." payload: tok[0 .. this) */
} tc_jwt_parts;

/*
 * Split a compact JWS: at most TC_JWT_MAX_LEN bytes, exactly two dots, three
 * non-empty segments of the base64url alphabet.  The segments point into tok.
 */
extern int	tc_jwt_split(const char *tok, size_t len, tc_jwt_parts *out);

/* Strict base64url decode of a segment; cap >= seglen * 3 / 4.  -1 when malformed. */
extern long tc_jwt_segment_decode(const char *seg, size_t seglen, uint8_t *out, size_t cap);

/*
 * Validate p[0..len) as one JSON text (RFC 8259) whose value is an object,
 * with the limits above.  Returns 0 or a TC_JWT_E_* code.
 */
extern int	tc_json_object_check(const uint8_t *p, size_t len);

typedef struct tc_jwt_header
{
	int			has_alg,
				has_typ,
				has_kid,
				has_crit;
	char		alg[TC_JWT_ALG_MAX + 1];	/* decoded, NUL-terminated */
	char		typ[TC_JWT_TYP_MAX + 1];
	char		kid[TC_JWT_KID_MAX + 1];
} tc_jwt_header;

/* Validate the decoded header (tc_json_object_check) and read alg, typ, kid, crit. */
extern int	tc_jwt_header_parse(const uint8_t *p, size_t len, tc_jwt_header *h);

/*
 * RFC 8725 policy: alg present, not "none", equal to `expected`; typ absent
 * or "JWT" (any case); no crit; kid present and "<key_name>:<version>" with
 * a decimal version from 1 to 2^31 - 1 (no leading zero), returned in
 * *version.
 */
extern int	tc_jwt_header_check(const tc_jwt_header *h, tc_jwt_alg expected,
								const char *key_name, size_t key_name_len, int32_t *version);

/*
 * The header jwt_sign writes: {"alg":"<alg>","typ":"JWT","kid":"<name>:<version>"}.
 * The name must be JSON-safe (key store names are).  Returns the length
 * written (no terminator), or -1 when it does not fit in cap.
 */
extern long tc_jwt_header_write(tc_jwt_alg alg, const char *key_name, size_t key_name_len,
								int32_t version, char *out, size_t cap);

/*
 * ES256 signatures.  der_to_raw: strict DER SEQUENCE of two positive (non-zero) minimal
 * INTEGERs, each at most 32 bytes of value, to r || s (64 bytes, each
 * left-padded); 0 or -1.  raw_to_der: the DER of r || s (r and s must not
 * be zero); returns the length (at most TC_JWT_ES256_DER_MAX) or -1.
 */
extern int	tc_jwt_ecdsa_der_to_raw(const uint8_t *der, size_t derlen, uint8_t raw[TC_JWT_ES256_SIG_LEN]);
extern long tc_jwt_ecdsa_raw_to_der(const uint8_t raw[TC_JWT_ES256_SIG_LEN], uint8_t *der, size_t cap);

#endif

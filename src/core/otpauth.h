/*
 * otpauth.h: the Google Authenticator key-uri format and recovery codes.
 *
 * Pure C (no PostgreSQL headers).  The URI is built exactly as otplib's
 * keyuri builds it, so that authenticator apps and otplib agree with us:
 *
 *   otpauth://totp/ISSUER:ACCOUNT?secret=BASE32&period=P&digits=D&algorithm=ALG&issuer=ISSUER
 *
 * with ISSUER and ACCOUNT percent-encoded as JavaScript's
 * encodeURIComponent does (every byte but A-Z a-z 0-9 - _ . ! ~ * ' ( ) is
 * written as %XX of its UTF-8 byte).
 */
#ifndef TC_OTPAUTH_H
#define TC_OTPAUTH_H

#include <stddef.h>
#include <stdint.h>

/* encodeURIComponent of len bytes into out (room for 3 * len); returns chars written. */
size_t		tc_uri_component_escape(const char *in, size_t len, char *out);

/*
 * Write the otpauth URI into out (cap bytes, NUL-terminated when it fits).
 * Returns the URI's length without the terminator; when that is >= cap,
 * nothing useful was written and the caller needs a larger buffer
 * (tc_otpauth_uri_max() is always enough).
 */
size_t		tc_otpauth_uri(char *out, size_t cap,
						   const char *issuer, size_t issuer_len,
						   const char *account, size_t account_len,
						   const char *secret, size_t secret_len,
						   const char *algorithm, int digits, int period);

/* An upper bound of tc_otpauth_uri()'s length plus terminator. */
size_t		tc_otpauth_uri_max(size_t issuer_len, size_t account_len, size_t secret_len,
							   size_t algorithm_len);

/*
 * Recovery codes: TC_RECOVERY_CHARS base32 characters (lower case) shown
 * as two groups of five, "abcde-fghij" (50 bits).
 */
#define TC_RECOVERY_CHARS 10
#define TC_RECOVERY_RANDOM_BYTES 7	/* 56 bits drawn, 50 used */
#define TC_RECOVERY_TEXT_LEN (TC_RECOVERY_CHARS + 1)

/* Format random bytes as a recovery code (writes TC_RECOVERY_TEXT_LEN chars, no terminator). */
void		tc_recovery_format(const uint8_t rnd[TC_RECOVERY_RANDOM_BYTES], char *out);

/*
 * Normalize what a user typed as a recovery code: drops '-' and spaces,
 * folds to lower case.  Writes TC_RECOVERY_CHARS chars into out and returns
 * 1 when the input is a recovery code in form, 0 otherwise (a TOTP code of
 * digits only is never one, as it has digits 0, 1, 8 or 9 or is too short).
 */
int			tc_recovery_normalize(const char *in, size_t len, char out[TC_RECOVERY_CHARS]);

#endif

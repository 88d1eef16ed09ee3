/*
 * siwe.h: a strict parser and a builder for EIP-4361 (Sign-In with
 * Ethereum) messages, with explicit lengths.
 *
 * The parser follows the EIP's ABNF line by line: the header
 * "[scheme://]domain wants you to sign in with your Ethereum account:", the
 * address, an optional statement between blank lines, then URI, Version,
 * Chain ID, Nonce and Issued At in that order, then optionally Expiration
 * Time, Not Before, Request ID and Resources, in that order.  Lines end with
 * LF only; a CR anywhere, any other control or non-ASCII byte, a missing,
 * repeated, unknown or out-of-order field, a trailing line break, or a
 * message longer than TC_SIWE_MAX_LEN is refused before anything else is
 * looked at.  Fields are returned as spans into the caller's message.
 *
 * Pure C, no PostgreSQL headers.
 */
#ifndef TC_SIWE_H
#define TC_SIWE_H

#include <stddef.h>
#include <stdint.h>

#include "eth.h"

#define TC_SIWE_MAX_LEN 4096		/* bytes; longer messages are refused unparsed */
#define TC_SIWE_NONCE_MIN 8
#define TC_SIWE_NONCE_MAX 128
#define TC_SIWE_TIME_TEXT_MAX 24	/* "YYYY-MM-DDTHH:MM:SS.mmmZ" */

typedef struct tc_span
{
	const char *p;
	size_t		len;
} tc_span;

typedef struct tc_siwe_msg
{
	int			has_scheme;
	tc_span		scheme;
	tc_span		domain;			/* RFC 3986 authority */
	tc_span		address;		/* as written */
	uint8_t		addr[TC_ETH_ADDR_LEN];
	int			has_statement;
	tc_span		statement;
	tc_span		uri;
	tc_span		version;		/* always "1" */
	uint64_t	chain_id;
	tc_span		nonce;
	tc_span		issued_at;
	int64_t		issued_at_us;	/* microseconds since 1970-01-01 UTC */
	int			has_expiration_time;
	tc_span		expiration_time;
	int64_t		expiration_time_us;
	int			has_not_before;
	tc_span		not_before;
	int64_t		not_before_us;
	int			has_request_id;
	tc_span		request_id;
	int			has_resources;	/* a "Resources:" line was present */
	size_t		n_resources;	/* resources written to the caller's array */
} tc_siwe_msg;

/*
 * Parse msg[0..len).  resources receives up to res_cap URIs (a message with
 * more is refused); a caller that wants every one passes
 * tc_siwe_max_resources(len) entries.  Returns 0, or -1 with *err set to a
 * static lower-case phrase saying what is wrong.
 */
int			tc_siwe_parse(const char *msg, size_t len, tc_siwe_msg *out,
						  tc_span *resources, size_t res_cap, const char **err);

/* An upper bound on the resources a message of len bytes can hold. */
size_t		tc_siwe_max_resources(size_t len);

/* Validators the builder and the parser share; 1 when valid. */
int			tc_siwe_valid_authority(const char *s, size_t len);
int			tc_siwe_valid_uri(const char *s, size_t len);
int			tc_siwe_valid_statement(const char *s, size_t len);
int			tc_siwe_valid_nonce(const char *s, size_t len);
int			tc_siwe_valid_request_id(const char *s, size_t len);

/*
 * RFC 3339 date-time to microseconds since the Unix epoch (the fraction is
 * truncated to microseconds); 0, or -1 when malformed or out of range.
 */
int			tc_rfc3339_parse(const char *s, size_t len, int64_t *us);

/*
 * Format microseconds since the epoch as "YYYY-MM-DDTHH:MM:SS.mmmZ" (as
 * JavaScript's toISOString does); writes 24 chars, returns 24, or 0 when the
 * time is outside years 0000-9999.
 */
size_t		tc_rfc3339_format(int64_t us, char out[TC_SIWE_TIME_TEXT_MAX]);

/* What the builder puts into a message; spans with p == NULL are absent. */
typedef struct tc_siwe_fields
{
	tc_span		domain;
	uint8_t		addr[TC_ETH_ADDR_LEN];
	tc_span		statement;
	tc_span		uri;
	uint64_t	chain_id;
	tc_span		nonce;
	int64_t		issued_at_us;
	int			has_expiration_time;
	int64_t		expiration_time_us;
} tc_siwe_fields;

/*
 * Build the message: writes at most cap bytes and returns the full length
 * (as snprintf does: a result above cap means nothing usable was written),
 * or 0 with *err set when a field is invalid.  The address is written in
 * its EIP-55 form.
 */
size_t		tc_siwe_build(const tc_siwe_fields *f, char *out, size_t cap, const char **err);

#endif

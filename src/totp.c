/*
 * totp.c: TOTP multi-factor, the C half (the SQL half is totp.sql).
 *
 * - Codes are computed and checked by liboath (RFC 6238: HMAC-SHA1,
 *   -SHA256 or -SHA512, 6 to 8 digits, period 15 to 300 s).  Checks use
 *   oath_totp_validate4_callback with a constant-time comparison, and report
 *   the time step that matched so that totp.sql can keep the last accepted
 *   step per factor (RFC 6238 section 5.2).
 * - Secrets are 160 random bits from OpenSSL's CSPRNG, sealed with
 *   tc_seal("totp", principal id as associated data), so a sealed secret
 *   copied onto another principal's row does not unseal.
 * - Lockout lives in shared memory (a small table keyed by principal,
 *   bounded, under one LWLock), because a failure count must survive the
 *   caller's rollback.  An attempt is charged *before* any HMAC is computed
 *   and forgiven only on success, so concurrent guesses cannot run past
 *   tracechain.totp_max_failures, and a backend that dies mid-check leaves
 *   its charge in place.  The table is lost on a server restart (documented
 *   in docs/totp.md); the failures themselves are durable as security events
 *   in audit_log.
 * - Recovery codes are stored as HMAC-SHA256 under a master-key subkey, so a
 *   copy of the table does not allow an offline search of 50-bit codes.
 * - QR codes: libqrencode, written out as SVG.
 */
#include "postgres.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <liboath/oath.h>
#include <qrencode.h>

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "storage/lwlock.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#include "base32.h"
#include "encoding.h"
#include "keys.h"
#include "otpauth.h"
#include "principal.h"
#include "shmem.h"
#include "totp.h"

#define TOTP_SECRET_BYTES 20	/* 160 bits, RFC 4226 section 4 */
#define TOTP_MAX_SECRET_BYTES 128	/* what totp_code accepts */
#define TOTP_MAX_SECRET_CHARS 256	/* base32 of 128 bytes with padding is 208 */
#define TOTP_MAX_CODE_CHARS 64	/* longer "codes" are wrong without a look */
#define TOTP_MAX_URI_BYTES 2048 /* QR version 40-M holds 2331 bytes */
#define TOTP_MAX_LABEL_CHARS 200
#define LOCK_PROBES 16

/* GUCs */
static int	totp_window = 1;
static int	totp_max_failures = 5;
static int	totp_lockout_s = 900;
static int	totp_lockout_slots = 4096;

/* ---------------------------------------------------------------------- */
/* Shared-memory lockout table                                             */
/* ---------------------------------------------------------------------- */

typedef struct lock_slot
{
	pg_uuid_t	principal;
	bool		used;
	int32		failures;		/* consecutive, charged before checking */
	TimestampTz locked_until;	/* 0 when not locked */
	TimestampTz last_at;
} lock_slot;

typedef struct lock_table
{
	int			nslots;
	uint64		evictions;		/* live entries pushed out by a full probe window */
	lock_slot	slots[FLEXIBLE_ARRAY_MEMBER];
} lock_table;

static lock_table *locktab = NULL;
static int	locktab_lock_index = -1;

static LWLock *
locktab_lock(void)
{
	return &tc_shmem_lwlocks()[locktab_lock_index].lock;
}

static void
locktab_init(void *ptr, bool found)
{
	lock_table *t = (lock_table *) ptr;

	if (found)
		return;
	memset(t, 0, offsetof(lock_table, slots) + sizeof(lock_slot) * (Size) totp_lockout_slots);
	t->nslots = totp_lockout_slots;
}

static void
require_locktab(void)
{
	if (locktab == NULL || !tc_shmem_available())
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("tracechain must be loaded through shared_preload_libraries to verify TOTP codes"),
				 errhint("Add tracechain to shared_preload_libraries and restart the server.")));
}

/* An entry that holds nothing worth keeping. */
static bool
slot_idle(const lock_slot *s, TimestampTz now)
{
	return !s->used || s->failures == 0 || (s->locked_until != 0 && s->locked_until <= now);
}

/*
 * Find the principal's slot within its probe window; with `create`, take a
 * slot for it: an idle one, else the oldest unlocked entry, else the lock
 * that ends soonest (each such eviction is counted and warned about).
 * Caller holds the table's lock (exclusive when creating).
 */
static lock_slot *
slot_find(const pg_uuid_t *p, bool create, TimestampTz now, bool *evicted)
{
	uint32		h = hash_bytes(p->data, UUID_LEN);
	int			n = locktab->nslots;
	lock_slot  *idle = NULL,
			   *oldest = NULL,
			   *soonest = NULL;
	lock_slot  *victim;

	*evicted = false;
	for (int i = 0; i < LOCK_PROBES && i < n; i++)
	{
		lock_slot  *s = &locktab->slots[(h + (uint32) i) % (uint32) n];

		if (s->used && memcmp(s->principal.data, p->data, UUID_LEN) == 0)
			return s;
		if (!create)
			continue;
		if (slot_idle(s, now))
		{
			if (idle == NULL)
				idle = s;
		}
		else if (s->locked_until == 0)
		{
			if (oldest == NULL || s->last_at < oldest->last_at)
				oldest = s;
		}
		else if (soonest == NULL || s->locked_until < soonest->locked_until)
			soonest = s;
	}
	if (!create)
		return NULL;
	victim = idle ? idle : oldest ? oldest : soonest;
	Assert(victim != NULL);
	if (victim != idle)
	{
		locktab->evictions++;
		*evicted = true;
	}
	memset(victim, 0, sizeof(*victim));
	victim->principal = *p;
	victim->used = true;
	return victim;
}

/* ---------------------------------------------------------------------- */
/* Helpers                                                                 */
/* ---------------------------------------------------------------------- */

static void
oath_ready(void)
{
	static bool done = false;

	if (!done)
	{
		if (oath_init() != OATH_OK)
			ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR), errmsg("could not initialize liboath")));
		done = true;
	}
}

/* Algorithm name (case-insensitive) to liboath's flags; 22023 otherwise. */
static int
parse_algorithm(text *t, const char **canonical)
{
	const char *p = VARDATA_ANY(t);
	size_t		len = VARSIZE_ANY_EXHDR(t);

	if (len == 4 && pg_strncasecmp(p, "SHA1", 4) == 0)
	{
		*canonical = "SHA1";
		return 0;
	}
	if (len == 6 && pg_strncasecmp(p, "SHA256", 6) == 0)
	{
		*canonical = "SHA256";
		return OATH_TOTP_HMAC_SHA256;
	}
	if (len == 6 && pg_strncasecmp(p, "SHA512", 6) == 0)
	{
		*canonical = "SHA512";
		return OATH_TOTP_HMAC_SHA512;
	}
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("unsupported TOTP algorithm"),
			 errhint("Use SHA1, SHA256 or SHA512.")));
	return 0;					/* keep the compiler quiet */
}

static void
check_digits_period(int32 digits, int32 period)
{
	if (digits < 6 || digits > 8)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("TOTP digits must be between 6 and 8")));
	if (period < 15 || period > 300)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("TOTP period must be between 15 and 300 seconds")));
}

/* Base32 text to a palloc'd key; the text is never quoted in a message. */
static uint8 *
decode_secret(text *t, size_t *keylen)
{
	const char *p = VARDATA_ANY(t);
	size_t		len = VARSIZE_ANY_EXHDR(t);
	uint8	   *key;
	long		n;

	if (len > TOTP_MAX_SECRET_CHARS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("TOTP secret is too long"),
				 errhint("A secret holds at most %d bytes.", TOTP_MAX_SECRET_BYTES)));
	key = palloc(len / 8 * 5 + 5);
	n = tc_base32_decode(p, len, key, len / 8 * 5 + 5);
	if (n < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("invalid base32 in TOTP secret"),
				 errhint("Use the letters A to Z and digits 2 to 7, optionally padded with \"=\" to a multiple of 8.")));
	if (n == 0 || n > TOTP_MAX_SECRET_BYTES)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("TOTP secret must hold between 1 and %d bytes", TOTP_MAX_SECRET_BYTES)));
	*keylen = (size_t) n;
	return key;
}

/* timestamptz to Unix seconds (floor); 22023 for infinity or before 1970. */
static time_t
to_unix(TimestampTz at)
{
	int64		s;

	if (TIMESTAMP_NOT_FINITE(at))
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("TOTP time must be finite")));
	s = at / USECS_PER_SEC;
	if (at % USECS_PER_SEC < 0)
		s--;
	s += (int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY;
	if (s < 0)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("TOTP time must not be before 1970")));
	return (time_t) s;
}

/* A code in form: exactly `digits` ASCII digits. */
static bool
code_in_form(text *code, int32 digits)
{
	const char *p = VARDATA_ANY(code);
	size_t		len = VARSIZE_ANY_EXHDR(code);

	if (len != (size_t) digits)
		return false;
	for (size_t i = 0; i < len; i++)
		if (p[i] < '0' || p[i] > '9')
			return false;
	return true;
}

/* liboath's comparison callback: 0 iff equal, in constant time. */
typedef struct cmp_handle
{
	char		code[9];
	size_t		len;
} cmp_handle;

static int
ct_strcmp(void *handle, const char *test_otp)
{
	cmp_handle *h = (cmp_handle *) handle;

	if (strlen(test_otp) != h->len)
		return 1;
	return CRYPTO_memcmp(h->code, test_otp, h->len) == 0 ? 0 : 1;
}

/*
 * Check `code` against key at time `now` within +-window steps.  Returns
 * the matched time step, or -1 for no match.  No palloc, no ereport inside.
 */
static int64
match_code(const uint8 *key, size_t keylen, time_t now, int32 period, int32 digits,
		   int flags, int window, text *code, int *liboath_rc)
{
	cmp_handle	h;
	uint64_t	counter = 0;
	int			pos = 0;
	int			rc;

	*liboath_rc = OATH_OK;
	if (!code_in_form(code, digits))
		return -1;
	memcpy(h.code, VARDATA_ANY(code), digits);
	h.code[digits] = '\0';
	h.len = (size_t) digits;
	rc = oath_totp_validate4_callback((const char *) key, keylen, now, (unsigned) period, 0,
									  (unsigned) digits, (size_t) window, &pos, &counter,
									  flags, ct_strcmp, &h);
	explicit_bzero(&h, sizeof(h));
	if (rc >= 0)
		return (int64) counter;
	if (rc != OATH_INVALID_OTP)
		*liboath_rc = rc;
	return -1;
}

static void
report_oath_error(int rc)
{
	if (rc != OATH_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("liboath failed: %s", oath_strerror_name(rc))));
}

/* ---------------------------------------------------------------------- */
/* Pure functions                                                          */
/* ---------------------------------------------------------------------- */

/* totp_code(secret_base32, at, digits, period, algorithm) -> text */
PG_FUNCTION_INFO_V1(tc_totp_code);
Datum
tc_totp_code(PG_FUNCTION_ARGS)
{
	text	   *secret = PG_GETARG_TEXT_PP(0);
	TimestampTz at = PG_GETARG_TIMESTAMPTZ(1);
	int32		digits = PG_GETARG_INT32(2);
	int32		period = PG_GETARG_INT32(3);
	const char *alg;
	int			flags = parse_algorithm(PG_GETARG_TEXT_PP(4), &alg);
	time_t		now;
	uint8	   *key;
	size_t		keylen;
	char		otp[16];
	int			rc;

	check_digits_period(digits, period);
	now = to_unix(at);
	key = decode_secret(secret, &keylen);
	oath_ready();
	rc = oath_totp_generate2((const char *) key, keylen, now, (unsigned) period, 0,
							 (unsigned) digits, flags, otp);
	explicit_bzero(key, keylen);
	report_oath_error(rc);
	PG_RETURN_TEXT_P(cstring_to_text_with_len(otp, digits));
}

/* totp_check(secret_base32, code, at, digits, period, algorithm, window) -> boolean */
PG_FUNCTION_INFO_V1(tc_totp_check);
Datum
tc_totp_check(PG_FUNCTION_ARGS)
{
	text	   *secret = PG_GETARG_TEXT_PP(0);
	text	   *code = PG_GETARG_TEXT_PP(1);
	TimestampTz at = PG_GETARG_TIMESTAMPTZ(2);
	int32		digits = PG_GETARG_INT32(3);
	int32		period = PG_GETARG_INT32(4);
	const char *alg;
	int			flags = parse_algorithm(PG_GETARG_TEXT_PP(5), &alg);
	int32		window = PG_GETARG_INT32(6);
	uint8	   *key;
	size_t		keylen;
	time_t		now;
	int64		step;
	int			rc;

	check_digits_period(digits, period);
	if (window < 0 || window > 10)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("TOTP window must be between 0 and 10 steps")));
	now = to_unix(at);
	key = decode_secret(secret, &keylen);
	oath_ready();
	step = match_code(key, keylen, now, period, digits, flags, window, code, &rc);
	explicit_bzero(key, keylen);
	report_oath_error(rc);
	PG_RETURN_BOOL(step >= 0);
}

/* ---------------------------------------------------------------------- */
/* Internal helpers for totp.sql (granted to nobody)                       */
/* ---------------------------------------------------------------------- */

static bytea *
unseal_secret(bytea *sealed, pg_uuid_t *principal)
{
	bytea	   *key = tc_unseal("totp", principal->data, UUID_LEN, sealed);

	if (VARSIZE_ANY_EXHDR(key) < 1 || VARSIZE_ANY_EXHDR(key) > TOTP_MAX_SECRET_BYTES)
		ereport(ERROR, (errcode(ERRCODE_DATA_CORRUPTED), errmsg("stored TOTP secret has an invalid length")));
	return key;
}

/*
 * _totp_match(sealed, principal, code, algorithm, digits, period) -> bigint:
 * the time step the code matches now within +-tracechain.totp_window, or
 * null.  The caller decides about replay (the step must exceed the last
 * accepted one).
 */
PG_FUNCTION_INFO_V1(tc_totp_match);
Datum
tc_totp_match(PG_FUNCTION_ARGS)
{
	bytea	   *sealed;
	pg_uuid_t  *principal;
	text	   *code;
	const char *alg;
	int			flags;
	int32		digits,
				period;
	bytea	   *key;
	int64		step;
	int			rc;

	for (int i = 0; i < 6; i++)
		if (PG_ARGISNULL(i))
			ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("_totp_match: null argument")));
	sealed = PG_GETARG_BYTEA_PP(0);
	principal = PG_GETARG_UUID_P(1);
	code = PG_GETARG_TEXT_PP(2);
	flags = parse_algorithm(PG_GETARG_TEXT_PP(3), &alg);
	digits = PG_GETARG_INT32(4);
	period = PG_GETARG_INT32(5);
	check_digits_period(digits, period);
	/* Wrong shape: no need to unseal anything. */
	if (!code_in_form(code, digits))
		PG_RETURN_NULL();
	key = unseal_secret(sealed, principal);
	oath_ready();
	step = match_code((const uint8 *) VARDATA_ANY(key), VARSIZE_ANY_EXHDR(key),
					  to_unix(GetCurrentTimestamp()), period, digits, flags, totp_window, code, &rc);
	explicit_bzero(VARDATA_ANY(key), VARSIZE_ANY_EXHDR(key));
	report_oath_error(rc);
	if (step < 0)
		PG_RETURN_NULL();
	PG_RETURN_INT64(step);
}

/* _totp_new_secret(principal, OUT sealed bytea, OUT secret text) */
PG_FUNCTION_INFO_V1(tc_totp_new_secret);
Datum
tc_totp_new_secret(PG_FUNCTION_ARGS)
{
	pg_uuid_t  *principal;
	TupleDesc	tupdesc;
	uint8		raw[TOTP_SECRET_BYTES];
	char		b32[64];
	size_t		b32len = tc_base32_encoded_len(TOTP_SECRET_BYTES);
	Datum		values[2];
	bool		nulls[2] = {false, false};
	bytea	   *sealed;

	if (PG_ARGISNULL(0))
		ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("principal must not be null")));
	principal = PG_GETARG_UUID_P(0);
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "_totp_new_secret must return a record");
	StaticAssertStmt(sizeof(b32) > 32, "base32 buffer");
	tc_random_bytes(raw, sizeof(raw));
	sealed = tc_seal("totp", principal->data, UUID_LEN, raw, sizeof(raw));
	tc_base32_encode(raw, sizeof(raw), b32);
	explicit_bzero(raw, sizeof(raw));
	values[0] = PointerGetDatum(sealed);
	values[1] = PointerGetDatum(cstring_to_text_with_len(b32, (int) b32len));
	explicit_bzero(b32, sizeof(b32));
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(tupdesc), values, nulls)));
}

/* Text argument as UTF-8 bytes (the URI and QR codes are UTF-8). */
static char *
arg_utf8(text *t, size_t *len)
{
	char	   *s = text_to_cstring(t);
	char	   *u = pg_server_to_any(s, (int) strlen(s), PG_UTF8);

	*len = strlen(u);
	return u;
}

/* _totp_uri(issuer, account, secret, algorithm, digits, period) -> text */
PG_FUNCTION_INFO_V1(tc_totp_uri);
Datum
tc_totp_uri(PG_FUNCTION_ARGS)
{
	char	   *issuer,
			   *account,
			   *secret,
			   *buf;
	size_t		ilen,
				alen,
				slen,
				cap,
				len;
	const char *alg;
	int32		digits,
				period;

	for (int i = 0; i < 6; i++)
		if (PG_ARGISNULL(i))
			ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("_totp_uri: null argument")));
	issuer = arg_utf8(PG_GETARG_TEXT_PP(0), &ilen);
	account = arg_utf8(PG_GETARG_TEXT_PP(1), &alen);
	secret = text_to_cstring(PG_GETARG_TEXT_PP(2));
	slen = strlen(secret);
	(void) parse_algorithm(PG_GETARG_TEXT_PP(3), &alg);
	digits = PG_GETARG_INT32(4);
	period = PG_GETARG_INT32(5);
	check_digits_period(digits, period);
	if (ilen > 4 * TOTP_MAX_LABEL_CHARS || alen > 4 * TOTP_MAX_LABEL_CHARS)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("issuer or account is too long")));
	cap = tc_otpauth_uri_max(ilen, alen, slen, strlen(alg));
	buf = palloc(cap);
	len = tc_otpauth_uri(buf, cap, issuer, ilen, account, alen, secret, slen, alg, digits, period);
	if (len >= cap)
		elog(ERROR, "otpauth URI buffer too small");
	explicit_bzero(secret, slen);
	PG_RETURN_TEXT_P(cstring_to_text_with_len(buf, (int) len));
}

/*
 * _totp_attempt(principal) -> int: charge one attempt before any code is
 * checked.  Returns -1 when the factor is locked (the caller then fails
 * without checking), otherwise the consecutive failures counting this
 * attempt; reaching tracechain.totp_max_failures starts the lockout, which
 * a success of this very attempt lifts again.
 */
PG_FUNCTION_INFO_V1(tc_totp_attempt);
Datum
tc_totp_attempt(PG_FUNCTION_ARGS)
{
	pg_uuid_t  *p;
	TimestampTz now = GetCurrentTimestamp();
	lock_slot  *s;
	bool		evicted;
	int32		result;

	if (PG_ARGISNULL(0))
		ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("principal must not be null")));
	p = PG_GETARG_UUID_P(0);
	require_locktab();
	LWLockAcquire(locktab_lock(), LW_EXCLUSIVE);
	s = slot_find(p, true, now, &evicted);
	if (s->locked_until > now)
		result = -1;
	else
	{
		if (s->locked_until != 0)
		{
			/* A lockout that ended: start counting afresh. */
			s->locked_until = 0;
			s->failures = 0;
		}
		if (s->failures < INT32_MAX)
			s->failures++;
		s->last_at = now;
		if (s->failures >= totp_max_failures)
			s->locked_until = now + (TimestampTz) totp_lockout_s * USECS_PER_SEC;
		result = s->failures;
	}
	LWLockRelease(locktab_lock());
	if (evicted)
		ereport(WARNING,
				(errmsg("the TOTP lockout table is full; an entry with failed attempts was dropped"),
				 errhint("Raise tracechain.totp_lockout_slots.")));
	PG_RETURN_INT32(result);
}

/* _totp_attempt_ok(principal): the charged attempt succeeded; forgive. */
PG_FUNCTION_INFO_V1(tc_totp_attempt_ok);
Datum
tc_totp_attempt_ok(PG_FUNCTION_ARGS)
{
	pg_uuid_t  *p;
	lock_slot  *s;
	bool		evicted;

	if (PG_ARGISNULL(0))
		ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("principal must not be null")));
	p = PG_GETARG_UUID_P(0);
	require_locktab();
	LWLockAcquire(locktab_lock(), LW_EXCLUSIVE);
	s = slot_find(p, false, 0, &evicted);
	if (s)
	{
		s->failures = 0;
		s->locked_until = 0;
	}
	LWLockRelease(locktab_lock());
	PG_RETURN_VOID();
}

/* _totp_lock_clear(principal): drop the principal's entry (totp_disable). */
PG_FUNCTION_INFO_V1(tc_totp_lock_clear);
Datum
tc_totp_lock_clear(PG_FUNCTION_ARGS)
{
	pg_uuid_t  *p;
	lock_slot  *s;
	bool		evicted;

	if (PG_ARGISNULL(0))
		ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("principal must not be null")));
	p = PG_GETARG_UUID_P(0);
	if (locktab == NULL || !tc_shmem_available())
		PG_RETURN_VOID();
	LWLockAcquire(locktab_lock(), LW_EXCLUSIVE);
	s = slot_find(p, false, 0, &evicted);
	if (s)
		memset(s, 0, sizeof(*s));
	LWLockRelease(locktab_lock());
	PG_RETURN_VOID();
}

/* _totp_lock_state(principal, OUT failures int, OUT locked_until timestamptz) */
PG_FUNCTION_INFO_V1(tc_totp_lock_state);
Datum
tc_totp_lock_state(PG_FUNCTION_ARGS)
{
	pg_uuid_t  *p;
	TimestampTz now = GetCurrentTimestamp();
	lock_slot  *s;
	bool		evicted;
	int32		failures = 0;
	TimestampTz until = 0;
	TupleDesc	tupdesc;
	Datum		values[2];
	bool		nulls[2] = {false, false};

	if (PG_ARGISNULL(0))
		ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("principal must not be null")));
	p = PG_GETARG_UUID_P(0);
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "_totp_lock_state must return a record");
	require_locktab();
	LWLockAcquire(locktab_lock(), LW_SHARED);
	s = slot_find(p, false, now, &evicted);
	if (s && !(s->locked_until != 0 && s->locked_until <= now))
	{
		failures = s->failures;
		until = s->locked_until;
	}
	LWLockRelease(locktab_lock());
	values[0] = Int32GetDatum(failures);
	values[1] = TimestampTzGetDatum(until);
	nulls[1] = until == 0;
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(tupdesc), values, nulls)));
}

/* _totp_recovery_new() -> text: one fresh recovery code. */
PG_FUNCTION_INFO_V1(tc_totp_recovery_new);
Datum
tc_totp_recovery_new(PG_FUNCTION_ARGS)
{
	uint8		rnd[TC_RECOVERY_RANDOM_BYTES];
	char		out[TC_RECOVERY_TEXT_LEN];
	text	   *t;

	tc_random_bytes(rnd, sizeof(rnd));
	tc_recovery_format(rnd, out);
	explicit_bzero(rnd, sizeof(rnd));
	t = cstring_to_text_with_len(out, TC_RECOVERY_TEXT_LEN);
	explicit_bzero(out, sizeof(out));
	PG_RETURN_TEXT_P(t);
}

/*
 * _totp_recovery_hash(principal, code) -> bytea: HMAC-SHA256 under the
 * "totp recovery" subkey of principal id || normalized code; null when the
 * text is not a recovery code in form.
 */
PG_FUNCTION_INFO_V1(tc_totp_recovery_hash);
Datum
tc_totp_recovery_hash(PG_FUNCTION_ARGS)
{
	pg_uuid_t  *p;
	text	   *code;
	char		norm[TC_RECOVERY_CHARS];
	uint8		msg[UUID_LEN + TC_RECOVERY_CHARS];
	uint8		key[TC_KEY_LEN];
	bytea	   *res;
	unsigned int outlen = 0;
	bool		ok;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		PG_RETURN_NULL();
	p = PG_GETARG_UUID_P(0);
	code = PG_GETARG_TEXT_PP(1);
	if (!tc_recovery_normalize(VARDATA_ANY(code), VARSIZE_ANY_EXHDR(code), norm))
		PG_RETURN_NULL();
	memcpy(msg, p->data, UUID_LEN);
	memcpy(msg + UUID_LEN, norm, TC_RECOVERY_CHARS);
	explicit_bzero(norm, sizeof(norm));
	res = palloc(VARHDRSZ + 32);
	SET_VARSIZE(res, VARHDRSZ + 32);
	tc_master_derive("totp recovery", key);
	ok = HMAC(EVP_sha256(), key, sizeof(key), msg, sizeof(msg), (unsigned char *) VARDATA(res), &outlen) != NULL &&
		outlen == 32;
	explicit_bzero(key, sizeof(key));
	explicit_bzero(msg, sizeof(msg));
	if (!ok)
		ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR), errmsg("could not hash a recovery code")));
	PG_RETURN_BYTEA_P(res);
}

/* _totp_raise_aal(): current_aal() = 2 for the rest of the transaction. */
PG_FUNCTION_INFO_V1(tc_totp_raise_aal);
Datum
tc_totp_raise_aal(PG_FUNCTION_ARGS)
{
	tc_set_current_aal(2);
	PG_RETURN_VOID();
}

/* ---------------------------------------------------------------------- */
/* QR code                                                                 */
/* ---------------------------------------------------------------------- */

#define QR_QUIET 4
#define QR_SCALE 4

/* totp_qr_svg(uri) -> text: an SVG image of the QR code (level M). */
PG_FUNCTION_INFO_V1(tc_totp_qr_svg);
Datum
tc_totp_qr_svg(PG_FUNCTION_ARGS)
{
	size_t		len;
	char	   *data = arg_utf8(PG_GETARG_TEXT_PP(0), &len);
	uint8	   *modules;
	QRcode	   *qr;
	int			width = 0;
	int			err = 0;
	int			size;
	StringInfoData svg;

	if (len == 0)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("nothing to encode in a QR code")));
	if (len > TOTP_MAX_URI_BYTES)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("text too long for a QR code"),
				 errhint("Give at most %d bytes.", TOTP_MAX_URI_BYTES)));
	/* Room for the largest symbol (version 40, 177 modules) before encoding. */
	modules = palloc(177 * 177);

	/* libqrencode allocates with malloc: nothing below may raise until freed. */
	errno = 0;
	qr = QRcode_encodeData((int) len, (const unsigned char *) data, 0, QR_ECLEVEL_M);
	if (qr == NULL)
		err = errno;
	else
	{
		width = qr->width;
		if (width > 0 && width <= 177)
			for (int i = 0; i < width * width; i++)
				modules[i] = qr->data[i] & 1;
		QRcode_free(qr);
	}
	if (qr == NULL)
		ereport(ERROR,
				(errcode(err == ERANGE ? ERRCODE_INVALID_PARAMETER_VALUE : ERRCODE_INTERNAL_ERROR),
				 errmsg(err == ERANGE ? "text too long for a QR code" : "could not encode a QR code")));
	if (width <= 0 || width > 177)
		elog(ERROR, "libqrencode returned a symbol of width %d", width);

	size = width + 2 * QR_QUIET;
	initStringInfo(&svg);
	appendStringInfo(&svg,
					 "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 %d %d\" width=\"%d\" height=\"%d\" shape-rendering=\"crispEdges\">"
					 "<rect width=\"%d\" height=\"%d\" fill=\"#fff\"/><path fill=\"#000\" d=\"",
					 size, size, size * QR_SCALE, size * QR_SCALE, size, size);
	for (int y = 0; y < width; y++)
	{
		int			x = 0;

		while (x < width)
		{
			int			run;

			if (!modules[y * width + x])
			{
				x++;
				continue;
			}
			for (run = 1; x + run < width && modules[y * width + x + run]; run++)
				;
			appendStringInfo(&svg, "M%d %dh%dv1h-%dz", x + QR_QUIET, y + QR_QUIET, run, run);
			x += run;
		}
	}
	appendStringInfoString(&svg, "\"/></svg>");
	pfree(modules);
	PG_RETURN_TEXT_P(cstring_to_text_with_len(svg.data, svg.len));
}

/* ---------------------------------------------------------------------- */

/*
 * Master key rotation: reseal every TOTP secret (confirmed factors and
 * pending enrolments) under the current master key.  Registered with
 * tc_keys_register_reseal; master_key_rewrap() runs it in its transaction,
 * as the extension's owner.  Returns how many secrets it changed.
 */
static int
totp_reseal(void)
{
	static const char *const tables[] = {"tracechain.totp_factors", "tracechain.totp_pending"};
	int			n = 0;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	for (int t = 0; t < 2; t++)
	{
		SPITupleTable *tt;
		uint64		rows;

		if (SPI_execute(psprintf("SELECT principal, secret_sealed FROM %s ORDER BY principal FOR UPDATE",
								 tables[t]), false, 0) != SPI_OK_SELECT)
			elog(ERROR, "could not read %s", tables[t]);
		tt = SPI_tuptable;
		rows = SPI_processed;
		for (uint64 i = 0; i < rows; i++)
		{
			bool		isnull;
			Datum		pd = SPI_getbinval(tt->vals[i], tt->tupdesc, 1, &isnull);
			pg_uuid_t  *principal = DatumGetUUIDP(pd);
			bytea	   *sealed = DatumGetByteaPP(SPI_getbinval(tt->vals[i], tt->tupdesc, 2, &isnull));
			bytea	   *resealed;

			if (isnull)
				continue;
			resealed = tc_reseal("totp", principal->data, UUID_LEN, sealed);
			if (resealed != NULL)
			{
				Oid			types[2] = {BYTEAOID, UUIDOID};
				Datum		args[2] = {PointerGetDatum(resealed), pd};

				if (SPI_execute_with_args(psprintf("UPDATE %s SET secret_sealed = $1 "
												   "WHERE principal OPERATOR(pg_catalog.=) $2", tables[t]),
										  2, types, args, NULL, false, 0) != SPI_OK_UPDATE || SPI_processed != 1)
					elog(ERROR, "could not update %s", tables[t]);
				n++;
			}
		}
	}
	SPI_finish();
	return n;
}

void
tc_totp_init(void)
{
	tc_keys_register_reseal("totp", totp_reseal);
	DefineCustomIntVariable("tracechain.totp_window",
							"Time steps before and after the current one in which a TOTP code is accepted.",
							NULL, &totp_window, 1, 0, 10,
							PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("tracechain.totp_max_failures",
							"Consecutive failed TOTP attempts after which a factor is locked.",
							NULL, &totp_max_failures, 5, 1, 1000,
							PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("tracechain.totp_lockout",
							"How long a TOTP factor stays locked after too many failures.",
							NULL, &totp_lockout_s, 900, 1, 7 * 86400,
							PGC_SUSET, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomIntVariable("tracechain.totp_lockout_slots",
							"Principals the shared-memory TOTP lockout table can track at once.",
							NULL, &totp_lockout_slots, 4096, LOCK_PROBES, 1024 * 1024,
							PGC_POSTMASTER, 0, NULL, NULL, NULL);
	locktab_lock_index = tc_shmem_register("totp lockout",
										   offsetof(lock_table, slots) + sizeof(lock_slot) * (Size) totp_lockout_slots,
										   1, locktab_init, (void **) &locktab);
}

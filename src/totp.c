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
 * - Lockout: totp_lockout.c (shared memory, charged before any HMAC,
 *   with a durable copy the worker writes); the failures are also durable
 *   as security events in audit_log.
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
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "storage/lwlock.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/inet.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#include "audit.h"
#include "base32.h"
#include "direct.h"
#include "encoding.h"
#include "keys.h"
#include "otpauth.h"
#include "principal.h"
#include "ratelimit.h"
#include "shmem.h"
#include "totp.h"
#include "totp_lockout.h"

#define TOTP_SECRET_BYTES 20	/* 160 bits, RFC 4226 section 4 */
#define TOTP_MAX_SECRET_BYTES 128	/* what totp_code accepts */
#define TOTP_MAX_SECRET_CHARS 256	/* base32 of 128 bytes with padding is 208 */
#define TOTP_MAX_CODE_CHARS 64	/* longer "codes" are wrong without a look */
#define TOTP_MAX_URI_BYTES 2048 /* QR version 40-M holds 2331 bytes */
#define TOTP_MAX_LABEL_CHARS 200

/* GUCs */
static int	totp_window = 1;

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
 * The time step `code` matches now within +-tracechain.totp_window for the
 * sealed secret of `principal`, or -1.  A code of the wrong shape is refused
 * without unsealing anything.
 */
static int64
match_sealed(bytea *sealed, const pg_uuid_t *principal, text *code, int flags, int32 digits, int32 period)
{
	bytea	   *key;
	int64		step;
	int			rc;

	check_digits_period(digits, period);
	if (!code_in_form(code, digits))
		return -1;
	key = unseal_secret(sealed, (pg_uuid_t *) principal);
	oath_ready();
	step = match_code((const uint8 *) VARDATA_ANY(key), VARSIZE_ANY_EXHDR(key),
					  to_unix(GetCurrentTimestamp()), period, digits, flags, totp_window, code, &rc);
	explicit_bzero(VARDATA_ANY(key), VARSIZE_ANY_EXHDR(key));
	pfree(key);
	report_oath_error(rc);
	return step;
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
	const char *alg;
	int			flags;
	int64		step;

	for (int i = 0; i < 6; i++)
		if (PG_ARGISNULL(i))
			ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("_totp_match: null argument")));
	flags = parse_algorithm(PG_GETARG_TEXT_PP(3), &alg);
	step = match_sealed(PG_GETARG_BYTEA_PP(0), PG_GETARG_UUID_P(1), PG_GETARG_TEXT_PP(2), flags,
						PG_GETARG_INT32(4), PG_GETARG_INT32(5));
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
static bool
recovery_hash(const pg_uuid_t *p, text *code, uint8 out[32])
{
	char		norm[TC_RECOVERY_CHARS];
	uint8		msg[UUID_LEN + TC_RECOVERY_CHARS];
	uint8		key[TC_KEY_LEN];
	unsigned int outlen = 0;
	bool		ok;

	if (!tc_recovery_normalize(VARDATA_ANY(code), VARSIZE_ANY_EXHDR(code), norm))
		return false;
	memcpy(msg, p->data, UUID_LEN);
	memcpy(msg + UUID_LEN, norm, TC_RECOVERY_CHARS);
	explicit_bzero(norm, sizeof(norm));
	tc_master_derive("totp recovery", key);
	ok = HMAC(EVP_sha256(), key, sizeof(key), msg, sizeof(msg), out, &outlen) != NULL && outlen == 32;
	explicit_bzero(key, sizeof(key));
	explicit_bzero(msg, sizeof(msg));
	if (!ok)
		ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR), errmsg("could not hash a recovery code")));
	return true;
}

PG_FUNCTION_INFO_V1(tc_totp_recovery_hash);
Datum
tc_totp_recovery_hash(PG_FUNCTION_ARGS)
{
	bytea	   *res;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		PG_RETURN_NULL();
	res = palloc(VARHDRSZ + 32);
	SET_VARSIZE(res, VARHDRSZ + 32);
	if (!recovery_hash(PG_GETARG_UUID_P(0), PG_GETARG_TEXT_PP(1), (uint8 *) VARDATA(res)))
		PG_RETURN_NULL();
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
/* totp_verify                                                             */
/* ---------------------------------------------------------------------- */

/*
 * One statement of a slow path (refusals, recovery codes, tables with
 * triggers), as the owner of the calling function; rows processed.
 */
static uint64
run_sql(FunctionCallInfo fcinfo, const char *sql, int nargs, Oid *types, Datum *values, const char *nulls)
{
	tc_as_owner owner;
	int			rc;
	uint64		n;

	tc_as_owner_begin(fcinfo, &owner);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	rc = SPI_execute_with_args(sql, nargs, types, values, nulls, false, 0);
	if (rc < 0)
		elog(ERROR, "could not run \"%s\": %s", sql, SPI_result_code_string(rc));
	n = SPI_processed;
	SPI_finish();
	tc_as_owner_end(&owner);
	return n;
}

/* A failed verification: _totp_failed records it (events survive a rollback). */
static void
verify_failed(FunctionCallInfo fcinfo, const pg_uuid_t *me, const char *reason, int32 failures, bool have_failures)
{
	Datum		args[3] = {UUIDPGetDatum(me), CStringGetTextDatum(reason), Int32GetDatum(failures)};

	run_sql(fcinfo, "SELECT tracechain._totp_failed($1, 'totp.verify_failed', $2, $3)", 3,
			(Oid[]) {UUIDOID, TEXTOID, INT4OID}, args, have_failures ? "   " : "  n");
}

typedef struct step_cas
{
	AttrNumber	a_principal;
	AttrNumber	a_last_step;
	pg_uuid_t	principal;
	int64		step;
} step_cas;

/* WHERE t.principal = $me AND t.last_step < $step, on the newest row version */
static bool
step_recheck(TupleTableSlot *slot, void *arg)
{
	step_cas   *c = (step_cas *) arg;
	bool		n1,
				n2;
	Datum		p = slot_getattr(slot, c->a_principal, &n1);
	Datum		last = slot_getattr(slot, c->a_last_step, &n2);

	return !n1 && !n2 && memcmp(DatumGetUUIDP(p)->data, c->principal.data, UUID_LEN) == 0 &&
		DatumGetInt64(last) < c->step;
}

typedef struct aal_cas
{
	AttrNumber	a_id;
	AttrNumber	a_aal;
	int64		id;
} aal_cas;

/* WHERE s.id = $id AND s.aal < 2, on the newest row version */
static bool
aal_recheck(TupleTableSlot *slot, void *arg)
{
	aal_cas    *c = (aal_cas *) arg;
	bool		n1,
				n2;
	Datum		id = slot_getattr(slot, c->a_id, &n1);
	Datum		aal = slot_getattr(slot, c->a_aal, &n2);

	return !n1 && !n2 && DatumGetInt64(id) == c->id && DatumGetInt32(aal) < 2;
}

/*
 * The replay guard: UPDATE totp_factors SET last_step = step, last_used_at =
 * clock_timestamp() WHERE principal = me AND last_step < step, a
 * compare-and-set: of two racing verifications of one step only one
 * updates, the other waits for its row and then finds nothing to update.
 */
static bool
advance_step(FunctionCallInfo fcinfo, Relation frel, TupleTableSlot *fslot, const pg_uuid_t *me, int64 step)
{
	step_cas	c;
	int			cols[2];
	Datum		values[2] = {Int64GetDatum(step), TimestampTzGetDatum(GetCurrentTimestamp())};
	bool		nulls[2] = {false, false};

	if (!tc_direct_plain(frel))
		return run_sql(fcinfo, "UPDATE tracechain.totp_factors t SET last_step = $2, last_used_at = pg_catalog.clock_timestamp() "
					   "WHERE t.principal OPERATOR(pg_catalog.=) $1 AND t.last_step OPERATOR(pg_catalog.<) $2",
					   2, (Oid[]) {UUIDOID, INT8OID}, (Datum[]) {UUIDPGetDatum(me), Int64GetDatum(step)}, "  ") > 0;
	c.a_principal = tc_direct_attnum(frel, "principal", UUIDOID);
	c.a_last_step = tc_direct_attnum(frel, "last_step", INT8OID);
	c.principal = *me;
	c.step = step;
	cols[0] = c.a_last_step;
	cols[1] = tc_direct_attnum(frel, "last_used_at", TIMESTAMPTZOID);
	LockRelationOid(RelationGetRelid(frel), RowExclusiveLock);
	return tc_direct_update(frel, fslot, 2, cols, values, nulls, step_recheck, &c);
}

/* UPDATE sessions SET aal = 2 WHERE id = session AND aal < 2 */
static void
raise_session_aal(FunctionCallInfo fcinfo, Relation srel, TupleTableSlot *sslot, int64 session_id)
{
	aal_cas		c;
	int			cols[1];
	Datum		values[1] = {Int32GetDatum(2)};
	bool		nulls[1] = {false};

	if (!tc_direct_plain(srel))
	{
		run_sql(fcinfo, "UPDATE tracechain.sessions s SET aal = 2 "
				"WHERE s.id OPERATOR(pg_catalog.=) $1 AND s.aal OPERATOR(pg_catalog.<) 2",
				1, (Oid[]) {INT8OID}, (Datum[]) {Int64GetDatum(session_id)}, " ");
		return;
	}
	c.a_id = tc_direct_attnum(srel, "id", INT8OID);
	c.a_aal = tc_direct_attnum(srel, "aal", INT4OID);
	c.id = session_id;
	if (!aal_recheck(sslot, &c))
		return;
	cols[0] = c.a_aal;
	LockRelationOid(RelationGetRelid(srel), RowExclusiveLock);
	(void) tc_direct_update(srel, sslot, 1, cols, values, nulls, aal_recheck, &c);
}

static void
push_json_key(JsonbParseState **ps, const char *key)
{
	JsonbValue	k;

	k.type = jbvString;
	k.val.string.val = (char *) key;
	k.val.string.len = (int) strlen(key);
	(void) pushJsonbValue(ps, WJB_KEY, &k);
}

static void
push_json_string(JsonbParseState **ps, const char *str)
{
	JsonbValue	v;

	v.type = jbvString;
	v.val.string.val = (char *) str;
	v.val.string.len = (int) strlen(str);
	(void) pushJsonbValue(ps, WJB_VALUE, &v);
}

/* an integer, or null when !present */
static void
push_json_int(JsonbParseState **ps, int64 n, bool present)
{
	JsonbValue	v;

	if (present)
	{
		v.type = jbvNumeric;
		v.val.numeric = int64_to_numeric(n);
	}
	else
		v.type = jbvNull;
	(void) pushJsonbValue(ps, WJB_VALUE, &v);
}

/*
 * totp_verify(code, principal) -> boolean.  In C because it runs on every
 * second-factor login: the factor and the session are read through their
 * indexes, the replay guard and the session's AAL are updated directly
 * (direct.c; with the executor's semantics under concurrency), the success
 * row goes to the audit intake.  Refusals keep going through SQL
 * (_totp_self, _totp_failed: security events that survive a rollback), run
 * as the function's owner: the function itself is not SECURITY DEFINER, so
 * that the common case pays for no user and GUC switch.
 *
 * Order, as before: only the current principal's own factor; a null code
 * is an error; no factor is an error; login throttling, then the lockout
 * charge, both before any HMAC; then a recovery code or a TOTP code; a
 * success forgives the charge, raises the session to AAL 2 and is audited.
 */
PG_FUNCTION_INFO_V1(tc_totp_verify);
Datum
tc_totp_verify(PG_FUNCTION_ARGS)
{
	const pg_uuid_t *cp = tc_current_principal();
	int64		session_id = tc_current_session_id();
	pg_uuid_t	me;
	char	   *me_text;
	text	   *code;
	Relation	frel,
				srel = NULL;
	TupleTableSlot *fslot,
			   *sslot = NULL;
	bool		have_session = false;
	inet	   *ip = NULL;
	bool		isnull;
	int32		n = 0;
	int64		step = -1;
	const char *method = "totp";
	const char *reason = NULL;
	uint8		rhash[32];

	if (cp == NULL || PG_ARGISNULL(1) || memcmp(cp->data, PG_GETARG_UUID_P(1)->data, UUID_LEN) != 0)
	{
		/* _totp_self records the denial as a security event and raises 42501 */
		Datum		arg = PG_ARGISNULL(1) ? (Datum) 0 : PG_GETARG_DATUM(1);

		run_sql(fcinfo, "SELECT tracechain._totp_self($1, 'verify')", 1, (Oid[]) {UUIDOID}, &arg,
				PG_ARGISNULL(1) ? "n" : " ");
		elog(ERROR, "_totp_self did not refuse");
	}
	me = *cp;
	me_text = DatumGetCString(DirectFunctionCall1(uuid_out, UUIDPGetDatum(&me)));
	if (PG_ARGISNULL(0))
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("code must not be null")));
	code = PG_GETARG_TEXT_PP(0);

	tc_direct_begin();
	frel = tc_direct_open("totp_factors", AccessShareLock);
	fslot = table_slot_create(frel, NULL);
	if (!tc_direct_fetch(frel, tc_direct_attnum(frel, "principal", UUIDOID), F_UUID_EQ, UUIDPGetDatum(&me), fslot))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("no confirmed TOTP factor"),
				 errhint("Enrol with totp_enroll and confirm with totp_confirm.")));

	/* The session (its IP for throttling; its AAL is raised on success). */
	if (session_id != 0)
	{
		AttrNumber	a_id;
		ItemPointerData tid;

		srel = tc_direct_open("sessions", AccessShareLock);
		sslot = table_slot_create(srel, NULL);
		a_id = tc_direct_attnum(srel, "id", INT8OID);

		/* Where authenticate() read it, if that version is still the visible one; else by id. */
		if (tc_current_session_tid(&tid) &&
			table_tuple_fetch_row_version(srel, &tid, GetActiveSnapshot(), sslot) &&
			DatumGetInt64(slot_getattr(sslot, a_id, &isnull)) == session_id && !isnull)
			have_session = true;
		else
			have_session = tc_direct_fetch(srel, a_id, F_INT8EQ, Int64GetDatum(session_id), sslot);
		if (have_session)
		{
			Datum		d = slot_getattr(sslot, tc_direct_attnum(srel, "ip", INETOID), &isnull);

			if (!isnull)
				ip = DatumGetInetPP(d);
		}
	}

	/* Login throttling (ratelimit.c) per session IP and principal, before any HMAC. */
	if (!tc_login_throttle("totp", ip, me_text, false))
		reason = "throttled";
	/* The lockout: this attempt is charged in shared memory before any HMAC. */
	else if ((n = tc_totp_attempt_charge(&me)) < 0)
		reason = "locked";
	if (reason != NULL)
	{
		verify_failed(fcinfo, &me, reason, 0, false);
		goto done;
	}

	if (recovery_hash(&me, code, rhash))
	{
		bytea	   *h = palloc(VARHDRSZ + 32);

		SET_VARSIZE(h, VARHDRSZ + 32);
		memcpy(VARDATA(h), rhash, 32);
		method = "recovery";
		if (run_sql(fcinfo, "UPDATE tracechain.totp_recovery_codes r SET used_at = pg_catalog.clock_timestamp() "
					"WHERE r.principal OPERATOR(pg_catalog.=) $1 AND r.code_hash OPERATOR(pg_catalog.=) $2 "
					"AND r.used_at IS NULL",
					2, (Oid[]) {UUIDOID, BYTEAOID}, (Datum[]) {UUIDPGetDatum(&me), PointerGetDatum(h)}, "  ") == 0)
			reason = "wrong_recovery_code";
	}
	else
	{
		const char *alg;
		int			flags;
		int64		last_step;

		flags = parse_algorithm(DatumGetTextPP(slot_getattr(fslot, tc_direct_attnum(frel, "algorithm", TEXTOID), &isnull)), &alg);
		last_step = DatumGetInt64(slot_getattr(fslot, tc_direct_attnum(frel, "last_step", INT8OID), &isnull));
		step = match_sealed(DatumGetByteaPP(slot_getattr(fslot, tc_direct_attnum(frel, "secret_sealed", BYTEAOID), &isnull)),
							&me, code, flags,
							DatumGetInt32(slot_getattr(fslot, tc_direct_attnum(frel, "digits", INT4OID), &isnull)),
							DatumGetInt32(slot_getattr(fslot, tc_direct_attnum(frel, "period", INT4OID), &isnull)));
		if (step < 0)
			reason = "wrong_code";
		else if (step <= last_step)
			reason = "replay";
		else if (!advance_step(fcinfo, frel, fslot, &me, step))
			reason = "replay";
	}
	explicit_bzero(rhash, sizeof(rhash));
	if (reason != NULL)
	{
		verify_failed(fcinfo, &me, reason, n, true);
		goto done;
	}

	tc_totp_attempt_forgive(&me);
	if (have_session)
		raise_session_aal(fcinfo, srel, sslot, session_id);
	tc_set_current_aal(2);
	/* The success row commits with this transaction, through the audit intake (no chain lock). */
	{
		tc_audit_row row;
		JsonbParseState *ps = NULL;

		/* {"method": method, "session": current_session_id(), "step": step} */
		(void) pushJsonbValue(&ps, WJB_BEGIN_OBJECT, NULL);
		push_json_key(&ps, "method");
		push_json_string(&ps, method);
		push_json_key(&ps, "session");
		push_json_int(&ps, session_id, session_id != 0);
		push_json_key(&ps, "step");
		push_json_int(&ps, step, step >= 0);
		memset(&row, 0, sizeof(row));
		row.at = GetCurrentTimestamp();
		row.type = "security";
		row.action = "totp.verify";
		row.resource = psprintf("principal:%s", me_text);
		row.details = JsonbValueToJsonb(pushJsonbValue(&ps, WJB_END_OBJECT, NULL));
		row.actor = &me;
		tc_audit_enqueue(&row);
	}

done:
	if (sslot)
		ExecDropSingleTupleTableSlot(sslot);
	if (srel)
		table_close(srel, NoLock);
	ExecDropSingleTupleTableSlot(fslot);
	table_close(frel, NoLock);
	tc_direct_end();
	PG_RETURN_BOOL(reason == NULL);
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
	tc_totp_lockout_init();
}

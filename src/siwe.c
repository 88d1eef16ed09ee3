/*
 * siwe.c: Sign-In with Ethereum (EIP-4361): settings, nonces, and the SQL
 * glue around the strict parser and builder of src/core/siwe.c.  The login
 * flow itself is siwe_login in siwe.sql:
 *   size check -> _siwe_parse -> domain, chain, URI and time checks ->
 *   nonce consumed (DELETE ... RETURNING) -> _eth_recover_message ->
 *   wallet principal -> session_create -> audit; failures go through
 *   _record_event (they survive the rollback the error causes).
 */
#include "postgres.h"

#include "access/detoast.h"
#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "datatype/timestamp.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/timestamp.h"

#include "eth.h"
#include "keys.h"
#include "siwe.h"

#define NONCE_LEN 24			/* 24 of 62 symbols: about 143 bits */

static char *siwe_domain = NULL;
static int	siwe_chain_id = 1;
static char *siwe_uri_origin = NULL;
static int	siwe_max_age_s = 600;
static int	siwe_clock_skew_s = 60;
static char *default_wallet_role = NULL;

#include "siwe_login.h"

void
tc_siwe_init(void)
{
	DefineCustomStringVariable("tracechain.siwe_domain",
							   "The domain (RFC 3986 authority) sign-in messages must name.",
							   "Empty: wallet sign-in is off.",
							   &siwe_domain, "", PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("tracechain.siwe_chain_id",
							"The EIP-155 chain id sign-in messages must name.",
							NULL, &siwe_chain_id, 1, 1, INT_MAX, PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomStringVariable("tracechain.siwe_uri_origin",
							   "The origin (scheme://authority) sign-in URIs must be on.",
							   "Empty: https:// followed by tracechain.siwe_domain.",
							   &siwe_uri_origin, "", PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("tracechain.siwe_max_age",
							"How old a sign-in message's Issued At may be.",
							NULL, &siwe_max_age_s, 600, 1, INT_MAX, PGC_SUSET, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomIntVariable("tracechain.siwe_clock_skew",
							"How far in the future Issued At and Not Before may be.",
							NULL, &siwe_clock_skew_s, 60, 0, 3600, PGC_SUSET, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomStringVariable("tracechain.default_wallet_role",
							   "The role a wallet principal gets when it first signs in.",
							   "Empty: none.",
							   &default_wallet_role, "", PGC_SUSET, 0, NULL, NULL, NULL);
}

/* Unix microseconds to TimestampTz, or false when out of range. */
static bool
unix_us_to_timestamptz(int64 us, TimestampTz *out)
{
	const int64 shift = (int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY * USECS_PER_SEC;
	TimestampTz t = us - shift;

	if (!IS_VALID_TIMESTAMP(t))
		return false;
	*out = t;
	return true;
}

static int64
timestamptz_to_unix_us(TimestampTz t)
{
	return t + (int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY * USECS_PER_SEC;
}

static Datum
span_text(tc_span s)
{
	return PointerGetDatum(cstring_to_text_with_len(s.p, (int) s.len));
}

enum
{
	P_ERROR, P_SCHEME, P_DOMAIN, P_ADDRESS, P_STATEMENT, P_URI, P_CHAIN_ID, P_NONCE,
	P_ISSUED_AT, P_EXPIRATION_TIME, P_NOT_BEFORE, P_REQUEST_ID, P_RESOURCES, P_NCOLS
};

/*
 * _siwe_parse(message text) -> record: the fields of a sign-in message, or
 * only `error` saying what is wrong.  Never raises on bad input; a message
 * longer than TC_SIWE_MAX_LEN is refused before it is detoasted.
 */
PG_FUNCTION_INFO_V1(tc_siwe_parse_sql);
Datum
tc_siwe_parse_sql(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	Datum		values[P_NCOLS];
	bool		nulls[P_NCOLS];
	const char *err = NULL;
	tc_siwe_msg m;
	tc_span    *res = NULL;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE || tupdesc->natts != P_NCOLS)
		elog(ERROR, "return type must be a row type of %d columns", P_NCOLS);
	tupdesc = BlessTupleDesc(tupdesc);
	memset(nulls, true, sizeof(nulls));
	memset(values, 0, sizeof(values));

	if (PG_ARGISNULL(0))
		err = "message is missing";
	else if (toast_raw_datum_size(PG_GETARG_DATUM(0)) - VARHDRSZ > TC_SIWE_MAX_LEN)
		err = "message is too long";
	else
	{
		text	   *t = PG_GETARG_TEXT_PP(0);
		size_t		len = VARSIZE_ANY_EXHDR(t);
		size_t		cap = tc_siwe_max_resources(len);

		res = palloc(cap * sizeof(tc_span));
		if (tc_siwe_parse(VARDATA_ANY(t), len, &m, res, cap, &err) == 0)
		{
			TimestampTz ts;
			char		addr[TC_ETH_ADDR_TEXT_LEN];

			if (m.chain_id > (uint64) PG_INT64_MAX)
				err = "Chain ID is out of range";
			else if (!unix_us_to_timestamptz(m.issued_at_us, &ts))
				err = "Issued At is out of range";
			else
			{
				values[P_ISSUED_AT] = TimestampTzGetDatum(ts);
				nulls[P_ISSUED_AT] = false;
				if (m.has_expiration_time)
				{
					if (!unix_us_to_timestamptz(m.expiration_time_us, &ts))
						err = "Expiration Time is out of range";
					values[P_EXPIRATION_TIME] = TimestampTzGetDatum(ts);
					nulls[P_EXPIRATION_TIME] = false;
				}
				if (m.has_not_before)
				{
					if (!unix_us_to_timestamptz(m.not_before_us, &ts))
						err = "Not Before is out of range";
					values[P_NOT_BEFORE] = TimestampTzGetDatum(ts);
					nulls[P_NOT_BEFORE] = false;
				}
			}
			if (err == NULL)
			{
				if (m.has_scheme)
				{
					values[P_SCHEME] = span_text(m.scheme);
					nulls[P_SCHEME] = false;
				}
				values[P_DOMAIN] = span_text(m.domain);
				tc_eth_address_lower(m.addr, addr);
				values[P_ADDRESS] = PointerGetDatum(cstring_to_text_with_len(addr, TC_ETH_ADDR_TEXT_LEN));
				if (m.has_statement)
				{
					values[P_STATEMENT] = span_text(m.statement);
					nulls[P_STATEMENT] = false;
				}
				values[P_URI] = span_text(m.uri);
				values[P_CHAIN_ID] = Int64GetDatum((int64) m.chain_id);
				values[P_NONCE] = span_text(m.nonce);
				if (m.has_request_id)
				{
					values[P_REQUEST_ID] = span_text(m.request_id);
					nulls[P_REQUEST_ID] = false;
				}
				if (m.has_resources)
				{
					Datum	   *elems = palloc((m.n_resources + 1) * sizeof(Datum));

					for (size_t i = 0; i < m.n_resources; i++)
						elems[i] = span_text(res[i]);
					values[P_RESOURCES] = PointerGetDatum(construct_array(elems, (int) m.n_resources, TEXTOID, -1, false, TYPALIGN_INT));
					nulls[P_RESOURCES] = false;
				}
				nulls[P_DOMAIN] = nulls[P_ADDRESS] = nulls[P_URI] = nulls[P_CHAIN_ID] = nulls[P_NONCE] = false;
			}
		}
	}
	if (err != NULL)
	{
		memset(nulls, true, sizeof(nulls));
		values[P_ERROR] = CStringGetTextDatum(err);
		nulls[P_ERROR] = false;
	}
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

/* _siwe_nonce_new() -> text: NONCE_LEN random letters and digits. */
PG_FUNCTION_INFO_V1(tc_siwe_nonce_new);
Datum
tc_siwe_nonce_new(PG_FUNCTION_ARGS)
{
	static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
	char		out[NONCE_LEN];
	uint8		rnd[64];
	int			have = 0;

	while (have < NONCE_LEN)
	{
		tc_random_bytes(rnd, sizeof(rnd));
		for (size_t i = 0; i < sizeof(rnd) && have < NONCE_LEN; i++)
		{
			/* Rejection sampling: 248 = 4 * 62, so every symbol is equally likely. */
			if (rnd[i] < 248)
				out[have++] = alphabet[rnd[i] % 62];
		}
	}
	explicit_bzero(rnd, sizeof(rnd));
	PG_RETURN_TEXT_P(cstring_to_text_with_len(out, NONCE_LEN));
}

static tc_span
arg_span(FunctionCallInfo fcinfo, int n)
{
	tc_span		s = {NULL, 0};

	if (!PG_ARGISNULL(n))
	{
		text	   *t = PG_GETARG_TEXT_PP(n);

		s.p = VARDATA_ANY(t);
		s.len = VARSIZE_ANY_EXHDR(t);
	}
	return s;
}

/*
 * _siwe_build(domain, address, statement, uri, chain_id, nonce, issued_at,
 * expiration_time) -> text: an EIP-4361 message; 22023 for a bad field.
 * The result is parsed again before it is returned.
 */
PG_FUNCTION_INFO_V1(tc_siwe_build_sql);
Datum
tc_siwe_build_sql(PG_FUNCTION_ARGS)
{
	tc_siwe_fields f;
	tc_span		addr;
	const char *err = NULL;
	size_t		len;
	char	   *buf;
	tc_siwe_msg m;
	tc_span    *res;

	memset(&f, 0, sizeof(f));
	for (int i = 0; i < 7; i++)
		if (i != 2 && PG_ARGISNULL(i))
			ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("sign-in message fields must not be null")));
	f.domain = arg_span(fcinfo, 0);
	addr = arg_span(fcinfo, 1);
	if (tc_eth_address_parse(addr.p, addr.len, f.addr) != TC_ADDR_OK)
		ereport(ERROR, (errcode(ERRCODE_INVALID_TEXT_REPRESENTATION), errmsg("invalid Ethereum address")));
	f.statement = arg_span(fcinfo, 2);
	f.uri = arg_span(fcinfo, 3);
	if (PG_GETARG_INT64(4) < 1)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("chain id must be positive")));
	f.chain_id = (uint64) PG_GETARG_INT64(4);
	f.nonce = arg_span(fcinfo, 5);
	f.issued_at_us = timestamptz_to_unix_us(PG_GETARG_TIMESTAMPTZ(6));
	if (!PG_ARGISNULL(7))
	{
		f.has_expiration_time = 1;
		f.expiration_time_us = timestamptz_to_unix_us(PG_GETARG_TIMESTAMPTZ(7));
	}
	len = tc_siwe_build(&f, NULL, 0, &err);
	if (len == 0 || len > TC_SIWE_MAX_LEN)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s", err ? err : "sign-in message would be too long"),
				 errhint("A sign-in message is at most %d bytes.", TC_SIWE_MAX_LEN)));
	buf = palloc(len);
	tc_siwe_build(&f, buf, len, &err);
	res = palloc(sizeof(tc_span));
	if (tc_siwe_parse(buf, len, &m, res, 1, &err) != 0)
		elog(ERROR, "built sign-in message does not parse: %s", err);
	PG_RETURN_TEXT_P(cstring_to_text_with_len(buf, (int) len));
}

/* _siwe_valid_uri(text) -> boolean: an RFC 3986 URI. */
PG_FUNCTION_INFO_V1(tc_siwe_valid_uri_sql);
Datum
tc_siwe_valid_uri_sql(PG_FUNCTION_ARGS)
{
	text	   *t = PG_GETARG_TEXT_PP(0);

	PG_RETURN_BOOL(VARSIZE_ANY_EXHDR(t) <= TC_SIWE_MAX_LEN &&
				   tc_siwe_valid_uri(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t)));
}

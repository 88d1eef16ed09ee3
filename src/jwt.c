/*
 * jwt.c: JSON Web Tokens (RFC 7519) signed with HS256 or ES256 under keys of
 * the key store, following RFC 8725.
 *
 * Each key is bound to one algorithm by its kind (hmac: HS256, ec-p256:
 * ES256); the token's header never chooses it.  jwt_sign writes the header
 * {"alg","typ":"JWT","kid":"<name>:<version>"} and the claims iat, nbf, exp
 * (and iss, aud when configured).  jwt_verify, in this order:
 *   size (before detoasting) -> three strict base64url segments -> header and
 *   payload strict JSON objects (src/core/jwt.c)          ... else 22P02
 *   -> alg is the key's, typ, crit, kid names this key -> the kid's version
 *   exists -> signature (HMAC compared in constant time; ECDSA r || s) ->
 *   exp (required), nbf, iat with tracechain.jwt_leeway -> iss, aud
 *                                                          ... else 28000
 * and returns the claims.  Every refusal is recorded as a jwt.verify_failed
 * security event (survives the rollback), at most EVENTS_PER_SECOND per
 * backend; the next recorded one counts those left out.
 *
 * OpenSSL objects: buffers are palloc'd first, every EVP object is created,
 * used and freed before anything can raise an error.  The only ones that
 * live longer are the parsed P-256 keys in a small per-backend cache, keyed
 * by key id, version and a digest of the DER, which a later lookup in the key
 * store (destroyed versions are not returned) always precedes.
 */
#include "postgres.h"

#include <math.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include "access/detoast.h"
#include "datatype/timestamp.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/guc.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"

#include "encoding.h"
#include "events.h"
#include "jwt.h"
#include "keystore.h"
#include "principal.h"

#define EVENTS_PER_SECOND 10
#define PKEY_SLOTS 8

static char *jwt_issuer = NULL;
static char *jwt_audience = NULL;
static int	jwt_leeway_s = 30;
static int	jwt_max_ttl_s = 86400;

#include "jwt_module.h"

void
tc_jwt_init(void)
{
	DefineCustomStringVariable("tracechain.jwt_issuer",
							   "The iss claim jwt_sign sets and jwt_verify requires.",
							   "Empty: none is set, and iss is not checked.",
							   &jwt_issuer, "", PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomStringVariable("tracechain.jwt_audience",
							   "The aud claim jwt_sign sets and jwt_verify requires.",
							   "Empty: none is set, and a token that names an audience is refused.",
							   &jwt_audience, "", PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("tracechain.jwt_leeway",
							"Clock skew allowed when jwt_verify checks exp, nbf and iat.",
							NULL, &jwt_leeway_s, 30, 0, 3600, PGC_SUSET, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomIntVariable("tracechain.jwt_max_ttl",
							"The longest lifetime jwt_sign gives a token.",
							NULL, &jwt_max_ttl_s, 86400, 1, 315360000, PGC_SUSET, GUC_UNIT_S, NULL, NULL, NULL);
}

/* ---------------------------------------------------------------------
 * Helpers
 */

static void
require_utf8(void)
{
	if (GetDatabaseEncoding() != PG_UTF8)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("JSON Web Tokens need a database with UTF8 encoding")));
}

static const char *
arg_key_name(FunctionCallInfo fcinfo, int i, char *buf)
{
	text	   *t;
	size_t		len;

	if (PG_ARGISNULL(i))
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("key name must not be null")));
	t = PG_GETARG_TEXT_PP(i);
	len = VARSIZE_ANY_EXHDR(t);
	if (len > TC_KEY_NAME_MAX)
		tc_keystore_check_name("");	/* raises the usual error */
	memcpy(buf, VARDATA_ANY(t), len);
	buf[len] = '\0';
	tc_keystore_check_name(buf);
	return buf;
}

static void
no_key(const char *name) pg_attribute_noreturn();

static void
no_key(const char *name)
{
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("JWT key \"%s\" does not exist or has no current version", name),
			 errhint("A tracechain_admin creates it with tracechain.key_create('%s', 'hmac') for HS256 "
					 "or tracechain.key_create('%s', 'ec-p256') for ES256.", name, name)));
}

/* The algorithm of the named key; ERROR when it does not exist or is not for JWTs. */
static tc_jwt_alg
key_alg(const char *name)
{
	tc_key_kind kind;

	if (!tc_keystore_kind(name, &kind))
		no_key(name);
	if (kind == TC_KEY_HMAC)
		return TC_JWT_ALG_HS256;
	if (kind == TC_KEY_EC_P256)
		return TC_JWT_ALG_ES256;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("key \"%s\" is of kind %s, not usable for JWTs", name, tc_key_kind_name(kind)),
			 errhint("Use a key of kind hmac (HS256) or ec-p256 (ES256).")));
	return TC_JWT_ALG_HS256;	/* not reached */
}

static tc_key_kind
alg_kind(tc_jwt_alg alg)
{
	return alg == TC_JWT_ALG_HS256 ? TC_KEY_HMAC : TC_KEY_EC_P256;
}

/* Parsed P-256 keys, per backend. */
typedef struct pkey_slot
{
	int32		id;
	int32		version;
	uint8		digest[SHA256_DIGEST_LENGTH];
	EVP_PKEY   *pkey;
} pkey_slot;

static pkey_slot pkeys[PKEY_SLOTS];
static int	pkey_next = 0;

/* The EVP_PKEY of an ec-p256 key version (cached), or NULL when its DER does not parse as one. */
static EVP_PKEY *
ec_pkey(const tc_key *key)
{
	uint8		digest[SHA256_DIGEST_LENGTH];
	const unsigned char *p = key->material;
	EVP_PKEY   *k;
	pkey_slot  *s;

	if (SHA256(key->material, key->len, digest) == NULL)
		return NULL;
	for (int i = 0; i < PKEY_SLOTS; i++)
		if (pkeys[i].pkey != NULL && pkeys[i].id == key->id && pkeys[i].version == key->version &&
			memcmp(pkeys[i].digest, digest, sizeof(digest)) == 0)
			return pkeys[i].pkey;
	k = d2i_AutoPrivateKey(NULL, &p, (long) key->len);
	if (k == NULL)
		return NULL;
	if (!EVP_PKEY_is_a(k, "EC") || EVP_PKEY_get_bits(k) != 256)
	{
		EVP_PKEY_free(k);
		return NULL;
	}
	s = &pkeys[pkey_next];
	pkey_next = (pkey_next + 1) % PKEY_SLOTS;
	EVP_PKEY_free(s->pkey);
	s->id = key->id;
	s->version = key->version;
	memcpy(s->digest, digest, sizeof(digest));
	s->pkey = k;
	return k;
}

/* HMAC-SHA256 of in under the key into mac (32 bytes); false on failure. */
static bool
hs256(const tc_key *key, const uint8 *in, size_t inlen, uint8 *mac)
{
	unsigned int maclen = 0;

	if (key->len > INT_MAX)
		return false;
	return HMAC(EVP_sha256(), key->material, (int) key->len, in, inlen, mac, &maclen) != NULL &&
		maclen == TC_JWT_HS256_SIG_LEN;
}

/* ES256 signature r || s of in; false on failure.  No error raised. */
static bool
es256_sign(const tc_key *key, const uint8 *in, size_t inlen, uint8 *raw)
{
	EVP_PKEY   *pkey = ec_pkey(key);
	EVP_MD_CTX *md;
	uint8		der[TC_JWT_ES256_DER_MAX];
	size_t		derlen = sizeof(der);
	bool		ok;

	if (pkey == NULL || EVP_PKEY_get_size(pkey) > (int) sizeof(der))
		return false;
	md = EVP_MD_CTX_new();
	ok = md != NULL &&
		EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, pkey) == 1 &&
		EVP_DigestSign(md, der, &derlen, in, inlen) == 1;
	EVP_MD_CTX_free(md);
	return ok && tc_jwt_ecdsa_der_to_raw(der, derlen, raw) == 0;
}

/* Whether raw (r || s, 64 bytes) is a valid ES256 signature of in.  No error raised. */
static bool
es256_verify(const tc_key *key, const uint8 *in, size_t inlen, const uint8 *raw)
{
	EVP_PKEY   *pkey = ec_pkey(key);
	EVP_MD_CTX *md;
	uint8		der[TC_JWT_ES256_DER_MAX];
	long		derlen;
	bool		ok;

	if (pkey == NULL)
		return false;
	derlen = tc_jwt_ecdsa_raw_to_der(raw, der, sizeof(der));
	if (derlen < 0)
		return false;			/* r or s zero */
	md = EVP_MD_CTX_new();
	ok = md != NULL &&
		EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, pkey) == 1 &&
		EVP_DigestVerify(md, der, (size_t) derlen, in, inlen) == 1;
	EVP_MD_CTX_free(md);
	return ok;
}

/* Seconds since the Unix epoch of a timestamptz. */
static double
unix_seconds(TimestampTz t)
{
	const int64 shift = (int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY * USECS_PER_SEC;

	return (double) (t + shift) / USECS_PER_SEC;
}

/* JSON text of a jsonb without the blanks JsonbToCString puts after ':' and ','. */
static char *
compact_json(Jsonb *jb, size_t *len)
{
	char	   *s = JsonbToCString(NULL, &jb->root, VARSIZE(jb));
	size_t		o = 0;
	bool		instr = false;

	for (size_t i = 0; s[i] != '\0'; i++)
	{
		char		c = s[i];

		if (instr)
		{
			s[o++] = c;
			if (c == '\\' && s[i + 1] != '\0')
				s[o++] = s[++i];
			else if (c == '"')
				instr = false;
			continue;
		}
		if (c == '"')
			instr = true;
		else if (c == ' ' && o > 0 && (s[o - 1] == ':' || s[o - 1] == ','))
			continue;
		s[o++] = c;
	}
	s[o] = '\0';
	*len = o;
	return s;
}

static JsonbValue *
claim(Jsonb *jb, const char *name)
{
	return getKeyJsonValueFromContainer(&jb->root, name, strlen(name), NULL);
}

static double
numeric_value(JsonbValue *v)
{
	return DatumGetFloat8(DirectFunctionCall1(numeric_float8_no_overflow, NumericGetDatum(v->val.numeric)));
}

static bool
jbv_string_is(const JsonbValue *v, const char *s)
{
	size_t		l = strlen(s);

	return v->type == jbvString && (size_t) v->val.string.len == l && memcmp(v->val.string.val, s, l) == 0;
}

/* ---------------------------------------------------------------------
 * Failures: a security event (rate-limited), then the error
 */

static TimestampTz ev_window = 0;
static int	ev_in_window = 0;
static int	ev_suppressed = 0;

static void
record_failure(const char *key_name, const char *reason)
{
	TimestampTz now = GetCurrentTimestamp();
	StringInfoData js;

	if (now - ev_window >= USECS_PER_SEC)
	{
		ev_window = now;
		ev_in_window = 0;
	}
	if (ev_in_window >= EVENTS_PER_SECOND)
	{
		ev_suppressed++;
		return;
	}
	ev_in_window++;
	initStringInfo(&js);
	appendStringInfoString(&js, "{\"reason\": ");
	escape_json(&js, reason);
	appendStringInfoString(&js, ", \"key\": ");
	escape_json(&js, key_name);
	if (ev_suppressed > 0)
		appendStringInfo(&js, ", \"suppressed_before\": %d", ev_suppressed);
	appendStringInfoChar(&js, '}');
	ev_suppressed = 0;
	tc_event_record("security", "jwt.verify_failed", psprintf("key:%s", key_name),
					DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(js.data))),
					tc_current_principal(), NULL);
}

static void
malformed(const char *key_name, int err) pg_attribute_noreturn();

static void
malformed(const char *key_name, int err)
{
	record_failure(key_name, "malformed");
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
			 errmsg("malformed JWT"),
			 errdetail("%s", tc_jwt_strerror(err))));
}

static void
refused(const char *key_name, const char *reason, const char *msg, const char *detail)
pg_attribute_noreturn();

static void
refused(const char *key_name, const char *reason, const char *msg, const char *detail)
{
	record_failure(key_name, reason);
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
			 errmsg("%s", msg),
			 detail ? errdetail("%s", detail) : 0));
}

static void
header_refused(const char *key_name, int err, const tc_jwt_header *h, tc_jwt_alg alg)
pg_attribute_noreturn();

static void
header_refused(const char *key_name, int err, const tc_jwt_header *h, tc_jwt_alg alg)
{
	switch (err)
	{
		case TC_JWT_E_ALG_MISSING:
			refused(key_name, "alg_missing", "JWT header has no alg", NULL);
		case TC_JWT_E_ALG_NONE:
			refused(key_name, "alg_none", "JWT with alg none is refused", "Unsigned tokens are never accepted.");
		case TC_JWT_E_ALG_MISMATCH:
			{
				/* name the token's algorithm only when it is a plain, short word */
				bool		plain = strlen(h->alg) <= 8;

				for (const char *c = h->alg; plain && *c; c++)
					plain = (*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9');
				refused(key_name, "alg_mismatch", "JWT algorithm is not the key's",
						psprintf("The token says %s; key \"%s\" is for %s.",
								 plain ? h->alg : "another algorithm", key_name, tc_jwt_alg_name(alg)));
			}
		case TC_JWT_E_TYP:
			refused(key_name, "typ", "JWT header typ is not JWT", NULL);
		case TC_JWT_E_CRIT:
			refused(key_name, "crit", "JWT header has critical extensions (crit), which are not supported", NULL);
		case TC_JWT_E_KID_MISSING:
			refused(key_name, "kid_missing", "JWT header has no kid",
					psprintf("Tokens for key \"%s\" carry kid \"%s:<version>\".", key_name, key_name));
		default:
			refused(key_name, "kid_other_key", "JWT kid does not name this key",
					psprintf("Tokens for key \"%s\" carry kid \"%s:<version>\".", key_name, key_name));
	}
}

/* ---------------------------------------------------------------------
 * jwt_sign(claims jsonb, key_name text = 'jwt', ttl interval = '1 hour') -> text
 */
PG_FUNCTION_INFO_V1(tc_jwt_sign);
Datum
tc_jwt_sign(PG_FUNCTION_ARGS)
{
	char		name[TC_KEY_NAME_MAX + 1];
	Jsonb	   *claims;
	Interval   *ttl;
	double		ttl_s;
	tc_jwt_alg	alg;
	tc_key		key;
	JsonbValue *v;
	int64		iat,
				exp;
	StringInfoData add;
	Jsonb	   *payload;
	char	   *ptext;
	size_t		plen;
	char		hdr[64 + TC_KEY_NAME_MAX];
	long		hlen;
	size_t		h64,
				p64,
				s64,
				total;
	text	   *res;
	char	   *out;
	uint8		sig[TC_JWT_ES256_SIG_LEN];
	size_t		siglen;
	bool		ok;

	require_utf8();
	if (PG_ARGISNULL(0))
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("claims must not be null")));
	arg_key_name(fcinfo, 1, name);
	if (PG_ARGISNULL(2))
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("ttl must not be null")));
	claims = PG_GETARG_JSONB_P(0);
	ttl = PG_GETARG_INTERVAL_P(2);

	if (!JB_ROOT_IS_OBJECT(claims) || JB_ROOT_IS_SCALAR(claims))
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("JWT claims must be a JSON object")));
	ttl_s = (double) ttl->time / USECS_PER_SEC + (double) ttl->day * SECS_PER_DAY +
		(double) ttl->month * DAYS_PER_MONTH * SECS_PER_DAY;
	if (!(ttl_s > 0) || ttl_s > jwt_max_ttl_s)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid JWT lifetime"),
				 errhint("Give a ttl above zero and at most %d seconds (tracechain.jwt_max_ttl).", jwt_max_ttl_s)));
	if (claim(claims, "exp") != NULL || claim(claims, "iat") != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("JWT claims must not contain exp or iat"),
				 errhint("jwt_sign sets iat to now and exp to now + ttl.")));
	if ((v = claim(claims, "nbf")) != NULL && v->type != jbvNumeric)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("JWT claim nbf must be a number (seconds since 1970)")));
	if (jwt_issuer[0] != '\0' && (v = claim(claims, "iss")) != NULL && !jbv_string_is(v, jwt_issuer))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("JWT claim iss differs from tracechain.jwt_issuer"),
				 errhint("Leave iss out: jwt_sign sets it.")));
	if (jwt_audience[0] != '\0' && (v = claim(claims, "aud")) != NULL && !jbv_string_is(v, jwt_audience))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("JWT claim aud differs from tracechain.jwt_audience"),
				 errhint("Leave aud out: jwt_sign sets it.")));

	alg = key_alg(name);
	/* the payload, before the key is fetched (its material is valid until the next keystore call) */
	iat = (int64) floor(unix_seconds(GetCurrentTimestamp()));
	exp = iat + (int64) ceil(ttl_s);
	initStringInfo(&add);
	appendStringInfo(&add, "{\"iat\": " INT64_FORMAT ", \"exp\": " INT64_FORMAT, iat, exp);
	if (claim(claims, "nbf") == NULL)
		appendStringInfo(&add, ", \"nbf\": " INT64_FORMAT, iat);
	if (jwt_issuer[0] != '\0')
	{
		appendStringInfoString(&add, ", \"iss\": ");
		escape_json(&add, jwt_issuer);
	}
	if (jwt_audience[0] != '\0')
	{
		appendStringInfoString(&add, ", \"aud\": ");
		escape_json(&add, jwt_audience);
	}
	appendStringInfoChar(&add, '}');
	payload = DatumGetJsonbP(DirectFunctionCall2(jsonb_concat, JsonbPGetDatum(claims),
												 DirectFunctionCall1(jsonb_in, CStringGetDatum(add.data))));
	ptext = compact_json(payload, &plen);
	hlen = tc_jwt_header_write(alg, name, strlen(name), 1, hdr, sizeof(hdr));	/* size check only */
	if (hlen < 0)
		elog(ERROR, "could not write the JWT header");
	siglen = alg == TC_JWT_ALG_HS256 ? TC_JWT_HS256_SIG_LEN : TC_JWT_ES256_SIG_LEN;
	p64 = tc_b64url_encoded_len(plen);
	s64 = tc_b64url_encoded_len(siglen);
	if (p64 + s64 + (size_t) hlen * 2 + 24 > TC_JWT_MAX_LEN)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("JWT claims are too large"),
				 errhint("A token may have at most %d bytes.", TC_JWT_MAX_LEN)));

	if (!tc_keystore_get(name, TC_KEY_CURRENT, alg_kind(alg), &key))
		no_key(name);
	hlen = tc_jwt_header_write(alg, name, strlen(name), key.version, hdr, sizeof(hdr));
	if (hlen < 0)
		elog(ERROR, "could not write the JWT header");
	h64 = tc_b64url_encoded_len((size_t) hlen);
	total = h64 + 1 + p64 + 1 + s64;
	res = palloc(VARHDRSZ + total);
	SET_VARSIZE(res, VARHDRSZ + total);
	out = VARDATA(res);
	tc_b64url_encode((const uint8 *) hdr, (size_t) hlen, out);
	out[h64] = '.';
	tc_b64url_encode((const uint8 *) ptext, plen, out + h64 + 1);
	out[h64 + 1 + p64] = '.';
	if (alg == TC_JWT_ALG_HS256)
		ok = hs256(&key, (const uint8 *) out, h64 + 1 + p64, sig);
	else
		ok = es256_sign(&key, (const uint8 *) out, h64 + 1 + p64, sig);
	if (!ok)
		ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR), errmsg("could not sign the JWT")));
	tc_b64url_encode(sig, siglen, out + h64 + 1 + p64 + 1);
	explicit_bzero(sig, sizeof(sig));
	PG_RETURN_TEXT_P(res);
}

/* ---------------------------------------------------------------------
 * jwt_verify(token text, key_name text = 'jwt') -> jsonb
 */
PG_FUNCTION_INFO_V1(tc_jwt_verify);
Datum
tc_jwt_verify(PG_FUNCTION_ARGS)
{
	char		name[TC_KEY_NAME_MAX + 1];
	text	   *tok;
	tc_jwt_parts parts;
	uint8	   *hbuf,
			   *pbuf,
			   *sbuf;
	long		hl,
				pl,
				sl;
	tc_jwt_header h;
	tc_jwt_alg	alg;
	int32		version = 0;
	int			rc;
	tc_key		key;
	bool		ok;
	Jsonb	   *claims;
	JsonbValue *v;
	double		now,
				leeway = jwt_leeway_s;

	require_utf8();
	arg_key_name(fcinfo, 1, name);
	if (PG_ARGISNULL(0))
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("token must not be null")));
	/* the size before detoasting: a huge token is never read */
	if (toast_raw_datum_size(PG_GETARG_DATUM(0)) - VARHDRSZ > TC_JWT_MAX_LEN)
		malformed(name, TC_JWT_E_TOO_LONG);
	tok = PG_GETARG_TEXT_PP(0);

	/* structure: 22P02 */
	rc = tc_jwt_split(VARDATA_ANY(tok), VARSIZE_ANY_EXHDR(tok), &parts);
	if (rc != TC_JWT_OK)
		malformed(name, rc);
	hbuf = palloc(parts.seglen[0] * 3 / 4 + 1);
	pbuf = palloc(parts.seglen[1] * 3 / 4 + 1);
	sbuf = palloc(parts.seglen[2] * 3 / 4 + 1);
	hl = tc_jwt_segment_decode(parts.seg[0], parts.seglen[0], hbuf, parts.seglen[0] * 3 / 4 + 1);
	pl = tc_jwt_segment_decode(parts.seg[1], parts.seglen[1], pbuf, parts.seglen[1] * 3 / 4);
	sl = tc_jwt_segment_decode(parts.seg[2], parts.seglen[2], sbuf, parts.seglen[2] * 3 / 4 + 1);
	if (hl < 0 || pl < 0 || sl < 0)
		malformed(name, TC_JWT_E_BASE64URL);
	if ((rc = tc_jwt_header_parse(hbuf, (size_t) hl, &h)) != TC_JWT_OK)
		malformed(name, rc);
	if ((rc = tc_json_object_check(pbuf, (size_t) pl)) != TC_JWT_OK)
		malformed(name, rc);
	pbuf[pl] = '\0';

	/* the key and the header: 28000 */
	alg = key_alg(name);
	if ((rc = tc_jwt_header_check(&h, alg, name, strlen(name), &version)) != TC_JWT_OK)
		header_refused(name, rc, &h, alg);
	if (!tc_keystore_get(name, version, alg_kind(alg), &key))
		refused(name, "key_version", "JWT key version does not exist or has been destroyed",
				psprintf("The token names version %d of key \"%s\".", version, name));

	/* the signature */
	if (alg == TC_JWT_ALG_HS256)
	{
		uint8		mac[TC_JWT_HS256_SIG_LEN];

		ok = sl == TC_JWT_HS256_SIG_LEN && hs256(&key, (const uint8 *) VARDATA_ANY(tok), parts.signing_input_len, mac) &&
			CRYPTO_memcmp(mac, sbuf, TC_JWT_HS256_SIG_LEN) == 0;
		explicit_bzero(mac, sizeof(mac));
	}
	else
		ok = sl == TC_JWT_ES256_SIG_LEN && es256_verify(&key, (const uint8 *) VARDATA_ANY(tok), parts.signing_input_len, sbuf);
	if (!ok)
		refused(name, "signature", "JWT signature does not verify", NULL);

	/* the claims (valid JSON, checked above) */
	claims = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum((char *) pbuf)));
	now = unix_seconds(GetCurrentTimestamp());
	v = claim(claims, "exp");
	if (v == NULL)
		refused(name, "exp_missing", "JWT has no exp claim", "Tokens without an expiry are never accepted.");
	if (v->type != jbvNumeric)
		refused(name, "exp_invalid", "JWT exp claim is not a number", NULL);
	if (now >= numeric_value(v) + leeway)
		refused(name, "expired", "JWT has expired", NULL);
	if ((v = claim(claims, "nbf")) != NULL)
	{
		if (v->type != jbvNumeric)
			refused(name, "nbf_invalid", "JWT nbf claim is not a number", NULL);
		if (numeric_value(v) > now + leeway)
			refused(name, "not_yet_valid", "JWT is not valid yet (nbf)", NULL);
	}
	if ((v = claim(claims, "iat")) != NULL)
	{
		if (v->type != jbvNumeric)
			refused(name, "iat_invalid", "JWT iat claim is not a number", NULL);
		if (numeric_value(v) > now + leeway)
			refused(name, "issued_in_future", "JWT is issued in the future (iat)", NULL);
	}
	if (jwt_issuer[0] != '\0')
	{
		v = claim(claims, "iss");
		if (v == NULL || !jbv_string_is(v, jwt_issuer))
			refused(name, "issuer", "JWT issuer is not tracechain.jwt_issuer", NULL);
	}
	v = claim(claims, "aud");
	if (jwt_audience[0] != '\0')
	{
		bool		found = false;

		if (v != NULL && v->type == jbvString)
			found = jbv_string_is(v, jwt_audience);
		else if (v != NULL && v->type == jbvBinary && JsonContainerIsArray(v->val.binary.data))
		{
			JsonbValue	s;

			s.type = jbvString;
			s.val.string.val = jwt_audience;
			s.val.string.len = (int) strlen(jwt_audience);
			found = findJsonbValueFromContainer(v->val.binary.data, JB_FARRAY, &s) != NULL;
		}
		if (!found)
			refused(name, "audience", "JWT audience does not include tracechain.jwt_audience", NULL);
	}
	else if (v != NULL)
		refused(name, "audience", "JWT names an audience, and tracechain.jwt_audience is not set",
				"RFC 7519 section 4.1.3: a token whose aud does not name this service is refused.");
	PG_RETURN_JSONB_P(claims);
}

/* ---------------------------------------------------------------------
 * Public keys of ES256 keys, for relying parties
 */

static tc_key
ec_key_version(const char *name, int32 version)
{
	tc_key		key;
	tc_jwt_alg	alg = key_alg(name);

	if (alg != TC_JWT_ALG_ES256)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("key \"%s\" is an HS256 (hmac) key, which has no public key", name),
				 errhint("HS256 keys are secret; relying parties need an ec-p256 key.")));
	if (version < 0 || !tc_keystore_get(name, version, TC_KEY_EC_P256, &key))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("key \"%s\" has no such version, or it has been destroyed", name)));
	return key;
}

/* jwt_public_key(key_name text = 'jwt', version int = null) -> text: SubjectPublicKeyInfo PEM. */
PG_FUNCTION_INFO_V1(tc_jwt_public_key);
Datum
tc_jwt_public_key(PG_FUNCTION_ARGS)
{
	char		name[TC_KEY_NAME_MAX + 1];
	tc_key		key;
	EVP_PKEY   *pkey;
	BIO		   *bio;
	char	   *buf = palloc(1024);
	int			n = -1;

	arg_key_name(fcinfo, 0, name);
	key = ec_key_version(name, PG_ARGISNULL(1) ? TC_KEY_CURRENT : PG_GETARG_INT32(1));
	pkey = ec_pkey(&key);
	bio = pkey ? BIO_new(BIO_s_mem()) : NULL;
	if (bio != NULL && PEM_write_bio_PUBKEY(bio, pkey) == 1)
		n = BIO_read(bio, buf, 1023);
	BIO_free(bio);
	if (n <= 0 || n >= 1023)
		ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR), errmsg("could not export the public key")));
	PG_RETURN_TEXT_P(cstring_to_text_with_len(buf, n));
}

/* The JWK of a P-256 public key into js; false on failure (no error raised). */
static bool
append_jwk(StringInfo js, const char *name, const tc_key *key)
{
	EVP_PKEY   *pkey = ec_pkey(key);
	BIGNUM	   *x = NULL,
			   *y = NULL;
	uint8		xb[32],
				yb[32];
	char		x64[44],
				y64[44];
	bool		ok;

	ok = pkey != NULL &&
		EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_EC_PUB_X, &x) == 1 &&
		EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_EC_PUB_Y, &y) == 1 &&
		BN_bn2binpad(x, xb, 32) == 32 && BN_bn2binpad(y, yb, 32) == 32;
	BN_free(x);
	BN_free(y);
	if (!ok)
		return false;
	tc_b64url_encode(xb, 32, x64);
	x64[tc_b64url_encoded_len(32)] = '\0';
	tc_b64url_encode(yb, 32, y64);
	y64[tc_b64url_encoded_len(32)] = '\0';
	appendStringInfo(js, "{\"kty\": \"EC\", \"crv\": \"P-256\", \"x\": \"%s\", \"y\": \"%s\", "
					 "\"kid\": \"%s:%d\", \"alg\": \"ES256\", \"use\": \"sig\"}",
					 x64, y64, name, key->version);
	return true;
}

/* jwt_jwks(key_name text = 'jwt') -> jsonb: a JWK Set of every usable version. */
PG_FUNCTION_INFO_V1(tc_jwt_jwks);
Datum
tc_jwt_jwks(PG_FUNCTION_ARGS)
{
	char		name[TC_KEY_NAME_MAX + 1];
	tc_key		key;
	int32		current;
	StringInfoData js;
	int			n = 0;

	arg_key_name(fcinfo, 0, name);
	key = ec_key_version(name, TC_KEY_CURRENT);
	current = key.version;
	initStringInfo(&js);
	appendStringInfoString(&js, "{\"keys\": [");
	for (int32 ver = current; ver >= 1; ver--)
	{
		if (!tc_keystore_get(name, ver, TC_KEY_EC_P256, &key))
			continue;
		if (n++ > 0)
			appendStringInfoString(&js, ", ");
		if (!append_jwk(&js, name, &key))
			ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR), errmsg("could not export the public key")));
	}
	appendStringInfoString(&js, "]}");
	PG_RETURN_DATUM(DirectFunctionCall1(jsonb_in, CStringGetDatum(js.data)));
}

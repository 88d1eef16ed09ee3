/*
 * crypt.c: field encryption.
 *
 * Envelopes (src/core/envelope.h) under named AEAD keys of the keystore;
 * per-principal keys and crypto-shredding; PII in jsonb; blind indexes;
 * scrypt secret hashes (src/core/phc.h); the column protection trigger.
 *
 * Every failure to open an envelope raises the one error "decryption
 * failed", whatever the cause (malformed, wrong key, wrong context,
 * tampered, destroyed version), so the error tells an attacker nothing.
 */
#include "postgres.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "nodes/bitmapset.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/relcache.h"
#include "utils/uuid.h"

#include "envelope.h"
#include "keys.h"
#include "keystore.h"
#include "phc.h"

#define BLIND_KEY_LEN 32
#define SCRYPT_LN 15
#define SCRYPT_R 8
#define SCRYPT_P 1
#define SCRYPT_SALT 16
#define SCRYPT_HASH 32
#define SECRET_MAX 4096
#define CONTEXT_MAX 10000

static void decryption_failed(void) pg_attribute_noreturn();

static void
decryption_failed(void)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("decryption failed")));
}

/* ---------------------------------------------------------------------
 * Envelopes
 */

static const char *
get_name(FunctionCallInfo fcinfo, int i, char *buf)
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
	return buf;
}

static text *
get_context(FunctionCallInfo fcinfo, int i)
{
	text	   *t;

	if (PG_ARGISNULL(i))
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("context must not be null"),
						errhint("Use '' for no context.")));
	t = PG_GETARG_TEXT_PP(i);
	if (VARSIZE_ANY_EXHDR(t) > CONTEXT_MAX)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("context too long"),
						errhint("Use at most %d bytes.", CONTEXT_MAX)));
	return t;
}

/*
 * Nonces: 96 random bits each, from OpenSSL's CSPRNG, drawn in batches so
 * that a small value does not pay for a RAND_bytes call.  The pool lives in
 * backend memory only and is filled after the backend started, so no two
 * backends share one; a nonce is used once and then wiped.
 */
#define NONCE_POOL (TC_ENV_NONCE_LEN * 256)
static uint8 nonce_pool[NONCE_POOL];
static size_t nonce_left = 0;

static void
next_nonce(uint8 *out)
{
	uint8	   *p;

	if (nonce_left < TC_ENV_NONCE_LEN)
	{
		tc_random_bytes(nonce_pool, NONCE_POOL);
		nonce_left = NONCE_POOL;
	}
	p = nonce_pool + NONCE_POOL - nonce_left;
	memcpy(out, p, TC_ENV_NONCE_LEN);
	explicit_bzero(p, TC_ENV_NONCE_LEN);
	nonce_left -= TC_ENV_NONCE_LEN;
}

/* Encrypt under key (counted) with context; the result is a new bytea envelope. */
static bytea *
seal_with(const tc_key *key, const char *ctx, size_t ctxlen, const uint8 *pt, size_t ptlen)
{
	bytea	   *res;
	uint8	   *p;
	uint8		nonce[TC_ENV_NONCE_LEN];
	size_t		total;

	if (ptlen > (size_t) (MaxAllocSize - VARHDRSZ - TC_ENV_OVERHEAD))
		ereport(ERROR, (errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED), errmsg("value too large to encrypt")));
	total = tc_envelope_len(ptlen);
	res = palloc(VARHDRSZ + total);
	SET_VARSIZE(res, VARHDRSZ + total);
	p = (uint8 *) VARDATA(res);
	tc_keystore_count_encryption(key);
	next_nonce(nonce);
	if (tc_envelope_write_header(p, total, (uint32) key->id, (uint32) key->version, nonce) != TC_ENV_HDR_LEN ||
		!tc_keystore_aead(key, true, nonce, p, TC_ENV_HDR_LEN, (const uint8 *) ctx, ctxlen,
						  pt, ptlen, p + TC_ENV_HDR_LEN, p + TC_ENV_HDR_LEN + ptlen))
		ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR), errmsg("encryption failed")));
	return res;
}

static bytea *
seal_named(const char *name, const char *ctx, size_t ctxlen, const uint8 *pt, size_t ptlen)
{
	tc_key		key;

	if (!tc_keystore_get(name, TC_KEY_CURRENT, TC_KEY_AEAD, &key))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("key \"%s\" does not exist or has no current version", name),
				 errhint("Create it with key_create(), or rotate it with key_rotate().")));
	return seal_with(&key, ctx, ctxlen, pt, ptlen);
}

/*
 * Open an envelope under the named key with context.  Returns the plaintext
 * (a new bytea), or NULL on any failure; *version gets the envelope's key
 * version.  Raises no error of its own.
 */
static bytea *
open_named(const char *name, const char *ctx, size_t ctxlen, const uint8 *in, size_t inlen,
		   int32 *version)
{
	tc_envelope env;
	tc_key		key;
	bytea	   *res;
	uint8		tag[TC_ENV_TAG_LEN];

	if (tc_envelope_parse(in, inlen, &env) != 0 || env.key_id > INT32_MAX || env.version > INT32_MAX)
		return NULL;
	if (!tc_keystore_get(name, (int32) env.version, TC_KEY_AEAD, &key) || key.id != (int32) env.key_id)
		return NULL;
	res = palloc(VARHDRSZ + env.ctlen);
	SET_VARSIZE(res, VARHDRSZ + env.ctlen);
	memcpy(tag, env.tag, TC_ENV_TAG_LEN);
	if (!tc_keystore_aead(&key, false, env.nonce, env.header, TC_ENV_HDR_LEN, (const uint8 *) ctx, ctxlen,
						  env.ct, env.ctlen, (uint8 *) VARDATA(res), tag))
	{
		explicit_bzero(VARDATA(res), env.ctlen);
		pfree(res);
		return NULL;
	}
	if (version)
		*version = (int32) env.version;
	return res;
}

/* The same without raising on a wrong kind either (for the trigger's "already an envelope?" test). */
static bool
is_envelope_for(const char *name, const char *ctx, size_t ctxlen, const uint8 *in, size_t inlen)
{
	tc_envelope env;
	bytea	   *pt;

	if (tc_envelope_parse(in, inlen, &env) != 0)
		return false;
	pt = open_named(name, ctx, ctxlen, in, inlen, NULL);
	if (pt == NULL)
		return false;
	explicit_bzero(VARDATA(pt), VARSIZE(pt) - VARHDRSZ);
	pfree(pt);
	return true;
}

PG_FUNCTION_INFO_V1(tc_encrypt);
Datum
tc_encrypt(PG_FUNCTION_ARGS)
{
	char		name[TC_KEY_NAME_MAX + 1];
	struct varlena *pt;
	text	   *ctx;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	pt = PG_GETARG_VARLENA_PP(0);
	get_name(fcinfo, 1, name);
	ctx = get_context(fcinfo, 2);
	PG_RETURN_BYTEA_P(seal_named(name, VARDATA_ANY(ctx), VARSIZE_ANY_EXHDR(ctx),
								 (const uint8 *) VARDATA_ANY(pt), VARSIZE_ANY_EXHDR(pt)));
}

static bytea *
decrypt_args(FunctionCallInfo fcinfo)
{
	char		name[TC_KEY_NAME_MAX + 1];
	bytea	   *ct = PG_GETARG_BYTEA_PP(0);
	text	   *ctx;
	bytea	   *pt;

	get_name(fcinfo, 1, name);
	ctx = get_context(fcinfo, 2);
	pt = open_named(name, VARDATA_ANY(ctx), VARSIZE_ANY_EXHDR(ctx),
					(const uint8 *) VARDATA_ANY(ct), VARSIZE_ANY_EXHDR(ct), NULL);
	if (pt == NULL)
		decryption_failed();
	return pt;
}

PG_FUNCTION_INFO_V1(tc_decrypt);
Datum
tc_decrypt(PG_FUNCTION_ARGS)
{
	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	PG_RETURN_BYTEA_P(decrypt_args(fcinfo));
}

static text *
as_text(bytea *pt)
{
	size_t		len = VARSIZE(pt) - VARHDRSZ;

	if (!pg_verifymbstr(VARDATA(pt), (int) len, true))
	{
		explicit_bzero(VARDATA(pt), len);
		ereport(ERROR,
				(errcode(ERRCODE_CHARACTER_NOT_IN_REPERTOIRE),
				 errmsg("decrypted value is not valid text"),
				 errhint("Use decrypt() for binary values.")));
	}
	return (text *) pt;
}

PG_FUNCTION_INFO_V1(tc_decrypt_text);
Datum
tc_decrypt_text(PG_FUNCTION_ARGS)
{
	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(as_text(decrypt_args(fcinfo)));
}

PG_FUNCTION_INFO_V1(tc_rewrap);
Datum
tc_rewrap(PG_FUNCTION_ARGS)
{
	char		name[TC_KEY_NAME_MAX + 1];
	bytea	   *ct;
	text	   *ctx;
	bytea	   *pt;
	bytea	   *res;
	int32		version = 0;
	tc_key		cur;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	ct = PG_GETARG_BYTEA_PP(0);
	get_name(fcinfo, 1, name);
	ctx = get_context(fcinfo, 2);
	pt = open_named(name, VARDATA_ANY(ctx), VARSIZE_ANY_EXHDR(ctx),
					(const uint8 *) VARDATA_ANY(ct), VARSIZE_ANY_EXHDR(ct), &version);
	if (pt == NULL)
		decryption_failed();
	if (!tc_keystore_get(name, TC_KEY_CURRENT, TC_KEY_AEAD, &cur))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("key \"%s\" has no current version", name),
				 errhint("Rotate it with key_rotate().")));
	if (cur.version == version)
		res = PG_GETARG_BYTEA_P_COPY(0);	/* already under the current version */
	else
		res = seal_with(&cur, VARDATA_ANY(ctx), VARSIZE_ANY_EXHDR(ctx),
						(const uint8 *) VARDATA(pt), VARSIZE(pt) - VARHDRSZ);
	explicit_bzero(VARDATA(pt), VARSIZE(pt) - VARHDRSZ);
	PG_RETURN_BYTEA_P(res);
}

/* ---------------------------------------------------------------------
 * Per-principal keys
 */

static void
principal_key_name(const pg_uuid_t *u, char *buf)
{
	char	   *s = DatumGetCString(DirectFunctionCall1(uuid_out, UUIDPGetDatum(u)));

	snprintf(buf, TC_KEY_NAME_MAX + 1, "%s%s", TC_PRINCIPAL_KEY_PREFIX, s);
}

static const pg_uuid_t *
get_principal(FunctionCallInfo fcinfo, int i)
{
	if (PG_ARGISNULL(i))
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("principal must not be null")));
	return PG_GETARG_UUID_P(i);
}

/* The principal's key, created on first use; ERROR when it was forgotten. */
static void
principal_key_for_encrypt(const pg_uuid_t *principal, char *name, tc_key *key)
{
	principal_key_name(principal, name);
	if (tc_keystore_get(name, TC_KEY_CURRENT, TC_KEY_AEAD, key))
		return;
	tc_keystore_ensure(name, TC_KEY_AEAD, principal);
	if (!tc_keystore_get(name, TC_KEY_CURRENT, TC_KEY_AEAD, key))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the key of this principal has been destroyed"),
				 errhint("forget_principal() erased it; nothing can be encrypted for this principal any more.")));
}

static bytea *
encrypt_for(const pg_uuid_t *principal, const char *ctx, size_t ctxlen, const uint8 *pt, size_t ptlen)
{
	char		name[TC_KEY_NAME_MAX + 1];
	tc_key		key;

	principal_key_for_encrypt(principal, name, &key);
	return seal_with(&key, ctx, ctxlen, pt, ptlen);
}

static bytea *
decrypt_for(const pg_uuid_t *principal, const char *ctx, size_t ctxlen, const uint8 *in, size_t inlen)
{
	char		name[TC_KEY_NAME_MAX + 1];

	principal_key_name(principal, name);
	return open_named(name, ctx, ctxlen, in, inlen, NULL);
}

PG_FUNCTION_INFO_V1(tc_encrypt_for);
Datum
tc_encrypt_for(PG_FUNCTION_ARGS)
{
	const pg_uuid_t *principal = get_principal(fcinfo, 0);
	struct varlena *pt;
	text	   *ctx = get_context(fcinfo, 2);

	if (PG_ARGISNULL(1))
		PG_RETURN_NULL();
	pt = PG_GETARG_VARLENA_PP(1);
	PG_RETURN_BYTEA_P(encrypt_for(principal, VARDATA_ANY(ctx), VARSIZE_ANY_EXHDR(ctx),
								  (const uint8 *) VARDATA_ANY(pt), VARSIZE_ANY_EXHDR(pt)));
}

PG_FUNCTION_INFO_V1(tc_decrypt_for);
Datum
tc_decrypt_for(PG_FUNCTION_ARGS)
{
	const pg_uuid_t *principal = get_principal(fcinfo, 0);
	bytea	   *ct;
	text	   *ctx = get_context(fcinfo, 2);
	bytea	   *pt;

	if (PG_ARGISNULL(1))
		PG_RETURN_NULL();
	ct = PG_GETARG_BYTEA_PP(1);
	pt = decrypt_for(principal, VARDATA_ANY(ctx), VARSIZE_ANY_EXHDR(ctx),
					 (const uint8 *) VARDATA_ANY(ct), VARSIZE_ANY_EXHDR(ct));
	if (pt == NULL)
		decryption_failed();
	PG_RETURN_BYTEA_P(pt);
}

PG_FUNCTION_INFO_V1(tc_forget_principal);
Datum
tc_forget_principal(PG_FUNCTION_ARGS)
{
	const pg_uuid_t *principal = get_principal(fcinfo, 0);
	char		name[TC_KEY_NAME_MAX + 1];

	principal_key_name(principal, name);
	/* A tombstone when the principal never had a key, so none is made later. */
	(void) tc_keystore_ensure(name, TC_KEY_AEAD, principal);
	PG_RETURN_INT32(tc_keystore_destroy(name, TC_KEY_CURRENT));
}

/* ---------------------------------------------------------------------
 * PII values in jsonb: a string "tcenc:" + base64 of the envelope of the
 * value's JSON text, under the principal's key, context "pii:" + field name.
 */

#define PII_PREFIX "tcenc:"
#define PII_PREFIX_LEN 6

static text *
pii_context(text *field)
{
	return DatumGetTextPP(DirectFunctionCall2(textcat, CStringGetTextDatum("pii:"), PointerGetDatum(field)));
}

/* _pii_seal(value jsonb, principal uuid, field text) -> jsonb (a string) */
PG_FUNCTION_INFO_V1(tc_pii_seal);
Datum
tc_pii_seal(PG_FUNCTION_ARGS)
{
	Jsonb	   *value = PG_GETARG_JSONB_P(0);
	const pg_uuid_t *principal = get_principal(fcinfo, 1);
	text	   *ctx = pii_context(PG_GETARG_TEXT_PP(2));
	char	   *json = DatumGetCString(DirectFunctionCall1(jsonb_out, JsonbPGetDatum(value)));
	bytea	   *env;
	size_t		envlen,
				b64len;
	char	   *out;
	StringInfoData q;

	env = encrypt_for(principal, VARDATA_ANY(ctx), VARSIZE_ANY_EXHDR(ctx), (const uint8 *) json, strlen(json));
	envlen = VARSIZE(env) - VARHDRSZ;
	b64len = tc_b64std_encoded_len(envlen);
	out = palloc(PII_PREFIX_LEN + b64len + 1);
	memcpy(out, PII_PREFIX, PII_PREFIX_LEN);
	tc_b64std_encode((const uint8 *) VARDATA(env), envlen, out + PII_PREFIX_LEN);
	out[PII_PREFIX_LEN + b64len] = '\0';
	initStringInfo(&q);
	escape_json(&q, out);
	PG_RETURN_DATUM(DirectFunctionCall1(jsonb_in, CStringGetDatum(q.data)));
}

/* _pii_open(value text, principal uuid, field text) -> jsonb; NULL when value is not sealed */
PG_FUNCTION_INFO_V1(tc_pii_open);
Datum
tc_pii_open(PG_FUNCTION_ARGS)
{
	text	   *value = PG_GETARG_TEXT_PP(0);
	const pg_uuid_t *principal = get_principal(fcinfo, 1);
	text	   *ctx = pii_context(PG_GETARG_TEXT_PP(2));
	const char *s = VARDATA_ANY(value);
	size_t		len = VARSIZE_ANY_EXHDR(value);
	uint8	   *env;
	long		envlen;
	bytea	   *pt;
	char	   *json;

	if (len < PII_PREFIX_LEN || memcmp(s, PII_PREFIX, PII_PREFIX_LEN) != 0)
		PG_RETURN_NULL();
	env = palloc(len);
	envlen = tc_b64std_decode(s + PII_PREFIX_LEN, len - PII_PREFIX_LEN, env, len);
	if (envlen < 0)
		decryption_failed();
	pt = decrypt_for(principal, VARDATA_ANY(ctx), VARSIZE_ANY_EXHDR(ctx), env, (size_t) envlen);
	if (pt == NULL)
		decryption_failed();
	json = text_to_cstring((text *) pt);
	explicit_bzero(VARDATA(pt), VARSIZE(pt) - VARHDRSZ);
	PG_RETURN_DATUM(DirectFunctionCall1(jsonb_in, CStringGetDatum(json)));
}

/* ---------------------------------------------------------------------
 * Blind index: HMAC-SHA256 under a key derived (HKDF) from version 1 of the
 * named key, so rotating the key does not change the index.
 */

PG_FUNCTION_INFO_V1(tc_blind_index);
Datum
tc_blind_index(PG_FUNCTION_ARGS)
{
	char		name[TC_KEY_NAME_MAX + 1];
	text	   *value;
	text	   *ctx;
	tc_key		key;
	uint8		bkey[BLIND_KEY_LEN];
	uint8		lenbuf[4];
	bytea	   *res;
	size_t		ctxlen;
	EVP_KDF    *kdf;
	EVP_KDF_CTX *kctx;
	EVP_MAC    *mac;
	EVP_MAC_CTX *mctx;
	OSSL_PARAM	params[4];
	size_t		outl = 0;
	bool		ok;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	value = PG_GETARG_TEXT_PP(0);
	get_name(fcinfo, 1, name);
	ctx = get_context(fcinfo, 2);
	ctxlen = VARSIZE_ANY_EXHDR(ctx);
	if (!tc_keystore_get(name, 1, TC_KEY_AEAD, &key))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("key \"%s\" has no version 1 to derive a blind index key from", name)));
	res = palloc(VARHDRSZ + 32);
	SET_VARSIZE(res, VARHDRSZ + 32);
	lenbuf[0] = (uint8) (ctxlen >> 24);
	lenbuf[1] = (uint8) (ctxlen >> 16);
	lenbuf[2] = (uint8) (ctxlen >> 8);
	lenbuf[3] = (uint8) ctxlen;

	/* derive the HMAC key: never the data key itself */
	kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
	kctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *) "SHA256", 0);
	params[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *) key.material, key.len);
	params[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *) "tracechain blind index v1", 25);
	params[3] = OSSL_PARAM_construct_end();
	ok = kctx != NULL && EVP_KDF_derive(kctx, bkey, sizeof(bkey), params) == 1;
	EVP_KDF_CTX_free(kctx);
	EVP_KDF_free(kdf);

	mac = ok ? EVP_MAC_fetch(NULL, "HMAC", NULL) : NULL;
	mctx = mac ? EVP_MAC_CTX_new(mac) : NULL;
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *) "SHA256", 0);
	params[1] = OSSL_PARAM_construct_end();
	ok = mctx != NULL &&
		EVP_MAC_init(mctx, bkey, sizeof(bkey), params) == 1 &&
		EVP_MAC_update(mctx, lenbuf, 4) == 1 &&
		EVP_MAC_update(mctx, (const uint8 *) VARDATA_ANY(ctx), ctxlen) == 1 &&
		EVP_MAC_update(mctx, (const uint8 *) VARDATA_ANY(value), VARSIZE_ANY_EXHDR(value)) == 1 &&
		EVP_MAC_final(mctx, (uint8 *) VARDATA(res), &outl, 32) == 1 && outl == 32;
	EVP_MAC_CTX_free(mctx);
	EVP_MAC_free(mac);
	explicit_bzero(bkey, sizeof(bkey));
	if (!ok)
		ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR), errmsg("could not compute the blind index")));
	PG_RETURN_BYTEA_P(res);
}

/* ---------------------------------------------------------------------
 * Secrets: scrypt, PHC string
 */

static bool
scrypt(const char *secret, size_t len, const uint8 *salt, size_t saltlen,
	   unsigned ln, unsigned r, unsigned p, uint8 *out, size_t outlen)
{
	EVP_KDF    *kdf = EVP_KDF_fetch(NULL, "SCRYPT", NULL);
	EVP_KDF_CTX *kctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
	OSSL_PARAM	params[7];
	uint64_t	n = (uint64_t) 1 << ln;
	uint32_t	r32 = r,
				p32 = p;
	uint64_t	maxmem = TC_PHC_MAXMEM + 1024 * 1024;
	bool		ok;

	params[0] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_PASSWORD, (void *) secret, len);
	params[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *) salt, saltlen);
	params[2] = OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_N, &n);
	params[3] = OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_R, &r32);
	params[4] = OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_P, &p32);
	params[5] = OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_MAXMEM, &maxmem);
	params[6] = OSSL_PARAM_construct_end();
	ok = kctx != NULL && EVP_KDF_derive(kctx, out, outlen, params) == 1;
	EVP_KDF_CTX_free(kctx);
	EVP_KDF_free(kdf);
	return ok;
}

static text *
get_secret(FunctionCallInfo fcinfo, int i)
{
	text	   *t;

	if (PG_ARGISNULL(i))
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("secret must not be null")));
	t = PG_GETARG_TEXT_PP(i);
	if (VARSIZE_ANY_EXHDR(t) > SECRET_MAX)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("secret too long"),
						errhint("Use at most %d bytes.", SECRET_MAX)));
	return t;
}

PG_FUNCTION_INFO_V1(tc_hash_secret);
Datum
tc_hash_secret(PG_FUNCTION_ARGS)
{
	text	   *secret = get_secret(fcinfo, 0);
	tc_phc_scrypt h;
	char	   *out = palloc(TC_PHC_MAXLEN);
	bool		ok;

	memset(&h, 0, sizeof(h));
	h.ln = SCRYPT_LN;
	h.r = SCRYPT_R;
	h.p = SCRYPT_P;
	h.saltlen = SCRYPT_SALT;
	h.hashlen = SCRYPT_HASH;
	tc_random_bytes(h.salt, h.saltlen);
	ok = scrypt(VARDATA_ANY(secret), VARSIZE_ANY_EXHDR(secret), h.salt, h.saltlen,
				h.ln, h.r, h.p, h.hash, h.hashlen);
	if (!ok || tc_phc_scrypt_format(&h, out, TC_PHC_MAXLEN) < 0)
		ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR), errmsg("could not hash the secret")));
	explicit_bzero(h.hash, sizeof(h.hash));
	PG_RETURN_TEXT_P(cstring_to_text(out));
}

PG_FUNCTION_INFO_V1(tc_verify_secret);
Datum
tc_verify_secret(PG_FUNCTION_ARGS)
{
	text	   *secret = get_secret(fcinfo, 0);
	text	   *hash;
	tc_phc_scrypt h;
	uint8		got[TC_PHC_HASH_MAX];
	bool		ok;
	bool		match;

	if (PG_ARGISNULL(1))
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("hash must not be null")));
	hash = PG_GETARG_TEXT_PP(1);
	if (tc_phc_scrypt_parse(VARDATA_ANY(hash), VARSIZE_ANY_EXHDR(hash), &h) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("malformed secret hash"),
				 errhint("Expected a PHC string such as $scrypt$ln=15,r=8,p=1$<salt>$<hash> made by hash_secret().")));
	ok = scrypt(VARDATA_ANY(secret), VARSIZE_ANY_EXHDR(secret), h.salt, h.saltlen,
				h.ln, h.r, h.p, got, h.hashlen);
	if (!ok)
		ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR), errmsg("could not hash the secret")));
	match = CRYPTO_memcmp(got, h.hash, h.hashlen) == 0;
	explicit_bzero(got, sizeof(got));
	PG_RETURN_BOOL(match);
}

/* ---------------------------------------------------------------------
 * Column protection
 *
 * The trigger's arguments: key name, column name, context prefix, and
 * optionally "decrypt" (used once by unprotect_column).  The context of a
 * value is  prefix ":" JSON array of the primary key values as text,
 * e.g.  public.customers.ssn:["42"].
 */

static char *
row_context(Relation rel, HeapTuple tup, const char *prefix)
{
	Bitmapset  *pk = RelationGetIndexAttrBitmap(rel, INDEX_ATTR_BITMAP_PRIMARY_KEY);
	TupleDesc	td = RelationGetDescr(rel);
	StringInfoData s;
	int			x = -1;
	bool		first = true;

	if (pk == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("table \"%s\" has no primary key", RelationGetRelationName(rel))));
	initStringInfo(&s);
	appendStringInfo(&s, "%s:[", prefix);
	while ((x = bms_next_member(pk, x)) >= 0)
	{
		AttrNumber	att = x + FirstLowInvalidHeapAttributeNumber;
		bool		isnull;
		Datum		d = heap_getattr(tup, att, td, &isnull);
		Oid			outfn;
		bool		varlena;

		if (!first)
			appendStringInfoString(&s, ", ");
		first = false;
		if (isnull)
		{
			appendStringInfoString(&s, "null");
			continue;
		}
		getTypeOutputInfo(TupleDescAttr(td, att - 1)->atttypid, &outfn, &varlena);
		escape_json(&s, OidOutputFunctionCall(outfn, d));
	}
	appendStringInfoChar(&s, ']');
	bms_free(pk);
	return s.data;
}

PG_FUNCTION_INFO_V1(tc_protect_trigger);
Datum
tc_protect_trigger(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	Trigger    *tg;
	Relation	rel;
	TupleDesc	desc;
	HeapTuple	tup;
	int			att;
	bool		isnull;
	Datum		d;
	bytea	   *val;
	const char *key;
	const char *prefix;
	bool		decrypt_mode;
	char	   *ctx;
	bytea	   *out = NULL;
	const uint8 *vp;
	size_t		vlen;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_BEFORE(td->tg_event) ||
		!TRIGGER_FIRED_FOR_ROW(td->tg_event) ||
		!(TRIGGER_FIRED_BY_INSERT(td->tg_event) || TRIGGER_FIRED_BY_UPDATE(td->tg_event)))
		elog(ERROR, "_protect_trigger must be a BEFORE INSERT OR UPDATE row trigger");
	tg = td->tg_trigger;
	if (tg->tgnargs < 3)
		elog(ERROR, "_protect_trigger needs key, column and context prefix arguments");
	rel = td->tg_relation;
	desc = RelationGetDescr(rel);
	key = tg->tgargs[0];
	prefix = tg->tgargs[2];
	decrypt_mode = tg->tgnargs >= 4 && strcmp(tg->tgargs[3], "decrypt") == 0;
	tup = TRIGGER_FIRED_BY_UPDATE(td->tg_event) ? td->tg_newtuple : td->tg_trigtuple;
	att = SPI_fnumber(desc, tg->tgargs[1]);
	if (att <= 0 || TupleDescAttr(desc, att - 1)->atttypid != BYTEAOID)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("protected column \"%s\" is missing or not of type bytea", tg->tgargs[1])));
	d = heap_getattr(tup, att, desc, &isnull);
	if (isnull)
		return PointerGetDatum(tup);
	val = DatumGetByteaPP(d);
	vp = (const uint8 *) VARDATA_ANY(val);
	vlen = VARSIZE_ANY_EXHDR(val);
	ctx = row_context(rel, tup, prefix);

	if (decrypt_mode)
	{
		out = open_named(key, ctx, strlen(ctx), vp, vlen, NULL);
		if (out == NULL)
			return PointerGetDatum(tup);	/* not an envelope for this row: leave it */
	}
	else if (is_envelope_for(key, ctx, strlen(ctx), vp, vlen))
		return PointerGetDatum(tup);	/* already encrypted for this row (restore, replication) */
	else
	{
		bytea	   *pt = NULL;

		if (TRIGGER_FIRED_BY_UPDATE(td->tg_event))
		{
			/* the primary key changed but the value did not: move it to the new context */
			char	   *oldctx = row_context(rel, td->tg_trigtuple, prefix);

			if (strcmp(oldctx, ctx) != 0)
				pt = open_named(key, oldctx, strlen(oldctx), vp, vlen, NULL);
		}
		if (pt != NULL)
		{
			out = seal_named(key, ctx, strlen(ctx), (const uint8 *) VARDATA(pt), VARSIZE(pt) - VARHDRSZ);
			explicit_bzero(VARDATA(pt), VARSIZE(pt) - VARHDRSZ);
		}
		else
			out = seal_named(key, ctx, strlen(ctx), vp, vlen);
	}
	{
		int			cols[1] = {att};
		Datum		vals[1] = {PointerGetDatum(out)};
		bool		nulls[1] = {false};

		return PointerGetDatum(heap_modify_tuple_by_cols(tup, desc, 1, cols, vals, nulls));
	}
}

/* The arguments of col's protection trigger on relid (palloc'd copies), or false. */
static bool
protect_args(Oid relid, const char *col, char **key, char **prefix)
{
	Relation	rel = RelationIdGetRelation(relid);
	bool		found = false;

	if (!RelationIsValid(rel))
		ereport(ERROR, (errcode(ERRCODE_UNDEFINED_TABLE), errmsg("table does not exist")));
	if (rel->trigdesc)
	{
		for (int i = 0; i < rel->trigdesc->numtriggers; i++)
		{
			Trigger    *t = &rel->trigdesc->triggers[i];

			if (t->tgnargs >= 3 && strncmp(t->tgname, "tracechain_protect_", 19) == 0 &&
				strcmp(t->tgargs[1], col) == 0)
			{
				*key = pstrdup(t->tgargs[0]);
				*prefix = pstrdup(t->tgargs[2]);
				found = true;
				break;
			}
		}
	}
	RelationClose(rel);
	return found;
}

/* _protect_args(tbl regclass, col name) -> text[] {key, column, prefix}, null when not protected */
PG_FUNCTION_INFO_V1(tc_protect_args);
Datum
tc_protect_args(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	char	   *col = NameStr(*PG_GETARG_NAME(1));
	char	   *key,
			   *prefix;
	Datum		elems[3];

	if (!protect_args(relid, col, &key, &prefix))
		PG_RETURN_NULL();
	elems[0] = CStringGetTextDatum(key);
	elems[1] = CStringGetTextDatum(col);
	elems[2] = CStringGetTextDatum(prefix);
	PG_RETURN_ARRAYTYPE_P(construct_array(elems, 3, TEXTOID, -1, false, TYPALIGN_INT));
}

/*
 * column_context(tbl regclass, col name, VARIADIC pk text[]) -> text: the
 * context under which the protected column's value of the row with that
 * primary key is encrypted (to read it with decrypt()).
 */
PG_FUNCTION_INFO_V1(tc_column_context);
Datum
tc_column_context(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	char	   *col = NameStr(*PG_GETARG_NAME(1));
	ArrayType  *pk = PG_GETARG_ARRAYTYPE_P(2);
	char	   *key;
	char	   *prefix;
	StringInfoData s;
	Datum	   *elems;
	bool	   *nulls;
	int			n;

	if (pg_class_aclcheck(relid, GetUserId(), ACL_SELECT) != ACLCHECK_OK)
		ereport(ERROR, (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE), errmsg("permission denied for table %s",
																		get_rel_name(relid))));
	if (!protect_args(relid, col, &key, &prefix))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("column \"%s\" is not protected", col)));
	deconstruct_array(pk, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
	initStringInfo(&s);
	appendStringInfo(&s, "%s:[", prefix);
	for (int i = 0; i < n; i++)
	{
		if (i > 0)
			appendStringInfoString(&s, ", ");
		if (nulls[i])
			appendStringInfoString(&s, "null");
		else
			escape_json(&s, TextDatumGetCString(elems[i]));
	}
	appendStringInfoChar(&s, ']');
	PG_RETURN_TEXT_P(cstring_to_text(s.data));
}

/*
 * device.c: IoT device security, the C half (device.sql; docs/device.md).
 *
 * - Secrets: 256 random bits per device, sealed with tc_seal("device-secret",
 *   device id as associated data); the hex form is returned once.
 * - Challenges live in shared memory (tracechain.device_challenge_slots, one
 *   LWLock): taking one removes it under the lock, so a challenge is used at
 *   most once even when the verifying transaction rolls back or two
 *   verifications race.  A server restart forgets outstanding challenges
 *   (they are worth five minutes).
 * - Responses: lower-case hex of HMAC-SHA256(secret, challenge || issued_at
 *   in decimal), compared in constant time (CRYPTO_memcmp).
 * - Device tokens: compact JWS, HS256, header {"alg":"HS256","typ":"JWT",
 *   "kid":"device"}, key tc_master_derive("device-jwt").  This signer
 *   predates the jwt module; moving onto it means replacing
 *   _device_jwt_sign/_device_jwt_verify in device.sql with jwt_sign(claims,
 *   'device', '1 hour') / jwt_verify(token, 'device') and dropping the two C
 *   functions below (not done yet).
 * - Telemetry: AES-256-GCM under a per-device key (random, sealed with
 *   tc_seal("device-data", device id)); the device id is bound as associated
 *   data.  Format: 0x01 | nonce (12) | ciphertext | tag (16).
 * - Firmware: ECDSA P-256 (SHA-256, DER signature) or Ed25519 public keys
 *   from PEM (OpenSSL, explicit lengths), stored as DER SubjectPublicKeyInfo;
 *   signatures checked with EVP_DigestVerify.
 *
 * OpenSSL objects never live across an ereport: buffers are palloc'd first,
 * then the EVP objects are created, used and freed, then errors reported.
 */
#include "postgres.h"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "access/htup_details.h"
#include "common/hashfn.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/lwlock.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"

#include "device.h"
#include "encoding.h"
#include "keys.h"
#include "shmem.h"

#define DEV_SECRET_BYTES 32
#define DEV_MAX_ID 128
#define DEV_CHALLENGE_BYTES 32
#define DEV_CHALLENGE_HEX (2 * DEV_CHALLENGE_BYTES)
#define DEV_PROBES 32
#define DEV_MAX_PEM 16384
#define DEV_MAX_DER 256
#define DEV_MAX_TOKEN 8192
#define DEV_AEAD_VERSION 0x01
#define DEV_NONCE 12
#define DEV_TAG 16

static int	dev_slots = 1024;

/* ---------------------------------------------------------------------- */
/* Shared-memory challenges                                                */
/* ---------------------------------------------------------------------- */

typedef struct dev_challenge
{
	bool		used;
	uint8		idlen;
	char		id[DEV_MAX_ID];
	char		challenge[DEV_CHALLENGE_HEX];
	int64		issued_at;		/* Unix seconds */
	TimestampTz expires;
} dev_challenge;

typedef struct dev_shared
{
	int			nslots;
	uint64		evictions;
	dev_challenge slots[FLEXIBLE_ARRAY_MEMBER];
} dev_shared;

static dev_shared *dev = NULL;
static int	dev_lock_index = -1;

static Size
dev_shmem_size(void)
{
	return offsetof(dev_shared, slots) + sizeof(dev_challenge) * (Size) dev_slots;
}

static void
dev_shmem_init(void *ptr, bool found)
{
	dev_shared *d = (dev_shared *) ptr;

	if (found)
		return;
	memset(d, 0, dev_shmem_size());
	d->nslots = dev_slots;
}

static LWLock *
dev_lock(void)
{
	return &tc_shmem_lwlocks()[dev_lock_index].lock;
}

static void
require_shmem(void)
{
	if (dev == NULL || !tc_shmem_available())
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("tracechain must be loaded through shared_preload_libraries for device challenges"),
				 errhint("Add tracechain to shared_preload_libraries and restart the server.")));
}

/* The device id as bytes; 22023 unless 1..128 bytes (device.sql checks the alphabet). */
static const char *
device_id_arg(FunctionCallInfo fcinfo, int argno, int *len)
{
	text	   *t;

	if (PG_ARGISNULL(argno))
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("device id must not be null")));
	t = PG_GETARG_TEXT_PP(argno);
	*len = VARSIZE_ANY_EXHDR(t);
	if (*len < 1 || *len > DEV_MAX_ID)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("device id must be between 1 and %d bytes", DEV_MAX_ID)));
	return VARDATA_ANY(t);
}

/* Find the device's slot (lock held); with create, take one (expired, free, else oldest). */
static dev_challenge *
slot_find(const char *id, int len, bool create, TimestampTz now)
{
	uint32		h = hash_bytes((const unsigned char *) id, len);
	dev_challenge *victim = NULL;

	for (int i = 0; i < DEV_PROBES && i < dev->nslots; i++)
	{
		dev_challenge *s = &dev->slots[(h + (uint32) i) % (uint32) dev->nslots];

		if (s->used && s->idlen == len && memcmp(s->id, id, len) == 0)
			return s;
		if (!create)
			continue;
		if (!s->used || s->expires <= now)
		{
			if (victim == NULL || victim->used)
				victim = s;
		}
		else if (victim == NULL || (victim->used && s->expires < victim->expires))
			victim = s;
	}
	if (!create)
		return NULL;
	if (victim->used && victim->expires > now)
		dev->evictions++;
	memset(victim, 0, sizeof(*victim));
	victim->used = true;
	victim->idlen = (uint8) len;
	memcpy(victim->id, id, len);
	return victim;
}

static int64
unix_seconds(TimestampTz t)
{
	int64		s = t / USECS_PER_SEC;

	if (t % USECS_PER_SEC < 0)
		s--;
	return s + (int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY;
}

/* _device_challenge_new(device_id, ttl_s) -> (challenge, issued_at): replaces an outstanding one. */
PG_FUNCTION_INFO_V1(tc_device_challenge_new);
Datum
tc_device_challenge_new(PG_FUNCTION_ARGS)
{
	int			len;
	const char *id = device_id_arg(fcinfo, 0, &len);
	int32		ttl = PG_ARGISNULL(1) ? 300 : PG_GETARG_INT32(1);
	uint8		raw[DEV_CHALLENGE_BYTES];
	char		hex[DEV_CHALLENGE_HEX];
	TimestampTz now = GetCurrentTimestamp();
	int64		issued = unix_seconds(now);
	dev_challenge *s;
	TupleDesc	tupdesc;
	Datum		v[2];
	bool		n[2] = {false, false};

	require_shmem();
	if (ttl < 1 || ttl > 3600)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("challenge lifetime must be between 1 and 3600 seconds")));
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	tc_random_bytes(raw, sizeof(raw));
	tc_hex_encode(raw, sizeof(raw), hex);
	LWLockAcquire(dev_lock(), LW_EXCLUSIVE);
	s = slot_find(id, len, true, now);
	memcpy(s->challenge, hex, DEV_CHALLENGE_HEX);
	s->issued_at = issued;
	s->expires = now + (int64) ttl * USECS_PER_SEC;
	LWLockRelease(dev_lock());
	v[0] = PointerGetDatum(cstring_to_text_with_len(hex, DEV_CHALLENGE_HEX));
	v[1] = Int64GetDatum(issued);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, v, n)));
}

/* _device_challenge_drop(device_id): forget an outstanding challenge (revocation). */
PG_FUNCTION_INFO_V1(tc_device_challenge_drop);
Datum
tc_device_challenge_drop(PG_FUNCTION_ARGS)
{
	int			len;
	const char *id = device_id_arg(fcinfo, 0, &len);
	dev_challenge *s;

	require_shmem();
	LWLockAcquire(dev_lock(), LW_EXCLUSIVE);
	s = slot_find(id, len, false, 0);
	if (s != NULL)
		memset(s, 0, sizeof(*s));
	LWLockRelease(dev_lock());
	PG_RETURN_VOID();
}

/*
 * _device_check_response(device_id, secret_sealed, response) -> text:
 * takes (consumes) the outstanding challenge first, whatever follows, then
 * returns 'ok', 'no_challenge', 'expired', 'malformed' or 'mismatch'.
 * secret_sealed may be null (unknown or revoked device): the challenge is
 * still consumed and the answer is 'unknown'.
 */
PG_FUNCTION_INFO_V1(tc_device_check_response);
Datum
tc_device_check_response(PG_FUNCTION_ARGS)
{
	int			len;
	const char *id = device_id_arg(fcinfo, 0, &len);
	dev_challenge *s;
	dev_challenge c;
	bool		have = false;
	TimestampTz now = GetCurrentTimestamp();
	text	   *resp;
	uint8		given[32];
	uint8		mac[32];
	unsigned int maclen = 0;
	char		msg[DEV_CHALLENGE_HEX + 24];
	int			msglen;
	bytea	   *secret;
	bool		ok;

	require_shmem();
	LWLockAcquire(dev_lock(), LW_EXCLUSIVE);
	s = slot_find(id, len, false, now);
	if (s != NULL)
	{
		c = *s;
		have = true;
		memset(s, 0, sizeof(*s));
	}
	LWLockRelease(dev_lock());

	if (PG_ARGISNULL(1))
		PG_RETURN_TEXT_P(cstring_to_text("unknown"));
	if (!have)
		PG_RETURN_TEXT_P(cstring_to_text("no_challenge"));
	if (c.expires <= now)
		PG_RETURN_TEXT_P(cstring_to_text("expired"));
	if (PG_ARGISNULL(2))
		PG_RETURN_TEXT_P(cstring_to_text("malformed"));
	resp = PG_GETARG_TEXT_PP(2);
	if (VARSIZE_ANY_EXHDR(resp) != 64 ||
		tc_hex_decode(VARDATA_ANY(resp), 64, given, sizeof(given)) != 32)
		PG_RETURN_TEXT_P(cstring_to_text("malformed"));
	for (int i = 0; i < 64; i++)
		if (VARDATA_ANY(resp)[i] >= 'A' && VARDATA_ANY(resp)[i] <= 'F')
			PG_RETURN_TEXT_P(cstring_to_text("malformed"));

	secret = tc_unseal("device-secret", (const uint8 *) id, len, PG_GETARG_BYTEA_PP(1));
	if (VARSIZE_ANY_EXHDR(secret) != DEV_SECRET_BYTES)
		elog(ERROR, "device secret has the wrong length");
	memcpy(msg, c.challenge, DEV_CHALLENGE_HEX);
	msglen = DEV_CHALLENGE_HEX + snprintf(msg + DEV_CHALLENGE_HEX, sizeof(msg) - DEV_CHALLENGE_HEX,
										  INT64_FORMAT, c.issued_at);
	ok = HMAC(EVP_sha256(), VARDATA_ANY(secret), DEV_SECRET_BYTES, (const unsigned char *) msg,
			  msglen, mac, &maclen) != NULL && maclen == 32;
	explicit_bzero(VARDATA_ANY(secret), DEV_SECRET_BYTES);
	if (!ok)
	{
		ERR_clear_error();
		elog(ERROR, "HMAC-SHA256 failed");
	}
	ok = CRYPTO_memcmp(mac, given, 32) == 0;
	explicit_bzero(mac, sizeof(mac));
	PG_RETURN_TEXT_P(cstring_to_text(ok ? "ok" : "mismatch"));
}

/* ---------------------------------------------------------------------- */
/* Secrets and keys                                                        */
/* ---------------------------------------------------------------------- */

/* _device_new_secret(device_id) -> (sealed, secret hex) */
PG_FUNCTION_INFO_V1(tc_device_new_secret);
Datum
tc_device_new_secret(PG_FUNCTION_ARGS)
{
	int			len;
	const char *id = device_id_arg(fcinfo, 0, &len);
	uint8		raw[DEV_SECRET_BYTES];
	char		hex[2 * DEV_SECRET_BYTES];
	TupleDesc	tupdesc;
	Datum		v[2];
	bool		n[2] = {false, false};

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	tc_random_bytes(raw, sizeof(raw));
	v[0] = PointerGetDatum(tc_seal("device-secret", (const uint8 *) id, len, raw, sizeof(raw)));
	tc_hex_encode(raw, sizeof(raw), hex);
	explicit_bzero(raw, sizeof(raw));
	v[1] = PointerGetDatum(cstring_to_text_with_len(hex, sizeof(hex)));
	explicit_bzero(hex, sizeof(hex));
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, v, n)));
}

/* _device_new_data_key(device_id) -> sealed random AES-256 key */
PG_FUNCTION_INFO_V1(tc_device_new_data_key);
Datum
tc_device_new_data_key(PG_FUNCTION_ARGS)
{
	int			len;
	const char *id = device_id_arg(fcinfo, 0, &len);
	uint8		raw[32];
	bytea	   *sealed;

	tc_random_bytes(raw, sizeof(raw));
	sealed = tc_seal("device-data", (const uint8 *) id, len, raw, sizeof(raw));
	explicit_bzero(raw, sizeof(raw));
	PG_RETURN_BYTEA_P(sealed);
}

/* ---------------------------------------------------------------------- */
/* AES-256-GCM telemetry                                                   */
/* ---------------------------------------------------------------------- */

#define DEV_AAD_PREFIX "tracechain device-data v1:"

/* _device_aead(sealed_key, device_id, data, encrypt) -> bytea */
PG_FUNCTION_INFO_V1(tc_device_aead);
Datum
tc_device_aead(PG_FUNCTION_ARGS)
{
	int			idlen;
	const char *id;
	bytea	   *key;
	bytea	   *in;
	bool		encrypt;
	const uint8 *src;
	size_t		srclen;
	bytea	   *out;
	uint8	   *aad;
	size_t		aadlen;
	EVP_CIPHER_CTX *ctx;
	int			outl = 0,
				finl = 0;
	bool		ok;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(2) || PG_ARGISNULL(3))
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("device data must not be null")));
	id = device_id_arg(fcinfo, 1, &idlen);
	in = PG_GETARG_BYTEA_PP(2);
	encrypt = PG_GETARG_BOOL(3);
	src = (const uint8 *) VARDATA_ANY(in);
	srclen = VARSIZE_ANY_EXHDR(in);
	if (srclen > (size_t) (MaxAllocSize / 2))
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("device data is too large")));
	if (!encrypt && (srclen < 1 + DEV_NONCE + DEV_TAG || src[0] != DEV_AEAD_VERSION))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("not device ciphertext"),
				 errhint("device_decrypt takes what device_encrypt returned.")));

	/* palloc everything first */
	key = tc_unseal("device-data", (const uint8 *) id, idlen, PG_GETARG_BYTEA_PP(0));
	if (VARSIZE_ANY_EXHDR(key) != 32)
		elog(ERROR, "device data key has the wrong length");
	aadlen = strlen(DEV_AAD_PREFIX) + idlen;
	aad = palloc(aadlen);
	memcpy(aad, DEV_AAD_PREFIX, strlen(DEV_AAD_PREFIX));
	memcpy(aad + strlen(DEV_AAD_PREFIX), id, idlen);
	if (encrypt)
	{
		uint8	   *o;

		out = palloc(VARHDRSZ + 1 + DEV_NONCE + srclen + DEV_TAG);
		SET_VARSIZE(out, VARHDRSZ + 1 + DEV_NONCE + srclen + DEV_TAG);
		o = (uint8 *) VARDATA(out);
		o[0] = DEV_AEAD_VERSION;
		tc_random_bytes(o + 1, DEV_NONCE);
		ctx = EVP_CIPHER_CTX_new();
		ok = ctx != NULL &&
			EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) == 1 &&
			EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, DEV_NONCE, NULL) == 1 &&
			EVP_EncryptInit_ex(ctx, NULL, NULL, (const uint8 *) VARDATA_ANY(key), o + 1) == 1 &&
			EVP_EncryptUpdate(ctx, NULL, &outl, aad, (int) aadlen) == 1 &&
			EVP_EncryptUpdate(ctx, o + 1 + DEV_NONCE, &outl, src, (int) srclen) == 1 &&
			EVP_EncryptFinal_ex(ctx, o + 1 + DEV_NONCE + outl, &finl) == 1 &&
			EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, DEV_TAG, o + 1 + DEV_NONCE + srclen) == 1;
		EVP_CIPHER_CTX_free(ctx);
	}
	else
	{
		size_t		ctlen = srclen - 1 - DEV_NONCE - DEV_TAG;
		uint8		tag[DEV_TAG];

		memcpy(tag, src + srclen - DEV_TAG, DEV_TAG);
		out = palloc(VARHDRSZ + ctlen + 1);
		ctx = EVP_CIPHER_CTX_new();
		ok = ctx != NULL &&
			EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) == 1 &&
			EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, DEV_NONCE, NULL) == 1 &&
			EVP_DecryptInit_ex(ctx, NULL, NULL, (const uint8 *) VARDATA_ANY(key), src + 1) == 1 &&
			EVP_DecryptUpdate(ctx, NULL, &outl, aad, (int) aadlen) == 1 &&
			EVP_DecryptUpdate(ctx, (uint8 *) VARDATA(out), &outl, src + 1 + DEV_NONCE, (int) ctlen) == 1 &&
			EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, DEV_TAG, tag) == 1 &&
			EVP_DecryptFinal_ex(ctx, (uint8 *) VARDATA(out) + outl, &finl) == 1;
		EVP_CIPHER_CTX_free(ctx);
		SET_VARSIZE(out, VARHDRSZ + ctlen);
	}
	explicit_bzero(VARDATA_ANY(key), 32);
	ERR_clear_error();
	if (!ok)
	{
		if (encrypt)
			elog(ERROR, "AES-256-GCM encryption failed");
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("could not decrypt device data"),
				 errdetail("The ciphertext was altered, or belongs to another device.")));
	}
	PG_RETURN_BYTEA_P(out);
}

/* ---------------------------------------------------------------------- */
/* Firmware keys and signatures                                            */
/* ---------------------------------------------------------------------- */

/* _device_parse_public_key(pem) -> (der, key_type) */
PG_FUNCTION_INFO_V1(tc_device_parse_public_key);
Datum
tc_device_parse_public_key(PG_FUNCTION_ARGS)
{
	text	   *pem;
	int			len;
	bytea	   *der;
	BIO		   *bio;
	EVP_PKEY   *pkey = NULL;
	int			base = 0;
	char		group[64] = "";
	size_t		glen = 0;
	int			derlen = -1;
	const char *type = NULL;
	TupleDesc	tupdesc;
	Datum		v[2];
	bool		n[2] = {false, false};
	enum
	{
		PK_OK, PK_MALFORMED, PK_UNSUPPORTED, PK_CURVE
	}			res = PK_MALFORMED;

	if (PG_ARGISNULL(0))
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("public key must not be null")));
	pem = PG_GETARG_TEXT_PP(0);
	len = VARSIZE_ANY_EXHDR(pem);
	if (len < 1 || len > DEV_MAX_PEM)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("public key PEM must be between 1 and %d bytes", DEV_MAX_PEM)));
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	der = palloc(VARHDRSZ + DEV_MAX_DER);

	bio = BIO_new_mem_buf(VARDATA_ANY(pem), len);
	if (bio != NULL)
		pkey = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
	if (pkey != NULL)
	{
		base = EVP_PKEY_get_base_id(pkey);
		if (base == EVP_PKEY_ED25519)
		{
			type = "ed25519";
			res = PK_OK;
		}
		else if (base == EVP_PKEY_EC)
		{
			if (EVP_PKEY_get_group_name(pkey, group, sizeof(group), &glen) == 1 &&
				strcmp(group, "prime256v1") == 0)
			{
				type = "ecdsa-p256";
				res = PK_OK;
			}
			else
				res = PK_CURVE;
		}
		else
			res = PK_UNSUPPORTED;
		if (res == PK_OK)
		{
			unsigned char *p = (unsigned char *) VARDATA(der);

			derlen = i2d_PUBKEY(pkey, NULL);
			if (derlen <= 0 || derlen > DEV_MAX_DER || i2d_PUBKEY(pkey, &p) != derlen)
				res = PK_MALFORMED;
		}
	}
	EVP_PKEY_free(pkey);
	BIO_free(bio);
	ERR_clear_error();

	if (res == PK_MALFORMED)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("malformed public key PEM"),
				 errhint("Give a \"-----BEGIN PUBLIC KEY-----\" block (SubjectPublicKeyInfo), as openssl pkey -pubout writes it.")));
	if (res == PK_CURVE)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unsupported elliptic curve for a device key"),
				 errhint("Use ECDSA P-256 (prime256v1) or Ed25519.")));
	if (res == PK_UNSUPPORTED)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unsupported public key type for a device key"),
				 errhint("Use ECDSA P-256 (prime256v1) or Ed25519; RSA and other key types are refused.")));
	SET_VARSIZE(der, VARHDRSZ + derlen);
	v[0] = PointerGetDatum(der);
	v[1] = PointerGetDatum(cstring_to_text(type));
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, v, n)));
}

/*
 * _device_verify_signature(der, key_type, data, signature) -> boolean:
 * SHA-256 and a DER signature for ECDSA P-256, raw 64 bytes for Ed25519.
 * false for a wrong or unparseable signature.
 */
PG_FUNCTION_INFO_V1(tc_device_verify_signature);
Datum
tc_device_verify_signature(PG_FUNCTION_ARGS)
{
	bytea	   *der,
			   *data,
			   *sig;
	text	   *type;
	bool		ed;
	const unsigned char *p;
	EVP_PKEY   *pkey;
	EVP_MD_CTX *ctx = NULL;
	int			rc = -1;
	bool		badkey = false;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2) || PG_ARGISNULL(3))
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("firmware and signature must not be null")));
	der = PG_GETARG_BYTEA_PP(0);
	type = PG_GETARG_TEXT_PP(1);
	data = PG_GETARG_BYTEA_PP(2);
	sig = PG_GETARG_BYTEA_PP(3);
	ed = VARSIZE_ANY_EXHDR(type) == 7 && memcmp(VARDATA_ANY(type), "ed25519", 7) == 0;
	if (VARSIZE_ANY_EXHDR(sig) > 1024)
		PG_RETURN_BOOL(false);

	p = (const unsigned char *) VARDATA_ANY(der);
	pkey = d2i_PUBKEY(NULL, &p, (long) VARSIZE_ANY_EXHDR(der));
	if (pkey == NULL)
		badkey = true;
	else
	{
		ctx = EVP_MD_CTX_new();
		if (ctx != NULL &&
			EVP_DigestVerifyInit(ctx, NULL, ed ? NULL : EVP_sha256(), NULL, pkey) == 1)
			rc = EVP_DigestVerify(ctx, (const unsigned char *) VARDATA_ANY(sig), VARSIZE_ANY_EXHDR(sig),
								  (const unsigned char *) VARDATA_ANY(data), VARSIZE_ANY_EXHDR(data));
		EVP_MD_CTX_free(ctx);
		EVP_PKEY_free(pkey);
	}
	ERR_clear_error();
	if (badkey)
		elog(ERROR, "stored device public key does not parse");
	PG_RETURN_BOOL(rc == 1);
}

/* ---------------------------------------------------------------------- */
/* Device tokens: internal HS256 signer (until the jwt module lands)       */
/* ---------------------------------------------------------------------- */

static const char jwt_header[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":\"device\"}";

static void
jwt_key(uint8 key[TC_KEY_LEN])
{
	tc_master_derive("device-jwt", key);
}

static bool
hs256(const uint8 *key, const char *in, size_t len, uint8 out[32])
{
	unsigned int n = 0;
	bool		ok = HMAC(EVP_sha256(), key, TC_KEY_LEN, (const unsigned char *) in, len, out, &n) != NULL && n == 32;

	ERR_clear_error();
	return ok;
}

/* _device_jwt_sign(claims jsonb) -> compact JWS (HS256, kid "device") */
PG_FUNCTION_INFO_V1(tc_device_jwt_sign);
Datum
tc_device_jwt_sign(PG_FUNCTION_ARGS)
{
	Jsonb	   *claims;
	char	   *payload;
	size_t		plen,
				hlen = strlen(jwt_header);
	size_t		h64 = tc_b64url_encoded_len(hlen);
	size_t		p64;
	size_t		s64 = tc_b64url_encoded_len(32);
	char	   *out;
	uint8		key[TC_KEY_LEN];
	uint8		mac[32];
	bool		ok;

	if (PG_ARGISNULL(0))
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("claims must not be null")));
	claims = PG_GETARG_JSONB_P(0);
	payload = JsonbToCString(NULL, &claims->root, VARSIZE(claims));
	plen = strlen(payload);
	p64 = tc_b64url_encoded_len(plen);
	out = palloc(h64 + 1 + p64 + 1 + s64 + 1);
	tc_b64url_encode((const uint8 *) jwt_header, hlen, out);
	out[h64] = '.';
	tc_b64url_encode((const uint8 *) payload, plen, out + h64 + 1);
	out[h64 + 1 + p64] = '.';
	jwt_key(key);
	ok = hs256(key, out, h64 + 1 + p64, mac);
	explicit_bzero(key, sizeof(key));
	if (!ok)
		elog(ERROR, "HMAC-SHA256 failed");
	tc_b64url_encode(mac, 32, out + h64 + 1 + p64 + 1);
	out[h64 + 1 + p64 + 1 + s64] = '\0';
	PG_RETURN_TEXT_P(cstring_to_text(out));
}

/*
 * _device_jwt_verify(token) -> jsonb claims, or null when the token is not
 * one of ours (wrong form, header, signature).  exp is checked in SQL.
 */
PG_FUNCTION_INFO_V1(tc_device_jwt_verify);
Datum
tc_device_jwt_verify(PG_FUNCTION_ARGS)
{
	text	   *tok;
	const char *t;
	size_t		len;
	const char *d1,
			   *d2;
	size_t		h64 = tc_b64url_encoded_len(strlen(jwt_header));
	char	   *hdr;
	char	   *payload;
	long		n;
	uint8		sig[33];
	uint8		mac[32];
	uint8		key[TC_KEY_LEN];
	bool		ok;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	tok = PG_GETARG_TEXT_PP(0);
	t = VARDATA_ANY(tok);
	len = VARSIZE_ANY_EXHDR(tok);
	if (len > DEV_MAX_TOKEN)
		PG_RETURN_NULL();
	d1 = memchr(t, '.', len);
	d2 = d1 ? memchr(d1 + 1, '.', len - (d1 + 1 - t)) : NULL;
	if (d1 == NULL || d2 == NULL || memchr(d2 + 1, '.', len - (d2 + 1 - t)) != NULL)
		PG_RETURN_NULL();
	/* The header must be exactly ours: no "none", no algorithm switching. */
	if ((size_t) (d1 - t) != h64)
		PG_RETURN_NULL();
	hdr = palloc(h64);
	n = tc_b64url_decode(t, h64, (uint8 *) hdr, h64);
	if (n != (long) strlen(jwt_header) || memcmp(hdr, jwt_header, n) != 0)
		PG_RETURN_NULL();
	if (tc_b64url_decode(d2 + 1, len - (d2 + 1 - t), sig, sizeof(sig)) != 32)
		PG_RETURN_NULL();
	jwt_key(key);
	ok = hs256(key, t, d2 - t, mac);
	explicit_bzero(key, sizeof(key));
	if (!ok)
		elog(ERROR, "HMAC-SHA256 failed");
	if (CRYPTO_memcmp(mac, sig, 32) != 0)
		PG_RETURN_NULL();
	/* Signed by us: the payload is JSON we wrote. */
	payload = palloc((d2 - d1) + 1);
	n = tc_b64url_decode(d1 + 1, d2 - d1 - 1, (uint8 *) payload, d2 - d1);
	if (n < 0)
		PG_RETURN_NULL();
	payload[n] = '\0';
	PG_RETURN_DATUM(DirectFunctionCall1(jsonb_in, CStringGetDatum(payload)));
}

/* _device_token_key() -> the HS256 verification key (base64url) */
PG_FUNCTION_INFO_V1(tc_device_token_key);
Datum
tc_device_token_key(PG_FUNCTION_ARGS)
{
	uint8		key[TC_KEY_LEN];
	char	   *out = palloc(tc_b64url_encoded_len(TC_KEY_LEN) + 1);

	jwt_key(key);
	tc_b64url_encode(key, TC_KEY_LEN, out);
	explicit_bzero(key, sizeof(key));
	out[tc_b64url_encoded_len(TC_KEY_LEN)] = '\0';
	PG_RETURN_TEXT_P(cstring_to_text(out));
}

void
tc_device_init(void)
{
	DefineCustomIntVariable("tracechain.device_challenge_slots",
							"Outstanding device challenges kept in shared memory.",
							NULL, &dev_slots, 1024, 64, 1 << 20,
							PGC_POSTMASTER, 0, NULL, NULL, NULL);
	dev_lock_index = tc_shmem_register("device challenges", dev_shmem_size(), 1, dev_shmem_init,
									   (void **) &dev);
}

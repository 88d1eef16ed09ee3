/*
 * keys.c: master key loading, HKDF subkeys, sealing (see keys.h).
 */
#include "postgres.h"

#include <sys/stat.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>

#include "fmgr.h"
#include "funcapi.h"
#include "access/xact.h"
#include "miscadmin.h"
#include "port.h"
#include "storage/fd.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/resowner.h"

#include "encoding.h"
#include "keys.h"

#define SEAL_VERSION 0x01
#define SEAL_NONCE_LEN 12
#define SEAL_TAG_LEN 16
#define SEAL_HDR_LEN (1 + TC_FINGERPRINT_LEN + SEAL_NONCE_LEN)
#define KEY_TEXT_MAX 130		/* 64 hex digits, a newline, and room to see excess */

static char *master_key_file = NULL;
static char *master_key_command = NULL;
static char *master_key_old_file = NULL;	/* the previous master key, during a rotation */

static bool key_loaded = false;
static uint8 master_key[TC_KEY_LEN];
static uint8 master_fp[TC_FINGERPRINT_LEN];

static bool old_loaded = false;
static uint8 old_key[TC_KEY_LEN];
static uint8 old_fp[TC_FINGERPRINT_LEN];

#define SUBKEY_CACHE 16

typedef struct subkey_entry
{
	bool		valid;
	int			which;			/* 0: the master key, 1: the old master key */
	char		purpose[104];
	uint8		key[TC_KEY_LEN];
} subkey_entry;

static subkey_entry subkeys[SUBKEY_CACHE];
static int	subkey_next = 0;

static void
forget_master_key(void)
{
	explicit_bzero(subkeys, sizeof(subkeys));
	explicit_bzero(master_key, sizeof(master_key));
	explicit_bzero(master_fp, sizeof(master_fp));
	key_loaded = false;
	explicit_bzero(old_key, sizeof(old_key));
	explicit_bzero(old_fp, sizeof(old_fp));
	old_loaded = false;
}

static void
master_key_assign(const char *newval, void *extra)
{
	forget_master_key();
}

void
tc_random_bytes(uint8 *buf, size_t len)
{
	if (RAND_bytes(buf, (int) len) != 1)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not generate random bytes")));
}

/* HKDF-SHA256 with a raw input key; returns false on an OpenSSL failure. */
static bool
hkdf(const uint8 *ikm, size_t ikmlen, const char *info, uint8 *out, size_t outlen)
{
	EVP_KDF    *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
	EVP_KDF_CTX *kctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
	OSSL_PARAM	params[5];
	bool		ok = false;

	if (kctx)
	{
		params[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *) "SHA256", 0);
		params[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *) ikm, ikmlen);
		params[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *) "tracechain", 10);
		params[3] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *) info, strlen(info));
		params[4] = OSSL_PARAM_construct_end();
		ok = EVP_KDF_derive(kctx, out, outlen, params) == 1;
	}
	EVP_KDF_CTX_free(kctx);
	EVP_KDF_free(kdf);
	return ok;
}

/* Parse "64 hex digits[\n]" into master_key; false when malformed. */
static bool
parse_key_text(const char *buf, size_t len, uint8 *key)
{
	if (len == 65 && buf[64] == '\n')
		len = 64;
	if (len != 64)
		return false;
	return tc_hex_decode(buf, 64, key, TC_KEY_LEN) == TC_KEY_LEN;
}

static size_t
read_key_file(const char *path, char *buf)
{
	int			fd;
	struct stat st;
	ssize_t		n;
	size_t		total = 0;

	fd = OpenTransientFile(path, O_RDONLY | PG_BINARY);
	if (fd < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not open master key file \"%s\": %m", path)));
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
	{
		CloseTransientFile(fd);
		ereport(ERROR,
				(errcode(ERRCODE_CONFIG_FILE_ERROR),
				 errmsg("master key file \"%s\" is not a regular file", path)));
	}
	if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0)
	{
		CloseTransientFile(fd);
		ereport(ERROR,
				(errcode(ERRCODE_CONFIG_FILE_ERROR),
				 errmsg("master key file \"%s\" is accessible by group or others", path),
				 errhint("Make it readable by its owner only, for example with chmod 0600.")));
	}
	while (total < KEY_TEXT_MAX && (n = read(fd, buf + total, KEY_TEXT_MAX - total)) > 0)
		total += n;
	CloseTransientFile(fd);
	return total;
}

static size_t
read_key_command(const char *cmd, char *buf)
{
	FILE	   *fh;
	size_t		total = 0,
				n;
	int			rc;
	char		drain[256];

	fflush(NULL);
	fh = OpenPipeStream(cmd, "r");
	if (fh == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_CONFIG_FILE_ERROR),
				 errmsg("could not run master key command: %m")));
	while (total < KEY_TEXT_MAX && (n = fread(buf + total, 1, KEY_TEXT_MAX - total, fh)) > 0)
		total += n;
	while (fread(drain, 1, sizeof(drain), fh) > 0)
		total = KEY_TEXT_MAX;	/* too long: reject, but let the command finish */
	explicit_bzero(drain, sizeof(drain));
	rc = ClosePipeStream(fh);
	if (rc != 0)
	{
		explicit_bzero(buf, KEY_TEXT_MAX);
		ereport(ERROR,
				(errcode(ERRCODE_CONFIG_FILE_ERROR),
				 errmsg("master key command failed"),
				 errdetail("The command %s.", wait_result_to_str(rc))));
	}
	return total;
}

static void
load_master_key(void)
{
	char		buf[KEY_TEXT_MAX];
	size_t		len;
	bool		have_file = master_key_file && master_key_file[0];
	bool		have_cmd = master_key_command && master_key_command[0];
	bool		ok;

	if (key_loaded)
		return;
	if (!have_file && !have_cmd)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("tracechain master key is not configured"),
				 errhint("Set tracechain.master_key_file or tracechain.master_key_command in postgresql.conf and reload.")));
	if (have_file && have_cmd)
		ereport(ERROR,
				(errcode(ERRCODE_CONFIG_FILE_ERROR),
				 errmsg("both tracechain.master_key_file and tracechain.master_key_command are set"),
				 errhint("Set only one of them.")));

	len = have_file ? read_key_file(master_key_file, buf) : read_key_command(master_key_command, buf);
	ok = parse_key_text(buf, len, master_key);
	explicit_bzero(buf, sizeof(buf));
	if (!ok)
	{
		forget_master_key();
		ereport(ERROR,
				(errcode(ERRCODE_CONFIG_FILE_ERROR),
				 errmsg("the tracechain master key is malformed"),
				 errdetail("The %s must hold exactly 64 hexadecimal digits, optionally followed by a newline.",
						   have_file ? "master key file" : "master key command's output")));
	}
	if (!hkdf(master_key, TC_KEY_LEN, "tracechain fingerprint", master_fp, TC_FINGERPRINT_LEN))
	{
		forget_master_key();
		ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR), errmsg("could not derive the master key fingerprint")));
	}
	key_loaded = true;
}

/*
 * The previous master key (tracechain.master_key_old_file), used only to
 * unseal during a master key rotation.  False when none is configured.
 */
static bool
load_old_master_key(void)
{
	char		buf[KEY_TEXT_MAX];
	size_t		len;
	bool		ok;

	if (old_loaded)
		return true;
	if (master_key_old_file == NULL || master_key_old_file[0] == '\0')
		return false;
	len = read_key_file(master_key_old_file, buf);
	ok = parse_key_text(buf, len, old_key);
	explicit_bzero(buf, sizeof(buf));
	if (ok)
		ok = hkdf(old_key, TC_KEY_LEN, "tracechain fingerprint", old_fp, TC_FINGERPRINT_LEN);
	if (!ok)
	{
		explicit_bzero(old_key, sizeof(old_key));
		ereport(ERROR,
				(errcode(ERRCODE_CONFIG_FILE_ERROR),
				 errmsg("the old tracechain master key is malformed"),
				 errdetail("The file in tracechain.master_key_old_file must hold exactly 64 hexadecimal digits, optionally followed by a newline.")));
	}
	old_loaded = true;
	return true;
}

static void
derive_from(const uint8 *key, const char *purpose, uint8 out[TC_KEY_LEN])
{
	char		info[128];
	int			which = key == master_key ? 0 : key == old_key ? 1 : -1;
	int			slot = -1;

	if (strlen(purpose) > 100)
		elog(ERROR, "key purpose too long");
	/* Subkeys of the loaded master keys are cached: HKDF on every seal is costly. */
	for (int i = 0; which >= 0 && i < SUBKEY_CACHE; i++)
	{
		if (subkeys[i].valid && subkeys[i].which == which && strcmp(subkeys[i].purpose, purpose) == 0)
		{
			memcpy(out, subkeys[i].key, TC_KEY_LEN);
			return;
		}
		if (!subkeys[i].valid && slot < 0)
			slot = i;
	}
	snprintf(info, sizeof(info), "tracechain subkey:%s", purpose);
	if (!hkdf(key, TC_KEY_LEN, info, out, TC_KEY_LEN))
		ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR), errmsg("could not derive a subkey")));
	if (which >= 0)
	{
		if (slot < 0)
			slot = subkey_next++ % SUBKEY_CACHE;
		subkeys[slot].valid = true;
		subkeys[slot].which = which;
		strlcpy(subkeys[slot].purpose, purpose, sizeof(subkeys[slot].purpose));
		memcpy(subkeys[slot].key, out, TC_KEY_LEN);
	}
}

void
tc_master_derive(const char *purpose, uint8 out[TC_KEY_LEN])
{
	load_master_key();
	derive_from(master_key, purpose, out);
}

bool
tc_master_rotation_configured(void)
{
	load_master_key();
	if (!load_old_master_key())
		return false;
	if (tc_ct_equal(old_fp, master_fp, TC_FINGERPRINT_LEN))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the old and the new tracechain master key are the same"),
				 errhint("Point tracechain.master_key_file at the new key and tracechain.master_key_old_file at the old one, then reload.")));
	return true;
}

/*
 * One AES-256-GCM pass.  All memory is allocated by the caller, so nothing
 * here can raise an error while an OpenSSL object is alive.
 */
static bool
gcm(bool enc, const uint8 *key, const uint8 *nonce, const uint8 *aad1, size_t aad1len,
	const uint8 *aad2, size_t aad2len, const uint8 *in, size_t inlen, uint8 *out, uint8 *tag)
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int			outl = 0;
	bool		ok;

	ok = ctx != NULL &&
		EVP_CipherInit_ex2(ctx, EVP_aes_256_gcm(), key, nonce, enc ? 1 : 0, NULL) == 1 &&
		EVP_CipherUpdate(ctx, NULL, &outl, aad1, (int) aad1len) == 1 &&
		(aad2len == 0 || EVP_CipherUpdate(ctx, NULL, &outl, aad2, (int) aad2len) == 1) &&
		(inlen == 0 || EVP_CipherUpdate(ctx, out, &outl, in, (int) inlen) == 1) &&
		(enc || EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, SEAL_TAG_LEN, tag) == 1) &&
		EVP_CipherFinal_ex(ctx, out + outl, &outl) == 1 &&
		(!enc || EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, SEAL_TAG_LEN, tag) == 1);
	EVP_CIPHER_CTX_free(ctx);
	return ok;
}

/* The associated data: a domain label, the purpose, the header. */
static size_t
seal_aad(const char *purpose, const uint8 *hdr, uint8 *out, size_t cap)
{
	size_t		plen = strlen(purpose);
	size_t		n = 0;

	if (19 + plen + 1 + SEAL_HDR_LEN > cap)
		elog(ERROR, "seal purpose too long");
	memcpy(out, "tracechain-seal-v1:", 19);
	n = 19;
	memcpy(out + n, purpose, plen + 1);
	n += plen + 1;
	memcpy(out + n, hdr, SEAL_HDR_LEN);
	return n + SEAL_HDR_LEN;
}

bytea *
tc_seal(const char *purpose, const uint8 *aad, size_t aadlen, const uint8 *pt, size_t ptlen)
{
	uint8		key[TC_KEY_LEN];
	uint8		ad[192];
	size_t		adlen;
	bytea	   *res;
	uint8	   *p;
	bool		ok;

	if (ptlen > (size_t) (MaxAllocSize - VARHDRSZ - SEAL_HDR_LEN - SEAL_TAG_LEN) || aadlen > INT_MAX)
		ereport(ERROR, (errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED), errmsg("value too large to seal")));
	tc_master_derive(purpose, key);
	res = palloc(VARHDRSZ + SEAL_HDR_LEN + ptlen + SEAL_TAG_LEN);
	SET_VARSIZE(res, VARHDRSZ + SEAL_HDR_LEN + ptlen + SEAL_TAG_LEN);
	p = (uint8 *) VARDATA(res);
	p[0] = SEAL_VERSION;
	memcpy(p + 1, master_fp, TC_FINGERPRINT_LEN);
	tc_random_bytes(p + 1 + TC_FINGERPRINT_LEN, SEAL_NONCE_LEN);
	adlen = seal_aad(purpose, p, ad, sizeof(ad));
	ok = gcm(true, key, p + 1 + TC_FINGERPRINT_LEN, ad, adlen, aad, aadlen,
			 pt, ptlen, p + SEAL_HDR_LEN, p + SEAL_HDR_LEN + ptlen);
	explicit_bzero(key, sizeof(key));
	if (!ok)
		ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR), errmsg("could not seal a secret")));
	return res;
}

bytea *
tc_unseal(const char *purpose, const uint8 *aad, size_t aadlen, const bytea *sealed)
{
	const uint8 *p = (const uint8 *) VARDATA_ANY(sealed);
	size_t		len = VARSIZE_ANY_EXHDR(sealed);
	uint8		key[TC_KEY_LEN];
	uint8		ad[192];
	uint8		tag[SEAL_TAG_LEN];
	size_t		adlen,
				ctlen;
	bytea	   *res;
	bool		ok;

	const uint8 *mkey = master_key;

	load_master_key();
	if (len < SEAL_HDR_LEN + SEAL_TAG_LEN || p[0] != SEAL_VERSION)
		ereport(ERROR, (errcode(ERRCODE_DATA_CORRUPTED), errmsg("could not unseal a secret")));
	if (!tc_ct_equal(p + 1, master_fp, TC_FINGERPRINT_LEN))
	{
		/* During a master key rotation, what the old key sealed still opens. */
		if (load_old_master_key() && tc_ct_equal(p + 1, old_fp, TC_FINGERPRINT_LEN))
			mkey = old_key;
		else
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("could not unseal a secret"),
					 errdetail("It was sealed under another master key.")));
	}
	ctlen = len - SEAL_HDR_LEN - SEAL_TAG_LEN;
	res = palloc(VARHDRSZ + ctlen);
	SET_VARSIZE(res, VARHDRSZ + ctlen);
	memcpy(tag, p + SEAL_HDR_LEN + ctlen, SEAL_TAG_LEN);
	derive_from(mkey, purpose, key);
	adlen = seal_aad(purpose, p, ad, sizeof(ad));
	ok = gcm(false, key, p + 1 + TC_FINGERPRINT_LEN, ad, adlen, aad, aadlen,
			 p + SEAL_HDR_LEN, ctlen, (uint8 *) VARDATA(res), tag);
	explicit_bzero(key, sizeof(key));
	if (!ok)
	{
		explicit_bzero(VARDATA(res), ctlen);
		ereport(ERROR, (errcode(ERRCODE_DATA_CORRUPTED), errmsg("could not unseal a secret")));
	}
	return res;
}

#define MAX_RESEAL 16
static struct
{
	const char *what;
	tc_reseal_fn fn;
}			reseal_fns[MAX_RESEAL];
static int	n_reseal = 0;

void
tc_keys_register_reseal(const char *what, tc_reseal_fn fn)
{
	for (int i = 0; i < n_reseal; i++)
		if (reseal_fns[i].fn == fn)
			return;
	if (n_reseal >= MAX_RESEAL)
		elog(ERROR, "too many tracechain reseal functions");
	reseal_fns[n_reseal].what = what;
	reseal_fns[n_reseal].fn = fn;
	n_reseal++;
}

int
tc_keys_reseal_count(void)
{
	return n_reseal;
}

const char *
tc_keys_reseal_name(int i)
{
	return (i >= 0 && i < n_reseal) ? reseal_fns[i].what : NULL;
}

int
tc_keys_reseal_run(int i)
{
	return (i >= 0 && i < n_reseal) ? reseal_fns[i].fn() : 0;
}

bool
tc_sealed_under_current(const bytea *sealed)
{
	const uint8 *p = (const uint8 *) VARDATA_ANY(sealed);
	size_t		len = VARSIZE_ANY_EXHDR(sealed);

	load_master_key();
	return len >= SEAL_HDR_LEN + SEAL_TAG_LEN && p[0] == SEAL_VERSION &&
		tc_ct_equal(p + 1, master_fp, TC_FINGERPRINT_LEN);
}

bytea *
tc_reseal(const char *purpose, const uint8 *aad, size_t aadlen, const bytea *sealed)
{
	bytea	   *pt;
	bytea	   *res;

	if (tc_sealed_under_current(sealed))
		return NULL;
	pt = tc_unseal(purpose, aad, aadlen, sealed);
	res = tc_seal(purpose, aad, aadlen, (const uint8 *) VARDATA(pt), VARSIZE(pt) - VARHDRSZ);
	explicit_bzero(VARDATA(pt), VARSIZE(pt) - VARHDRSZ);
	pfree(pt);
	return res;
}

/*
 * master_key_status() -> (configured, source, fingerprint, usable)
 *
 * For DBAs: whether a key is configured and loads, and a fingerprint that
 * identifies it without revealing it.  A load error is reported as a
 * WARNING (its message never contains key material).
 */
PG_FUNCTION_INFO_V1(tc_master_key_status);
Datum
tc_master_key_status(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	Datum		values[4];
	bool		nulls[4] = {false, false, true, false};
	bool		have_file = master_key_file && master_key_file[0];
	bool		have_cmd = master_key_command && master_key_command[0];
	volatile bool usable = false;
	MemoryContext oldcxt = CurrentMemoryContext;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");

	if (have_file || have_cmd)
	{
		ResourceOwner oldowner = CurrentResourceOwner;

		/* A subtransaction, so a load error becomes a WARNING safely. */
		BeginInternalSubTransaction(NULL);
		MemoryContextSwitchTo(oldcxt);
		PG_TRY();
		{
			uint8		probe[16];
			bytea	   *s;
			bytea	   *u;

			tc_random_bytes(probe, sizeof(probe));
			s = tc_seal("selftest", NULL, 0, probe, sizeof(probe));
			u = tc_unseal("selftest", NULL, 0, s);
			usable = memcmp(VARDATA(u), probe, sizeof(probe)) == 0;
			ReleaseCurrentSubTransaction();
			MemoryContextSwitchTo(oldcxt);
			CurrentResourceOwner = oldowner;
		}
		PG_CATCH();
		{
			ErrorData  *edata;

			MemoryContextSwitchTo(oldcxt);
			edata = CopyErrorData();
			FlushErrorState();
			RollbackAndReleaseCurrentSubTransaction();
			MemoryContextSwitchTo(oldcxt);
			CurrentResourceOwner = oldowner;
			ereport(WARNING, (errcode(edata->sqlerrcode), errmsg("%s", edata->message),
							  edata->hint ? errhint("%s", edata->hint) : 0));
			FreeErrorData(edata);
		}
		PG_END_TRY();
	}
	values[0] = BoolGetDatum(have_file || have_cmd);
	values[1] = CStringGetTextDatum(have_file ? "file" : have_cmd ? "command" : "none");
	if (usable)
	{
		char		hex[2 * TC_FINGERPRINT_LEN + 1];

		tc_hex_encode(master_fp, TC_FINGERPRINT_LEN, hex);
		hex[2 * TC_FINGERPRINT_LEN] = '\0';
		values[2] = CStringGetTextDatum(hex);
		nulls[2] = false;
	}
	values[3] = BoolGetDatum(usable);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

void
tc_keys_init(void)
{
	DefineCustomStringVariable("tracechain.master_key_file",
							   "File holding the master key as 64 hexadecimal digits.",
							   "It must be readable by its owner only.",
							   &master_key_file, "",
							   PGC_SIGHUP, GUC_SUPERUSER_ONLY,
							   NULL, master_key_assign, NULL);
	DefineCustomStringVariable("tracechain.master_key_command",
							   "Command whose standard output is the master key as 64 hexadecimal digits.",
							   NULL,
							   &master_key_command, "",
							   PGC_SIGHUP, GUC_SUPERUSER_ONLY,
							   NULL, master_key_assign, NULL);
	DefineCustomStringVariable("tracechain.master_key_old_file",
							   "File holding the previous master key, during a master key rotation.",
							   "Secrets sealed under it still unseal; master_key_rewrap() moves them to the current key.",
							   &master_key_old_file, "",
							   PGC_SIGHUP, GUC_SUPERUSER_ONLY,
							   NULL, master_key_assign, NULL);
}

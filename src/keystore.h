/*
 * keystore.h: named, versioned data keys (the tracechain.keys table).
 *
 * Every data key is stored sealed under the master key (keys.h, purpose
 * "keystore") with its id, name, version and kind bound as associated data,
 * so a sealed key copied to another row does not unseal.  Only this module
 * and keys.c ever see key material; other modules (crypt, jwt, device) get
 * it through tc_keystore_get() and must not store or print it.
 *
 * Kinds and their material:
 *   TC_KEY_AEAD     32 random bytes, an AES-256-GCM key
 *   TC_KEY_HMAC     32 random bytes (imported: 32 to 256 bytes), an HMAC key
 *   TC_KEY_EC_P256  a P-256 private key, DER (SEC1 ECPrivateKey, as
 *                   i2d_PrivateKey writes it; read it with d2i_AutoPrivateKey)
 *
 * Unwrapped keys are cached per backend.  Every key operation bumps a
 * generation counter in shared memory, again when its transaction commits,
 * and every lookup compares it, so a rotation or destruction in another
 * backend is seen by the next lookup after that commit.
 *
 * Privileges: the C functions here do no privilege check (they are for
 * trusted module code); they run their queries as the extension's owner with
 * search_path pinned.  The SQL functions in keystore.sql are granted to
 * tracechain_admin only.  Every create, rotate, destroy, import and rewrap is
 * audited (tc_audit_append, in the caller's transaction).
 */
#ifndef TC_KEYSTORE_H
#define TC_KEYSTORE_H

#include "postgres.h"
#include "utils/uuid.h"

typedef enum tc_key_kind
{
	TC_KEY_AEAD = 1,
	TC_KEY_HMAC = 2,
	TC_KEY_EC_P256 = 3
} tc_key_kind;

/* A version argument meaning "the current version". */
#define TC_KEY_CURRENT 0

/* Key names: 1 to 100 characters of A-Z a-z 0-9 . _ : - */
#define TC_KEY_NAME_MAX 100
/* Names starting with this are per-principal keys (crypt.c). */
#define TC_PRINCIPAL_KEY_PREFIX "principal:"

typedef struct tc_key
{
	int32		id;				/* the key's id, the same for all its versions */
	int32		version;
	tc_key_kind kind;
	const uint8 *material;		/* see above; valid until the next keystore call */
	size_t		len;
	void	   *priv;			/* the cache entry (for tc_keystore_aead) */
} tc_key;

extern void tc_keystore_init(void);

/* "aead", "hmac", "ec-p256"; parse returns false for anything else. */
extern const char *tc_key_kind_name(tc_key_kind kind);
extern bool tc_key_kind_parse(const char *s, tc_key_kind *out);

/* ERROR 22023 unless name is a valid key name (see above). */
extern void tc_keystore_check_name(const char *name);

/*
 * Look up a key version (TC_KEY_CURRENT: the current one).  Returns false
 * when the name or version does not exist, has been destroyed, or (for
 * TC_KEY_CURRENT) has no current version.  ERROR 22023 when the key exists
 * but is of another kind.  out->material stays valid until the next call
 * into the keystore; copy it if you need it longer, and explicit_bzero the
 * copy.
 */
extern bool tc_keystore_get(const char *name, int32 version, tc_key_kind kind, tc_key *out);

/*
 * The kind of a named key (any status), without its material; false when no
 * key has that name.  For modules whose behaviour follows the kind (jwt:
 * hmac is HS256, ec-p256 is ES256).
 */
extern bool tc_keystore_kind(const char *name, tc_key_kind *out);

/* The same by the id stored in an envelope; any kind. */
extern bool tc_keystore_get_by_id(int32 id, int32 version, tc_key *out);

/*
 * Create a key with fresh random material (version 1, current).  ERROR
 * 42710 when the name exists.  Returns the version (1).  Audited.
 */
extern int32 tc_keystore_create(const char *name, tc_key_kind kind);

/*
 * Create the key unless a key of that name exists (any status); for keys
 * made on demand such as per-principal keys.  Returns true when it created
 * one (audited).  Safe against a concurrent creator (ON CONFLICT).
 */
extern bool tc_keystore_ensure(const char *name, tc_key_kind kind, const pg_uuid_t *principal);

/* A new current version with fresh material; old versions stay usable. Returns it. Audited. */
extern int32 tc_keystore_rotate(const char *name);

/*
 * Erase a version's material (TC_KEY_CURRENT: every version).  Data under
 * it cannot be decrypted any more.  Returns the number of versions erased.
 * ERROR 22023 when the key or version does not exist.  Audited.
 */
extern int	tc_keystore_destroy(const char *name, int32 version);

/*
 * Bring in existing material: a new key (version 1), or a new current
 * version of an existing key of the same kind.  AEAD: exactly 32 bytes;
 * HMAC: 32 to 256 bytes; EC_P256: DER of a P-256 private key (SEC1 or
 * PKCS#8).  Returns the version.  Audited (never the material).
 */
extern int32 tc_keystore_import(const char *name, tc_key_kind kind, const uint8 *raw, size_t len);

/*
 * Count one encryption under an AEAD key version.  WARNING once per backend
 * and version past tracechain.key_encryptions_warn, ERROR 55000 at
 * tracechain.key_encryptions_max (defaults 2^30 and 2^31 - 1, far below the
 * 2^32 messages AES-GCM with random 96-bit nonces allows).  Needs the
 * library in shared_preload_libraries.
 */
extern void tc_keystore_count_encryption(const tc_key *key);

/*
 * One AES-256-GCM operation with an AEAD key (its EVP context is cached with
 * the key).  aad1 and aad2 are authenticated in that order (either may be
 * empty).  Encrypting writes the tag, decrypting checks it.  Never raises an
 * error: returns false on any failure, including a wrong tag; all buffers
 * belong to the caller.
 */
extern bool tc_keystore_aead(const tc_key *key, bool encrypt, const uint8 *nonce,
							 const uint8 *aad1, size_t aad1len,
							 const uint8 *aad2, size_t aad2len,
							 const uint8 *in, size_t inlen, uint8 *out, uint8 *tag);

/*
 * Reseal every stored data key under the current master key (after a master
 * key change, with tracechain.master_key_old_file set), then run every
 * reseal function modules registered with tc_keys_register_reseal (keys.h),
 * all in the caller's transaction.  Returns the number of secrets resealed.
 * Audited.
 */
extern int	tc_keystore_rewrap_master(void);

/* The worker job that writes the shared-memory encryption counters to keys.encryptions. */
extern void tc_keystore_flush_job(void);

#endif

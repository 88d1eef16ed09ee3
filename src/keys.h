/*
 * keys.h: the master key service.
 *
 * This is the only code that ever sees the master key.  It is loaded lazily
 * from tracechain.master_key_file or the standard output of
 * tracechain.master_key_command, cached in backend memory, dropped when
 * either setting changes on reload, and never printed.  Other modules ask it
 * to seal and unseal their secrets, or for a subkey derived with HKDF.
 */
#ifndef TC_KEYS_H
#define TC_KEYS_H

#include "postgres.h"

#define TC_KEY_LEN 32
#define TC_FINGERPRINT_LEN 8

extern void tc_keys_init(void);

/* HKDF-SHA256 subkey of the master key for `purpose`; ERROR without a key. */
extern void tc_master_derive(const char *purpose, uint8 out[TC_KEY_LEN]);

/*
 * Seal: AES-256-GCM under the subkey for `purpose`, with `aad` bound as
 * associated data.  Format: 0x01 | master fingerprint (8) | nonce (12) |
 * ciphertext | tag (16).
 */
extern bytea *tc_seal(const char *purpose, const uint8 *aad, size_t aadlen,
					  const uint8 *pt, size_t ptlen);

/* Unseal; ERROR "could not unseal" (no detail) when anything does not match. */
extern bytea *tc_unseal(const char *purpose, const uint8 *aad, size_t aadlen,
						const bytea *sealed);

/*
 * Master key rotation: with tracechain.master_key_old_file set, tc_unseal
 * also opens what the old key sealed.  tc_reseal returns the secret sealed
 * under the current master key, or NULL when it already is; ERROR as
 * tc_unseal.  tc_master_rotation_configured: true when an old key is set and
 * loads (ERROR when it is the current key).
 */
extern bytea *tc_reseal(const char *purpose, const uint8 *aad, size_t aadlen,
						const bytea *sealed);
extern bool tc_sealed_under_current(const bytea *sealed);
extern bool tc_master_rotation_configured(void);

/*
 * Modules that keep their own sealed secrets (rather than in the key store)
 * register a function that reseals all of them with tc_reseal() and returns
 * how many it changed; master_key_rewrap() calls every registered function
 * in its transaction.  Register from *_init (every backend loads the library).
 */
typedef int (*tc_reseal_fn) (void);
extern void tc_keys_register_reseal(const char *what, tc_reseal_fn fn);
extern int	tc_keys_reseal_count(void);
extern const char *tc_keys_reseal_name(int i);
extern int	tc_keys_reseal_run(int i);

/* Fill buf with len bytes from OpenSSL's CSPRNG; ERROR on failure. */
extern void tc_random_bytes(uint8 *buf, size_t len);

#endif

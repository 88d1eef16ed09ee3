/*
 * eth.h: Ethereum encodings with explicit lengths: addresses (EIP-55),
 * 0x-hex, the 65-byte r || s || v signature (range and EIP-2 low-s checks)
 * and the EIP-191 personal_sign prefix.
 *
 * Pure C, no PostgreSQL headers.  The recovery itself (libsecp256k1) lives
 * in src/ethsig.c, which keeps one context per backend.
 */
#ifndef TC_ETH_H
#define TC_ETH_H

#include <stddef.h>
#include <stdint.h>

#define TC_ETH_ADDR_LEN 20
#define TC_ETH_ADDR_TEXT_LEN 42		/* "0x" + 40 hex digits */
#define TC_ETH_SIG_LEN 65

typedef enum tc_eth_addr_status
{
	TC_ADDR_OK = 0,
	TC_ADDR_MALFORMED,			/* not "0x" followed by exactly 40 hex digits */
	TC_ADDR_BAD_CHECKSUM		/* mixed case that is not the EIP-55 checksum */
} tc_eth_addr_status;

/*
 * Parse "0x" + 40 hex digits.  All lower-case and all upper-case digits are
 * accepted; mixed case must be the EIP-55 checksum of the address.
 */
tc_eth_addr_status tc_eth_address_parse(const char *s, size_t len, uint8_t out[TC_ETH_ADDR_LEN]);

/* The EIP-55 checksummed text of an address: writes 42 chars, no terminator. */
void		tc_eth_address_checksum(const uint8_t addr[TC_ETH_ADDR_LEN], char out[TC_ETH_ADDR_TEXT_LEN]);

/* The all-lower-case text of an address: writes 42 chars, no terminator. */
void		tc_eth_address_lower(const uint8_t addr[TC_ETH_ADDR_LEN], char out[TC_ETH_ADDR_TEXT_LEN]);

/*
 * Decode "0x" followed by an even number of hex digits (either case) into
 * out; returns the number of bytes, or -1 when the prefix is missing, the
 * text is malformed or does not fit in cap.
 */
long		tc_eth_hex_decode(const char *s, size_t len, uint8_t *out, size_t cap);

typedef enum tc_eth_sig_status
{
	TC_SIG_OK = 0,
	TC_SIG_BAD_LENGTH,			/* not 65 bytes */
	TC_SIG_BAD_V,				/* v not in {0, 1, 27, 28} (EIP-155 values included) */
	TC_SIG_BAD_R,				/* r zero or >= n */
	TC_SIG_BAD_S,				/* s zero or >= n */
	TC_SIG_HIGH_S				/* s > n/2 (EIP-2) */
} tc_eth_sig_status;

/*
 * Check a signature's encoding: length, v, and the ranges of r and s.  On
 * TC_SIG_OK *recid is the recovery id (0 or 1).
 */
tc_eth_sig_status tc_eth_sig_check(const uint8_t *sig, size_t len, int *recid);

/* A lower-case phrase for a status, for error messages. */
const char *tc_eth_sig_status_text(tc_eth_sig_status st);

/*
 * The EIP-191 version 0x45 prefix for a message of msglen bytes:
 * "\x19Ethereum Signed Message:\n" followed by the decimal length.  Writes
 * at most TC_EIP191_PREFIX_MAX bytes into out and returns how many.
 */
#define TC_EIP191_PREFIX_MAX 48
size_t		tc_eip191_prefix(size_t msglen, char out[TC_EIP191_PREFIX_MAX]);

/* keccak256(prefix || msg): the digest personal_sign signs. */
void		tc_eip191_hash(const uint8_t *msg, size_t len, uint8_t out[32]);

#endif

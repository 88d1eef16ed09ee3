/*
 * ethsig.c: keccak256, EIP-191 message hashes, ecrecover and EIP-55 from SQL
 * (see ethsig.sql).  Encodings are checked in src/core/eth.c; this file
 * holds the libsecp256k1 context and the fmgr glue.
 *
 * The functions are pure: no table is read, no privilege to check, so they
 * are not SECURITY DEFINER (and stay cheap to call per row).
 */
#include "postgres.h"

#include <secp256k1.h>
#include <secp256k1_recovery.h>

#include "fmgr.h"
#include "funcapi.h"
#include "utils/builtins.h"

#include "eth.h"
#include "ethsig.h"
#include "keccak.h"
#include "keys.h"

/* Created on first use in each backend, randomized, never freed. */
static secp256k1_context *secp_ctx = NULL;
static bool secp_illegal = false;

static void
secp_illegal_cb(const char *msg, void *data)
{
	/* Only reached on misuse of the API; the call then returns 0. */
	secp_illegal = true;
}

static secp256k1_context *
get_ctx(void)
{
	if (secp_ctx == NULL)
	{
		uint8		seed[32];
		secp256k1_context *c = secp256k1_context_create(SECP256K1_CONTEXT_NONE);

		if (c == NULL)
			ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("could not create a secp256k1 context")));
		secp256k1_context_set_illegal_callback(c, secp_illegal_cb, NULL);
		PG_TRY();
		{
			tc_random_bytes(seed, sizeof(seed));
		}
		PG_CATCH();
		{
			secp256k1_context_destroy(c);
			PG_RE_THROW();
		}
		PG_END_TRY();
		if (!secp256k1_context_randomize(c, seed))
		{
			explicit_bzero(seed, sizeof(seed));
			secp256k1_context_destroy(c);
			ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR), errmsg("could not randomize the secp256k1 context")));
		}
		explicit_bzero(seed, sizeof(seed));
		secp_ctx = c;
	}
	return secp_ctx;
}

bool
tc_eth_recover(const uint8 *digest32, const uint8 *sig, size_t siglen, uint8 addr[20], const char **why)
{
	int			recid = 0;
	tc_eth_sig_status st = tc_eth_sig_check(sig, siglen, &recid);
	secp256k1_context *c;
	secp256k1_ecdsa_recoverable_signature rs;
	secp256k1_pubkey pk;
	uint8		pub[65];
	size_t		publen = sizeof(pub);
	uint8		h[32];

	if (st != TC_SIG_OK)
	{
		*why = tc_eth_sig_status_text(st);
		return false;
	}
	c = get_ctx();
	secp_illegal = false;
	if (!secp256k1_ecdsa_recoverable_signature_parse_compact(c, &rs, sig, recid) ||
		!secp256k1_ecdsa_recover(c, &pk, &rs, digest32) ||
		!secp256k1_ec_pubkey_serialize(c, pub, &publen, &pk, SECP256K1_EC_UNCOMPRESSED) ||
		publen != 65 || secp_illegal)
	{
		*why = "signature does not recover to a public key";
		return false;
	}
	tc_keccak256(pub + 1, 64, h);
	memcpy(addr, h + 12, 20);
	*why = NULL;
	return true;
}

static text *
address_text(const uint8 addr[20], bool checksum)
{
	text	   *t = (text *) palloc(VARHDRSZ + TC_ETH_ADDR_TEXT_LEN);

	if (checksum)
		tc_eth_address_checksum(addr, VARDATA(t));
	else
		tc_eth_address_lower(addr, VARDATA(t));
	SET_VARSIZE(t, VARHDRSZ + TC_ETH_ADDR_TEXT_LEN);
	return t;
}

static bytea *
digest_bytea(const uint8 d[32])
{
	bytea	   *b = (bytea *) palloc(VARHDRSZ + 32);

	memcpy(VARDATA(b), d, 32);
	SET_VARSIZE(b, VARHDRSZ + 32);
	return b;
}

/* Parse an address argument, raising 22P02 with what is wrong. */
static void
parse_address_arg(text *t, uint8 addr[20])
{
	switch (tc_eth_address_parse(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t), addr))
	{
		case TC_ADDR_OK:
			return;
		case TC_ADDR_BAD_CHECKSUM:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
					 errmsg("address has mixed case but not its EIP-55 checksum"),
					 errhint("Give the address in all lower case, all upper case, or with its EIP-55 checksum.")));
			break;
		default:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
					 errmsg("invalid Ethereum address"),
					 errhint("An address is 0x followed by 40 hexadecimal digits.")));
	}
}

/* keccak256(data bytea) -> bytea */
PG_FUNCTION_INFO_V1(tc_keccak256_sql);
Datum
tc_keccak256_sql(PG_FUNCTION_ARGS)
{
	bytea	   *in = PG_GETARG_BYTEA_PP(0);
	uint8		d[32];

	tc_keccak256((const uint8 *) VARDATA_ANY(in), VARSIZE_ANY_EXHDR(in), d);
	PG_RETURN_BYTEA_P(digest_bytea(d));
}

/* eth_message_hash(bytea | text) -> bytea: keccak256 of the EIP-191 personal_sign form. */
PG_FUNCTION_INFO_V1(tc_eth_message_hash);
Datum
tc_eth_message_hash(PG_FUNCTION_ARGS)
{
	struct varlena *in = PG_GETARG_VARLENA_PP(0);
	uint8		d[32];

	tc_eip191_hash((const uint8 *) VARDATA_ANY(in), VARSIZE_ANY_EXHDR(in), d);
	PG_RETURN_BYTEA_P(digest_bytea(d));
}

/* eth_recover(digest bytea, signature bytea) -> text (EIP-55 address) */
PG_FUNCTION_INFO_V1(tc_eth_recover_sql);
Datum
tc_eth_recover_sql(PG_FUNCTION_ARGS)
{
	bytea	   *digest = PG_GETARG_BYTEA_PP(0);
	bytea	   *sig = PG_GETARG_BYTEA_PP(1);
	uint8		addr[20];
	const char *why;

	if (VARSIZE_ANY_EXHDR(digest) != 32)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("digest must be 32 bytes"),
				 errhint("Give a keccak256 digest, such as eth_message_hash(message).")));
	if (!tc_eth_recover((const uint8 *) VARDATA_ANY(digest), (const uint8 *) VARDATA_ANY(sig),
						VARSIZE_ANY_EXHDR(sig), addr, &why))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s", why),
				 errhint("A signature is 65 bytes r || s || v with v in 0, 1, 27 or 28 and a low s (EIP-2).")));
	PG_RETURN_TEXT_P(address_text(addr, true));
}

/* eth_checksum_address(address text) -> text */
PG_FUNCTION_INFO_V1(tc_eth_checksum_address);
Datum
tc_eth_checksum_address(PG_FUNCTION_ARGS)
{
	uint8		addr[20];

	parse_address_arg(PG_GETARG_TEXT_PP(0), addr);
	PG_RETURN_TEXT_P(address_text(addr, true));
}

/*
 * Decode a 0x-hex signature argument.  Malformed text raises 22P02, a wrong
 * length or v raises 22023; the range checks are left to the caller.
 */
static void
decode_sig_arg(text *t, uint8 sig[TC_ETH_SIG_LEN])
{
	const char *p = VARDATA_ANY(t);
	size_t		len = VARSIZE_ANY_EXHDR(t);
	uint8		buf[TC_ETH_SIG_LEN + 1];
	long		n;
	int			recid;

	if (len < 2 || p[0] != '0' || p[1] != 'x')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("signature must start with 0x"),
				 errhint("Give the signature as wallets return it: 0x followed by 130 hexadecimal digits.")));
	if (len > 2 + 2 * (TC_ETH_SIG_LEN + 1))
		n = TC_ETH_SIG_LEN + 1; /* too long: say so without decoding it */
	else
	{
		n = tc_eth_hex_decode(p, len, buf, sizeof(buf));
		if (n < 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
					 errmsg("signature is not valid hexadecimal"),
					 errhint("Give 0x followed by an even number of hexadecimal digits.")));
	}
	if (n != TC_ETH_SIG_LEN)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("signature must be 65 bytes (r, s, v)")));
	memcpy(sig, buf, TC_ETH_SIG_LEN);
	if (tc_eth_sig_check(sig, TC_ETH_SIG_LEN, &recid) == TC_SIG_BAD_V)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("signature v must be 0, 1, 27 or 28"),
				 errhint("EIP-155 values (35 and up) are for transactions, not messages.")));
}

/*
 * eth_verify_message(message text, signature text, address text) -> boolean.
 * Malformed arguments raise; a well-formed signature that is out of range,
 * high-s, unrecoverable or from another address gives false.
 */
PG_FUNCTION_INFO_V1(tc_eth_verify_message);
Datum
tc_eth_verify_message(PG_FUNCTION_ARGS)
{
	text	   *msg = PG_GETARG_TEXT_PP(0);
	uint8		sig[TC_ETH_SIG_LEN];
	uint8		want[20],
				got[20],
				d[32];
	const char *why;

	decode_sig_arg(PG_GETARG_TEXT_PP(1), sig);
	parse_address_arg(PG_GETARG_TEXT_PP(2), want);
	tc_eip191_hash((const uint8 *) VARDATA_ANY(msg), VARSIZE_ANY_EXHDR(msg), d);
	if (!tc_eth_recover(d, sig, sizeof(sig), got, &why))
		PG_RETURN_BOOL(false);
	PG_RETURN_BOOL(memcmp(want, got, 20) == 0);
}

/*
 * _eth_recover_message(message text, signature text, OUT address text,
 * OUT error text): for siwe_login, never raises on bad input: address is the
 * lower-case signer, or null with error saying why.
 */
PG_FUNCTION_INFO_V1(tc_eth_recover_message);
Datum
tc_eth_recover_message(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	Datum		values[2];
	bool		nulls[2] = {true, true};
	const char *err = NULL;
	uint8		sig[TC_ETH_SIG_LEN + 1];
	uint8		addr[20],
				d[32];

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		err = "message and signature must not be null";
	else
	{
		text	   *msg = PG_GETARG_TEXT_PP(0);
		text	   *st = PG_GETARG_TEXT_PP(1);
		const char *p = VARDATA_ANY(st);
		size_t		len = VARSIZE_ANY_EXHDR(st);
		const char *why;

		if (len < 2 || p[0] != '0' || p[1] != 'x')
			err = "signature must start with 0x";
		else if (len != 2 + 2 * TC_ETH_SIG_LEN)
			err = "signature must be 65 bytes (r, s, v)";
		else if (tc_eth_hex_decode(p, len, sig, sizeof(sig)) != TC_ETH_SIG_LEN)
			err = "signature is not valid hexadecimal";
		else
		{
			tc_eip191_hash((const uint8 *) VARDATA_ANY(msg), VARSIZE_ANY_EXHDR(msg), d);
			if (!tc_eth_recover(d, sig, TC_ETH_SIG_LEN, addr, &why))
				err = why;
		}
	}
	if (err == NULL)
	{
		values[0] = PointerGetDatum(address_text(addr, false));
		nulls[0] = false;
	}
	else
	{
		values[1] = CStringGetTextDatum(err);
		nulls[1] = false;
	}
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(tupdesc), values, nulls)));
}

-- ethsig.sql: Keccak-256, EIP-191 message hashes, ecrecover and EIP-55 (ethsig.c).
--
-- Pure functions: they read no table and check no privilege, so they are not
-- SECURITY DEFINER (a SET clause would also make every per-row call slower).

CREATE FUNCTION keccak256(data bytea) RETURNS bytea
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'tc_keccak256_sql';
COMMENT ON FUNCTION keccak256(bytea) IS
'Keccak-256 as Ethereum uses it (original Keccak padding, not SHA3-256); 32 bytes';

CREATE FUNCTION eth_message_hash(message bytea) RETURNS bytea
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'tc_eth_message_hash';
COMMENT ON FUNCTION eth_message_hash(bytea) IS
'EIP-191 personal_sign digest: keccak256(''\x19Ethereum Signed Message:\n'' || decimal length || message)';

CREATE FUNCTION eth_message_hash(message text) RETURNS bytea
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'tc_eth_message_hash';
COMMENT ON FUNCTION eth_message_hash(text) IS
'EIP-191 personal_sign digest of the message''s UTF-8 bytes (what wallets sign for a text message)';

CREATE FUNCTION eth_recover(digest bytea, signature bytea) RETURNS text
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'tc_eth_recover_sql';
COMMENT ON FUNCTION eth_recover(bytea, bytea) IS
'EIP-55 address that made a 65-byte r||s||v signature (v 0, 1, 27 or 28) of a 32-byte digest; refuses r or s out of range and high s (EIP-2) with 22023';

CREATE FUNCTION eth_checksum_address(address text) RETURNS text
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'tc_eth_checksum_address';
COMMENT ON FUNCTION eth_checksum_address(text) IS
'EIP-55 form of an address; all-lower and all-upper input accepted, mixed case must already be the checksum (22P02 otherwise)';

CREATE FUNCTION eth_verify_message(message text, signature text, address text) RETURNS boolean
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'tc_eth_verify_message';
COMMENT ON FUNCTION eth_verify_message(text, text, text) IS
'Whether address made this personal_sign signature (0x-hex, as wallets return it) of message; malformed input raises, an invalid or foreign signature gives false';

CREATE FUNCTION _eth_recover_message(message text, signature text, OUT address text, OUT error text)
RETURNS record
LANGUAGE C IMMUTABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'tc_eth_recover_message';
COMMENT ON FUNCTION _eth_recover_message(text, text) IS
'Internal (siwe_login): lower-case signer of a personal_sign signature, or null and why; never raises on bad input';

GRANT EXECUTE ON FUNCTION keccak256(bytea), eth_message_hash(bytea), eth_message_hash(text),
  eth_recover(bytea, bytea), eth_checksum_address(text), eth_verify_message(text, text, text)
TO tracechain_app, tracechain_admin, tracechain_auditor;

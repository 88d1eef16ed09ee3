-- ethsig: keccak256, EIP-191, ecrecover, EIP-55.  Vectors from the EIPs and
-- from ethers 6.17 (test/interop/ethsig/fixtures.js).
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS tracechain;
RESET client_min_messages;
SET search_path = tracechain, public;

-- Keccak-256, not SHA3-256.
SELECT encode(keccak256(''), 'hex') AS keccak_empty;
SELECT encode(keccak256('abc'), 'hex') AS keccak_abc;
SELECT keccak256('abc') <> sha256('abc') AS not_sha2, octet_length(keccak256(repeat('x', 100000)::bytea)) AS len;

-- EIP-191 personal_sign hash of "hello world", text and bytea overloads.
SELECT encode(eth_message_hash('hello world'::text), 'hex') AS eip191_hello;
SELECT eth_message_hash('hello world'::bytea) = eth_message_hash('hello world'::text) AS same;
SELECT encode(eth_message_hash(''::text), 'hex') AS eip191_empty;

-- Recover a known signature (key 0x4c08...2318) to its known address.
\set sig_a '''\\x0d5df3f9681b000a5b3a1d4252803318136714deba10c578f9b33718ad9c816e5520a6f19168136aa11e38d691d28a422bce4be3bf290fdb8efe45cdaefb20251c'''
\set sig_a_hex '''0x0d5df3f9681b000a5b3a1d4252803318136714deba10c578f9b33718ad9c816e5520a6f19168136aa11e38d691d28a422bce4be3bf290fdb8efe45cdaefb20251c'''
\set sig_a_high_s '''0x0d5df3f9681b000a5b3a1d4252803318136714deba10c578f9b33718ad9c816eaadf590e6e97ec955ee1c7296e2d75bc8ee09102f01f906030d418bf213b211c1b'''
\set sig_b_hex '''0xddd0a7290af9526056b4e35a077b9a11b513aa0028ec6c9880948544508f3c63265e99e47ad31bb2cab9646c504576b3abc6939a1710afc08cbf3034d73214b81c'''
SELECT eth_recover(eth_message_hash('hello world'), :sig_a) AS signer;
-- v as 0/1 instead of 27/28 recovers the same address.
SELECT eth_recover(eth_message_hash('hello world'),
                   overlay(:sig_a::bytea placing '\x01' from 65)) AS signer_v1;
-- Another message recovers another address, never an error.
SELECT eth_recover(eth_message_hash('hello world!'), :sig_a) <> '0x2c7536E3605D9C16a7a3D7b1898e529396a65c23' AS other;

-- The high-s twin (s' = n - s, v flipped) recovers the same key in libsecp256k1: refused (EIP-2).
SELECT eth_recover(eth_message_hash('hello world'), decode(substr(:sig_a_high_s, 3), 'hex'));
-- v = 29, EIP-155 v = 37, r = 0, s = 0, r = n, wrong lengths, wrong digest length.
SELECT eth_recover(eth_message_hash('hello world'), overlay(:sig_a::bytea placing '\x1d' from 65));
SELECT eth_recover(eth_message_hash('hello world'), overlay(:sig_a::bytea placing '\x25' from 65));
SELECT eth_recover(eth_message_hash('hello world'), overlay(:sig_a::bytea placing decode(repeat('00', 32), 'hex') from 1));
SELECT eth_recover(eth_message_hash('hello world'), overlay(:sig_a::bytea placing decode(repeat('00', 32), 'hex') from 33));
SELECT eth_recover(eth_message_hash('hello world'),
  overlay(:sig_a::bytea placing '\xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141' from 1));
SELECT eth_recover(eth_message_hash('hello world'), substr(:sig_a::bytea, 1, 64));
SELECT eth_recover(eth_message_hash('hello world'), :sig_a::bytea || '\x00'::bytea);
SELECT eth_recover(eth_message_hash('hello world'), ''::bytea);
SELECT eth_recover('\x00'::bytea, :sig_a);
-- r with no point on the curve (x = 5 has none) recovers no key.
SELECT eth_recover(eth_message_hash('hello world'),
  overlay(:sig_a::bytea placing decode(repeat('00', 31) || '05', 'hex') from 1));

-- eth_verify_message: 0x-hex signatures as wallets return them.
SELECT eth_verify_message('hello world', :sig_a_hex, '0x2c7536E3605D9C16a7a3D7b1898e529396a65c23') AS good,
       eth_verify_message('hello world', :sig_a_hex, '0x2c7536e3605d9c16a7a3d7b1898e529396a65c23') AS good_lower,
       eth_verify_message('hello world', '0x' || upper(substr(:sig_a_hex, 3)), '0x2C7536E3605D9C16A7A3D7B1898E529396A65C23') AS good_upper;
SELECT eth_verify_message('hello world.', :sig_a_hex, '0x2c7536E3605D9C16a7a3D7b1898e529396a65c23') AS tampered,
       eth_verify_message('hello world', :sig_b_hex, '0x2c7536E3605D9C16a7a3D7b1898e529396a65c23') AS other_wallet,
       eth_verify_message('hello world', :sig_b_hex, '0x14791697260E4c9A71f18484C9f997B308e59325') AS wallet_b,
       eth_verify_message('hello world', :sig_a_high_s, '0x2c7536E3605D9C16a7a3D7b1898e529396a65c23') AS high_s;
-- Garbage: no 0x, odd length, non-hex, wrong length, v = 29, bad addresses.
SELECT eth_verify_message('hello world', substr(:sig_a_hex, 3), '0x2c7536E3605D9C16a7a3D7b1898e529396a65c23');
SELECT eth_verify_message('hello world', substr(:sig_a_hex, 1, 131), '0x2c7536E3605D9C16a7a3D7b1898e529396a65c23');
SELECT eth_verify_message('hello world', '0x' || repeat('zz', 65), '0x2c7536E3605D9C16a7a3D7b1898e529396a65c23');
SELECT eth_verify_message('hello world', substr(:sig_a_hex, 1, 130), '0x2c7536E3605D9C16a7a3D7b1898e529396a65c23');
SELECT eth_verify_message('hello world', '0x' || repeat('ab', 1000000), '0x2c7536E3605D9C16a7a3D7b1898e529396a65c23');
SELECT eth_verify_message('hello world', substr(:sig_a_hex, 1, 130) || '1d', '0x2c7536E3605D9C16a7a3D7b1898e529396a65c23');
SELECT eth_verify_message('hello world', :sig_a_hex, '0x2c7536E3605D9C16a7a3D7b1898e529396a65C23');
SELECT eth_verify_message('hello world', :sig_a_hex, '2c7536E3605D9C16a7a3D7b1898e529396a65c23');
SELECT eth_verify_message('hello world', :sig_a_hex, '0x2c7536');

-- EIP-55: the EIP's examples are their own checksum.
SELECT a AS eip55, eth_checksum_address(lower(a)) = a AS from_lower, eth_checksum_address('0x' || upper(substr(a, 3))) = a AS from_upper
  FROM (VALUES ('0x52908400098527886E0F7030069857D2E4169EE7'), ('0x8617E340B3D01FA5F11F306F4090FD50E238070D'),
               ('0xde709f2102306220921060314715629080e2fb77'), ('0x27b1fdb04752bbc536007a920d24acb045561c26'),
               ('0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed'), ('0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359'),
               ('0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB'), ('0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb')) v(a);
SELECT eth_checksum_address('0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed') AS same;
SELECT eth_checksum_address('0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD');
SELECT eth_checksum_address('0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAe');
SELECT eth_checksum_address('0X5AAEB6053F3E94C9B9A09F33669435E7EF1BEAED');
SELECT eth_checksum_address('');

-- Who may call what: the pure functions are granted to the group roles, the internal helper to none.
SELECT r.rolname, has_function_privilege(r.rolname, 'tracechain.eth_recover(bytea, bytea)', 'EXECUTE') AS eth_recover,
       has_function_privilege(r.rolname, 'tracechain.eth_verify_message(text, text, text)', 'EXECUTE') AS verify,
       has_function_privilege(r.rolname, 'tracechain._eth_recover_message(text, text)', 'EXECUTE') AS internal
  FROM pg_roles r WHERE r.rolname IN ('tracechain_app', 'tracechain_admin', 'tracechain_auditor') ORDER BY 1;
-- Every object of the module has a comment.
SELECT p.oid::regprocedure AS uncommented FROM pg_proc p
 WHERE p.pronamespace = 'tracechain'::regnamespace
   AND p.proname IN ('keccak256', 'eth_message_hash', 'eth_recover', 'eth_checksum_address', 'eth_verify_message', '_eth_recover_message')
   AND obj_description(p.oid, 'pg_proc') IS NULL;

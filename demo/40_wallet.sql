-- demo/40_wallet.sql: Ethereum signatures and Sign-In with Ethereum (EIP-4361).
\set ON_ERROR_STOP 0
\set SHOW_CONTEXT never
\pset footer off
SET search_path = tracechain;
-- The site users sign in to (postgresql.conf or ALTER DATABASE ... SET in production; superuser-only).
SET tracechain.siwe_domain = 'example.com';

\echo
\echo '### 1. Keccak-256 (not SHA3-256) and the EIP-191 personal_sign digest.'
SELECT encode(keccak256('abc'), 'hex') AS keccak_abc, encode(sha256('abc'), 'hex') AS sha256_abc_differs;
SELECT encode(eth_message_hash('hello world'), 'hex') AS eip191_hello_world;

\echo
\echo '### 2. Recover who signed "hello world" (a signature made by ethers), check EIP-55.'
\set sig '0x0d5df3f9681b000a5b3a1d4252803318136714deba10c578f9b33718ad9c816e5520a6f19168136aa11e38d691d28a422bce4be3bf290fdb8efe45cdaefb20251c'
SELECT eth_recover(eth_message_hash('hello world'), decode(substr(:'sig', 3), 'hex')) AS signer;
SELECT eth_verify_message('hello world', :'sig', '0x2c7536E3605D9C16a7a3D7b1898e529396a65c23') AS genuine,
       eth_verify_message('hello world!', :'sig', '0x2c7536E3605D9C16a7a3D7b1898e529396a65c23') AS tampered;
SELECT eth_checksum_address('0x2c7536e3605d9c16a7a3d7b1898e529396a65c23') AS eip55;
SELECT eth_checksum_address('0x2c7536E3605D9C16a7a3D7b1898e529396a65c2C') AS bad_checksum;

\echo
\echo '### 3. The high-s twin of the same signature: libsecp256k1 would recover it; EIP-2 says no.'
SELECT eth_recover(eth_message_hash('hello world'), decode(substr('0x0d5df3f9681b000a5b3a1d4252803318136714deba10c578f9b33718ad9c816eaadf590e6e97ec955ee1c7296e2d75bc8ee09102f01f906030d418bf213b211c1b', 3), 'hex'));

\echo
\echo '### 4. siwe_challenge: the server issues the nonce (single use, 5 minutes), the wallet signs this text.'
SELECT siwe_challenge('0x2c7536e3605d9c16a7a3d7b1898e529396a65c23', statement => 'Sign in to the supply-chain portal.') AS challenge;
SELECT nonce, address, expires_at - issued_at AS lifetime FROM siwe_nonces ORDER BY issued_at DESC LIMIT 1;

\echo
\echo '### 5. siwe_login with a message the wallet signed earlier (fixed nonce and Issued At,'
\echo '    so the demo accepts an old message here; the nonce is stored as siwe_challenge would).'
SET tracechain.siwe_max_age = '20000d';
INSERT INTO siwe_nonces VALUES ('regressNonce000000000001', '0x2c7536e3605d9c16a7a3d7b1898e529396a65c23', 'example.com', now(), now() + interval '5 minutes')
ON CONFLICT DO NOTHING;
\set msg 'example.com wants you to sign in with your Ethereum account:\n0x2c7536E3605D9C16a7a3D7b1898e529396a65c23\n\nSign in to the regression suite.\n\nURI: https://example.com/login\nVersion: 1\nChain ID: 1\nNonce: regressNonce000000000001\nIssued At: 2026-01-01T00:00:00.000Z'
\set msig '0x234e423768d8934da2ac892c578244ef312122ce64a89db9e422497a30667de46a017e644c45314dff902996effe9281c6f3022d687bc233ee75cb138aa24eb11c'
\echo :msg
SELECT left(siwe_login(:'msg', :'msig', '192.0.2.20', 'demo-wallet/1.0'), 8) || '...' AS session_token;
SELECT kind, address, status FROM principals WHERE kind = 'wallet' AND address = '0x2c7536e3605d9c16a7a3d7b1898e529396a65c23';

\echo
\echo '### 6. Replaying the same signed message fails: the nonce was consumed.'
SELECT siwe_login(:'msg', :'msig', '192.0.2.66', 'replayer/0.1');

\echo
\echo '### 7. Garbage is refused with a reason: CR LF line ends, a 10 MB message.'
SELECT siwe_login(replace(:'msg', E'\n', E'\r\n'), :'msig', '192.0.2.66', 'fuzzer/0.1');
SELECT siwe_login(repeat('x', 10000000), :'msig', '192.0.2.66', 'fuzzer/0.1');

\echo
\echo '### 8. The success is in the audit log; each failure too, although its transaction rolled back.'
SELECT events_flush_wait() AS flushed;
SELECT id, action, details->>'reason' AS reason, ip, details->>'user_agent' AS user_agent FROM audit_log
 WHERE action IN ('siwe.login', 'siwe.login_failed') ORDER BY id DESC LIMIT 4;
RESET tracechain.siwe_max_age;

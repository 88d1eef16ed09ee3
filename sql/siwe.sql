-- siwe: Sign-In with Ethereum.  Signed messages were made by ethers 6.17 with
-- fixed keys, nonces and Issued At (test/interop/ethsig/fixtures.js); their
-- nonces are put into siwe_nonces by hand here, as siwe_challenge would.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS tracechain;
RESET client_min_messages;
SET search_path = tracechain, public;

-- A sign-in failure is 28000 with its reason; print SQLSTATE and message only.
CREATE FUNCTION pg_temp.try(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE q;
  RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
  RETURN SQLSTATE || ': ' || SQLERRM;
END $$;
CREATE FUNCTION pg_temp.login(msg text, sig text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE t text;
BEGIN
  t := tracechain.siwe_login(msg, sig, '192.0.2.7', 'regress-agent/1.0');
  RETURN CASE WHEN t ~ '^tcs_[A-Za-z0-9_-]{43}$' THEN 'token' ELSE 'bad token ' || t END;
EXCEPTION WHEN OTHERS THEN
  RETURN SQLSTATE || ': ' || SQLERRM;
END $$;
CREATE FUNCTION pg_temp.nonce(n text, addr text, ttl interval DEFAULT '1 hour') RETURNS void LANGUAGE sql AS $$
  INSERT INTO tracechain.siwe_nonces VALUES (n, lower(addr), 'example.com', now() - interval '2 hours', now() + ttl)
$$;

\set msg 'example.com wants you to sign in with your Ethereum account:\n0x2c7536E3605D9C16a7a3D7b1898e529396a65c23\n\nSign in to the regression suite.\n\nURI: https://example.com/login\nVersion: 1\nChain ID: 1\nNonce: regressNonce000000000001\nIssued At: 2026-01-01T00:00:00.000Z'
\set sig '0x234e423768d8934da2ac892c578244ef312122ce64a89db9e422497a30667de46a017e644c45314dff902996effe9281c6f3022d687bc233ee75cb138aa24eb11c'
\set msg_all 'example.com wants you to sign in with your Ethereum account:\n0x2c7536E3605D9C16a7a3D7b1898e529396a65c23\n\nSign in to the regression suite.\n\nURI: https://example.com/login\nVersion: 1\nChain ID: 1\nNonce: regressNonce000000000002\nIssued At: 2026-01-01T00:00:00.000Z\nExpiration Time: 2099-01-01T00:00:00.000Z\nNot Before: 2026-01-01T00:00:00Z\nRequest ID: req-1\nResources:\n- ipfs://bafybeiemxf5abjwjbikoz4mc3a3dla6ual3jsgpdr4cjr3oz3evfyavhwq/\n- https://example.com/my-web2-claim.json'
\set sig_all '0x94562b58baa4c394251a6822ffc3da55b5fce52f760e86b0e015a80227c20adb06763dfaee27eff84832bca32540b5e7268cebc2fdea87972ac2c9a5bddd69ae1b'
\set sig_wrong_signer '0x941c11a5373e6ead7c2e443ab658477a0655c47fb0631f558d6cba818281c4aa3acf227e6680bdffc069bfb7288fb4d3ab38a6360ef1345d013aff78888149e71b'
\set sig_high_s '0x234e423768d8934da2ac892c578244ef312122ce64a89db9e422497a30667de495fe819bb3baceb2006fd66910016d7cf3bbdab946ccde07d15c93794593f2901b'
\set addr_a '0x2c7536E3605D9C16a7a3D7b1898e529396a65c23'
\set addr_b '0x14791697260E4c9A71f18484C9f997B308e59325'

-- Not configured: no domain, no sign-in.
SELECT pg_temp.try($$SELECT tracechain.siwe_challenge('0x2c7536E3605D9C16a7a3D7b1898e529396a65c23')$$);
SELECT pg_temp.login(:'msg', :'sig');

SET tracechain.siwe_domain = 'example.com';
SHOW tracechain.siwe_chain_id;
SHOW tracechain.siwe_max_age;

-- siwe_challenge: an EIP-4361 message with a fresh nonce, stored for the address.
DELETE FROM siwe_nonces;
CREATE TEMP TABLE challenge AS
  SELECT siwe_challenge(lower(:'addr_a'), statement => 'Welcome.', uri => 'https://example.com/app') AS m;
SELECT m ~ '^example\.com wants you to sign in with your Ethereum account:\n0x2c7536E3605D9C16a7a3D7b1898e529396a65c23\n\nWelcome\.\n\nURI: https://example\.com/app\nVersion: 1\nChain ID: 1\nNonce: [A-Za-z0-9]{24}\nIssued At: \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\nExpiration Time: \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$' AS well_formed,
       p.error IS NULL AS parses, p.address = '0x2c7536e3605d9c16a7a3d7b1898e529396a65c23' AS address,
       p.expiration_time - p.issued_at AS ttl,
       EXISTS (SELECT 1 FROM siwe_nonces n WHERE n.nonce = p.nonce AND n.address = '0x2c7536e3605d9c16a7a3d7b1898e529396a65c23'
                 AND n.expires_at - n.issued_at = interval '5 minutes') AS stored
  FROM challenge c, LATERAL _siwe_parse(c.m) p;
SELECT count(*) FROM (SELECT siwe_challenge(:'addr_a') FROM generate_series(1, 20)) g;
SELECT count(*) AS nonces, count(DISTINCT nonce) AS distinct_nonces FROM siwe_nonces;
SELECT pg_temp.try($$SELECT tracechain.siwe_challenge('0x2c7536E3605D9C16a7a3D7b1898e529396a65C23')$$) AS bad_checksum;
SELECT pg_temp.try($$SELECT tracechain.siwe_challenge('2c7536e3605d9c16a7a3d7b1898e529396a65c23')$$) AS no_0x;
SELECT pg_temp.try($$SELECT tracechain.siwe_challenge('0x2c7536E3605D9C16a7a3D7b1898e529396a65c23', domain => 'evil.example')$$) AS other_domain;
SELECT pg_temp.try($$SELECT tracechain.siwe_challenge('0x2c7536E3605D9C16a7a3D7b1898e529396a65c23', uri => 'https://example.com.evil.example/')$$) AS other_origin;
SELECT pg_temp.try($$SELECT tracechain.siwe_challenge('0x2c7536E3605D9C16a7a3D7b1898e529396a65c23', uri => 'not a uri')$$) AS bad_uri;
SELECT pg_temp.try($$SELECT tracechain.siwe_challenge('0x2c7536E3605D9C16a7a3D7b1898e529396a65c23', chain_id => 5)$$) AS other_chain;
SELECT pg_temp.try($$SELECT tracechain.siwe_challenge('0x2c7536E3605D9C16a7a3D7b1898e529396a65c23', statement => E'two\nlines')$$) AS statement_lf;
SELECT pg_temp.try($$SELECT tracechain.siwe_challenge('0x2c7536E3605D9C16a7a3D7b1898e529396a65c23', ttl => '1 hour')$$) AS ttl_too_long;
SELECT pg_temp.try($$SELECT tracechain.siwe_challenge('0x2c7536E3605D9C16a7a3D7b1898e529396a65c23', ttl => '-1 second')$$) AS ttl_negative;

-- The fixtures were issued 2026-01-01: let them be old enough for this test.
SET tracechain.siwe_max_age = '20000d';

-- Unknown nonce: refused before any signature check.
SELECT pg_temp.login(:'msg', :'sig') AS unknown_nonce;
SELECT pg_temp.nonce('regressNonce000000000001', :'addr_a');
-- Other wallets' signatures and the high-s twin are refused, and leave the nonce unused.
SELECT pg_temp.login(:'msg', :'sig_wrong_signer') AS wrong_signer;
SELECT pg_temp.login(:'msg', :'sig_high_s') AS high_s;
SELECT pg_temp.login(:'msg', '0x' || repeat('00', 65)) AS zero_sig;
SELECT pg_temp.login(:'msg', substr(:'sig', 3)) AS no_0x;
SELECT pg_temp.login(:'msg', substr(:'sig', 1, 131)) AS odd_length;
SELECT pg_temp.login(:'msg', substr(:'sig', 1, 130) || '1d') AS v_29;
SELECT pg_temp.login(:'msg', substr(:'sig', 1, 130) || '25') AS v_eip155;
SELECT pg_temp.login(:'msg', '0x' || repeat('zz', 65)) AS not_hex;
-- Tampered message: same signature, one letter changed.
SELECT pg_temp.login(replace(:'msg', 'regression', 'Regression'), :'sig') AS tampered;

-- The good login: a token, a wallet principal on first sight with the lower-case address.
SELECT pg_temp.login(:'msg', :'sig') AS login;
SELECT kind, address, status FROM principals WHERE address = '0x2c7536e3605d9c16a7a3d7b1898e529396a65c23';
-- Replay: the nonce was consumed.
SELECT pg_temp.login(:'msg', :'sig') AS replay;

-- Every field (Expiration Time, Not Before, Request ID, Resources) and a second login of the same wallet.
SELECT error, request_id, resources FROM _siwe_parse(:'msg_all');
SELECT pg_temp.nonce('regressNonce000000000002', :'addr_a');
SELECT pg_temp.login(:'msg_all', :'sig_all') AS login_all_fields;
SELECT count(*) AS wallet_principals FROM principals WHERE address = '0x2c7536e3605d9c16a7a3d7b1898e529396a65c23';
SELECT count(*) AS sessions FROM sessions s JOIN principals p ON p.id = s.principal
 WHERE p.address = '0x2c7536e3605d9c16a7a3d7b1898e529396a65c23' AND s.ip = '192.0.2.7' AND s.user_agent = 'regress-agent/1.0';

-- A nonce issued for another address, or expired.
SELECT pg_temp.nonce('regressNonce000000000001', :'addr_b');
SELECT pg_temp.login(:'msg', :'sig') AS nonce_other_address;
DELETE FROM siwe_nonces WHERE nonce = 'regressNonce000000000001';
INSERT INTO siwe_nonces VALUES ('regressNonce000000000001', '0x2c7536e3605d9c16a7a3d7b1898e529396a65c23', 'example.com', now() - interval '2 hours', now() - interval '1 hour');
SELECT pg_temp.login(:'msg', :'sig') AS nonce_expired;
DELETE FROM siwe_nonces WHERE nonce = 'regressNonce000000000001';
SELECT pg_temp.nonce('regressNonce000000000001', :'addr_a');

-- Settings: domain, chain id, origin, age.
SET tracechain.siwe_domain = 'other.example';
SELECT pg_temp.login(:'msg', :'sig') AS other_domain;
SET tracechain.siwe_domain = 'example.com';
SET tracechain.siwe_chain_id = 5;
SELECT pg_temp.login(:'msg', :'sig') AS other_chain;
RESET tracechain.siwe_chain_id;
SET tracechain.siwe_uri_origin = 'https://app.example.com';
SELECT pg_temp.login(:'msg', :'sig') AS other_origin;
RESET tracechain.siwe_uri_origin;
RESET tracechain.siwe_max_age;
SELECT pg_temp.login(:'msg', :'sig') AS too_old;
SET tracechain.siwe_max_age = '20000d';

-- Suspended wallets get no session.
SELECT principal_set_status(id, 'suspended') FROM principals WHERE kind = 'wallet' AND address = '0x2c7536e3605d9c16a7a3d7b1898e529396a65c23';
SELECT pg_temp.login(:'msg', :'sig') AS suspended;
SELECT principal_set_status(id, 'active') FROM principals WHERE kind = 'wallet' AND address = '0x2c7536e3605d9c16a7a3d7b1898e529396a65c23';

-- Times, checked before the nonce: messages built now, signatures irrelevant.
SELECT pg_temp.login(_siwe_build('example.com', :'addr_a', NULL, 'https://example.com', 1, 'abcdefgh1234',
                                 now() + interval '1 hour', NULL), :'sig') AS issued_in_future;
SELECT pg_temp.login(_siwe_build('example.com', :'addr_a', NULL, 'https://example.com', 1, 'abcdefgh1234',
                                 now() + interval '10 seconds', NULL), :'sig') AS small_skew_ok_unknown_nonce;
SELECT pg_temp.login(_siwe_build('example.com', :'addr_a', NULL, 'https://example.com', 1, 'abcdefgh1234',
                                 now() - interval '1 hour', now() - interval '1 minute'), :'sig') AS expired;
SELECT pg_temp.login(_siwe_build('example.com', :'addr_a', NULL, 'https://example.com', 1, 'abcdefgh1234',
                                 now(), NULL) || E'\nNot Before: 2999-01-01T00:00:00Z', :'sig') AS not_yet_valid;
SELECT pg_temp.login(_siwe_build('example.com', :'addr_a', NULL, 'https://example.com.evil.example/', 1, 'abcdefgh1234',
                                 now(), NULL), :'sig') AS uri_other_host;
SELECT pg_temp.login(_siwe_build('example.com', :'addr_a', NULL, 'http://example.com/', 1, 'abcdefgh1234',
                                 now(), NULL), :'sig') AS uri_http;
SELECT pg_temp.login('http://' || _siwe_build('example.com', :'addr_a', NULL, 'https://example.com/', 1, 'abcdefgh1234',
                                 now(), NULL), :'sig') AS scheme_http;

-- Garbage: a 10 MB message, CR LF, missing fields, fields out of order, nulls.
SELECT pg_temp.login(repeat('a', 10 * 1024 * 1024), :'sig') AS ten_mb;
SELECT pg_temp.login(replace(:'msg', E'\n', E'\r\n'), :'sig') AS crlf;
SELECT pg_temp.login(:'msg' || E'\n', :'sig') AS trailing_lf;
SELECT pg_temp.login(regexp_replace(:'msg', E'Version: 1\n', ''), :'sig') AS missing_version;
SELECT pg_temp.login(regexp_replace(:'msg', E'\nIssued At: [^\n]*', ''), :'sig') AS missing_issued_at;
SELECT pg_temp.login(replace(replace(replace(:'msg', 'Version: 1', '@@'), 'Chain ID: 1', 'Version: 1'), '@@', 'Chain ID: 1'), :'sig') AS out_of_order;
SELECT pg_temp.login(:'msg' || E'\nExpiration Time: 2099-01-01T00:00:00Z\nExpiration Time: 2099-01-01T00:00:00Z', :'sig') AS repeated;
SELECT pg_temp.login(:'msg' || E'\nIssued At: 2026-01-01T00:00:00Z', :'sig') AS repeated_required;
SELECT pg_temp.login(replace(:'msg', '2026-01-01T00:00:00.000Z', '2026-02-30T00:00:00Z'), :'sig') AS bad_date;
SELECT pg_temp.login(replace(:'msg', 'Nonce: regressNonce000000000001', 'Nonce: short'), :'sig') AS short_nonce;
SELECT pg_temp.login(replace(:'msg', '0x2c7536E3605D9C16a7a3D7b1898e529396a65c23', '0x2c7536E3605D9C16a7a3D7b1898e529396a65C23'), :'sig') AS bad_checksum;
SELECT pg_temp.login(replace(:'msg', 'example.com wants', 'example.com/x wants'), :'sig') AS bad_domain;
SELECT pg_temp.login('', :'sig') AS empty;
SELECT pg_temp.login(E'\x01\x02', :'sig') AS control;
SELECT pg_temp.login(NULL, :'sig') AS null_message;
SELECT pg_temp.login(:'msg', NULL) AS null_signature;
-- The nonce survived all of that: it is consumed only by a successful login.
SELECT pg_temp.login(:'msg', :'sig') AS login_after_failures;

-- Every failure is a security event (rollback-proof), every success an audit row, with ip and user agent.
SELECT events_flush_wait() AS flushed;
SELECT action, details->>'reason' AS reason, count(*) AS n, bool_and(ip = '192.0.2.7') AS ip,
       bool_and(details->>'user_agent' = 'regress-agent/1.0') AS user_agent
  FROM audit_log WHERE action IN ('siwe.login', 'siwe.login_failed')
 GROUP BY 1, 2 ORDER BY 1, 2;
SELECT details->>'via' AS via, details->'default_role' AS default_role FROM audit_log
 WHERE action = 'principal.create' AND details->>'address' = '0x2c7536e3605d9c16a7a3d7b1898e529396a65c23';

-- Who may call what.
SELECT r.rolname,
       has_function_privilege(r.rolname, 'tracechain.siwe_challenge(text, text, text, int, text, interval)', 'EXECUTE') AS challenge,
       has_function_privilege(r.rolname, 'tracechain.siwe_login(text, text, inet, text)', 'EXECUTE') AS login,
       has_function_privilege(r.rolname, 'tracechain._siwe_parse(text)', 'EXECUTE') AS parse,
       has_table_privilege(r.rolname, 'tracechain.siwe_nonces', 'SELECT') AS nonces
  FROM pg_roles r WHERE r.rolname IN ('tracechain_app', 'tracechain_admin', 'tracechain_auditor') ORDER BY 1;
SELECT p.oid::regprocedure AS uncommented FROM pg_proc p
 WHERE p.pronamespace = 'tracechain'::regnamespace AND p.proname LIKE '%siwe%'
   AND obj_description(p.oid, 'pg_proc') IS NULL;
DELETE FROM siwe_nonces;
RESET tracechain.siwe_max_age;
RESET tracechain.siwe_domain;

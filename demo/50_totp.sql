-- demo/50_totp.sql: TOTP multi-factor: enrolment with an otpauth URI and a QR
-- code, a code accepted once, lockout that a rollback cannot undo, AAL 2,
-- recovery codes.
\set ON_ERROR_STOP 0
\set SHOW_CONTEXT never
\pset footer off
SET search_path = tracechain;

\echo
\echo '### 1. RFC 6238 through liboath: the Appendix B vectors (8 digits, T = 59 s).'
SELECT alg, totp_code(secret, to_timestamp(59), 8, 30, alg) AS code FROM (VALUES
  ('SHA1', 'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ'),
  ('SHA256', 'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZA===='),
  ('SHA512', 'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZDGNA=')
) v(alg, secret);
\echo 'Malformed input is a clear error, never an echo of the secret:'
SELECT totp_code('NOT-BASE32!');

\echo
\echo '### 2. Grace signs in (first factor) and enrols: the secret and URI are shown once.'
SELECT principal_create('user', 'grace@acme.example') AS grace \gset
SELECT session_create(:'grace', '8 hours') AS token \gset
BEGIN;
SELECT authenticate(:'token') = :'grace' AS authenticated;
SELECT secret, otpauth_uri FROM totp_enroll(issuer => 'TraceChain Acme') \gset
\echo secret: :secret
\echo uri:    :otpauth_uri
SELECT length(totp_qr_svg(:'otpauth_uri')) AS qr_svg_chars, left(totp_qr_svg(:'otpauth_uri'), 60) AS qr_svg_start;
\echo 'Stored only sealed under the master key (57 bytes: version, key fingerprint, nonce, ciphertext, tag):'
SELECT octet_length(secret_sealed) AS sealed_bytes, left(encode(secret_sealed, 'hex'), 24) || '...' AS sealed
  FROM totp_pending WHERE principal = :'grace';
\echo 'Her authenticator app shows a code; confirming it makes the factor live:'
SELECT totp_confirm(totp_code(:'secret')) AS confirmed;
COMMIT;

\echo
\echo '### 3. Next login: a code is accepted once and raises the session to AAL 2.'
SELECT totp_code(:'secret', now() + interval '30 seconds') AS code \gset
BEGIN;
SELECT authenticate(:'token') IS NOT NULL AS authenticated, current_aal() AS aal_before;
SELECT totp_verify(:'code') AS accepted;
SELECT current_aal() AS aal_after;
COMMIT;
SELECT aal AS session_aal FROM session_verify(:'token');
\echo 'The same code again (a replay), or an older one, is refused:'
BEGIN;
SELECT authenticate(:'token') IS NOT NULL AS authenticated;
SELECT totp_verify(:'code') AS replayed, totp_verify(totp_code(:'secret')) AS older;
COMMIT;

\echo
\echo '### 4. Recovery codes (needs AAL 2): shown once, stored as keyed hashes, single use.'
BEGIN;
SELECT authenticate(:'token') IS NOT NULL AS authenticated;
SELECT c AS recovery_code FROM totp_recovery_codes(n => 4) c;
SELECT encode(code_hash, 'hex') AS stored FROM totp_recovery_codes WHERE principal = :'grace' LIMIT 2;
COMMIT;

\echo
\echo '### 5. An attacker with Grace''s session guesses, rolling back each time.'
SET tracechain.totp_lockout = '10s';
BEGIN; SELECT authenticate(:'token') IS NOT NULL AS a; SELECT totp_verify('000001') AS guess; ROLLBACK;
BEGIN; SELECT authenticate(:'token') IS NOT NULL AS a; SELECT totp_verify('000002') AS guess; ROLLBACK;
BEGIN; SELECT authenticate(:'token') IS NOT NULL AS a; SELECT totp_verify('000003') AS guess; ROLLBACK;
BEGIN; SELECT authenticate(:'token') IS NOT NULL AS a; SELECT totp_verify('000004') AS guess; ROLLBACK;
BEGIN; SELECT authenticate(:'token') IS NOT NULL AS a; SELECT totp_verify('000005') AS guess; ROLLBACK;
\echo 'With the two refused replays that makes five consecutive failures, counted in shared memory'
\echo 'whatever the rollbacks: the factor is locked, and even the right code fails.'
SELECT failures, locked_until > now() AS locked FROM totp_admin_status(:'grace');
BEGIN;
SELECT authenticate(:'token') IS NOT NULL AS a;
SELECT totp_verify(totp_code(:'secret', now() + interval '30 seconds')) AS right_code_while_locked;
COMMIT;
\echo 'Every attempt is in the audit chain, rolled back or not:'
SELECT events_flush_wait() AS flushed;
SELECT id, action, details FROM audit_log
 WHERE actor = :'grace' AND action LIKE 'totp.%' ORDER BY id;

\echo
\echo '### 6. Another principal cannot touch Grace''s factor; an administrator can disable it.'
SELECT principal_create('user', 'mallory') AS mallory \gset
SELECT session_create(:'mallory') AS mtoken \gset
BEGIN;
SELECT authenticate(:'mtoken') IS NOT NULL AS authenticated;
SELECT totp_verify('123456', :'grace');
ROLLBACK;
SELECT totp_disable(:'grace') AS disabled_by_admin;
SELECT enrolled, failures FROM totp_admin_status(:'grace');
RESET tracechain.totp_lockout;

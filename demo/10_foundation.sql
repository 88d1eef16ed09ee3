-- demo/10_foundation.sql: principals, sessions, the current principal,
-- rollback-proof security events and the hash-chained audit log.
\set ON_ERROR_STOP 0
\set SHOW_CONTEXT never
\pset footer off
SET search_path = tracechain;
\echo
\echo '### 1. The master key comes from outside the database (a 0600 file here).'
SELECT configured, source, fingerprint, usable FROM master_key_status();

\echo
\echo '### 2. An application backend creates a principal and a session.'
\echo '    The token is shown once; only its SHA-256 is stored.'
SELECT principal_create('user', 'Ada (Acme Manufacturing)') AS ada \gset
SELECT session_create(:'ada', '8 hours', '192.0.2.10', 'demo-app/1.0') AS token \gset
\echo token: :token
SELECT principal = :'ada' AS is_ada, aal, expires_at > now() AS live FROM session_verify(:'token');
SELECT id, encode(token_hash, 'hex') AS stored_hash, ip, user_agent FROM sessions WHERE principal = :'ada';

\echo
\echo '### 3. authenticate() sets the current principal for one transaction; no SET can.'
BEGIN;
SELECT authenticate(:'token') = :'ada' AS authenticated;
SELECT current_principal() = :'ada' AS current_is_ada, current_aal() AS aal;
SET LOCAL tracechain.current_principal = '00000000-0000-0000-0000-000000000000';
ROLLBACK;
SELECT current_principal() IS NULL AS cleared_at_transaction_end;

\echo
\echo '### 4. A failed login raises an error, which rolls back; its audit row stays.'
BEGIN;
SELECT * FROM session_verify('tcs_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA');
ROLLBACK;
SELECT events_flush_wait() AS flushed_by_worker;
SELECT id, type, action, details, db_user FROM audit_log
 WHERE action = 'session.verify_failed' ORDER BY id DESC LIMIT 1;

\echo
\echo '### 5. Revocation.'
SELECT session_revoke(:'token') AS revoked;
SELECT * FROM session_verify(:'token');

\echo
\echo '### 6. The audit log is a hash chain: each row commits to the one before.'
SELECT events_flush_wait() AS flushed;
SELECT id, type, action, left(encode(prev_hash, 'hex'), 16) AS prev_hash, left(encode(hash, 'hex'), 16) AS hash
  FROM audit_log ORDER BY id DESC LIMIT 5;
SELECT * FROM verify_audit_chain();
SELECT last_id AS digest_id, hash AS digest_hash FROM audit_digest() \gset
\echo 'published digest:' :digest_id :digest_hash

\echo
\echo '### 7. Nobody rewrites history: UPDATE, DELETE and TRUNCATE are refused, even for the owner.'
UPDATE audit_log SET action = 'nothing happened' WHERE id = 1;
DELETE FROM audit_log;

\echo
\echo '### 8. A superuser who disables the guard can rewrite a row, and is caught.'
SELECT id AS victim FROM audit_log WHERE action = 'principal.create' AND resource = 'principal:' || :'ada' \gset
CREATE TEMP TABLE original AS SELECT * FROM audit_log WHERE id = :victim;
ALTER TABLE audit_log DISABLE TRIGGER audit_log_guard;
UPDATE audit_log SET details = '{"kind": "user", "name": "Mallory"}' WHERE id = :victim;
ALTER TABLE audit_log ENABLE ALWAYS TRIGGER audit_log_guard;
SELECT * FROM verify_audit_chain();
SELECT verify_audit_digest(:digest_id, :'digest_hash') AS log_still_extends_published_digest;
\echo '(the demo puts the row back)'
ALTER TABLE audit_log DISABLE TRIGGER audit_log_guard;
UPDATE audit_log a SET details = o.details FROM original o WHERE a.id = o.id;
ALTER TABLE audit_log ENABLE ALWAYS TRIGGER audit_log_guard;
SELECT ok AS restored FROM verify_audit_chain();

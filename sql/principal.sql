-- principal: principals, sessions, authenticate() and the current principal.
\set SHOW_CONTEXT never
SET search_path = tracechain;
\set VERBOSITY default

-- Principals: the normal path and every refusal.
SELECT principal_create('user', 'alice') AS alice \gset
SELECT kind, name, address, status FROM principals WHERE id = :'alice';
SELECT principal_create('wallet', 'bob', '0xAbCdEf0123456789abcdef0123456789ABCDEF01') AS bob \gset
SELECT kind, address FROM principals WHERE id = :'bob';
SELECT principal_create('wallet', 'bob again', '0xabcdef0123456789abcdef0123456789abcdef01');
SELECT principal_create('robot', 'x');
SELECT principal_create(NULL, 'x');
SELECT principal_create('user', '');
SELECT principal_create('user', repeat('n', 201));
SELECT principal_create('user', E'new\nline');
SELECT principal_create('wallet', 'no address');
SELECT principal_create('wallet', 'short', '0x1234');
SELECT principal_create('wallet', 'no 0x', 'abcdef0123456789abcdef0123456789abcdef01');
SELECT principal_create('device', 'd1', repeat('a', 201));

-- Sessions: a token is "tcs_" and 43 base64url characters; only its hash is stored.
SELECT session_create(:'alice', '1 hour', '10.1.2.3', 'psql test') AS tok \gset
SELECT length(:'tok') AS token_length, :'tok' ~ '^tcs_[A-Za-z0-9_-]{43}$' AS token_format;
SELECT count(*) AS sessions_with_token_text FROM sessions
 WHERE encode(token_hash, 'escape') LIKE '%' || :'tok' || '%';
SELECT token_hash = sha256(convert_to(:'tok', 'UTF8')) AS stored_as_sha256, aal, ip, user_agent
  FROM sessions WHERE principal = :'alice';
SELECT principal = :'alice' AS right_principal, aal, expires_at > now() AS live
  FROM session_verify(:'tok');
-- Two tokens are never equal.
SELECT session_create(:'alice') <> session_create(:'alice') AS distinct_tokens;

-- session_create refusals.
SELECT session_create(NULL);
SELECT session_create('00000000-0000-0000-0000-000000000000');
SELECT session_create(:'alice', '0 seconds');
SELECT session_create(:'alice', '-1 hour');
SELECT session_create(:'alice', '31 days');
SELECT session_create(:'alice', NULL);

-- session_verify refusals: unknown, malformed, NULL, hostile input.
SELECT * FROM session_verify('tcs_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA');
SELECT * FROM session_verify('tcs_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA!');
SELECT * FROM session_verify('tcs_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA');
SELECT * FROM session_verify('xyz_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA');
SELECT * FROM session_verify('');
SELECT * FROM session_verify(NULL);
SELECT * FROM session_verify(repeat('A', 100000));
SELECT * FROM session_verify(E'tcs_\\x00' || repeat('A', 39));

-- Expiry.
SELECT session_create(:'alice', '10 milliseconds') AS short_tok \gset
SELECT pg_sleep(0.05);
SELECT * FROM session_verify(:'short_tok');

-- Revocation: once, then false; and the revoked token no longer verifies.
SELECT session_revoke(:'short_tok') AS revoked_expired;
SELECT session_create(:'alice') AS tok2 \gset
SELECT session_revoke(:'tok2') AS revoked, session_revoke(:'tok2') AS revoked_again;
SELECT * FROM session_verify(:'tok2');
SELECT session_revoke('tcs_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA') AS unknown_token;
SELECT session_revoke('garbage');
SELECT session_revoke(NULL);
SELECT session_create(:'bob') AS bob1 \gset
SELECT session_create(:'bob') AS bob2 \gset
SELECT revoke_sessions(:'bob') AS bob_revoked, revoke_sessions(:'bob') AS bob_revoked_again;
SELECT * FROM session_verify(:'bob1');
SELECT revoke_sessions(NULL);

-- Suspension revokes and refuses; reactivation allows new sessions.
SELECT principal_create('user', 'carol') AS carol \gset
SELECT session_create(:'carol') AS carol_tok \gset
SELECT principal_set_status(:'carol', 'suspended');
SELECT * FROM session_verify(:'carol_tok');
SELECT session_create(:'carol');
SELECT principal_set_status(:'carol', 'active');
SELECT session_create(:'carol') IS NOT NULL AS new_session_after_reactivation;
SELECT principal_set_status(:'carol', 'deleted');
SELECT principal_set_status('00000000-0000-0000-0000-000000000000', 'active');

-- authenticate(): the current principal lives until the end of the transaction.
SELECT current_principal() IS NULL AS none_before, current_aal() AS aal_before;
BEGIN;
SELECT authenticate(:'tok') = :'alice' AS authenticated;
SELECT current_principal() = :'alice' AS current_is_alice, current_aal() AS aal,
       current_session_id() IS NOT NULL AS has_session;
COMMIT;
SELECT current_principal() IS NULL AS cleared_after_commit, current_aal() AS aal_after;
BEGIN;
SELECT authenticate(:'tok') IS NOT NULL AS authenticated;
SELECT 1 / 0;
ROLLBACK;
SELECT current_principal() IS NULL AS cleared_after_abort;
-- A failed authenticate sets nothing.
BEGIN;
SELECT authenticate('tcs_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA');
ROLLBACK;
SELECT current_principal() IS NULL AS still_none;
-- A statement outside a transaction block is its own transaction.
SELECT authenticate(:'tok') IS NOT NULL AS authenticated;
SELECT current_principal() IS NULL AS cleared_after_autocommit;

-- No setting changes the current principal.
BEGIN;
SELECT authenticate(:'tok') IS NOT NULL AS authenticated;
SET LOCAL tracechain.current_principal = '00000000-0000-0000-0000-000000000000';
ROLLBACK;
BEGIN;
SELECT authenticate(:'tok') IS NOT NULL AS authenticated;
SELECT set_config('tracechain.principal', :'bob', true);
ROLLBACK;
BEGIN;
SELECT authenticate(:'tok') IS NOT NULL AS authenticated;
SET LOCAL application_name = 'bob';
SET LOCAL session_authorization = 'postgres';
SET LOCAL ROLE tracechain_app;
SELECT current_principal() = :'alice' AS still_alice;
ROLLBACK;

-- A savepoint rolled back takes back the authentication (or AAL) made inside it.
BEGIN;
SAVEPOINT s1;
SELECT authenticate(:'tok') IS NOT NULL AS authenticated;
ROLLBACK TO SAVEPOINT s1;
SELECT current_principal() IS NULL AS undone, current_aal() AS aal;
SAVEPOINT s2;
SELECT authenticate(:'tok') IS NOT NULL AS authenticated;
RELEASE SAVEPOINT s2;
SELECT current_principal() = :'alice' AS kept_after_release;
SAVEPOINT s3;
SAVEPOINT s4;
SELECT tracechain._set_principal(:'bob', 2, 0);
RELEASE SAVEPOINT s4;
SELECT current_principal() = :'bob' AS bob_inside, current_aal() AS aal_inside;
ROLLBACK TO SAVEPOINT s3;
SELECT current_principal() = :'alice' AS back_to_alice, current_aal() AS aal;
COMMIT;
SET tracechain.session_max_ttl = '1 hour';
SET tracechain.session_max_ttl = '1h';
SELECT session_create(:'alice', '2 hours');
SET ROLE tracechain_app;
SET tracechain.session_max_ttl = '1 year';
RESET ROLE;
RESET tracechain.session_max_ttl;
-- _set_principal is not callable by the application role.
SET ROLE tracechain_app;
SELECT tracechain._set_principal(:'bob', 2, 1);
RESET ROLE;

-- Everything above that changed state was audited.
SELECT action, count(*) FROM audit_log
 WHERE action IN ('principal.create', 'session.create', 'session.revoke', 'session.revoke_all', 'principal.status')
   AND (actor IN (:'alice', :'bob', :'carol') OR resource IN ('principal:' || :'alice', 'principal:' || :'bob', 'principal:' || :'carol'))
 GROUP BY action ORDER BY action;
SELECT events_flush_wait() AS flushed;
SELECT details->>'reason' AS reason, count(*) FROM audit_log
 WHERE action = 'session.verify_failed' AND actor IN (:'alice', :'bob', :'carol')
 GROUP BY 1 ORDER BY 1;
SELECT ok FROM verify_audit_chain();

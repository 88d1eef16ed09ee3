-- totp: TOTP multi-factor.  Prints no secret, generated code, id or time.
CREATE EXTENSION IF NOT EXISTS tracechain;
SET search_path = tracechain, public;
SET client_min_messages = warning;
\set VERBOSITY terse

-- SQLSTATE and message of a statement's error, or its result.
CREATE FUNCTION pg_temp.try(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE r text;
BEGIN
  EXECUTE q INTO r;
  RETURN coalesce(r, 'null');
EXCEPTION WHEN OTHERS THEN
  RETURN SQLSTATE || ': ' || SQLERRM;
END $$;

-- A user with a session and (unless told otherwise) a confirmed factor.
CREATE TABLE pg_temp.users (name text PRIMARY KEY, id uuid, tok text, secret text);
CREATE FUNCTION pg_temp.mkuser(n text, confirm boolean DEFAULT true) RETURNS void LANGUAGE plpgsql AS $$
DECLARE v uuid; t text; s text;
BEGIN
  v := tracechain.principal_create('user', n);
  t := tracechain.session_create(v);
  PERFORM tracechain.authenticate(t);
  SELECT e.secret INTO s FROM tracechain.totp_enroll() e;
  IF confirm AND NOT tracechain.totp_confirm(tracechain.totp_code(s)) THEN
    RAISE EXCEPTION 'confirm failed';
  END IF;
  INSERT INTO pg_temp.users VALUES (n, v, t, s);
END $$;
-- Authenticate as a user and verify a code, in one transaction.
CREATE FUNCTION pg_temp.verify(n text, code text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
  PERFORM tracechain.authenticate((SELECT tok FROM pg_temp.users WHERE name = n));
  RETURN tracechain.totp_verify(code);
END $$;
-- The user's code `k` steps from now.
CREATE FUNCTION pg_temp.code(n text, k int DEFAULT 0) RETURNS text LANGUAGE sql AS $$
  SELECT tracechain.totp_code(secret, now() + k * interval '30 seconds') FROM pg_temp.users WHERE name = n
$$;

-- RFC 6238 Appendix B: all 18 rows, 8 digits.
WITH keys(alg, secret) AS (VALUES
  ('SHA1', 'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ'),
  ('SHA256', 'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZA===='),
  ('SHA512', 'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZDGNA=')),
rfc(t, alg, want) AS (VALUES
  (59, 'SHA1', '94287082'), (59, 'SHA256', '46119246'), (59, 'SHA512', '90693936'),
  (1111111109, 'SHA1', '07081804'), (1111111109, 'SHA256', '68084774'), (1111111109, 'SHA512', '25091201'),
  (1111111111, 'SHA1', '14050471'), (1111111111, 'SHA256', '67062674'), (1111111111, 'SHA512', '99943326'),
  (1234567890, 'SHA1', '89005924'), (1234567890, 'SHA256', '91819424'), (1234567890, 'SHA512', '93441116'),
  (2000000000, 'SHA1', '69279037'), (2000000000, 'SHA256', '90698825'), (2000000000, 'SHA512', '38618901'),
  (20000000000, 'SHA1', '65353130'), (20000000000, 'SHA256', '77737706'), (20000000000, 'SHA512', '47863826'))
SELECT r.t, r.alg, totp_code(k.secret, to_timestamp(r.t), 8, 30, r.alg) AS code,
       totp_code(k.secret, to_timestamp(r.t), 8, 30, r.alg) = r.want AS ok,
       totp_check(k.secret, r.want, to_timestamp(r.t), 8, 30, r.alg, 0) AS checks
  FROM rfc r JOIN keys k USING (alg) ORDER BY r.t, r.alg;

-- Digits, periods, algorithm names, windows.
SELECT totp_code('GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ', to_timestamp(59)) AS six,
       totp_code('GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ', to_timestamp(59), 7) AS seven,
       totp_code('gezdgnbvgy3tqojqgezdgnbvgy3tqojq', to_timestamp(59), 8, 60, 'sha1') AS lower_case_60s;
SELECT totp_check('GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ', '94287082', to_timestamp(59 + 30), 8) AS previous_step_in_window,
       totp_check('GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ', '94287082', to_timestamp(59 + 30), 8, 30, 'SHA1', 0) AS window_0,
       totp_check('GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ', '94287082', to_timestamp(59 + 60), 8) AS two_steps_later,
       totp_check('GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ', '94287082', to_timestamp(59), 6) AS wrong_length,
       totp_check('GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ', '287082', to_timestamp(59), 6) AS six_digits;

-- Hostile and out-of-range input: clear errors, never the secret in a message.
SELECT pg_temp.try(q) FROM (VALUES
  ($$SELECT totp_code('GEZDGNBVGY3TQOJ1')$$),
  ($$SELECT totp_code('GEZDGNBV GY3TQOJQ')$$),
  ($$SELECT totp_code('GEZ')$$),
  ($$SELECT totp_code('MY=====')$$),
  ($$SELECT totp_code('')$$),
  ($$SELECT totp_code('========')$$),
  ($$SELECT totp_code(repeat('A', 100000))$$),
  ($$SELECT totp_code(repeat('A', 208))$$),
  ($$SELECT totp_code('JBSWY3DPEHPK3PXP', now(), 5)$$),
  ($$SELECT totp_code('JBSWY3DPEHPK3PXP', now(), 9)$$),
  ($$SELECT totp_code('JBSWY3DPEHPK3PXP', now(), 6, 14)$$),
  ($$SELECT totp_code('JBSWY3DPEHPK3PXP', now(), 6, 301)$$),
  ($$SELECT totp_code('JBSWY3DPEHPK3PXP', now(), 6, 30, 'MD5')$$),
  ($$SELECT totp_code('JBSWY3DPEHPK3PXP', now(), 6, 30, 'SHA-1')$$),
  ($$SELECT totp_code('JBSWY3DPEHPK3PXP', now(), 6, 30, repeat('x', 100000))$$),
  ($$SELECT totp_code('JBSWY3DPEHPK3PXP', 'infinity')$$),
  ($$SELECT totp_code('JBSWY3DPEHPK3PXP', '1969-12-31 23:59:59+00')$$),
  ($$SELECT totp_code(NULL)$$),
  ($$SELECT totp_code('JBSWY3DPEHPK3PXP', NULL)$$),
  ($$SELECT totp_check('JBSWY3DPEHPK3PXP', repeat('1', 100000))::text$$),
  ($$SELECT totp_check('JBSWY3DPEHPK3PXP', '12345a')::text$$),
  ($$SELECT totp_check('JBSWY3DPEHPK3PXP', '')::text$$),
  ($$SELECT totp_check('JBSWY3DPEHPK3PXP', '123456', now(), 6, 30, 'SHA1', 11)::text$$),
  ($$SELECT totp_check('JBSWY3DPEHPK3PXP', NULL)::text$$)) v(q);

-- Enrolment: a 160-bit secret, shown once, and its otpauth URI; pending until confirmed.
SELECT principal_create('user', 'alice@example.com') AS alice_id \gset
SELECT session_create(:'alice_id') AS alice_tok \gset
BEGIN;
SELECT authenticate(:'alice_tok') = :'alice_id' AS authenticated;
SELECT secret AS alice_sec, otpauth_uri AS alice_uri FROM totp_enroll() \gset
SELECT :'alice_sec' ~ '^[A-Z2-7]{32}$' AS secret_is_160_bits,
       :'alice_uri' = 'otpauth://totp/TraceChain:alice%40example.com?secret=' || :'alice_sec'
                      || '&period=30&digits=6&algorithm=SHA1&issuer=TraceChain' AS uri_form;
SELECT pg_temp.try($$SELECT totp_verify('123456')::text$$) AS verify_while_pending;
SELECT octet_length(secret_sealed) AS sealed_bytes,
       position(convert_to(:'alice_sec', 'UTF8') IN secret_sealed) = 0 AS base32_not_stored
  FROM totp_pending WHERE principal = :'alice_id';
SELECT totp_confirm(lpad(((totp_code(:'alice_sec')::int + 500000) % 1000000)::text, 6, '0')) AS confirm_wrong;
SELECT totp_confirm(totp_code(:'alice_sec')) AS confirm_right;
SELECT count(*) AS pending_left FROM totp_pending WHERE principal = :'alice_id';
SELECT current_aal() AS aal_after_confirm;
COMMIT;
INSERT INTO pg_temp.users VALUES ('alice', :'alice_id', :'alice_tok', :'alice_sec');

-- Replay (RFC 6238 section 5.2): the confirming code is used; a code is accepted once;
-- an older code after a newer one is refused.
SELECT pg_temp.verify('alice', pg_temp.code('alice')) AS confirm_code_again;
BEGIN;
SELECT pg_temp.verify('alice', pg_temp.code('alice', 1)) AS next_step;
SELECT current_aal() AS aal_now;
COMMIT;
SELECT aal FROM session_verify(:'alice_tok');
SELECT pg_temp.verify('alice', pg_temp.code('alice', 1)) AS same_code_again;
SELECT pg_temp.verify('alice', pg_temp.code('alice', 0)) AS older_code;
SELECT pg_temp.verify('alice', pg_temp.code('alice', -1)) AS much_older_code;
-- Garbage never errs, it is a wrong code.
SELECT pg_temp.verify('alice', c) AS garbage FROM (VALUES (''), ('12345'), ('1234567'), ('abcdef'),
  (repeat('9', 100000)), (E'12345\n')) v(c);
SELECT pg_temp.try($$SELECT pg_temp.verify('alice', NULL)::text$$) AS null_code;
-- That was six wrong attempts in a row: alice is locked out now.
SELECT failures, locked_until IS NOT NULL AS locked FROM totp_admin_status(:'alice_id');
SELECT totp_disable(:'alice_id') AS disabled;
SELECT pg_temp.try($$SELECT pg_temp.verify('alice', '123456')::text$$) AS after_disable;
SELECT enrolled, pending, failures FROM totp_admin_status(:'alice_id');

-- Verification without a current principal, or for another principal.
SELECT pg_temp.try($$SELECT totp_verify('123456')::text$$) AS no_principal;
SELECT pg_temp.mkuser('bob');
SELECT pg_temp.mkuser('carol');
SELECT id AS bob_id FROM pg_temp.users WHERE name = 'bob' \gset
SELECT pg_temp.try(format($$SELECT (tracechain.authenticate(%L) IS NULL
                                    OR tracechain.totp_verify(%L, %L))::text$$,
                          (SELECT tok FROM pg_temp.users WHERE name = 'carol'),
                          pg_temp.code('bob', 1), :'bob_id')) AS verify_someone_else;
SELECT pg_temp.try(format($$SELECT (tracechain.authenticate(%L) IS NULL
                                    OR (SELECT count(*) > 0 FROM tracechain.totp_enroll(%L)))::text$$,
                          (SELECT tok FROM pg_temp.users WHERE name = 'carol'), :'bob_id')) AS enrol_someone_else;
SELECT pg_temp.try(format($$SELECT (tracechain.authenticate(%L) IS NULL
                                    OR (SELECT count(*) > 0 FROM tracechain.totp_recovery_codes(%L)))::text$$,
                          (SELECT tok FROM pg_temp.users WHERE name = 'carol'), :'bob_id')) AS codes_for_someone_else;
-- The sealed secret is bound to its principal: bob's row with carol's seal does not unseal.
UPDATE totp_factors SET secret_sealed = (SELECT secret_sealed FROM totp_factors f JOIN pg_temp.users u
                                          ON u.id = f.principal WHERE u.name = 'carol')
 WHERE principal = :'bob_id';
SELECT pg_temp.try(format($$SELECT pg_temp.verify('bob', %L)::text$$, pg_temp.code('carol', 1))) AS swapped_seal;

-- Re-enrolling needs AAL 2, and replaces the factor only once the new one is confirmed.
BEGIN;
SELECT authenticate(tok) IS NOT NULL AS authenticated FROM pg_temp.users WHERE name = 'carol';
SELECT pg_temp.try($$SELECT count(*)::text FROM tracechain.totp_enroll()$$) AS reenrol_at_aal1;
SELECT totp_verify(pg_temp.code('carol', 1)) AS verified;
SELECT secret_sealed AS carol_old FROM totp_factors f JOIN pg_temp.users u ON u.id = f.principal
 WHERE u.name = 'carol' \gset
SELECT secret AS carol_new FROM totp_enroll() \gset
SELECT secret_sealed = :'carol_old' AS old_factor_kept FROM totp_factors WHERE principal = current_principal();
SELECT totp_confirm(totp_code(:'carol_new')) AS confirm_new;
SELECT secret_sealed = :'carol_old' AS old_factor_kept FROM totp_factors WHERE principal = current_principal();
COMMIT;
UPDATE pg_temp.users SET secret = :'carol_new' WHERE name = 'carol';
SELECT pg_temp.verify('carol', pg_temp.code('carol', 1)) AS new_factor_works;

-- Recovery codes: need AAL 2; single use; a new set voids the old one.
SELECT pg_temp.mkuser('dave');
SELECT pg_temp.try(format($$SELECT (tracechain.authenticate(%L) IS NULL
                                    OR (SELECT count(*) > 0 FROM tracechain.totp_recovery_codes()))::text$$,
                          (SELECT tok FROM pg_temp.users WHERE name = 'dave'))) AS codes_at_aal1;
BEGIN;
SELECT authenticate(tok) IS NOT NULL AS authenticated FROM pg_temp.users WHERE name = 'dave';
SELECT totp_verify(pg_temp.code('dave', 1)) AS verified;
SELECT pg_temp.try($$SELECT count(*)::text FROM tracechain.totp_recovery_codes(n => 0)$$) AS zero_codes;
SELECT pg_temp.try($$SELECT count(*)::text FROM tracechain.totp_recovery_codes(n => 51)$$) AS too_many;
CREATE TEMP TABLE rc1 AS SELECT c FROM totp_recovery_codes(n => 3) c;
SELECT count(*) AS made, bool_and(c ~ '^[a-z2-7]{5}-[a-z2-7]{5}$') AS form FROM rc1;
SELECT count(DISTINCT r.code_hash) AS stored,
       count(*) FILTER (WHERE position(convert_to(c, 'UTF8') IN code_hash) > 0) AS in_clear
  FROM totp_recovery_codes r, rc1 WHERE r.principal = current_principal();
COMMIT;
SELECT pg_temp.verify('dave', upper((SELECT c FROM rc1 ORDER BY c LIMIT 1))) AS recovery_code;
SELECT aal FROM session_verify((SELECT tok FROM pg_temp.users WHERE name = 'dave'));
SELECT pg_temp.verify('dave', (SELECT c FROM rc1 ORDER BY c LIMIT 1)) AS recovery_code_again;
BEGIN;
SELECT authenticate(tok) IS NOT NULL AS authenticated FROM pg_temp.users WHERE name = 'dave';
SELECT current_aal() AS aal_from_session;
CREATE TEMP TABLE rc2 AS SELECT c FROM totp_recovery_codes(n => 2) c;
COMMIT;
SELECT pg_temp.verify('dave', (SELECT c FROM rc1 ORDER BY c DESC LIMIT 1)) AS voided_code;
SELECT pg_temp.verify('dave', (SELECT c FROM rc2 LIMIT 1)) AS new_set_code;
SELECT recovery_codes_left, failures FROM totp_admin_status((SELECT id FROM pg_temp.users WHERE name = 'dave'));

-- QR codes.
SELECT left(s, 40) AS head, right(s, 9) AS tail, s LIKE '%<path fill="#000" d="M4 4h7v1h-7z%' AS finder_pattern
  FROM (SELECT totp_qr_svg(:'alice_uri') s) q;
SELECT totp_qr_svg('x') = totp_qr_svg('x') AS deterministic;
SELECT pg_temp.try(q) FROM (VALUES
  ($$SELECT left(tracechain.totp_qr_svg(''), 10)$$),
  ($$SELECT left(tracechain.totp_qr_svg(repeat('x', 2049)), 10)$$),
  ($$SELECT left(tracechain.totp_qr_svg(repeat('x', 100000)), 10)$$),
  ($$SELECT tracechain.totp_qr_svg(NULL)$$)) v(q);

-- The trail: every attempt audited, failures as rollback-proof security events; no secret in it.
SELECT events_flush_wait(10000) AS flushed;
SELECT audit_seal() >= 0 AS sealed;   -- totp.verify rows go through the audit intake
SELECT action, details->>'reason' AS reason, count(*)
  FROM audit_log WHERE action LIKE 'totp.%' AND actor IN (SELECT id FROM pg_temp.users)
 GROUP BY 1, 2 ORDER BY 1, 2;
SELECT count(*) AS rows_with_a_secret FROM audit_log a, pg_temp.users u
 WHERE a.details::text LIKE '%' || u.secret || '%' OR a.details::text LIKE '%' || :'carol_new' || '%';
SELECT count(*) AS denials FROM audit_log WHERE action = 'totp.denied' AND actor IN (SELECT id FROM pg_temp.users);

-- Who may call what: the application role for the current principal only,
-- administrators disable any factor, PUBLIC nothing.
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'totp_test_app') THEN
    CREATE ROLE totp_test_app NOLOGIN IN ROLE tracechain_app;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'totp_test_admin') THEN
    CREATE ROLE totp_test_admin NOLOGIN IN ROLE tracechain_admin;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'totp_test_nobody') THEN
    CREATE ROLE totp_test_nobody NOLOGIN;
  END IF;
END $$;
SELECT pg_temp.mkuser('erin');
SELECT tok AS erin_tok, secret AS erin_sec, id AS erin_id FROM pg_temp.users WHERE name = 'erin' \gset
SELECT tok AS carol_tok, id AS carol_id FROM pg_temp.users WHERE name = 'carol' \gset
SELECT totp_code(:'erin_sec', now() + interval '30 seconds') AS erin_next \gset
SET ROLE totp_test_app;
BEGIN;
SELECT authenticate(:'carol_tok') IS NOT NULL AS authenticated;
SELECT totp_verify(:'erin_next', :'erin_id');
ROLLBACK;
BEGIN;
SELECT authenticate(:'carol_tok') IS NOT NULL AS authenticated;
SELECT count(*) FROM totp_enroll(:'erin_id');
ROLLBACK;
BEGIN;
SELECT authenticate(:'carol_tok') IS NOT NULL AS authenticated;
SELECT totp_confirm('123456', :'erin_id');
ROLLBACK;
SELECT totp_disable(:'erin_id');
SELECT * FROM totp_admin_status(:'erin_id');
SELECT count(*) FROM totp_factors;
SELECT length(totp_code('JBSWY3DPEHPK3PXP')) AS app_may_compute;
BEGIN;
SELECT authenticate(:'erin_tok') IS NOT NULL AS authenticated;
SELECT totp_verify(:'erin_next') AS own_factor;
SELECT enrolled, pending, recovery_codes_left, failures FROM totp_status();
COMMIT;
RESET ROLE;
SET ROLE totp_test_nobody;
SELECT tracechain.totp_code('JBSWY3DPEHPK3PXP');
SELECT tracechain.totp_verify('123456');
RESET ROLE;
SET ROLE totp_test_admin;
SELECT tracechain.totp_verify('123456');
SELECT enrolled FROM totp_admin_status(:'erin_id');
SELECT totp_disable(:'erin_id') AS disabled;
SELECT totp_disable(:'erin_id') AS nothing_left;
SELECT totp_disable(NULL);
RESET ROLE;
SELECT events_flush_wait(10000) AS flushed;
SELECT action, details->>'factor' AS factor, db_user FROM audit_log
 WHERE action = 'totp.disable' AND resource = 'principal:' || :'erin_id' ORDER BY id;

-- A user trigger on the tables totp_verify writes: it then updates them through
-- SQL (so the trigger runs), with the same outcome: accepted once, AAL 2 persisted.
SELECT pg_temp.mkuser('frank');
CREATE TABLE public.totp_test_fired (tbl text);
CREATE FUNCTION public.totp_test_fire() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO public.totp_test_fired VALUES (TG_TABLE_NAME);
  RETURN NEW;
END $$;
CREATE TRIGGER totp_test_fire AFTER UPDATE ON totp_factors FOR EACH ROW EXECUTE FUNCTION public.totp_test_fire();
CREATE TRIGGER totp_test_fire AFTER UPDATE ON sessions FOR EACH ROW EXECUTE FUNCTION public.totp_test_fire();
SELECT pg_temp.verify('frank', pg_temp.code('frank', 1)) AS verified_through_sql;
SELECT pg_temp.verify('frank', pg_temp.code('frank', 1)) AS replay_through_sql;
SELECT tbl, count(*) FROM public.totp_test_fired GROUP BY tbl ORDER BY tbl;
SELECT aal FROM session_verify((SELECT tok FROM pg_temp.users WHERE name = 'frank'));
DROP TRIGGER totp_test_fire ON totp_factors;
DROP TRIGGER totp_test_fire ON sessions;
DROP FUNCTION public.totp_test_fire();
DROP TABLE public.totp_test_fired;
-- and without the triggers, directly again
SELECT pg_temp.mkuser('gina');
SELECT pg_temp.verify('gina', pg_temp.code('gina', 1)) AS verified_directly;
SELECT pg_temp.verify('gina', pg_temp.code('gina', 1)) AS replay_directly;
SELECT aal FROM session_verify((SELECT tok FROM pg_temp.users WHERE name = 'gina'));
-- A read-only transaction cannot verify a right code (the replay guard is a write): 25006.
SELECT pg_temp.mkuser('hank');
BEGIN READ ONLY;
SELECT authenticate(tok) IS NOT NULL AS authenticated FROM pg_temp.users WHERE name = 'hank';
SELECT pg_temp.try(format($$SELECT tracechain.totp_verify(%L)::text$$, pg_temp.code('hank', 1))) AS read_only;
ROLLBACK;

-- A verification rolled back to a savepoint takes its AAL back with it (the
-- replay guard and the audit row went too: the code counts as unused).
SELECT pg_temp.mkuser('ivan');
SELECT session_create(id) AS ivan_tok FROM pg_temp.users WHERE name = 'ivan' \gset
BEGIN;
SELECT authenticate(:'ivan_tok') IS NOT NULL AS authenticated, current_aal() AS aal;
SAVEPOINT before_mfa;
SELECT totp_verify(pg_temp.code('ivan', 1)) AS verified, current_aal() AS aal_inside;
ROLLBACK TO SAVEPOINT before_mfa;
SELECT current_aal() AS aal_after_rollback_to_savepoint;
SELECT totp_verify(pg_temp.code('ivan', 1)) AS same_code_again, current_aal() AS aal;
COMMIT;

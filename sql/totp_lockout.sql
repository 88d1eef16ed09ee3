-- totp_lockout: consecutive failures lock a factor, even when every failed
-- attempt is rolled back.  Prints no secret, code, id or time.
SET search_path = tracechain, public;
SET client_min_messages = warning;
\set VERBOSITY terse
SET tracechain.totp_lockout = '2s';
SHOW tracechain.totp_max_failures;
SHOW tracechain.totp_window;

CREATE TABLE pg_temp.users (name text PRIMARY KEY, id uuid, tok text, secret text);
CREATE FUNCTION pg_temp.mkuser(n text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE v uuid; t text; s text;
BEGIN
  v := tracechain.principal_create('user', n);
  t := tracechain.session_create(v);
  PERFORM tracechain.authenticate(t);
  SELECT e.secret INTO s FROM tracechain.totp_enroll() e;
  IF NOT tracechain.totp_confirm(tracechain.totp_code(s)) THEN
    RAISE EXCEPTION 'confirm failed';
  END IF;
  INSERT INTO pg_temp.users VALUES (n, v, t, s);
END $$;
CREATE FUNCTION pg_temp.verify(n text, code text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
  PERFORM tracechain.authenticate((SELECT tok FROM pg_temp.users WHERE name = n));
  RETURN tracechain.totp_verify(code);
END $$;
-- A code of step `k` from now, and one that is wrong for every step in the window.
CREATE FUNCTION pg_temp.code(n text, k int DEFAULT 0) RETURNS text LANGUAGE sql AS $$
  SELECT tracechain.totp_code(secret, now() + k * interval '30 seconds') FROM pg_temp.users WHERE name = n
$$;
CREATE FUNCTION pg_temp.wrong(n text) RETURNS text LANGUAGE sql AS $$
  SELECT min(c) FROM (SELECT lpad(g::text, 6, '0') c FROM generate_series(0, 9) g) v
   WHERE c NOT IN (SELECT pg_temp.code(n, k) FROM generate_series(-2, 2) k)
$$;
CREATE FUNCTION pg_temp.state(n text) RETURNS TABLE (failures int, locked boolean) LANGUAGE sql AS $$
  SELECT s.failures, s.locked_until IS NOT NULL FROM tracechain.totp_admin_status(
    (SELECT id FROM pg_temp.users WHERE name = n)) s
$$;

-- Five wrong codes lock; during the lockout the right code is refused; afterwards it works.
SELECT pg_temp.mkuser('lock_a');
SELECT pg_temp.verify('lock_a', pg_temp.wrong('lock_a')) AS wrong FROM generate_series(1, 4);
SELECT * FROM pg_temp.state('lock_a');
SELECT pg_temp.verify('lock_a', pg_temp.wrong('lock_a')) AS fifth_wrong;
SELECT * FROM pg_temp.state('lock_a');
SELECT pg_temp.verify('lock_a', pg_temp.code('lock_a', 1)) AS right_code_while_locked;
SELECT pg_sleep(2.2);
SELECT pg_temp.verify('lock_a', pg_temp.code('lock_a', 1)) AS right_code_after_lockout;
SELECT * FROM pg_temp.state('lock_a');

-- A success resets the count of consecutive failures.
SELECT pg_temp.mkuser('lock_b');
SELECT pg_temp.verify('lock_b', pg_temp.wrong('lock_b')) AS wrong FROM generate_series(1, 4);
SELECT pg_temp.verify('lock_b', pg_temp.code('lock_b', 1)) AS right_code;
SELECT * FROM pg_temp.state('lock_b');
SELECT pg_temp.verify('lock_b', pg_temp.wrong('lock_b')) AS wrong_again;
SELECT * FROM pg_temp.state('lock_b');

-- Five wrong codes, each in a transaction that is rolled back, lock all the same.
SELECT pg_temp.mkuser('lock_c');
SELECT tok AS c_tok, id AS c_id FROM pg_temp.users WHERE name = 'lock_c' \gset
SELECT pg_temp.wrong('lock_c') AS c_wrong \gset
BEGIN; SELECT authenticate(:'c_tok') IS NOT NULL AS authenticated; SELECT totp_verify(:'c_wrong'); ROLLBACK;
BEGIN; SELECT authenticate(:'c_tok') IS NOT NULL AS authenticated; SELECT totp_verify(:'c_wrong'); ROLLBACK;
BEGIN; SELECT authenticate(:'c_tok') IS NOT NULL AS authenticated; SELECT totp_verify(:'c_wrong'); ROLLBACK;
BEGIN; SELECT authenticate(:'c_tok') IS NOT NULL AS authenticated; SELECT totp_verify(:'c_wrong'); ROLLBACK;
-- the fifth even fails the transaction on purpose after the attempt
BEGIN; SELECT authenticate(:'c_tok') IS NOT NULL AS authenticated; SELECT totp_verify(:'c_wrong'); SELECT 1 / 0; ROLLBACK;
SELECT * FROM pg_temp.state('lock_c');
SELECT pg_temp.verify('lock_c', pg_temp.code('lock_c', 1)) AS right_code_while_locked;
-- The failures survived the rollbacks in the audit trail too.
SELECT events_flush_wait(10000) AS flushed;
SELECT action, details->>'reason' AS reason, details->>'failures' AS failures
  FROM audit_log WHERE actor = :'c_id' AND action IN ('totp.verify_failed', 'totp.locked') ORDER BY id;
-- An administrator can lift a lockout by disabling the factor.
SELECT totp_disable(:'c_id') AS disabled;
SELECT * FROM pg_temp.state('lock_c');

-- Confirmation attempts count as well.
SELECT principal_create('user', 'lock_d') AS d_id \gset
SELECT session_create(:'d_id') AS d_tok \gset
BEGIN;
SELECT authenticate(:'d_tok') IS NOT NULL AS authenticated;
SELECT secret AS d_sec FROM totp_enroll() \gset
SELECT totp_confirm('000000') OR totp_confirm('111111') OR totp_confirm('222222')
    OR totp_confirm('333333') OR totp_confirm('444444') AS any_confirmed;
SELECT totp_confirm(totp_code(:'d_sec')) AS right_code_while_locked;
COMMIT;
SELECT failures, locked_until IS NOT NULL AS locked, pending FROM totp_admin_status(:'d_id');

-- The durable copy (totp_lockouts): _totp_lockout_sync() does what the
-- worker does within tracechain.worker_naptime.  Failures are written; a
-- success deletes the row; totp_disable deletes it at once.
SELECT pg_temp.mkuser('lock_p');
SELECT id AS p_id FROM pg_temp.users WHERE name = 'lock_p' \gset
SELECT pg_temp.verify('lock_p', pg_temp.wrong('lock_p')) AS wrong FROM generate_series(1, 2);
SELECT _totp_lockout_sync() >= 1 AS synced;
SELECT failures, locked_until IS NULL AS unlocked FROM totp_lockouts WHERE principal = :'p_id';
SELECT pg_temp.verify('lock_p', pg_temp.code('lock_p', 1)) AS right_code;
SELECT _totp_lockout_sync() >= 0 AS synced;
SELECT count(*) AS rows_after_success FROM totp_lockouts WHERE principal = :'p_id';
SELECT pg_temp.mkuser('lock_q');
SELECT id AS q_id FROM pg_temp.users WHERE name = 'lock_q' \gset
SELECT pg_temp.verify('lock_q', pg_temp.wrong('lock_q')) AS wrong FROM generate_series(1, 5);
SELECT _totp_lockout_sync() >= 1 AS synced;
SELECT failures, locked_until > now() AS locked FROM totp_lockouts WHERE principal = :'q_id';
SELECT totp_disable(:'q_id') AS disabled;
SELECT count(*) AS rows_after_disable FROM totp_lockouts WHERE principal = :'q_id';
-- Only administrators read it; nobody writes it but the worker.
SET ROLE tracechain_app;
SELECT count(*) FROM totp_lockouts;
RESET ROLE;
SET ROLE tracechain_admin;
SELECT count(*) >= 0 AS admin_reads FROM totp_lockouts;
INSERT INTO totp_lockouts (principal, failures) VALUES (:'q_id', 1);
RESET ROLE;

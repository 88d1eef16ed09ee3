-- audit_parallel: verify_audit_chain split between parallel workers gives the
-- same answers as the serial walk, intact or broken.
-- A database of its own, so that the log starts in id order in the heap
-- (earlier tests rewrote rows of the shared one, which moves them).
\set SHOW_CONTEXT never
CREATE DATABASE tc_audit_parallel;
\c tc_audit_parallel
SET client_min_messages = warning;
CREATE EXTENSION tracechain;
RESET client_min_messages;
SET search_path = tracechain;
SELECT principal_create('user', 'parallel-walker') AS actor \gset
SELECT count(log_user_action(:'actor', 'parallel.row', 'row:' || g, jsonb_build_object('g', g, 'pad', repeat('x', 100))))
  FROM generate_series(1, 3000) g;
-- Split even this small a log, and leave every segment to the workers.
SET min_parallel_table_scan_size = 0;
SET tracechain.verify_workers = 2;
SET parallel_leader_participation = off;
CREATE TEMP TABLE answers (mode text, ok boolean, rows_checked bigint, first_bad_id bigint, reason text);
CREATE FUNCTION pg_temp.both(what text) RETURNS TABLE (same boolean, ok boolean, first_bad_is_set boolean)
LANGUAGE plpgsql AS $$
DECLARE a record; b record;
BEGIN
  PERFORM set_config('tracechain.verify_workers', '0', true);
  SELECT * INTO a FROM tracechain.verify_audit_chain();
  PERFORM set_config('tracechain.verify_workers', '2', true);
  SELECT * INTO b FROM tracechain.verify_audit_chain();
  INSERT INTO answers VALUES (what || ' serial', a.ok, a.rows_checked, a.first_bad_id, a.reason),
                             (what || ' parallel', b.ok, b.rows_checked, b.first_bad_id, b.reason);
  RETURN QUERY SELECT a IS NOT DISTINCT FROM b, b.ok, b.first_bad_id IS NOT NULL;
END $$;

-- Intact: the workers do the walk (the DEBUG line says how many ran and
-- that the walk was decided by joining the runs of their segments).
SET client_min_messages = debug1;
SELECT ok, rows_checked = (SELECT count(*) FROM audit_log) AS every_row FROM verify_audit_chain();
-- No parallel workers to be had: the leader walks every segment itself.
SET max_parallel_workers = 0;
SELECT ok, rows_checked = (SELECT count(*) FROM audit_log) AS every_row FROM verify_audit_chain();
RESET max_parallel_workers;
RESET client_min_messages;
SELECT * FROM pg_temp.both('intact');

-- The digest check goes the same way.
SELECT last_id AS d_id, hash AS d_hash FROM audit_digest() \gset
SELECT verify_audit_digest(:d_id, :'d_hash') AS extends_digest;
SELECT verify_audit_digest(:d_id, repeat('0', 64)) AS wrong_hash;
SELECT verify_audit_digest(:d_id - 1000, :'d_hash') AS wrong_row;

-- A forged row appended at the end (in heap order, hash wrong).
ALTER TABLE audit_log DISABLE TRIGGER audit_log_guard;
INSERT INTO audit_log
SELECT id + 1, at, type, actor, db_user, 'forged', resource, details, ip, hash, hash
  FROM audit_log ORDER BY id DESC LIMIT 1;
ALTER TABLE audit_log ENABLE ALWAYS TRIGGER audit_log_guard;
SELECT * FROM pg_temp.both('forged tail');
SELECT reason ~ 'does not match its contents' AS why FROM answers WHERE mode = 'forged tail parallel';
ALTER TABLE audit_log DISABLE TRIGGER audit_log_guard;
DELETE FROM audit_log WHERE action = 'forged';
ALTER TABLE audit_log ENABLE ALWAYS TRIGGER audit_log_guard;

-- A row deleted in the middle of the workers' rows.
SELECT min(id) + 1500 AS gap FROM audit_log WHERE action = 'parallel.row' \gset
CREATE TEMP TABLE saved AS SELECT * FROM audit_log WHERE id = :gap;
ALTER TABLE audit_log DISABLE TRIGGER audit_log_guard;
DELETE FROM audit_log WHERE id = :gap;
ALTER TABLE audit_log ENABLE ALWAYS TRIGGER audit_log_guard;
SELECT * FROM pg_temp.both('gap');
SELECT first_bad_id = :gap + 1 AS points_after_gap, reason ~ 'is missing' AS why FROM answers WHERE mode = 'gap parallel';

-- Put the row back: now out of heap order, which the runs walk takes in its
-- stride (three runs: before the gap, after it, and the row at the end).
ALTER TABLE audit_log DISABLE TRIGGER audit_log_guard;
INSERT INTO audit_log SELECT * FROM saved;
ALTER TABLE audit_log ENABLE ALWAYS TRIGGER audit_log_guard;
SET client_min_messages = debug1;
SELECT ok FROM verify_audit_chain();
SET tracechain.verify_workers = 0;
SELECT ok FROM verify_audit_chain();
SET tracechain.verify_workers = 2;
RESET client_min_messages;
SELECT * FROM pg_temp.both('restored');

-- A rewritten row (its new version lies at the end of the heap): the same
-- answer both ways.
ALTER TABLE audit_log DISABLE TRIGGER audit_log_guard;
UPDATE audit_log SET details = '{"g": "rewritten"}' WHERE id = :gap - 700;
ALTER TABLE audit_log ENABLE ALWAYS TRIGGER audit_log_guard;
SELECT * FROM pg_temp.both('rewritten');
SELECT first_bad_id = :gap - 700 AS points_at_rewrite FROM answers WHERE mode = 'rewritten parallel';


\c contrib_regression
DROP DATABASE tc_audit_parallel;

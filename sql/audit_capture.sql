-- audit_capture: row-change capture through audit_table(), sealed into the chain.
\set SHOW_CONTEXT never
SET search_path = tracechain;

CREATE SCHEMA capture_test;
CREATE TABLE capture_test.accounts (id int PRIMARY KEY, owner text, balance numeric, tags jsonb);
SELECT audit_table('capture_test.accounts');
SELECT audit_table('capture_test.accounts');   -- idempotent
SELECT tgname FROM pg_trigger WHERE tgrelid = 'capture_test.accounts'::regclass ORDER BY 1;

-- Bulk INSERT, UPDATE (only changed columns plus the key), DELETE, TRUNCATE.
INSERT INTO capture_test.accounts SELECT g, 'owner ' || g, g * 10, '{"vip": false}' FROM generate_series(1, 5) g;
UPDATE capture_test.accounts SET balance = balance + 1 WHERE id <= 3;
UPDATE capture_test.accounts SET tags = '{"vip": true}', owner = 'Zoë' WHERE id = 4;
UPDATE capture_test.accounts SET id = 50 WHERE id = 5;
UPDATE capture_test.accounts SET owner = owner WHERE id = 1;    -- no change
DELETE FROM capture_test.accounts WHERE id IN (2, 3);
BEGIN;
INSERT INTO capture_test.accounts VALUES (99, 'rolled back', 0, NULL);
ROLLBACK;
TRUNCATE capture_test.accounts;
SELECT count(*) > 0 AS pending_before_seal FROM audit_pending WHERE resource = 'capture_test.accounts'
   OR EXISTS (SELECT 1 FROM audit_log WHERE resource = 'capture_test.accounts' AND type = 'data');
SELECT audit_seal() >= 0 AS sealed;
SELECT count(*) AS still_pending FROM audit_pending WHERE resource = 'capture_test.accounts';
SELECT type, action, resource, details->>'op' AS op, details->'key' AS key,
       details->'old' AS old, details->'new' AS new, details->>'statement' AS statement,
       (details->>'xid')::bigint > 0 AS has_xid, db_user
  FROM audit_log WHERE resource = 'capture_test.accounts' AND type = 'data' ORDER BY id;
SELECT ok FROM verify_audit_chain();

-- A 10,000-row UPDATE is captured in one statement-level trigger call.
CREATE TABLE capture_test.bulk (id int PRIMARY KEY, v int);
INSERT INTO capture_test.bulk SELECT g, 0 FROM generate_series(1, 10000) g;
SELECT audit_table('capture_test.bulk');
UPDATE capture_test.bulk SET v = v + 1;
SELECT audit_seal() >= 0 AS sealed;
SELECT count(*) AS captured_updates, count(DISTINCT details->'key') AS distinct_keys,
       bool_and(details->'old' = '{"v": 0}' AND details->'new' = '{"v": 1}') AS exact_values
  FROM audit_log WHERE resource = 'capture_test.bulk' AND action = 'row.update';

-- A table without a primary key: rows are captured without a key.
CREATE TABLE capture_test.nokey (a int, b text);
SELECT audit_table('capture_test.nokey');
INSERT INTO capture_test.nokey VALUES (1, 'x');
UPDATE capture_test.nokey SET b = 'y';
SELECT audit_seal() >= 0 AS sealed;
SELECT action, details->'key' AS key, details->'old' AS old, details->'new' AS new
  FROM audit_log WHERE resource = 'capture_test.nokey' AND type = 'data' ORDER BY id;

-- Any table name, however hostile, is quoted.
CREATE TABLE capture_test."we""ird; DROP TABLE capture_test.accounts; --" (id int PRIMARY KEY);
SELECT audit_table('capture_test."we""ird; DROP TABLE capture_test.accounts; --"');
INSERT INTO capture_test."we""ird; DROP TABLE capture_test.accounts; --" VALUES (1);
SELECT audit_seal() >= 0 AS sealed;
SELECT resource, details->'new' AS new FROM audit_log
 WHERE type = 'data' AND resource LIKE 'capture_test."we%' ORDER BY id;
SELECT to_regclass('capture_test.accounts') IS NOT NULL AS accounts_still_there;
SELECT unaudit_table('capture_test."we""ird; DROP TABLE capture_test.accounts; --"');

-- Refusals.
SELECT audit_table(NULL);
SELECT audit_table('tracechain.principals');
CREATE VIEW capture_test.v AS SELECT 1 AS x;
SELECT audit_table('capture_test.v');
SELECT audit_table('capture_test.missing');
SELECT unaudit_table('capture_test.nokey');
SELECT unaudit_table('capture_test.nokey');
INSERT INTO capture_test.nokey VALUES (2, 'not captured');
SELECT audit_seal() >= 0 AS sealed;
SELECT count(*) AS captured_after_unaudit FROM audit_log
 WHERE resource = 'capture_test.nokey' AND details->'new'->>'b' = 'not captured';

-- audit_pending is append-only too; audit_seal needs READ COMMITTED.
INSERT INTO capture_test.bulk VALUES (10001, 0);
DELETE FROM audit_pending;
UPDATE audit_pending SET action = 'x';
TRUNCATE audit_pending;
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT audit_seal();
ROLLBACK;
SELECT audit_seal(0);

-- Digests: published by the worker on an interval, or on demand.
SELECT audit_seal() >= 0 AS sealed;
SELECT audit_publish_digest() IS NOT NULL AS published;
SELECT d.hash = encode(a.hash, 'hex') AS digest_is_head
  FROM audit_digests d JOIN audit_log a ON a.id = d.last_id ORDER BY d.last_id DESC LIMIT 1;
SELECT verify_audit_digest(last_id, hash) FROM audit_digests ORDER BY last_id DESC LIMIT 1;

-- Captured rows are held by the backend and written to audit_pending when
-- their transaction commits, in the order they were captured; a rolled-back
-- savepoint takes its rows with it.
CREATE TABLE capture_test.q (id int PRIMARY KEY, v text);
SELECT audit_table('capture_test.q');
BEGIN;
INSERT INTO capture_test.q VALUES (1, 'top');
SELECT count(*) AS written_before_commit FROM audit_pending WHERE resource = 'capture_test.q';
SAVEPOINT a;
INSERT INTO capture_test.q VALUES (2, 'rolled back');
SAVEPOINT b;
INSERT INTO capture_test.q VALUES (3, 'inside the rolled-back savepoint');
RELEASE b;
ROLLBACK TO a;
INSERT INTO capture_test.q VALUES (4, 'after the rollback');
SAVEPOINT c;
INSERT INTO capture_test.q VALUES (5, 'released');
RELEASE c;
SAVEPOINT d;
UPDATE capture_test.q SET v = 'rolled back' WHERE id = 1;
ROLLBACK TO d;
UPDATE capture_test.q SET v = 'updated' WHERE id = 4;
COMMIT;
SELECT details->>'op' AS op, details->'key'->>'id' AS id, details->'new'->>'v' AS v
  FROM audit_pending WHERE resource = 'capture_test.q' ORDER BY audit_pending.id;
-- An exception block is a subtransaction too.
DO $$
BEGIN
  INSERT INTO capture_test.q VALUES (6, 'kept');
  BEGIN
    INSERT INTO capture_test.q VALUES (7, 'undone by the exception');
    PERFORM 1 / 0;
  EXCEPTION WHEN division_by_zero THEN NULL;
  END;
END $$;
SELECT details->'key'->>'id' AS id FROM audit_pending WHERE resource = 'capture_test.q' AND details->'key'->>'id' IN ('6', '7');
-- audit_seal() seals its own transaction's rows too, also when nothing else is pending.
SELECT audit_seal() >= 0 AS sealed;
BEGIN;
INSERT INTO capture_test.q VALUES (8, 'sealed in its own transaction');
SELECT audit_seal() > 0 AS sealed;
SELECT count(*) AS own_row_in_chain FROM audit_log WHERE resource = 'capture_test.q' AND details->'key'->>'id' = '8';
COMMIT;
-- A large statement's rows are written before commit (past 1 MB), in its
-- subtransaction: the rollback of its savepoint still removes them, and the
-- rows held for the outer level are kept.
BEGIN;
INSERT INTO capture_test.q VALUES (9, 'held for the top level');
SAVEPOINT big;
INSERT INTO capture_test.q SELECT g, repeat('x', 200) FROM generate_series(100, 10099) g;
SELECT count(*) > 0 AS written_early FROM audit_pending WHERE resource = 'capture_test.q' AND details->'new'->>'v' LIKE 'x%';
ROLLBACK TO big;
INSERT INTO capture_test.q SELECT g, repeat('y', 200) FROM generate_series(100, 10099) g;
RELEASE big;
COMMIT;
SELECT count(*) FILTER (WHERE details->'new'->>'v' LIKE 'x%') AS rolled_back_rows,
       count(*) FILTER (WHERE details->'new'->>'v' LIKE 'y%') AS kept_rows,
       count(*) FILTER (WHERE details->'key'->>'id' = '9') AS outer_row
  FROM audit_pending WHERE resource = 'capture_test.q';
-- An exception block per row does not hold every row to commit: once the
-- queue is large, each block writes its own rows as it ends.
CREATE TEMP TABLE early_seen (n bigint);
DO $$
BEGIN
  FOR i IN 20000..22999 LOOP
    BEGIN
      INSERT INTO capture_test.q VALUES (i, repeat('e', 500));
    EXCEPTION WHEN unique_violation THEN NULL;
    END;
  END LOOP;
  INSERT INTO early_seen SELECT count(*) FROM tracechain.audit_pending
   WHERE resource = 'capture_test.q' AND details->'new'->>'v' LIKE 'e%';
END $$;
SELECT n >= 1000 AS most_written_before_commit FROM early_seen;
SELECT count(*) AS all_rows_after_commit FROM audit_pending
 WHERE resource = 'capture_test.q' AND details->'new'->>'v' LIKE 'e%';
-- audit_seal() inside a savepoint, with rows held for the transaction
-- itself, seals nothing of this transaction yet: its rows stay in capture order.
BEGIN;
INSERT INTO capture_test.q VALUES (12, 'before the savepoint');
SAVEPOINT s;
INSERT INTO capture_test.q VALUES (13, 'inside the savepoint');
SELECT audit_seal() >= 0 AS sealed;
SELECT count(*) AS sealed_of_this_transaction FROM audit_log
 WHERE resource = 'capture_test.q' AND details->'key'->>'id' IN ('12', '13');
RELEASE s;
COMMIT;
-- Two-phase commit: written at PREPARE, visible once committed.
BEGIN;
INSERT INTO capture_test.q VALUES (10, 'prepared');
PREPARE TRANSACTION 'tc_capture_2pc';
SELECT count(*) AS visible_while_prepared FROM audit_pending WHERE resource = 'capture_test.q' AND details->'key'->>'id' = '10';
COMMIT PREPARED 'tc_capture_2pc';
SELECT count(*) AS visible_after_commit FROM audit_pending WHERE resource = 'capture_test.q' AND details->'key'->>'id' = '10';
BEGIN;
INSERT INTO capture_test.q VALUES (11, 'prepared, rolled back');
PREPARE TRANSACTION 'tc_capture_2pc';
ROLLBACK PREPARED 'tc_capture_2pc';
SELECT audit_seal() >= 0 AS sealed;
SELECT details->>'op' AS op, details->'key'->>'id' AS id, left(details->'new'->>'v', 12) AS v
  FROM audit_log WHERE resource = 'capture_test.q' AND (details->'key'->>'id')::int < 100 ORDER BY audit_log.id;
SELECT ok FROM verify_audit_chain();

-- Only administrators install capture.
CREATE ROLE tc_capture_app;
GRANT tracechain_app TO tc_capture_app;
GRANT USAGE ON SCHEMA capture_test TO tc_capture_app;
SET ROLE tc_capture_app;
SELECT tracechain.audit_table('capture_test.bulk');
SELECT tracechain.audit_seal();
SELECT count(*) FROM tracechain.audit_pending;
RESET ROLE;
REVOKE USAGE ON SCHEMA capture_test FROM tc_capture_app;
DROP ROLE tc_capture_app;

-- Values too large for a row: audit_pending keeps them compressed or out of
-- line (in its TOAST table), and the sealer chains them whole.
CREATE TABLE capture_test.big (id int PRIMARY KEY, v text);
SELECT audit_table('capture_test.big');
SELECT pg_relation_size(reltoastrelid) AS toast_before FROM pg_class WHERE oid = 'tracechain.audit_pending'::regclass \gset
INSERT INTO capture_test.big VALUES
  (1, repeat('z', 10000)),
  (2, (SELECT string_agg(md5(g::text), '') FROM generate_series(1, 4000) g));
SELECT pg_relation_size(reltoastrelid) > :toast_before AS pending_used_toast
  FROM pg_class WHERE oid = 'tracechain.audit_pending'::regclass;
SELECT audit_seal() >= 0 AND NOT EXISTS (SELECT FROM audit_pending WHERE resource = 'capture_test.big') AS sealed;
SELECT details->'new'->>'id' AS id, length(details->'new'->>'v') AS chained_length,
       md5(details->'new'->>'v') = md5(b.v) AS same_value
  FROM audit_log a JOIN capture_test.big b ON b.id = (a.details->'new'->>'id')::int
 WHERE a.resource = 'capture_test.big' ORDER BY a.id;
SELECT ok FROM verify_audit_chain();

-- Rows held for a transaction that then re-creates the extension: the new
-- audit_pending is another table, and capturing into it is refused (the rows
-- of the old one go with it).
BEGIN;
SET LOCAL client_min_messages = warning;
INSERT INTO capture_test.big VALUES (3, 'held');
DROP EXTENSION tracechain CASCADE;
CREATE EXTENSION tracechain;
SELECT audit_table('capture_test.big');
INSERT INTO capture_test.big VALUES (4, 'after');
ROLLBACK;
SELECT count(*) AS none_pending FROM audit_pending WHERE resource = 'capture_test.big';

SELECT unaudit_table('capture_test.accounts');
SELECT unaudit_table('capture_test.bulk');
SELECT unaudit_table('capture_test.q');
DROP SCHEMA capture_test CASCADE;
SELECT ok FROM verify_audit_chain();

-- Archiving: the oldest rows move out; both parts verify on their own.
SELECT count(*) AS live_before FROM audit_log \gset
SELECT audit_archive(now() + interval '1 day') = :live_before - 1 AS archived_all_but_head;
SELECT count(*) AS live_rows FROM audit_log;
SELECT ok, reason FROM verify_audit_chain();
SELECT ok, rows_checked = :live_before - 1 AS all_archived_checked FROM verify_audit_archive();
SELECT through_id = :live_before - 1 AS anchor_through, rows = :live_before - 1 AS anchor_rows FROM audit_anchors;
SELECT log_system_event('after.archive') > 0 AS appended;
SELECT ok FROM verify_audit_chain();
SELECT audit_archive(now() - interval '1 day') AS nothing_older;
SELECT audit_archive(NULL);
DELETE FROM audit_archive;
UPDATE audit_anchors SET rows = 0;
-- A rewritten anchor is detected.
ALTER TABLE audit_anchors DISABLE TRIGGER audit_anchors_guard;
UPDATE audit_anchors SET hash = sha256(hash);
SELECT ok, reason ~ 'prev_hash' AS why FROM verify_audit_chain();
UPDATE audit_anchors a SET hash = (SELECT hash FROM audit_archive WHERE id = a.through_id);
ALTER TABLE audit_anchors ENABLE ALWAYS TRIGGER audit_anchors_guard;
SELECT ok FROM verify_audit_chain();

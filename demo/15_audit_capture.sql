-- demo/15_audit_capture.sql: row-change capture with audit_table(), the
-- intake that commits with the writing transaction, and the sealer.
\set ON_ERROR_STOP 0
\set SHOW_CONTEXT never
\pset footer off
SET search_path = tracechain;
SET client_min_messages = warning;
DROP TABLE IF EXISTS public.shipments;
RESET client_min_messages;
CREATE TABLE public.shipments (id int PRIMARY KEY, sku text, qty int, status text);
INSERT INTO public.shipments SELECT g, 'SKU-' || g, g * 10, 'packed' FROM generate_series(1, 5) g;

\echo
\echo '### 1. A DBA turns on capture for a table: statement triggers with transition tables.'
SELECT audit_table('public.shipments');

\echo
\echo '### 2. Changes are held by the backend and written to audit_pending when the transaction commits;'
\echo '###    a rolled-back savepoint takes its rows with it, and a rolled-back transaction leaves nothing.'
BEGIN;
UPDATE public.shipments SET status = 'shipped' WHERE id <= 3;
SAVEPOINT oops;
DELETE FROM public.shipments;
ROLLBACK TO oops;
INSERT INTO public.shipments VALUES (6, 'SKU-6', 60, 'packed');
SELECT count(*) AS in_audit_pending_before_commit FROM audit_pending WHERE resource = 'public.shipments';
COMMIT;
BEGIN;
UPDATE public.shipments SET qty = 0;
ROLLBACK;

\echo
\echo '### 3. The worker seals committed rows into the chain (audit_seal() does it now): one chain row per changed row,'
\echo '###    UPDATEs with only the changed columns plus the key, and the statement, principal, db user and xid.'
SELECT audit_seal() >= 0 AS sealed;   -- 0 if the worker got there first
SELECT id, action, details->'key' AS key, details->'old' AS old, details->'new' AS new, db_user,
       details->>'statement' AS statement
  FROM audit_log WHERE resource = 'public.shipments' AND type = 'data' ORDER BY id;
SELECT ok, rows_checked > 0 AS checked FROM verify_audit_chain();
SELECT unaudit_table('public.shipments');
DROP TABLE public.shipments;

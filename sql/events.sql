-- events: security events survive the rollback of the transaction that recorded them.
\set SHOW_CONTEXT never
SET search_path = tracechain;
SELECT events_flush_wait() AS drained;
SELECT count(*) AS before FROM audit_log WHERE action = 'session.verify_failed' \gset

-- 1. A function that records a failed verification and raises an error.
SELECT * FROM session_verify('tcs_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA');

-- 2. A failure caught inside the transaction, which the caller then rolls back on purpose.
BEGIN;
DO $$
BEGIN
  PERFORM * FROM tracechain.session_verify('tcs_BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBA');
EXCEPTION WHEN invalid_authorization_specification THEN
  RAISE NOTICE 'caught: %', SQLERRM;
END $$;
ROLLBACK;

-- 3. An error inside an explicit transaction block, then ROLLBACK.
BEGIN;
SELECT * FROM session_verify('not a token');
ROLLBACK;

SELECT events_flush_wait() AS flushed;
SELECT count(*) - :before AS new_failure_rows
  FROM audit_log WHERE action = 'session.verify_failed';
SELECT type, action, details, db_user
  FROM audit_log WHERE action = 'session.verify_failed' ORDER BY id DESC LIMIT 3;
-- The rows the worker wrote are part of the chain.
SELECT ok, reason FROM verify_audit_chain();
-- Counters in worker_status.
SELECT events_queued >= 3 AS queued, events_flushed >= 3 AS flushed, events_dropped,
       queue_bytes, job_errors
  FROM worker_status;
-- Bad arguments.
SELECT events_flush_wait(-1);
SELECT events_flush_wait(4000000);
-- The internal entry point is not for roles.
CREATE ROLE tc_events_probe;
GRANT tracechain_app TO tc_events_probe;
SET ROLE tc_events_probe;
SELECT tracechain._record_event('security', 'forged', NULL, '{}', NULL, NULL);
RESET ROLE;
DROP ROLE tc_events_probe;

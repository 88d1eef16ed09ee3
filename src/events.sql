-- events.sql: rollback-proof security events (events.c) and the worker's status (worker.c).

CREATE FUNCTION _record_event(type text, action text, resource text, details jsonb,
                              actor uuid, ip inet)
RETURNS void
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'tc_record_event';
COMMENT ON FUNCTION _record_event(text, text, text, jsonb, uuid, inet) IS
'Internal: queue an audit row that survives the caller''s rollback; callable by the extension owner only';

CREATE FUNCTION events_flush_wait(timeout_ms int DEFAULT 5000)
RETURNS boolean
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'tc_events_flush_wait';
COMMENT ON FUNCTION events_flush_wait(int) IS
'Wait until every security event queued before the call is in audit_log; false when the timeout passes first';

CREATE FUNCTION _worker_status(OUT preloaded boolean, OUT pid int, OUT started_at timestamptz,
                               OUT last_run_at timestamptz, OUT runs bigint,
                               OUT events_queued bigint, OUT events_flushed bigint,
                               OUT events_dropped bigint, OUT queue_bytes bigint,
                               OUT job_errors bigint, OUT last_error text, OUT jobs jsonb)
RETURNS record
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'tc_worker_status';
COMMENT ON FUNCTION _worker_status() IS 'Internal: the row behind the worker_status view';

CREATE VIEW worker_status AS SELECT * FROM _worker_status();
COMMENT ON VIEW worker_status IS
'The tracechain background worker: pid (null when not running), last run, event queue counters, job errors, and per job (jobs): runs, items, errors, last run and its duration, last error';

GRANT EXECUTE ON FUNCTION events_flush_wait(int) TO tracechain_admin;
GRANT EXECUTE ON FUNCTION _worker_status() TO tracechain_admin, tracechain_auditor;
GRANT SELECT ON worker_status TO tracechain_admin, tracechain_auditor;

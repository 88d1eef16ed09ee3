-- setup: create the extension; every later test uses it.
\set SHOW_CONTEXT never
CREATE EXTENSION tracechain;
SELECT extname, extversion, extrelocatable FROM pg_extension WHERE extname = 'tracechain';
-- The background worker serves this database (test.sh waited for it).
SELECT preloaded, pid IS NOT NULL AS running FROM tracechain.worker_status;
-- Group roles exist and cannot log in.
SELECT rolname, rolcanlogin FROM pg_roles WHERE rolname LIKE 'tracechain\_%' ORDER BY 1;

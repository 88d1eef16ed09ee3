-- setup: create the extension; every later test uses it.
\set SHOW_CONTEXT never
CREATE EXTENSION tracechain;
SELECT extname, extversion, extrelocatable FROM pg_extension WHERE extname = 'tracechain';
-- The background worker serves this database (test.sh waited for it).
SELECT preloaded, pid IS NOT NULL AS running FROM tracechain.worker_status;
-- Group roles exist and cannot log in.
SELECT rolname, rolcanlogin FROM pg_roles WHERE rolname LIKE 'tracechain\_%' ORDER BY 1;

-- A group role that already exists but can log in (anyone with CREATEROLE
-- could have made it, to collect tracechain's grants) is refused.
CREATE DATABASE tc_role_squat;
\c tc_role_squat
ALTER ROLE tracechain_auditor LOGIN;
CREATE EXTENSION tracechain;
ALTER ROLE tracechain_auditor NOLOGIN;
SET client_min_messages = warning;
CREATE EXTENSION tracechain;
RESET client_min_messages;
SELECT extname FROM pg_extension WHERE extname = 'tracechain';
\c contrib_regression
DROP DATABASE tc_role_squat;

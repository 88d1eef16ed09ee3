-- schema.sql: the schema and the group roles DBAs grant.
--
-- Roles are cluster-wide: they are created when absent and left in place by
-- DROP EXTENSION (other databases may use them).

REVOKE ALL ON SCHEMA @extschema@ FROM PUBLIC;

DO $roles$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'tracechain_app') THEN
    CREATE ROLE tracechain_app NOLOGIN;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'tracechain_auditor') THEN
    CREATE ROLE tracechain_auditor NOLOGIN;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'tracechain_admin') THEN
    CREATE ROLE tracechain_admin NOLOGIN;
  END IF;
END
$roles$;

COMMENT ON ROLE tracechain_app IS 'tracechain: the application backend (sessions, sign-in, logging user actions)';
COMMENT ON ROLE tracechain_auditor IS 'tracechain: reads and verifies the audit log, writes nothing';
COMMENT ON ROLE tracechain_admin IS 'tracechain: administers principals, roles, keys and incidents';

GRANT USAGE ON SCHEMA @extschema@ TO tracechain_app, tracechain_auditor, tracechain_admin;

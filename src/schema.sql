-- schema.sql: the schema and the group roles DBAs grant.
--
-- Roles are cluster-wide: they are created when absent and left in place by
-- DROP EXTENSION (other databases may use them).

REVOKE ALL ON SCHEMA @extschema@ FROM PUBLIC;

-- A group role that already exists is reused (a reinstall, another database),
-- but only as a plain group: one that can log in, is a superuser or bypasses
-- row-level security was not made by us, and whoever made it (any role with
-- CREATEROLE can) would hold tracechain's privileges through it.
DO $roles$
DECLARE
  r text;
  bad record;
BEGIN
  FOREACH r IN ARRAY ARRAY['tracechain_app', 'tracechain_auditor', 'tracechain_admin'] LOOP
    SELECT rolcanlogin, rolsuper, rolbypassrls INTO bad FROM pg_catalog.pg_roles WHERE rolname = r;
    IF NOT FOUND THEN
      EXECUTE format('CREATE ROLE %I NOLOGIN', r);
    ELSIF bad.rolcanlogin OR bad.rolsuper OR bad.rolbypassrls THEN
      RAISE EXCEPTION 'role % exists and is not a plain group role', r
        USING ERRCODE = 'insufficient_privilege',
              DETAIL = 'tracechain grants its privileges to this role; it must be NOLOGIN, NOSUPERUSER and NOBYPASSRLS.',
              HINT = format('Check who created it, then ALTER ROLE %I NOLOGIN NOSUPERUSER NOBYPASSRLS or drop it.', r);
    END IF;
  END LOOP;
END
$roles$;

COMMENT ON ROLE tracechain_app IS 'tracechain: the application backend (sessions, sign-in, logging user actions)';
COMMENT ON ROLE tracechain_auditor IS 'tracechain: reads and verifies the audit log, writes nothing';
COMMENT ON ROLE tracechain_admin IS 'tracechain: administers principals, roles, keys and incidents';

GRANT USAGE ON SCHEMA @extschema@ TO tracechain_app, tracechain_auditor, tracechain_admin;

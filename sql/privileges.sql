-- privileges: PUBLIC has nothing; each group role has exactly its share.
\set SHOW_CONTEXT never
SET search_path = tracechain;

-- Nothing in the schema is granted to PUBLIC.
SELECT count(*) AS public_function_grants
  FROM pg_proc p, aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
 WHERE p.pronamespace = 'tracechain'::regnamespace AND a.grantee = 0;
SELECT count(*) AS public_table_grants
  FROM pg_class c, aclexplode(coalesce(c.relacl, acldefault('r', c.relowner))) a
 WHERE c.relnamespace = 'tracechain'::regnamespace AND a.grantee = 0;
SELECT has_schema_privilege('public', 'tracechain', 'USAGE') AS public_schema_usage;

-- Every SECURITY DEFINER function pins search_path.
SELECT p.proname FROM pg_proc p
 WHERE p.pronamespace = 'tracechain'::regnamespace AND p.prosecdef
   AND NOT EXISTS (SELECT 1 FROM unnest(p.proconfig) c WHERE c LIKE 'search_path=%');
-- Every function, table and view carries a comment.
SELECT p.oid::regprocedure AS uncommented FROM pg_proc p
 WHERE p.pronamespace = 'tracechain'::regnamespace AND obj_description(p.oid, 'pg_proc') IS NULL;
SELECT c.relname AS uncommented FROM pg_class c
 WHERE c.relnamespace = 'tracechain'::regnamespace AND c.relkind IN ('r', 'v')
   AND obj_description(c.oid, 'pg_class') IS NULL;

-- A role granted nothing can use nothing.
CREATE ROLE tc_nobody;
SELECT count(*) FILTER (WHERE has_function_privilege('tc_nobody', p.oid, 'EXECUTE')) AS callable,
       count(*) AS functions
  FROM pg_proc p WHERE p.pronamespace = 'tracechain'::regnamespace;
SELECT count(*) FILTER (WHERE has_table_privilege('tc_nobody', c.oid, 'SELECT,INSERT,UPDATE,DELETE,TRUNCATE')) AS usable
  FROM pg_class c WHERE c.relnamespace = 'tracechain'::regnamespace AND c.relkind IN ('r', 'v', 'S');
SET ROLE tc_nobody;
SELECT * FROM tracechain.audit_log;
SELECT * FROM tracechain.principals;
SELECT tracechain.current_principal();
SELECT tracechain.session_create('00000000-0000-0000-0000-000000000000');
RESET ROLE;

-- The privilege matrix: who may call each function (app, auditor, admin).
SELECT p.oid::regprocedure AS function,
       has_function_privilege('tracechain_app', p.oid, 'EXECUTE') AS app,
       has_function_privilege('tracechain_auditor', p.oid, 'EXECUTE') AS auditor,
       has_function_privilege('tracechain_admin', p.oid, 'EXECUTE') AS admin
  FROM pg_proc p WHERE p.pronamespace = 'tracechain'::regnamespace
 ORDER BY p.proname, p.oid::regprocedure::text;
SELECT c.relname AS relation,
       array_to_string(ARRAY(SELECT x FROM unnest(ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE']) x
                             WHERE has_table_privilege('tracechain_app', c.oid, x)), ',') AS app,
       array_to_string(ARRAY(SELECT x FROM unnest(ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE']) x
                             WHERE has_table_privilege('tracechain_auditor', c.oid, x)), ',') AS auditor,
       array_to_string(ARRAY(SELECT x FROM unnest(ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE']) x
                             WHERE has_table_privilege('tracechain_admin', c.oid, x)), ',') AS admin
  FROM pg_class c WHERE c.relnamespace = 'tracechain'::regnamespace AND c.relkind IN ('r', 'v')
 ORDER BY 1;

-- The application cannot read the audit log, nor write it except through the log functions.
CREATE ROLE tc_app_login LOGIN;
GRANT tracechain_app TO tc_app_login;
SET ROLE tc_app_login;
SELECT count(*) FROM tracechain.audit_log;
INSERT INTO tracechain.audit_log (id) VALUES (1);
SELECT tracechain.principal_create('user', 'made-by-app') IS NOT NULL AS app_creates_principals;
SELECT tracechain.log_user_action(NULL, 'app.action', NULL) > 0 AS app_logs;
SELECT tracechain.verify_audit_chain();
SELECT tracechain.principal_set_status('00000000-0000-0000-0000-000000000000', 'active');
UPDATE tracechain.principals SET status = 'suspended';
SELECT * FROM tracechain.sessions;
RESET ROLE;

-- The auditor reads and verifies, and writes nothing.
CREATE ROLE tc_auditor_login LOGIN;
GRANT tracechain_auditor TO tc_auditor_login;
SET ROLE tc_auditor_login;
SELECT count(*) > 0 AS auditor_reads FROM tracechain.audit_log;
SELECT ok FROM tracechain.verify_audit_chain();
SELECT last_id > 0 AS digest FROM tracechain.audit_digest();
SELECT pid IS NOT NULL AS sees_worker FROM tracechain.worker_status;
INSERT INTO tracechain.audit_log SELECT * FROM tracechain.audit_log ORDER BY id DESC LIMIT 1;
UPDATE tracechain.audit_log SET action = 'x';
DELETE FROM tracechain.audit_log;
SELECT tracechain.log_user_action(NULL, 'auditor.action', NULL);
SELECT tracechain.log_security_event('auditor.event');
SELECT * FROM tracechain.principals;
RESET ROLE;

-- The administrator.
CREATE ROLE tc_admin_login LOGIN;
GRANT tracechain_admin TO tc_admin_login;
SET ROLE tc_admin_login;
SELECT tracechain.principal_create('user', 'made-by-admin') AS adm_p \gset
SELECT tracechain.principal_set_status(:'adm_p', 'suspended');
SELECT usable FROM tracechain.master_key_status();
SELECT tracechain.session_create(:'adm_p');
UPDATE tracechain.audit_log SET action = 'x';
RESET ROLE;

DROP ROLE tc_nobody, tc_app_login, tc_auditor_login, tc_admin_login;

-- privesc: the privilege-escalation suite (issue 7).
--   1. every function and table, called/used for real by eleven actors: a role
--      with nothing; tracechain_app authenticated as a principal of each of the
--      seven RBAC roles; tracechain_auditor; tracechain_admin.  Printed as a
--      matrix, then checked: no cell is allowed that the grants do not allow.
--   2. a search_path attack: objects planted in public and pg_temp that shadow
--      functions and operators change nothing a SECURITY DEFINER function does.
--   3. quotes and semicolons in identifiers given to audit_table/protect_column.
\set SHOW_CONTEXT never
\set VERBOSITY terse
SET client_min_messages = warning;

-- ---------------------------------------------------------------- actors
CREATE ROLE tc_pe_nobody;
CREATE ROLE tc_pe_app;      GRANT tracechain_app TO tc_pe_app;
CREATE ROLE tc_pe_auditor;  GRANT tracechain_auditor TO tc_pe_auditor;
CREATE ROLE tc_pe_admin;    GRANT tracechain_admin TO tc_pe_admin;

CREATE TEMP TABLE pe_actor (ord int, name text, login name, grp name, rbac text, token text);
INSERT INTO pe_actor (ord, name, login, grp, rbac) VALUES
  (1, 'nobody', 'tc_pe_nobody', NULL, NULL),
  (2, 'app:SUPER_ADMIN', 'tc_pe_app', 'tracechain_app', 'SUPER_ADMIN'),
  (3, 'app:ADMIN', 'tc_pe_app', 'tracechain_app', 'ADMIN'),
  (4, 'app:MANUFACTURER', 'tc_pe_app', 'tracechain_app', 'MANUFACTURER'),
  (5, 'app:DISTRIBUTOR', 'tc_pe_app', 'tracechain_app', 'DISTRIBUTOR'),
  (6, 'app:RETAILER', 'tc_pe_app', 'tracechain_app', 'RETAILER'),
  (7, 'app:AUDITOR', 'tc_pe_app', 'tracechain_app', 'AUDITOR'),
  (8, 'app:CONSUMER', 'tc_pe_app', 'tracechain_app', 'CONSUMER'),
  (9, 'auditor', 'tc_pe_auditor', 'tracechain_auditor', NULL),
  (10, 'admin', 'tc_pe_admin', 'tracechain_admin', NULL);
-- superuser bootstrap: one principal per RBAC role, with a session
DO $$
DECLARE a record; p uuid;
BEGIN
  FOR a IN SELECT * FROM pe_actor WHERE rbac IS NOT NULL LOOP
    p := tracechain.principal_create('user', 'privesc ' || a.rbac);
    PERFORM tracechain.grant_role(p, a.rbac);
    UPDATE pe_actor SET token = tracechain.session_create(p, '1 hour') WHERE ord = a.ord;
  END LOOP;
END $$;
GRANT SELECT ON pe_actor TO PUBLIC;
SELECT count(*) AS actors, count(token) AS authenticated FROM pe_actor;

-- The calls: every function of the schema with NULL arguments (a STRICT
-- function returns NULL; the others check privileges first, then parse).  The
-- NULLs are subqueries: a STRICT call with a constant NULL is folded away by
-- the planner before any EXECUTE privilege is checked.
-- Each call runs in a subtransaction that is always rolled back.
-- 'x' = got past every privilege check (ran, or failed on its arguments);
-- '-' = refused with 42501 (by a GRANT or by the function's own check).
CREATE FUNCTION pg_temp.pe_try(actor pe_actor, sql text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  BEGIN
    PERFORM set_config('role', actor.login, true);
    IF actor.token IS NOT NULL THEN
      PERFORM tracechain.authenticate(actor.token);
    END IF;
    EXECUTE sql;
    RAISE EXCEPTION USING ERRCODE = 'TCZZZ';
  EXCEPTION
    WHEN insufficient_privilege THEN RETURN '-';
    -- a view that cannot be written, for everyone: refused before any privilege check
    WHEN object_not_in_prerequisite_state THEN
      RETURN CASE WHEN SQLERRM LIKE 'cannot % view %' THEN '-' ELSE 'x' END;
    -- the call itself is wrong: shows as '?' and fails the test
    WHEN undefined_function OR syntax_error THEN RETURN '?';
    WHEN OTHERS THEN RETURN 'x';
  END;
END $$;

CREATE TEMP TABLE pe_fn AS
  SELECT p.oid, p.oid::regprocedure::text AS fn,
         format('SELECT %I.%I(%s)', 'tracechain', p.proname,
                (SELECT string_agg(CASE WHEN i = p.pronargs AND p.provariadic <> 0 THEN 'VARIADIC ' ELSE '' END
                                   || '(SELECT NULL::' || format_type(t, NULL) || ')', ', ' ORDER BY i)
                   FROM unnest(p.proargtypes::oid[]) WITH ORDINALITY u(t, i))) AS sql
    FROM pg_proc p
   WHERE p.pronamespace = 'tracechain'::regnamespace
     -- waits for the worker up to its argument: not a privilege question
     AND p.proname NOT IN ('events_flush_wait');
SET statement_timeout = '300s';
CREATE TEMP TABLE pe_fn_cell AS
  SELECT f.fn, a.ord, pg_temp.pe_try(a, f.sql) AS got,
         CASE WHEN a.grp IS NULL THEN false
              ELSE has_function_privilege(a.grp, f.oid, 'EXECUTE') END AS granted
    FROM pe_fn f, pe_actor a;

-- tables and views: SELECT, INSERT, UPDATE, DELETE tried for real (INSERT of a
-- row of defaults, the others WHERE false; all rolled back), TRUNCATE from the
-- grants (it would take an exclusive lock).
CREATE TEMP TABLE pe_rel AS
  SELECT c.oid, c.relname::text AS rel, format('%I.%I', 'tracechain', c.relname) AS q
    FROM pg_class c WHERE c.relnamespace = 'tracechain'::regnamespace AND c.relkind IN ('r', 'v', 'p');
CREATE TEMP TABLE pe_rel_cell AS
  SELECT r.rel, a.ord, op,
         pg_temp.pe_try(a, CASE op
           WHEN 'S' THEN format('SELECT 1 FROM %s WHERE false', r.q)
           WHEN 'I' THEN format('INSERT INTO %s DEFAULT VALUES', r.q)
           WHEN 'U' THEN format('UPDATE %s SET %I = DEFAULT WHERE false', r.q,
                                (SELECT attname FROM pg_attribute WHERE attrelid = r.oid AND attnum = 1))
           WHEN 'D' THEN format('DELETE FROM %s WHERE false', r.q) END) AS got,
         -- granted: on the table, or (S, I, U) on some of its columns (e.g. devices, secrets left out)
         CASE WHEN a.grp IS NULL THEN false
              WHEN op = 'D' THEN has_table_privilege(a.grp, r.oid, 'DELETE')
              ELSE has_any_column_privilege(a.grp, r.oid, CASE op WHEN 'S' THEN 'SELECT' WHEN 'I' THEN 'INSERT'
                                            ELSE 'UPDATE' END) END AS granted
    FROM pe_rel r, pe_actor a, unnest(ARRAY['S', 'I', 'U', 'D']) op;
INSERT INTO pe_rel_cell
  SELECT r.rel, a.ord, 'T', CASE WHEN a.grp IS NOT NULL AND has_table_privilege(a.grp, r.oid, 'TRUNCATE') THEN 'x' ELSE '-' END,
         a.grp IS NOT NULL AND has_table_privilege(a.grp, r.oid, 'TRUNCATE')
    FROM pe_rel r, pe_actor a;
RESET statement_timeout;

-- The matrix.  Columns: nobody | app as SUPER_ADMIN ADMIN MANUFACTURER
-- DISTRIBUTOR RETAILER AUDITOR CONSUMER | auditor | admin.
SELECT fn AS function,
       string_agg(got, '' ORDER BY ord) FILTER (WHERE ord = 1) || ' ' ||
       string_agg(got, '' ORDER BY ord) FILTER (WHERE ord BETWEEN 2 AND 8) || ' ' ||
       string_agg(got, '' ORDER BY ord) FILTER (WHERE ord = 9) || ' ' ||
       string_agg(got, '' ORDER BY ord) FILTER (WHERE ord = 10) AS "n SAMDRAC u a"
  FROM pe_fn_cell GROUP BY fn ORDER BY fn;
-- tables: per actor the operations that got through (S I U D T), '-' for none
SELECT rel AS relation,
       string_agg(coalesce(nullif(ops, ''), '-'), ' ' ORDER BY ord) AS "nobody | app x7 | auditor | admin"
  FROM (SELECT rel, ord, string_agg(CASE WHEN got = 'x' THEN op ELSE '' END, '' ORDER BY strpos('SIUDT', op)) AS ops
          FROM pe_rel_cell GROUP BY rel, ord) s
 GROUP BY rel ORDER BY rel;

-- The size of the matrix, and the checks.
SELECT (SELECT count(*) FROM pe_fn_cell) AS function_cells,
       (SELECT count(*) FROM pe_rel_cell) AS table_cells,
       (SELECT count(*) FROM pe_fn_cell WHERE got = 'x') + (SELECT count(*) FROM pe_rel_cell WHERE got = 'x') AS allowed,
       (SELECT count(*) FROM pe_fn_cell WHERE got = 'x' AND NOT granted)
       + (SELECT count(*) FROM pe_rel_cell WHERE got = 'x' AND NOT granted) AS unexpected_allows;
-- every unexpected allow by name (none)
SELECT 'function' AS kind, fn AS object, (SELECT name FROM pe_actor WHERE ord = c.ord) AS actor
  FROM pe_fn_cell c WHERE (got = 'x' AND NOT granted) OR got = '?'
UNION ALL
SELECT 'table ' || op, rel, (SELECT name FROM pe_actor WHERE ord = c.ord)
  FROM pe_rel_cell c WHERE got = 'x' AND NOT granted;
-- the direct writes the grants allow (the registry's product delete, under its row-level policy)
SELECT rel, op, (SELECT name FROM pe_actor WHERE ord = c.ord) AS actor
  FROM pe_rel_cell c WHERE got = 'x' AND op <> 'S' ORDER BY 1, 2, 3;
-- grants the app uses, refused by the function itself to RBAC roles lacking the permission
SELECT fn, string_agg(a.name, ', ' ORDER BY a.ord) AS refused_inside
  FROM pe_fn_cell c JOIN pe_actor a USING (ord)
 WHERE c.granted AND c.got = '-' GROUP BY fn ORDER BY fn;

-- Functions written in SQL or PL/pgSQL that do not pin search_path run with
-- the caller's: none may be SECURITY DEFINER, and none may be a trigger
-- (a trigger runs on other people's writes).
SELECT p.oid::regprocedure AS unpinned
  FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
 WHERE p.pronamespace = 'tracechain'::regnamespace AND l.lanname NOT IN ('c', 'internal')
   AND NOT EXISTS (SELECT 1 FROM unnest(p.proconfig) c WHERE c LIKE 'search_path=%')
   AND (p.prosecdef OR p.prorettype = 'trigger'::regtype)
 ORDER BY 1;

-- ---------------------------------------------------------------- search_path attack
CREATE TABLE public.pe_pwned (what text);
GRANT INSERT, SELECT ON public.pe_pwned TO PUBLIC;
GRANT CREATE, USAGE ON SCHEMA public TO tc_pe_app;
CREATE FUNCTION public.pe_hit(what text) RETURNS boolean LANGUAGE sql AS
  $$ INSERT INTO public.pe_pwned VALUES (what) RETURNING true $$;
GRANT EXECUTE ON FUNCTION public.pe_hit(text) TO PUBLIC;
-- shadows in public: built-ins with the same and with looser signatures
CREATE FUNCTION public.sha256(bytea) RETURNS bytea LANGUAGE sql AS
  $$ SELECT CASE WHEN public.pe_hit('sha256') THEN '\x00'::bytea END $$;
CREATE FUNCTION public.sha256(text) RETURNS bytea LANGUAGE sql AS
  $$ SELECT CASE WHEN public.pe_hit('sha256(text)') THEN '\x00'::bytea END $$;
CREATE FUNCTION public.now() RETURNS timestamptz LANGUAGE sql AS
  $$ SELECT CASE WHEN public.pe_hit('now') THEN 'epoch'::timestamptz END $$;
CREATE FUNCTION public.lower(varchar) RETURNS text LANGUAGE sql AS
  $$ SELECT CASE WHEN public.pe_hit('lower') THEN 'x' END $$;
CREATE FUNCTION public.length(varchar) RETURNS int LANGUAGE sql AS
  $$ SELECT CASE WHEN public.pe_hit('length') THEN 0 END $$;
CREATE FUNCTION public.coalesce_text(text) RETURNS text LANGUAGE sql AS $$ SELECT $1 $$;
CREATE FUNCTION public.gen_random_uuid() RETURNS uuid LANGUAGE sql AS
  $$ SELECT CASE WHEN public.pe_hit('gen_random_uuid') THEN '00000000-0000-0000-0000-000000000000'::uuid END $$;
CREATE FUNCTION public.current_principal() RETURNS uuid LANGUAGE sql AS
  $$ SELECT CASE WHEN public.pe_hit('public.current_principal') THEN '00000000-0000-0000-0000-000000000000'::uuid END $$;
CREATE FUNCTION public.has_permission(text, uuid DEFAULT NULL) RETURNS boolean LANGUAGE sql AS
  $$ SELECT public.pe_hit('public.has_permission') $$;
CREATE FUNCTION public.pe_uuid_eq(uuid, uuid) RETURNS boolean LANGUAGE sql AS
  $$ SELECT public.pe_hit('operator =(uuid,uuid)') $$;
CREATE OPERATOR public.= (LEFTARG = uuid, RIGHTARG = uuid, FUNCTION = public.pe_uuid_eq);
CREATE FUNCTION public.pe_text_eq(text, text) RETURNS boolean LANGUAGE sql AS
  $$ SELECT public.pe_hit('operator =(text,text)') $$;
CREATE OPERATOR public.= (LEFTARG = text, RIGHTARG = text, FUNCTION = public.pe_text_eq);
CREATE FUNCTION public.pe_bytea_cat(bytea, bytea) RETURNS bytea LANGUAGE sql AS
  $$ SELECT CASE WHEN public.pe_hit('operator ||(bytea,bytea)') THEN '\x00'::bytea END $$;
CREATE OPERATOR public.|| (LEFTARG = bytea, RIGHTARG = bytea, FUNCTION = public.pe_bytea_cat);
-- shadows in pg_temp (searched first when named in search_path before pg_catalog)
CREATE FUNCTION pg_temp.current_principal() RETURNS uuid LANGUAGE sql AS
  $$ SELECT CASE WHEN public.pe_hit('pg_temp.current_principal') THEN '00000000-0000-0000-0000-000000000000'::uuid END $$;
CREATE FUNCTION pg_temp.sha256(bytea) RETURNS bytea LANGUAGE sql AS
  $$ SELECT CASE WHEN public.pe_hit('pg_temp.sha256') THEN '\x00'::bytea END $$;
CREATE FUNCTION pg_temp.has_permission(text, uuid DEFAULT NULL) RETURNS boolean LANGUAGE sql AS
  $$ SELECT public.pe_hit('pg_temp.has_permission') $$;
CREATE TABLE pg_temp.principals (id uuid, status text);
CREATE TABLE public.audit_log (id bigint);
CREATE TABLE public.sessions (id uuid);
GRANT ALL ON pg_temp.principals, public.audit_log, public.sessions TO PUBLIC;

-- The flows, as the application with the attacker's search_path (pg_temp first).
SET ROLE tc_pe_app;
SET search_path = pg_temp, public, tracechain, pg_catalog;
SELECT tracechain.principal_create('user', 'privesc victim') AS victim \gset
SELECT tracechain.session_create(:'victim', '1 hour') AS vtok \gset
BEGIN;
SELECT tracechain.authenticate(:'vtok') IS NOT NULL AS authenticated;
SELECT tracechain.current_principal() OPERATOR(pg_catalog.=) :'victim'::uuid AS right_principal;
SELECT tracechain.has_permission('product.create') AS victim_may_create;
SELECT tracechain.log_user_action(:'victim', 'privesc.action', 'r1', '{"k": 1}') > 0 AS logged;
COMMIT;
SELECT principal IS NOT NULL AS verified FROM tracechain.session_verify(:'vtok');
SELECT tracechain.session_revoke(:'vtok') AS revoked;
SELECT tracechain.revoke_sessions(:'victim') AS revoked_all;
SELECT octet_length(tracechain.keccak256('\x'::bytea)) AS keccak_len;
SELECT tracechain.eth_checksum_address('0xfb6916095ca1df60bb79ce92ce3ea74c37c5d359') AS checksum;
SELECT tracechain.verify_secret('x', tracechain.hash_secret('x')) AS secret_ok;
RESET ROLE;
SET ROLE tc_pe_auditor;
SELECT ok FROM tracechain.verify_audit_chain();
RESET ROLE;
RESET search_path;
-- nothing planted was called by any tracechain function
SELECT count(*) AS hijacked_calls FROM public.pe_pwned;
SELECT what, count(*) FROM public.pe_pwned GROUP BY 1 ORDER BY 1;
SELECT count(*) AS planted_rows FROM public.audit_log;

-- ---------------------------------------------------------------- identifier injection
CREATE TABLE public.pe_victim (id int);
CREATE TABLE public."pe_q'; DROP TABLE public.pe_victim; --" (id int PRIMARY KEY,
  "c""; DROP TABLE public.pe_victim; --" bytea, "d'); DROP TABLE public.pe_victim; --" bytea);
SELECT tracechain.audit_table('public."pe_q''; DROP TABLE public.pe_victim; --"') IS NOT NULL AS audited;
SELECT tracechain.protect_column('public."pe_q''; DROP TABLE public.pe_victim; --"',
                                 'c"; DROP TABLE public.pe_victim; --') IS NOT NULL AS protected_c;
SELECT tracechain.protect_column('public."pe_q''; DROP TABLE public.pe_victim; --"',
                                 'd''); DROP TABLE public.pe_victim; --') IS NOT NULL AS protected_d;
INSERT INTO public."pe_q'; DROP TABLE public.pe_victim; --" VALUES (1, 'secret c', 'secret d');
SELECT count(*) AS sealed FROM public."pe_q'; DROP TABLE public.pe_victim; --"
 WHERE "c""; DROP TABLE public.pe_victim; --" <> 'secret c' AND "d'); DROP TABLE public.pe_victim; --" <> 'secret d';
UPDATE public."pe_q'; DROP TABLE public.pe_victim; --" SET id = 2;
DELETE FROM public."pe_q'; DROP TABLE public.pe_victim; --";
SELECT to_regclass('public.pe_victim') IS NOT NULL AS victim_survives;
-- the three writes were captured (sealed into audit_log, or still in the intake)
SELECT (SELECT count(*) FROM tracechain.audit_log WHERE type = 'data' AND resource LIKE '%pe_q''; DROP TABLE%')
     + (SELECT count(*) FROM tracechain.audit_pending WHERE type = 'data' AND resource LIKE '%pe_q''; DROP TABLE%') AS audited_rows;
-- names that do not exist are refused as names, not run
SELECT tracechain.protect_column('public.pe_victim', 'id; DROP TABLE public.pe_victim');
SELECT tracechain.audit_table('public.pe_victim; DROP TABLE public.pe_victim');
SELECT to_regclass('public.pe_victim') IS NOT NULL AS victim_survives;
SELECT tracechain.unprotect_column('public."pe_q''; DROP TABLE public.pe_victim; --"',
                                   'c"; DROP TABLE public.pe_victim; --') IS NOT NULL AS unprotected;
SELECT tracechain.unaudit_table('public."pe_q''; DROP TABLE public.pe_victim; --"') IS NOT NULL AS unaudited;

-- ---------------------------------------------------------------- clean up
DROP TABLE public."pe_q'; DROP TABLE public.pe_victim; --", public.pe_victim;
DROP OPERATOR public.= (uuid, uuid);
DROP OPERATOR public.= (text, text);
DROP OPERATOR public.|| (bytea, bytea);
DROP FUNCTION public.sha256(bytea), public.sha256(text), public.now(), public.lower(varchar),
  public.length(varchar), public.coalesce_text(text), public.gen_random_uuid(),
  public.current_principal(), public.has_permission(text, uuid), public.pe_uuid_eq(uuid, uuid),
  public.pe_text_eq(text, text), public.pe_bytea_cat(bytea, bytea), public.pe_hit(text);
DROP TABLE public.pe_pwned, public.audit_log, public.sessions;
REVOKE CREATE, USAGE ON SCHEMA public FROM tc_pe_app;
DROP ROLE tc_pe_nobody, tc_pe_app, tc_pe_auditor, tc_pe_admin;

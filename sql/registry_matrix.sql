-- registry_matrix: each of the seven roles against each action, through a
-- tracechain_app connection acting as each role's principal in turn.
--   view            SELECT a product it holds no stake in
--   create          register_product (every principal is an authorized stakeholder)
--   update own      UPDATE a product it holds a stake in (its own, for MANUFACTURER)
--   update other's  UPDATE a product it holds no stake in
--   delete          DELETE the product it holds a stake in
--   add checkpoint  add_checkpoint on the product it holds a stake in
--   verify          verify_product on a product it holds no stake in
--   grant role      grant_role of its own role to a fresh principal
--   pause           emergency_pause
-- Every action runs in a subtransaction that is rolled back: nothing carries over.
\set SHOW_CONTEXT never
SET search_path = tracechain;

CREATE ROLE rm_app LOGIN;
GRANT tracechain_app TO rm_app;
CREATE TABLE pg_temp.actors (role text PRIMARY KEY, principal uuid, token text, own bigint);
GRANT SELECT ON pg_temp.actors TO rm_app;
SELECT principal_create('user', 'rm-maker0') AS maker0 \gset
SELECT grant_role(:'maker0', 'MANUFACTURER');
SELECT authorize_stakeholder(:'maker0', 1000);
SELECT principal_create('user', 'rm-fresh') AS fresh \gset
INSERT INTO pg_temp.actors (role, principal)
SELECT r.name, principal_create('user', 'rm-' || lower(r.name)) FROM roles r WHERE r.builtin;
SELECT count(grant_role(principal, role)) AS granted, count(authorize_stakeholder(principal, 1000)) AS authorized
  FROM pg_temp.actors;
UPDATE pg_temp.actors SET token = session_create(principal);
-- The foreign product, and each role's own one: MANUFACTURER registers its
-- own, the others get a stake in one registered by maker0.
SELECT session_create(:'maker0') AS tok0 \gset
BEGIN;
SELECT authenticate(:'tok0') IS NOT NULL AS maker0;
SELECT register_product('Foreign', 'F1', 1) AS foreign_id \gset
UPDATE pg_temp.actors SET own = register_product('Own ' || role, 'O1', 1) WHERE role <> 'MANUFACTURER';
SELECT count(product_add_stakeholder(own, principal)) AS stakes FROM pg_temp.actors WHERE role <> 'MANUFACTURER';
COMMIT;
BEGIN;
SELECT authenticate(token) IS NOT NULL AS manufacturer FROM pg_temp.actors WHERE role = 'MANUFACTURER';
UPDATE pg_temp.actors SET own = register_product('Own MANUFACTURER', 'O1', 1) WHERE role = 'MANUFACTURER';
COMMIT;

-- allow / deny of one statement, always rolled back.
CREATE FUNCTION pg_temp.try(stmt text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  n bigint;
BEGIN
  BEGIN
    EXECUTE stmt;
    GET DIAGNOSTICS n = ROW_COUNT;
    IF stmt ~* '^(update|delete)' AND n = 0 THEN
      RETURN 'deny (rls)';
    END IF;
    IF stmt ~* '^select count' THEN
      EXECUTE stmt INTO n;
      IF n = 0 THEN RETURN 'deny (rls)'; END IF;
    END IF;
    RAISE EXCEPTION USING ERRCODE = 'P0004', MESSAGE = 'undo';
  EXCEPTION
    WHEN assert_failure THEN RETURN 'allow';
    WHEN insufficient_privilege THEN RETURN 'deny';
  END;
END $$;
GRANT EXECUTE ON FUNCTION pg_temp.try(text) TO rm_app;

CREATE FUNCTION pg_temp.row(r text, foreign_id bigint, fresh uuid) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  a record;
BEGIN
  SELECT * INTO a FROM pg_temp.actors x WHERE x.role = r;
  PERFORM tracechain.authenticate(a.token);
  RETURN concat_ws(' | ', rpad(r, 12),
    rpad(pg_temp.try(format('select count(*) from tracechain.products where id = %s', foreign_id)), 10),
    rpad(pg_temp.try($q$select tracechain.register_product('Matrix', 'M1', 1)$q$), 10),
    rpad(pg_temp.try(format('update tracechain.products set batch_number = %L where id = %s', 'M', a.own)), 10),
    rpad(pg_temp.try(format('update tracechain.products set batch_number = %L where id = %s', 'M', foreign_id)), 10),
    rpad(pg_temp.try(format('delete from tracechain.products where id = %s', a.own)), 10),
    rpad(pg_temp.try(format('select tracechain.add_checkpoint(%s, %L, %L)', a.own, 'scan', 'Matrix')), 10),
    rpad(pg_temp.try(format('select tracechain.verify_product(%s)', foreign_id)), 10),
    rpad(pg_temp.try(format('select tracechain.grant_role(%L, %L)', fresh, r)), 10),
    pg_temp.try('select tracechain.emergency_pause()'));
END $$;
GRANT EXECUTE ON FUNCTION pg_temp.row(text, bigint, uuid) TO rm_app;

SET SESSION AUTHORIZATION rm_app;
SELECT 'role         | view       | create     | update own | update oth | delete     | checkpoint | verify     | grant role | pause' AS matrix
UNION ALL SELECT * FROM (
  SELECT pg_temp.row(role, :foreign_id, :'fresh') FROM pg_temp.actors
   ORDER BY array_position(ARRAY['SUPER_ADMIN', 'ADMIN', 'MANUFACTURER', 'DISTRIBUTOR', 'RETAILER', 'AUDITOR', 'CONSUMER'], role)
) m;
RESET SESSION AUTHORIZATION;

-- The matrix as can_access_product sees it (same rules, one product at a time).
SELECT a.role, can_access_product(:foreign_id, 'view', a.principal) AS view_foreign,
       can_access_product(a.own, 'update', a.principal) AS update_own,
       can_access_product(:foreign_id, 'update', a.principal) AS update_foreign,
       can_access_product(a.own, 'delete', a.principal) AS delete_own,
       can_access_product(a.own, 'checkpoint', a.principal) AS checkpoint_own,
       can_access_product(:foreign_id, 'verify', a.principal) AS verify_foreign
  FROM pg_temp.actors a
 ORDER BY array_position(ARRAY['SUPER_ADMIN', 'ADMIN', 'MANUFACTURER', 'DISTRIBUTOR', 'RETAILER', 'AUDITOR', 'CONSUMER'], a.role);
-- Nothing the matrix tried was kept.
SELECT count(*) AS matrix_products FROM products WHERE name = 'Matrix';
SELECT is_paused() AS paused;
DROP OWNED BY rm_app;
DROP ROLE rm_app;

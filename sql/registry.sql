-- registry: stakeholders and limits, products under RLS, checkpoint chains, pause.
\set SHOW_CONTEXT never
SET search_path = tracechain;
\set VERBOSITY default

SELECT principal_create('user', 'rg-owner') AS p_owner \gset
SELECT principal_create('user', 'rg-maker') AS p_maker \gset
SELECT principal_create('user', 'rg-maker2') AS p_maker2 \gset
SELECT principal_create('user', 'rg-dist') AS p_dist \gset
SELECT principal_create('user', 'rg-consumer') AS p_consumer \gset
SELECT principal_create('user', 'rg-admin') AS p_admin \gset
SELECT grant_role(:'p_maker', 'MANUFACTURER'), grant_role(:'p_maker2', 'MANUFACTURER'),
       grant_role(:'p_dist', 'DISTRIBUTOR'), grant_role(:'p_consumer', 'CONSUMER'),
       grant_role(:'p_admin', 'ADMIN');
SELECT session_create(:'p_owner') AS tok_owner \gset
SELECT session_create(:'p_maker') AS tok_maker \gset
SELECT session_create(:'p_maker2') AS tok_maker2 \gset
SELECT session_create(:'p_dist') AS tok_dist \gset
SELECT session_create(:'p_consumer') AS tok_consumer \gset
SELECT session_create(:'p_admin') AS tok_admin \gset
CREATE ROLE rg_app LOGIN;
GRANT tracechain_app TO rg_app;

-- The bootstrap superuser makes the owner; the owner authorizes stakeholders.
SELECT registry_set_owner(:'p_owner');
SELECT is_paused() AS paused;
SET SESSION AUTHORIZATION rg_app;
BEGIN;
SELECT authenticate(:'tok_owner') IS NOT NULL AS owner;
SELECT authorize_stakeholder(:'p_maker', 10);
SAVEPOINT s;
SELECT authorize_stakeholder(:'p_maker', 0);
ROLLBACK TO s;
SELECT authorize_stakeholder(:'p_maker', -5);
ROLLBACK TO s;
SELECT authorize_stakeholder(:'p_maker', 'NaN');
ROLLBACK TO s;
SELECT authorize_stakeholder(:'p_maker', 'Infinity');
ROLLBACK TO s;
SELECT authorize_stakeholder(:'p_maker', NULL);
ROLLBACK TO s;
SELECT authorize_stakeholder('00000000-0000-0000-0000-000000000000', 10);
ROLLBACK TO s;
SELECT authorize_stakeholder(NULL, 10);
ROLLBACK TO s;
COMMIT;
-- ADMIN holds product.manage and may authorize too; a manufacturer may not.
BEGIN;
SELECT authenticate(:'tok_admin') IS NOT NULL AS admin;
SELECT authorize_stakeholder(:'p_maker2', 5);
COMMIT;
BEGIN;
SELECT authenticate(:'tok_maker') IS NOT NULL AS maker;
SELECT authorize_stakeholder(:'p_maker', 1000000);
ROLLBACK;
RESET SESSION AUTHORIZATION;
SELECT s.principal = :'p_maker' AS maker, authorized, amount_limit FROM stakeholders s
 WHERE s.principal IN (:'p_maker', :'p_maker2') ORDER BY s.amount_limit DESC;

-- register_product: checks in order (principal, permission, stakeholder, pause, input, limit).
SET SESSION AUTHORIZATION rg_app;
SELECT tracechain.register_product('no principal', 'B0', 1);
BEGIN;
SELECT tracechain.authenticate(:'tok_dist') IS NOT NULL AS dist;
SELECT tracechain.register_product('not a manufacturer', 'B0', 1);
ROLLBACK;
BEGIN;
SELECT tracechain.authenticate(:'tok_maker') IS NOT NULL AS maker;
SAVEPOINT s;
SELECT tracechain.register_product('', 'B1', 1);
ROLLBACK TO s;
SELECT tracechain.register_product('   ', 'B1', 1);
ROLLBACK TO s;
SELECT tracechain.register_product(NULL, 'B1', 1);
ROLLBACK TO s;
SELECT tracechain.register_product(repeat('n', 201), 'B1', 1);
ROLLBACK TO s;
SELECT tracechain.register_product('Widget', '', 1);
ROLLBACK TO s;
SELECT tracechain.register_product('Widget', 'B1', 0);
ROLLBACK TO s;
SELECT tracechain.register_product('Widget', 'B1', -1);
ROLLBACK TO s;
SELECT tracechain.register_product('Widget', 'B1', 'NaN');
ROLLBACK TO s;
SELECT tracechain.register_product('Widget', 'B1', 'Infinity');
ROLLBACK TO s;
SELECT tracechain.register_product('Widget', 'B1', 'NaN'::float8::numeric);
ROLLBACK TO s;
SELECT tracechain.register_product('Widget', 'B1', NULL);
ROLLBACK TO s;
SELECT tracechain.register_product('Widget', 'B1', 11);
ROLLBACK TO s;
SELECT tracechain.register_product('Widget', 'B1', 4) AS widget \gset
SELECT tracechain.register_product('Gadget', NULL, 2.5) AS gadget \gset
SAVEPOINT t;
SELECT tracechain.register_product('Too much', 'B2', 3.6);
ROLLBACK TO t;
SELECT tracechain.register_product('Rest', 'B2', 3.5) AS rest \gset
SAVEPOINT u;
SELECT tracechain.register_product('Nothing left', 'B2', 0.001);
ROLLBACK TO u;
COMMIT;
BEGIN;
SELECT tracechain.authenticate(:'tok_maker2') IS NOT NULL AS maker2;
SELECT tracechain.register_product('Other', 'X1', 5) AS other \gset
COMMIT;
RESET SESSION AUTHORIZATION;
SELECT amount_limit AS maker_limit_left FROM stakeholders WHERE principal = :'p_maker';
SELECT name, batch_number, amount, manufacturer = :'p_maker' AS by_maker, checkpoint_count
  FROM products WHERE id IN (:widget, :gadget, :rest, :other) ORDER BY id;
-- Registrations are audited through the intake: in the chain once sealed.
SELECT audit_seal() >= 0 AS sealed;
SELECT count(*) AS registrations_audited FROM audit_log
 WHERE action = 'product.register' AND actor IN (:'p_maker', :'p_maker2');
-- A revoked stakeholder registers nothing more.
SELECT revoke_stakeholder(:'p_maker2') AS revoked, revoke_stakeholder(:'p_maker2') AS revoked_again;
SET SESSION AUTHORIZATION rg_app;
BEGIN;
SELECT tracechain.authenticate(:'tok_maker2') IS NOT NULL AS maker2;
SELECT tracechain.register_product('After revoke', 'X2', 1);
ROLLBACK;

-- Stakes: the manufacturer hands the widget to the distributor.
BEGIN;
SELECT tracechain.authenticate(:'tok_maker') IS NOT NULL AS maker;
SELECT tracechain.product_add_stakeholder(:widget, :'p_dist') AS added,
       tracechain.product_add_stakeholder(:widget, :'p_dist') AS added_again;
SAVEPOINT s;
SELECT tracechain.product_add_stakeholder(:other, :'p_dist');
ROLLBACK TO s;
SELECT tracechain.product_add_stakeholder(999999999, :'p_dist');
ROLLBACK TO s;
SELECT tracechain.product_add_stakeholder(:widget, '00000000-0000-0000-0000-000000000000');
ROLLBACK TO s;
COMMIT;

-- Row-level security, one pooled connection acting as different principals in
-- turn: the prepared statement is planned once, its InitPlans run per execution.
PREPARE visible AS SELECT string_agg(name, ',' ORDER BY id) FROM tracechain.products
  WHERE id IN (:widget, :gadget, :rest, :other);
EXECUTE visible;
BEGIN; SELECT tracechain.authenticate(:'tok_maker') IS NOT NULL AS maker; EXECUTE visible; COMMIT;
BEGIN; SELECT tracechain.authenticate(:'tok_maker2') IS NOT NULL AS maker2; EXECUTE visible; COMMIT;
BEGIN; SELECT tracechain.authenticate(:'tok_dist') IS NOT NULL AS dist; EXECUTE visible; COMMIT;
BEGIN; SELECT tracechain.authenticate(:'tok_consumer') IS NOT NULL AS consumer; EXECUTE visible; COMMIT;
BEGIN; SELECT tracechain.authenticate(:'tok_admin') IS NOT NULL AS admin; EXECUTE visible; COMMIT;
BEGIN; SELECT tracechain.authenticate(:'tok_maker') IS NOT NULL AS maker_again; EXECUTE visible; COMMIT;
EXECUTE visible;
DEALLOCATE visible;
-- The permission checks are InitPlans: evaluated once per statement, not per row.
EXPLAIN (COSTS OFF) SELECT count(*) FROM tracechain.products;

-- Updates: a stake and product.update(.own); only some columns.
BEGIN;
SELECT tracechain.authenticate(:'tok_maker') IS NOT NULL AS maker;
UPDATE tracechain.products SET batch_number = 'B1-rev' WHERE id = :widget;
UPDATE tracechain.products SET batch_number = 'X1-rev' WHERE id = :other;
SAVEPOINT s;
UPDATE tracechain.products SET amount = 1 WHERE id = :widget;
ROLLBACK TO s;
COMMIT;
BEGIN;
SELECT tracechain.authenticate(:'tok_dist') IS NOT NULL AS dist;
UPDATE tracechain.products SET batch_number = 'by dist' WHERE id = :widget;
COMMIT;
-- Deletes: the manufacturer or product.manage.
BEGIN;
SELECT tracechain.authenticate(:'tok_dist') IS NOT NULL AS dist;
DELETE FROM tracechain.products WHERE id = :widget;
ROLLBACK;
BEGIN;
SELECT tracechain.authenticate(:'tok_maker2') IS NOT NULL AS maker2;
DELETE FROM tracechain.products WHERE id = :widget;
ROLLBACK;
BEGIN;
SELECT tracechain.authenticate(:'tok_maker') IS NOT NULL AS maker;
DELETE FROM tracechain.products WHERE id = :rest;
COMMIT;
-- Nobody inserts directly.
INSERT INTO tracechain.products (manufacturer, name, amount, anchor) VALUES (:'p_maker', 'x', 1, '\x00');

-- Checkpoints: checkpoint.add and a stake; each links to the previous one.
BEGIN;
SELECT tracechain.authenticate(:'tok_maker') IS NOT NULL AS maker;
SELECT tracechain.add_checkpoint(:widget, 'manufactured', 'Plant 1', '{"temperature": 4}') > 0 AS cp1;
SAVEPOINT s;
SELECT tracechain.add_checkpoint(:other, 'manufactured', 'Plant 1');
ROLLBACK TO s;
SELECT tracechain.add_checkpoint(999999999, 'manufactured', 'Plant 1');
ROLLBACK TO s;
SELECT tracechain.add_checkpoint(NULL, 'manufactured', 'Plant 1');
ROLLBACK TO s;
SELECT tracechain.add_checkpoint(:widget, '', 'Plant 1');
ROLLBACK TO s;
SELECT tracechain.add_checkpoint(:widget, 'shipped', 'Plant 1', '[1, 2]');
ROLLBACK TO s;
SELECT tracechain.add_checkpoint(:widget, 'shipped', E'Plant\n1');
ROLLBACK TO s;
SELECT tracechain.add_checkpoint(:widget, 'shipped', 'Dock 3') > 0 AS cp2;
COMMIT;
BEGIN;
SELECT tracechain.authenticate(:'tok_dist') IS NOT NULL AS dist;
SELECT tracechain.add_checkpoint(:widget, 'received', 'Warehouse 9', NULL) > 0 AS cp3;
SELECT seq, kind, location, data FROM tracechain.checkpoints WHERE product_id = :widget ORDER BY seq;
COMMIT;
BEGIN;
SELECT tracechain.authenticate(:'tok_consumer') IS NOT NULL AS consumer;
SELECT tracechain.add_checkpoint(:widget, 'opened', 'Home');
ROLLBACK;
BEGIN;
SELECT tracechain.authenticate(:'tok_consumer') IS NOT NULL AS consumer;
SELECT count(*) AS consumer_sees_checkpoints FROM tracechain.checkpoints;
SELECT count(*) AS consumer_sees_products FROM tracechain.products;
-- ... and sees a product only through verify_product.
SELECT v->'product'->>'name' AS name, v->>'chain_ok' AS chain_ok, jsonb_array_length(v->'checkpoints') AS checkpoints,
       (SELECT string_agg(c->>'kind', ' > ' ORDER BY (c->>'seq')::int) FROM jsonb_array_elements(v->'checkpoints') c) AS path
  FROM tracechain.verify_product(:widget) v;
SAVEPOINT s;
SELECT tracechain.verify_product(999999999);
ROLLBACK TO s;
SELECT tracechain.verify_product(NULL);
ROLLBACK TO s;
COMMIT;
BEGIN;
SELECT tracechain.authenticate(:'tok_maker2') IS NOT NULL AS maker2;
SELECT tracechain.verify_product(:widget);
ROLLBACK;
RESET SESSION AUTHORIZATION;
SELECT c.seq, c.prev_hash = coalesce(lag(c.hash) OVER (ORDER BY c.seq), p.anchor) AS links,
       c.hash = _checkpoint_hash(c.prev_hash, c.product_id, c.seq, c.kind, c.location, c.data, c.actor, c.at) AS hash_ok
  FROM checkpoints c JOIN products p ON p.id = c.product_id WHERE c.product_id = :widget ORDER BY c.seq;

-- Tampering (as superuser) breaks the chain, and verify_product says where
-- (verified as the distributor: _set_principal stands in for authenticate()).
BEGIN;
SELECT _set_principal(:'p_dist', 1, 0) IS NULL AS as_dist;
UPDATE checkpoints SET location = 'Elsewhere' WHERE product_id = :widget AND seq = 2;
SELECT v->>'chain_ok' AS chain_ok, v->>'first_bad_seq' AS first_bad_seq, v->>'reason' AS reason
  FROM verify_product(:widget) v;
ROLLBACK;
BEGIN;
SELECT _set_principal(:'p_dist', 1, 0) IS NULL AS as_dist;
DELETE FROM checkpoints WHERE product_id = :widget AND seq = 2;
SELECT v->>'chain_ok' AS chain_ok, v->>'first_bad_seq' AS first_bad_seq, v->>'reason' AS reason
  FROM verify_product(:widget) v;
ROLLBACK;
BEGIN;
SELECT _set_principal(:'p_dist', 1, 0) IS NULL AS as_dist;
DELETE FROM checkpoints WHERE product_id = :widget AND seq = 3;
SELECT v->>'chain_ok' AS chain_ok, v->>'first_bad_seq' AS first_bad_seq, v->>'reason' AS reason
  FROM verify_product(:widget) v;
ROLLBACK;
BEGIN;
SELECT _set_principal(:'p_dist', 1, 0) IS NULL AS as_dist;
UPDATE products SET amount = 400 WHERE id = :widget;
SELECT v->>'chain_ok' AS chain_ok, v->>'first_bad_seq' AS first_bad_seq, v->>'reason' AS reason
  FROM verify_product(:widget) v;
ROLLBACK;
-- A superuser with no principal is not a principal: verify needs one.
SELECT verify_product(:widget);
SELECT (SELECT v->>'chain_ok' FROM verify_product(:widget) v) AS untouched_chain_ok
  FROM (SELECT _set_principal(:'p_dist', 1, 0)) x;

-- can_access_product.
SELECT a, can_access_product(:widget, a, :'p_maker') AS maker, can_access_product(:widget, a, :'p_maker2') AS maker2,
       can_access_product(:widget, a, :'p_dist') AS dist, can_access_product(:widget, a, :'p_consumer') AS consumer,
       can_access_product(:widget, a, :'p_admin') AS admin
  FROM unnest(ARRAY['view', 'update', 'delete', 'checkpoint', 'verify']) a;
SELECT can_access_product(999999999, 'view', :'p_admin') AS unknown_product;
SELECT can_access_product(:widget, 'view', NULL) AS null_principal;
SELECT can_access_product(:widget, 'steal', :'p_admin');
SELECT can_access_product(NULL, 'view', :'p_admin');

-- Emergency pause: the owner or SUPER_ADMIN; every write refused, reads keep working.
SET SESSION AUTHORIZATION rg_app;
BEGIN;
SELECT tracechain.authenticate(:'tok_admin') IS NOT NULL AS admin;
SELECT tracechain.emergency_pause();
ROLLBACK;
BEGIN;
SELECT tracechain.authenticate(:'tok_owner') IS NOT NULL AS owner;
SELECT tracechain.emergency_pause();
SELECT tracechain.is_paused() AS paused;
COMMIT;
BEGIN;
SELECT tracechain.authenticate(:'tok_owner') IS NOT NULL AS owner;
SELECT tracechain.emergency_pause();
ROLLBACK;
BEGIN;
SELECT tracechain.authenticate(:'tok_maker') IS NOT NULL AS maker;
SELECT count(*) > 0 AS reads_work FROM tracechain.products;
SELECT (tracechain.verify_product(:widget))->>'chain_ok' AS verify_works;
SAVEPOINT s;
SELECT tracechain.register_product('During pause', 'P1', 1);
ROLLBACK TO s;
SELECT tracechain.add_checkpoint(:widget, 'shipped', 'Dock 4');
ROLLBACK TO s;
UPDATE tracechain.products SET batch_number = 'paused' WHERE id = :widget;
ROLLBACK TO s;
DELETE FROM tracechain.products WHERE id = :gadget;
ROLLBACK TO s;
SELECT tracechain.product_add_stakeholder(:gadget, :'p_dist');
ROLLBACK TO s;
COMMIT;
BEGIN;
SELECT tracechain.authenticate(:'tok_owner') IS NOT NULL AS owner;
SELECT tracechain.authorize_stakeholder(:'p_maker', 5);
ROLLBACK;
RESET SESSION AUTHORIZATION;
-- Even a superuser's direct write is refused.
UPDATE products SET is_active = false WHERE id = :gadget;
SET SESSION AUTHORIZATION rg_app;
BEGIN;
SELECT tracechain.authenticate(:'tok_owner') IS NOT NULL AS owner;
SELECT tracechain.emergency_unpause();
COMMIT;
BEGIN;
SELECT tracechain.authenticate(:'tok_owner') IS NOT NULL AS owner;
SELECT tracechain.emergency_unpause();
ROLLBACK;
BEGIN;
SELECT tracechain.authenticate(:'tok_maker') IS NOT NULL AS maker;
SELECT tracechain.add_checkpoint(:widget, 'shipped', 'Dock 4') > 0 AS writes_again;
COMMIT;
RESET SESSION AUTHORIZATION;
SELECT action, count(*) FROM audit_log WHERE action IN ('registry.pause', 'registry.unpause', 'registry.set_owner',
  'stakeholder.authorize', 'stakeholder.revoke') GROUP BY 1 ORDER BY 1;
-- Inactive products take no checkpoints.
UPDATE products SET is_active = false WHERE id = :gadget;
\set VERBOSITY sqlstate
SELECT add_checkpoint(:gadget, 'shipped', 'Dock 4') FROM (SELECT _set_principal(:'p_maker', 1, 0)) x;
\set VERBOSITY default
DROP OWNED BY rg_app;
DROP ROLE rg_app;

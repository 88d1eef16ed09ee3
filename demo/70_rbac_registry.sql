-- 70_rbac_registry: roles, the registry under row-level security, a checkpoint chain.
\set SHOW_CONTEXT never
\echo == RBAC and the supply-chain registry
SET search_path = tracechain;
SELECT principal_create('user', 'demo-root') AS root \gset
SELECT principal_create('user', 'demo-maker') AS maker \gset
SELECT principal_create('user', 'demo-shop') AS shop \gset
SELECT principal_create('user', 'demo-buyer') AS buyer \gset
\echo -- the bootstrap superuser grants the first roles and sets the registry owner
SELECT grant_role(:'root', 'SUPER_ADMIN'), grant_role(:'maker', 'MANUFACTURER'),
       grant_role(:'shop', 'RETAILER'), grant_role(:'buyer', 'CONSUMER');
SELECT registry_set_owner(:'root');
SELECT authorize_stakeholder(:'maker', 100);
SELECT session_create(:'maker') AS tmaker \gset
SELECT session_create(:'shop') AS tshop \gset
SELECT session_create(:'buyer') AS tbuyer \gset
CREATE ROLE demo_app LOGIN;
GRANT tracechain_app TO demo_app;
SET SESSION AUTHORIZATION demo_app;
\echo -- the manufacturer registers a product and hands it to the shop
BEGIN;
SELECT tracechain.authenticate(:'tmaker') IS NOT NULL AS maker;
SELECT tracechain.register_product('Cold-chain vaccine', 'LOT-42', 10) AS pid \gset
SELECT tracechain.add_checkpoint(:pid, 'manufactured', 'Plant 1', '{"temp_c": 4}') > 0 AS cp;
SELECT tracechain.product_add_stakeholder(:pid, :'shop') AS handed_over;
COMMIT;
BEGIN;
SELECT tracechain.authenticate(:'tshop') IS NOT NULL AS shop;
SELECT tracechain.add_checkpoint(:pid, 'received', 'Shop 7', '{"temp_c": 5}') > 0 AS cp;
SELECT name, batch_number, checkpoint_count FROM tracechain.products WHERE id = :pid;
COMMIT;
\echo -- the consumer sees no rows, only the verified provenance
BEGIN;
SELECT tracechain.authenticate(:'tbuyer') IS NOT NULL AS buyer;
SELECT count(*) AS rows_visible FROM tracechain.products;
SELECT v->>'chain_ok' AS chain_ok, jsonb_path_query_array(v, '$.checkpoints[*].kind') AS path
  FROM tracechain.verify_product(:pid) v;
SELECT tracechain.register_product('Fake', 'X', 1);
COMMIT;
RESET SESSION AUTHORIZATION;
\echo -- a superuser tampers with a checkpoint: verify_product points at it
UPDATE checkpoints SET location = 'Somewhere warm' WHERE product_id = :pid AND seq = 1;
SELECT v->>'chain_ok' AS chain_ok, v->>'reason' AS reason
  FROM (SELECT _set_principal(:'buyer', 1, 0)) x, verify_product(:pid) v;
DROP ROLE demo_app;

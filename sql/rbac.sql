-- rbac: roles, wildcard permissions, grants, the cache, login links.
\set SHOW_CONTEXT never
SET search_path = tracechain;
\set VERBOSITY default

-- The seven seeded roles and their exact permissions.
SELECT r.name, r.description, string_agg(rp.permission, ' ' ORDER BY rp.permission) AS permissions
  FROM roles r LEFT JOIN role_permissions rp ON rp.role = r.name
 GROUP BY r.name, r.description ORDER BY r.name;

-- One principal per role, granted by the bootstrap superuser (no principal).
SELECT principal_create('user', 'rb-super') AS p_super \gset
SELECT principal_create('user', 'rb-admin') AS p_admin \gset
SELECT principal_create('user', 'rb-maker') AS p_maker \gset
SELECT principal_create('user', 'rb-dist') AS p_dist \gset
SELECT principal_create('user', 'rb-consumer') AS p_consumer \gset
SELECT principal_create('user', 'rb-nobody') AS p_nobody \gset
SELECT grant_role(:'p_super', 'SUPER_ADMIN') AS granted, grant_role(:'p_super', 'SUPER_ADMIN') AS granted_again;
SELECT grant_role(:'p_admin', 'ADMIN'), grant_role(:'p_maker', 'MANUFACTURER'),
       grant_role(:'p_dist', 'DISTRIBUTOR'), grant_role(:'p_consumer', 'CONSUMER');

-- Matching: "*" grants all, "x.*" everything under "x." at any depth, "p" covers "p.own",
-- "p.own" does not grant "p".
SELECT perm,
       has_permission(perm, :'p_super') AS super, has_permission(perm, :'p_admin') AS admin,
       has_permission(perm, :'p_maker') AS maker, has_permission(perm, :'p_dist') AS dist,
       has_permission(perm, :'p_consumer') AS consumer, has_permission(perm, :'p_nobody') AS nobody
  FROM unnest(ARRAY['*', 'product.view', 'product.create', 'product.update', 'product.update.own',
                    'product.manage', 'user.manage', 'checkpoint.add', 'analytics.view',
                    'analytics.view.own', 'product.verify', 'registry.pause', 'x.y.z']) perm;

-- A role with wildcards (inserted directly: the cache notices table changes too).
INSERT INTO roles (name, description) VALUES ('WILD', 'Wildcard test role');
INSERT INTO role_permissions (role, permission) VALUES ('WILD', 'product.*'), ('WILD', 'a.b.*'), ('WILD', 'report.export');
SELECT grant_role(:'p_nobody', 'WILD');
SELECT perm, has_permission(perm, :'p_nobody') AS wild
  FROM unnest(ARRAY['product.view', 'product.update.own', 'product.x.y.z', 'product', 'productx.view',
                    'a.b.c', 'a.b.c.d.e', 'a.b', 'a.bc.d', 'a.c', 'report.export', 'report.export.own',
                    'report', 'report.exportx', '*']) perm;
-- The first-segment-only bug of the original framework does not exist here.
SELECT has_permission('a.x', :'p_nobody') AS a_star_not_granted_by_a_b_star;
SELECT revoke_role(:'p_nobody', 'WILD');
SELECT has_permission('product.view', :'p_nobody') AS after_revoke;
DELETE FROM roles WHERE name = 'WILD';

-- Bad input.
SELECT has_permission(NULL, :'p_super');
SELECT has_permission('', :'p_super');
SELECT has_permission('Product.view', :'p_super');
SELECT has_permission('product..view', :'p_super');
SELECT has_permission('product.', :'p_super');
SELECT has_permission('*.view', :'p_super');
SELECT has_permission('product.*.view', :'p_super');
SELECT has_permission('product view', :'p_super');
SELECT has_permission(repeat('a', 101), :'p_super');
SELECT has_permission('product.view', NULL) AS null_principal;
SELECT has_permission('product.view', '00000000-0000-0000-0000-000000000000') AS unknown_principal;
SELECT has_permission('product.view') AS no_current_principal;
INSERT INTO role_permissions (role, permission) VALUES ('ADMIN', 'Bad Permission');

-- require_permission names what is missing.
SELECT require_permission('product.view');
SELECT session_create(:'p_maker') AS tok_maker \gset
SELECT session_create(:'p_admin') AS tok_admin \gset
SELECT session_create(:'p_super') AS tok_super \gset
SELECT session_create(:'p_dist') AS tok_dist \gset
BEGIN;
SELECT authenticate(:'tok_maker') = :'p_maker' AS maker;
SELECT require_permission('product.create') AS ok;
SELECT require_permission('product.view');
ROLLBACK;
SELECT require_permission(NULL);
SELECT require_permission('bad perm');

-- grant_role / revoke_role: user.manage, no escalation, input checks.
-- With the seed's exact permissions ADMIN (user.manage) may grant only roles
-- whose every permission it holds itself: ADMIN, not MANUFACTURER.
BEGIN;
SELECT authenticate(:'tok_admin') IS NOT NULL AS admin;
SAVEPOINT s;
SELECT grant_role(:'p_nobody', 'MANUFACTURER');
ROLLBACK TO s;
SELECT grant_role(:'p_nobody', 'SUPER_ADMIN');
ROLLBACK TO s;
SELECT revoke_role(:'p_super', 'SUPER_ADMIN');
ROLLBACK TO s;
SELECT grant_role(:'p_nobody', 'ADMIN') AS admin_grants_admin;
SELECT revoke_role(:'p_nobody', 'ADMIN') AS admin_revokes_admin;
SELECT grant_role(:'p_nobody', 'NO_SUCH_ROLE');
ROLLBACK TO s;
SELECT grant_role(:'p_nobody', '');
ROLLBACK TO s;
SELECT grant_role(:'p_nobody', NULL);
ROLLBACK TO s;
SELECT grant_role('00000000-0000-0000-0000-000000000000', 'ADMIN');
ROLLBACK TO s;
SELECT grant_role(NULL, 'ADMIN');
ROLLBACK TO s;
SELECT revoke_role(:'p_nobody', 'ADMIN') AS revoke_not_held;
COMMIT;
BEGIN;
SELECT authenticate(:'tok_maker') IS NOT NULL AS maker;
SELECT grant_role(:'p_nobody', 'CONSUMER');
ROLLBACK;
BEGIN;
SELECT authenticate(:'tok_super') IS NOT NULL AS super;
SELECT grant_role(:'p_nobody', 'SUPER_ADMIN') AS super_grants_super;
SELECT revoke_role(:'p_nobody', 'SUPER_ADMIN') AS super_revokes_super;
-- The last active SUPER_ADMIN stays.
SELECT revoke_role(:'p_super', 'SUPER_ADMIN');
ROLLBACK;
-- Not even the bootstrap superuser removes the last SUPER_ADMIN.
SELECT revoke_role(:'p_super', 'SUPER_ADMIN');

-- Grants and revokes are audited; denials are security events.
SELECT action, count(*) FROM audit_log
 WHERE action IN ('role.grant', 'role.revoke') AND resource = 'principal:' || :'p_nobody'
 GROUP BY action ORDER BY action;
SELECT events_flush_wait() AS flushed;
SELECT details->>'permission' AS permission, count(*) FROM audit_log
 WHERE action = 'permission.denied' AND actor IN (:'p_admin', :'p_maker')
 GROUP BY 1 ORDER BY 1;

-- The cache follows changes in this backend: a savepoint rolled back, a
-- suspension, a role's permission removed and put back.
SELECT has_permission('product.view', :'p_consumer') AS before;
BEGIN;
SAVEPOINT s;
SELECT grant_role(:'p_consumer', 'AUDITOR');
SELECT has_permission('product.view', :'p_consumer') AS inside;
ROLLBACK TO s;
SELECT has_permission('product.view', :'p_consumer') AS after_rollback_to_savepoint;
COMMIT;
SELECT has_permission('product.create', :'p_maker') AS active;
SELECT principal_set_status(:'p_maker', 'suspended');
SELECT has_permission('product.create', :'p_maker') AS suspended;
SELECT * FROM principal_permissions(:'p_maker');
SELECT principal_set_status(:'p_maker', 'active');
SELECT has_permission('product.create', :'p_maker') AS reactivated;
SELECT session_create(:'p_maker') AS tok_maker \gset
DELETE FROM role_permissions WHERE role = 'DISTRIBUTOR' AND permission = 'product.view';
SELECT has_permission('product.view', :'p_dist') AS permission_removed;
INSERT INTO role_permissions (role, permission, builtin) VALUES ('DISTRIBUTOR', 'product.view', true);
SELECT has_permission('product.view', :'p_dist') AS permission_back;
SELECT * FROM principal_permissions(:'p_dist');

-- A login role linked to a principal acts as it when no session is authenticated.
CREATE ROLE rb_login LOGIN;
GRANT tracechain_app TO rb_login;
CREATE ROLE rb_group NOLOGIN;
SELECT rbac_link_login('rb_login', :'p_dist');
SET SESSION AUTHORIZATION rb_login;
SELECT tracechain.current_principal() = :'p_dist' AS acts_as_linked;
SELECT tracechain.has_permission('product.view') AS linked_can_view;
SELECT tracechain.require_permission('product.create');
-- authenticate() wins over the link, for its transaction only.
BEGIN;
SELECT tracechain.authenticate(:'tok_maker') = :'p_maker' AS authenticated;
SELECT tracechain.current_principal() = :'p_maker' AS acts_as_session;
COMMIT;
SELECT tracechain.current_principal() = :'p_dist' AS back_to_linked;
-- The app role may not link logins.
SELECT tracechain.rbac_link_login('rb_login', :'p_super');
RESET SESSION AUTHORIZATION;
-- A suspended principal is nobody's fallback; unlinking ends it.
SELECT principal_set_status(:'p_dist', 'suspended');
SET SESSION AUTHORIZATION rb_login;
SELECT tracechain.current_principal() IS NULL AS suspended_link_ignored;
RESET SESSION AUTHORIZATION;
SELECT principal_set_status(:'p_dist', 'active');
SELECT session_create(:'p_dist') AS tok_dist \gset
SELECT rbac_unlink_login('rb_login') AS unlinked, rbac_unlink_login('rb_login') AS unlinked_again;
SET SESSION AUTHORIZATION rb_login;
SELECT tracechain.current_principal() IS NULL AS unlinked_none;
RESET SESSION AUTHORIZATION;
-- Link refusals.
SELECT rbac_link_login('no_such_login', :'p_dist');
SELECT rbac_link_login('rb_group', :'p_dist');
SELECT rbac_link_login('', :'p_dist');
SELECT rbac_link_login('rb_login', '00000000-0000-0000-0000-000000000000');
SELECT rbac_link_login('rb_login', NULL);
BEGIN;
SELECT authenticate(:'tok_admin') IS NOT NULL AS admin;
SELECT rbac_link_login('rb_login', :'p_super');
ROLLBACK;
BEGIN;
SELECT authenticate(:'tok_admin') IS NOT NULL AS admin;
SELECT rbac_link_login('rb_login', :'p_maker') AS admin_links_maker;
ROLLBACK;
SELECT action, count(*) FROM audit_log WHERE action IN ('login.link', 'login.unlink') GROUP BY 1 ORDER BY 1;
DROP ROLE rb_login, rb_group;

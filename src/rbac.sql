-- rbac.sql: roles, permissions, grants, login links (rbac.c holds the cached check).
--
-- Key columns are COLLATE "C": rbac.c scans their indexes directly with
-- C-collation scan keys, and role and permission names are ASCII anyway.

CREATE FUNCTION _permission_valid(permission text) RETURNS boolean
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'tc_permission_valid_sql';
COMMENT ON FUNCTION _permission_valid(text) IS
'Internal: is this a well-formed permission ("*", or dot-separated [a-z][a-z0-9_]* segments, optionally ending in ".*")';

CREATE TABLE roles (
  name        text COLLATE "C" PRIMARY KEY CHECK (name ~ '^[A-Z][A-Z0-9_]{0,62}$'),
  description text NOT NULL CHECK (length(description) BETWEEN 1 AND 200),
  builtin     boolean NOT NULL DEFAULT false
);
COMMENT ON TABLE roles IS 'RBAC roles; the seven built-in ones are seeded by the extension';
COMMENT ON COLUMN roles.builtin IS 'Seeded by the extension (not dumped; CREATE EXTENSION recreates it)';
SELECT pg_catalog.pg_extension_config_dump('roles', 'WHERE NOT builtin');

CREATE TABLE role_permissions (
  role       text COLLATE "C" NOT NULL REFERENCES roles (name) ON DELETE CASCADE ON UPDATE CASCADE,
  permission text COLLATE "C" NOT NULL CHECK (_permission_valid(permission)),
  builtin    boolean NOT NULL DEFAULT false,
  PRIMARY KEY (role, permission)
);
COMMENT ON TABLE role_permissions IS
'Permissions of each role: "*" grants everything, "x.*" everything under "x." at any depth, "p.own" p on resources the principal holds a stake in';
COMMENT ON COLUMN role_permissions.builtin IS 'Seeded by the extension (not dumped; CREATE EXTENSION recreates it)';
SELECT pg_catalog.pg_extension_config_dump('role_permissions', 'WHERE NOT builtin');

CREATE TABLE principal_roles (
  principal  uuid NOT NULL REFERENCES principals (id) ON DELETE CASCADE,
  role       text COLLATE "C" NOT NULL REFERENCES roles (name) ON DELETE CASCADE ON UPDATE CASCADE,
  granted_by uuid,
  granted_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (principal, role)
);
CREATE INDEX principal_roles_role ON principal_roles (role);
COMMENT ON TABLE principal_roles IS 'Which principal holds which role; written only by grant_role and revoke_role';
COMMENT ON COLUMN principal_roles.granted_by IS 'The principal that granted it (null: a database superuser bootstrapping)';
SELECT pg_catalog.pg_extension_config_dump('principal_roles', '');

CREATE TABLE login_principals (
  login     text COLLATE "C" PRIMARY KEY CHECK (length(login) BETWEEN 1 AND 63),
  principal uuid NOT NULL REFERENCES principals (id) ON DELETE CASCADE,
  linked_by uuid,
  linked_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE login_principals IS
'Database login roles linked to a principal: a session of that login with no authenticate() acts as the principal';
SELECT pg_catalog.pg_extension_config_dump('login_principals', '');

INSERT INTO roles (name, description, builtin) VALUES
  ('SUPER_ADMIN',  'Full system access', true),
  ('ADMIN',        'Administrative access', true),
  ('MANUFACTURER', 'Manufacturer access', true),
  ('DISTRIBUTOR',  'Distributor access', true),
  ('RETAILER',     'Retailer access', true),
  ('AUDITOR',      'Auditor access', true),
  ('CONSUMER',     'Consumer access', true);
INSERT INTO role_permissions (role, permission, builtin)
SELECT r, p, true FROM (VALUES
  ('SUPER_ADMIN',  '*'),
  ('ADMIN',        'user.manage'), ('ADMIN', 'product.manage'), ('ADMIN', 'compliance.manage'),
  ('ADMIN',        'analytics.view'), ('ADMIN', 'settings.manage'),
  ('MANUFACTURER', 'product.create'), ('MANUFACTURER', 'product.update.own'),
  ('MANUFACTURER', 'checkpoint.add'), ('MANUFACTURER', 'compliance.submit'),
  ('MANUFACTURER', 'analytics.view.own'),
  ('DISTRIBUTOR',  'product.view'), ('DISTRIBUTOR', 'checkpoint.add'), ('DISTRIBUTOR', 'analytics.view.own'),
  ('RETAILER',     'product.view'), ('RETAILER', 'checkpoint.add'), ('RETAILER', 'customer.verify'),
  ('AUDITOR',      'product.view'), ('AUDITOR', 'compliance.audit'), ('AUDITOR', 'analytics.view'),
  ('CONSUMER',     'product.verify'), ('CONSUMER', 'feedback.submit')
) AS s (r, p);

-- The cache in rbac.c is dropped on every change to what it was built from.
CREATE FUNCTION _rbac_invalidate() RETURNS trigger
LANGUAGE C AS 'MODULE_PATHNAME', 'tc_rbac_invalidate';
COMMENT ON FUNCTION _rbac_invalidate() IS
'Internal: statement trigger; sends a relcache invalidation so every backend drops its cached permission sets (others at commit)';
CREATE TRIGGER rbac_invalidate AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON roles
  FOR EACH STATEMENT EXECUTE FUNCTION _rbac_invalidate();
CREATE TRIGGER rbac_invalidate AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON role_permissions
  FOR EACH STATEMENT EXECUTE FUNCTION _rbac_invalidate();
CREATE TRIGGER rbac_invalidate AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON principal_roles
  FOR EACH STATEMENT EXECUTE FUNCTION _rbac_invalidate();
CREATE TRIGGER rbac_invalidate AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON login_principals
  FOR EACH STATEMENT EXECUTE FUNCTION _rbac_invalidate();
-- A suspended principal holds no permission: status changes count too.
CREATE TRIGGER rbac_invalidate AFTER UPDATE OR DELETE OR TRUNCATE ON principals
  FOR EACH STATEMENT EXECUTE FUNCTION _rbac_invalidate();

CREATE FUNCTION has_permission(permission text, principal uuid DEFAULT current_principal())
RETURNS boolean
LANGUAGE C STABLE PARALLEL RESTRICTED AS 'MODULE_PATHNAME', 'tc_has_permission_sql';
COMMENT ON FUNCTION has_permission(text, uuid) IS
'Does the principal (default: the current one) hold the permission?  "*" grants all, "x.*" all under "x.", "p" covers "p.own"; answered from a per-backend cache invalidated at commit of any change; false for a null or unknown principal';

CREATE FUNCTION require_permission(permission text) RETURNS void
LANGUAGE C VOLATILE PARALLEL RESTRICTED AS 'MODULE_PATHNAME', 'tc_require_permission_sql';
COMMENT ON FUNCTION require_permission(text) IS
'Raise 42501 naming the permission unless the current principal holds it (the denial is recorded as a security event)';

CREATE FUNCTION _rbac_covers(a uuid, b uuid) RETURNS boolean
LANGUAGE C STABLE PARALLEL RESTRICTED AS 'MODULE_PATHNAME', 'tc_rbac_covers_sql';
COMMENT ON FUNCTION _rbac_covers(uuid, uuid) IS 'Internal: does principal a hold every permission principal b holds';

CREATE FUNCTION _caller_is_superuser() RETURNS boolean
LANGUAGE C STABLE PARALLEL RESTRICTED AS 'MODULE_PATHNAME', 'tc_caller_is_superuser';
COMMENT ON FUNCTION _caller_is_superuser() IS
'Internal: is the role that called into the extension (not the SECURITY DEFINER owner) a superuser';

-- Record a denial (it survives the rollback the error causes), then raise 42501.
CREATE FUNCTION _rbac_deny(action text, permission text, resource text, message text)
RETURNS void
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, tracechain, pg_temp AS $$
BEGIN
  PERFORM _record_event('security', 'permission.denied', resource,
                        jsonb_build_object('action', action, 'permission', permission),
                        current_principal(), NULL);
  RAISE EXCEPTION '%', message USING ERRCODE = 'insufficient_privilege',
    HINT = CASE WHEN current_principal() IS NULL
                THEN 'No principal is authenticated: call tracechain.authenticate(token) first.'
                ELSE 'The refusal is recorded as a security event.' END;
END $$;
COMMENT ON FUNCTION _rbac_deny(text, text, text, text) IS
'Internal: record a permission denial as a security event and raise 42501';

-- Who may manage grants: a principal holding user.manage (SUPER_ADMIN holds
-- it through "*"), or a database superuser with no current principal (the
-- bootstrap: someone must grant the first SUPER_ADMIN).  Returns the actor.
CREATE FUNCTION _rbac_manager(action text, resource text)
RETURNS uuid
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, tracechain, pg_temp AS $$
DECLARE
  v_actor uuid := current_principal();
BEGIN
  IF v_actor IS NULL AND _caller_is_superuser() THEN
    RETURN NULL;
  END IF;
  IF NOT has_permission('user.manage', v_actor) THEN
    PERFORM _rbac_deny(action, 'user.manage', resource, 'permission "user.manage" required');
  END IF;
  RETURN v_actor;
END $$;
COMMENT ON FUNCTION _rbac_manager(text, text) IS
'Internal: 42501 unless the caller holds user.manage (or is a superuser with no principal); returns the acting principal';

CREATE FUNCTION _rbac_check_target(principal uuid, role text) RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, tracechain, pg_temp AS $$
BEGIN
  IF principal IS NULL THEN
    RAISE EXCEPTION 'principal must not be null' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF role IS NULL OR role = '' THEN
    RAISE EXCEPTION 'role must not be empty' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF NOT EXISTS (SELECT 1 FROM principals p WHERE p.id = _rbac_check_target.principal) THEN
    RAISE EXCEPTION 'principal % does not exist', principal USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF NOT EXISTS (SELECT 1 FROM roles r WHERE r.name = _rbac_check_target.role) THEN
    RAISE EXCEPTION 'role "%" does not exist', left(role, 64)
      USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Roles: ' || (SELECT string_agg(r.name, ', ' ORDER BY r.name) FROM roles r) || '.';
  END IF;
END $$;
COMMENT ON FUNCTION _rbac_check_target(uuid, text) IS 'Internal: 22023 unless the principal and the role exist';

-- Nobody hands out (or takes away) a role holding permissions they lack.
CREATE FUNCTION _rbac_check_escalation(actor uuid, action text, role text) RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, tracechain, pg_temp AS $$
DECLARE
  v_missing text;
BEGIN
  IF actor IS NULL THEN
    RETURN;   -- the bootstrap superuser
  END IF;
  SELECT string_agg(rp.permission, ', ' ORDER BY rp.permission) INTO v_missing
    FROM role_permissions rp
   WHERE rp.role = _rbac_check_escalation.role AND NOT has_permission(rp.permission, actor);
  IF v_missing IS NOT NULL THEN
    PERFORM _rbac_deny(action, v_missing, 'role:' || role,
                       format('role "%s" holds permissions you lack: %s', role, v_missing));
  END IF;
END $$;
COMMENT ON FUNCTION _rbac_check_escalation(uuid, text, text) IS
'Internal: 42501 when the role holds a permission the acting principal lacks';

CREATE FUNCTION grant_role(principal uuid, role text) RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, tracechain, pg_temp AS $$
DECLARE
  v_actor uuid := _rbac_manager('role.grant', 'role:' || coalesce(left(role, 64), ''));
BEGIN
  PERFORM _rbac_check_target(principal, role);
  PERFORM _rbac_check_escalation(v_actor, 'role.grant', role);
  INSERT INTO principal_roles (principal, role, granted_by)
  VALUES (grant_role.principal, grant_role.role, v_actor)
  ON CONFLICT DO NOTHING;
  IF NOT FOUND THEN
    RETURN false;
  END IF;
  PERFORM _audit_append('security', 'role.grant', 'principal:' || principal,
                        jsonb_build_object('role', role), v_actor, NULL);
  RETURN true;
END $$;
COMMENT ON FUNCTION grant_role(uuid, text) IS
'Grant a role (needs user.manage and every permission the role holds); true when granted, false when already held; audited';

CREATE FUNCTION revoke_role(principal uuid, role text) RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, tracechain, pg_temp AS $$
DECLARE
  v_actor uuid := _rbac_manager('role.revoke', 'role:' || coalesce(left(role, 64), ''));
BEGIN
  PERFORM _rbac_check_target(principal, role);
  PERFORM _rbac_check_escalation(v_actor, 'role.revoke', role);
  -- Serialize revocations of one role, so that two of them cannot each leave the other as the last holder.
  PERFORM 1 FROM roles r WHERE r.name = revoke_role.role FOR UPDATE;
  IF role = 'SUPER_ADMIN' AND NOT EXISTS (
       SELECT 1 FROM principal_roles pr JOIN principals p ON p.id = pr.principal
        WHERE pr.role = 'SUPER_ADMIN' AND p.status = 'active' AND pr.principal <> revoke_role.principal)
     AND EXISTS (SELECT 1 FROM principal_roles pr
                  WHERE pr.role = 'SUPER_ADMIN' AND pr.principal = revoke_role.principal) THEN
    RAISE EXCEPTION 'cannot revoke the last active SUPER_ADMIN'
      USING ERRCODE = 'object_not_in_prerequisite_state', HINT = 'Grant SUPER_ADMIN to another principal first.';
  END IF;
  DELETE FROM principal_roles pr WHERE pr.principal = revoke_role.principal AND pr.role = revoke_role.role;
  IF NOT FOUND THEN
    RETURN false;
  END IF;
  PERFORM _audit_append('security', 'role.revoke', 'principal:' || principal,
                        jsonb_build_object('role', role), v_actor, NULL);
  RETURN true;
END $$;
COMMENT ON FUNCTION revoke_role(uuid, text) IS
'Revoke a role (needs user.manage and every permission the role holds; never the last active SUPER_ADMIN); false when not held; audited';

CREATE FUNCTION principal_permissions(principal uuid DEFAULT current_principal())
RETURNS TABLE (role text, permission text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, tracechain, pg_temp AS $$
  SELECT pr.role::text, rp.permission::text
    FROM tracechain.principal_roles pr
    JOIN tracechain.role_permissions rp ON rp.role = pr.role
    JOIN tracechain.principals p ON p.id = pr.principal AND p.status = 'active'
   WHERE pr.principal = principal_permissions.principal
   ORDER BY 1, 2
$$;
COMMENT ON FUNCTION principal_permissions(uuid) IS
'The roles and permissions a principal (default: the current one) holds; none while suspended';

CREATE FUNCTION rbac_link_login(login name, principal uuid) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, tracechain, pg_temp AS $$
DECLARE
  v_actor uuid := _rbac_manager('login.link', 'login:' || coalesce(login::text, ''));
  v_canlogin boolean;
BEGIN
  IF login IS NULL OR login = '' THEN
    RAISE EXCEPTION 'login must not be empty' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF principal IS NULL THEN
    RAISE EXCEPTION 'principal must not be null' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  SELECT r.rolcanlogin INTO v_canlogin FROM pg_roles r WHERE r.rolname = login;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'role "%" does not exist', login USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF NOT v_canlogin THEN
    RAISE EXCEPTION 'role "%" cannot log in', login
      USING ERRCODE = 'invalid_parameter_value', HINT = 'Link login roles, not group roles.';
  END IF;
  IF NOT EXISTS (SELECT 1 FROM principals p WHERE p.id = rbac_link_login.principal) THEN
    RAISE EXCEPTION 'principal % does not exist', principal USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF v_actor IS NOT NULL AND NOT _rbac_covers(v_actor, principal) THEN
    PERFORM _rbac_deny('login.link', 'user.manage', 'login:' || login,
                       'the principal holds permissions you lack');
  END IF;
  INSERT INTO login_principals (login, principal, linked_by) VALUES (login, principal, v_actor)
  ON CONFLICT ON CONSTRAINT login_principals_pkey
  DO UPDATE SET principal = EXCLUDED.principal, linked_by = EXCLUDED.linked_by, linked_at = now();
  PERFORM _audit_append('security', 'login.link', 'login:' || login,
                        jsonb_build_object('principal', principal), v_actor, NULL);
END $$;
COMMENT ON FUNCTION rbac_link_login(name, uuid) IS
'Link a database login role to a principal: its sessions act as that principal whenever authenticate() has not set one (needs user.manage and every permission the principal holds); audited';

CREATE FUNCTION rbac_unlink_login(login name) RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, tracechain, pg_temp AS $$
DECLARE
  v_actor uuid := _rbac_manager('login.unlink', 'login:' || coalesce(login::text, ''));
BEGIN
  IF login IS NULL OR login = '' THEN
    RAISE EXCEPTION 'login must not be empty' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  DELETE FROM login_principals lp WHERE lp.login = rbac_unlink_login.login;
  IF NOT FOUND THEN
    RETURN false;
  END IF;
  PERFORM _audit_append('security', 'login.unlink', 'login:' || login, '{}', v_actor, NULL);
  RETURN true;
END $$;
COMMENT ON FUNCTION rbac_unlink_login(name) IS 'Remove the link of a login role to a principal; false when there was none; audited';

GRANT SELECT ON roles, role_permissions TO tracechain_app, tracechain_auditor, tracechain_admin;
GRANT SELECT ON principal_roles TO tracechain_app, tracechain_admin;
GRANT SELECT ON login_principals TO tracechain_admin;
GRANT EXECUTE ON FUNCTION has_permission(text, uuid), require_permission(text), principal_permissions(uuid)
TO tracechain_app, tracechain_auditor, tracechain_admin;
GRANT EXECUTE ON FUNCTION grant_role(uuid, text), revoke_role(uuid, text) TO tracechain_app, tracechain_admin;
GRANT EXECUTE ON FUNCTION rbac_link_login(name, uuid), rbac_unlink_login(name) TO tracechain_admin;

-- registry.sql: the supply-chain registry (stakeholders, products,
-- hash-chained checkpoints, emergency pause), protected by row-level
-- security whose permission checks are InitPlans (registry.c: dump/restore).
--
-- Who may do what (docs/registry.md has the matrix):
--   read a product        product.view or product.manage, or a stake in it
--                         (manufacturer or listed stakeholder)
--   update a product      product.update, or product.update.own and a stake
--   delete a product      product.manage, or its manufacturer while it holds product.create
--   register a product    product.create and an authorized stakeholder within its limit
--   add a checkpoint      checkpoint.add and a stake in the product
--   verify a product      product.verify, product.view, product.manage or a stake
--   authorize stakeholder the registry owner or product.manage
--   pause / unpause       the registry owner or registry.pause (SUPER_ADMIN through "*")
-- A database superuser with no current principal (the bootstrap) may
-- authorize stakeholders, set the owner and pause.

CREATE TABLE registry_state (
  singleton  boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  owner      uuid REFERENCES principals (id) ON DELETE SET NULL,
  paused     boolean NOT NULL DEFAULT false,
  changed_at timestamptz NOT NULL DEFAULT now(),
  changed_by uuid
);
COMMENT ON TABLE registry_state IS
'The registry''s one row (absent until first set): its owner and whether it is paused';
SELECT pg_catalog.pg_extension_config_dump('registry_state', '');

CREATE TABLE stakeholders (
  principal     uuid PRIMARY KEY REFERENCES principals (id) ON DELETE CASCADE,
  authorized    boolean NOT NULL DEFAULT true,
  amount_limit  numeric NOT NULL CHECK (amount_limit >= 0 AND amount_limit < 'Infinity'),
  authorized_by uuid,
  authorized_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE stakeholders IS
'Principals authorized to register products, each with the amount it may still register';
COMMENT ON COLUMN stakeholders.amount_limit IS
'Remaining amount: register_product decrements it atomically and never below zero';
SELECT pg_catalog.pg_extension_config_dump('stakeholders', '');

CREATE TABLE products (
  id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  manufacturer     uuid NOT NULL REFERENCES principals (id),
  stakeholders     uuid[] NOT NULL DEFAULT '{}',
  name             text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  batch_number     text CHECK (length(batch_number) BETWEEN 1 AND 100),
  amount           numeric NOT NULL CHECK (amount > 0 AND amount < 'Infinity'),
  is_active        boolean NOT NULL DEFAULT true,
  created_at       timestamptz NOT NULL DEFAULT now(),
  anchor           bytea NOT NULL CHECK (octet_length(anchor) = 32),
  checkpoint_count int NOT NULL DEFAULT 0,
  checkpoint_head  bytea CHECK (octet_length(checkpoint_head) = 32)
);
CREATE INDEX products_manufacturer ON products (manufacturer);
CREATE INDEX products_stakeholders ON products USING gin (stakeholders);
COMMENT ON TABLE products IS
'Registered products; row-level security decides who sees, updates and deletes which (see the README)';
COMMENT ON COLUMN products.stakeholders IS 'Principals holding a stake in the product besides its manufacturer';
COMMENT ON COLUMN products.anchor IS
'SHA-256 over id, manufacturer, amount and created_at: the prev_hash of the first checkpoint';
COMMENT ON COLUMN products.checkpoint_head IS 'hash of the last checkpoint (null before the first)';
SELECT pg_catalog.pg_extension_config_dump('products', '');
SELECT pg_catalog.pg_extension_config_dump('products_id_seq', '');

CREATE TABLE checkpoints (
  id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  product_id bigint NOT NULL REFERENCES products (id) ON DELETE RESTRICT,   -- custody history outlives no product
  seq        int NOT NULL CHECK (seq > 0),
  kind       text NOT NULL,
  location   text,
  data       jsonb NOT NULL DEFAULT '{}',
  actor      uuid NOT NULL,
  at         timestamptz NOT NULL,
  prev_hash  bytea NOT NULL CHECK (octet_length(prev_hash) = 32),
  hash       bytea NOT NULL CHECK (octet_length(hash) = 32),
  UNIQUE (product_id, seq)
);
COMMENT ON TABLE checkpoints IS
'Custody checkpoints, a hash chain per product: hash = SHA-256(prev_hash || encoding of the row), prev_hash of seq 1 = products.anchor';
SELECT pg_catalog.pg_extension_config_dump('checkpoints', '');
SELECT pg_catalog.pg_extension_config_dump('checkpoints_id_seq', '');

-- Hashing: each field as a 4-byte big-endian length and its UTF-8 bytes
-- (0xffffffff for null); timestamps as integer microseconds since the epoch.
CREATE FUNCTION _reg_enc(t text) RETURNS bytea
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE WHEN t IS NULL THEN '\xffffffff'::bytea
              ELSE pg_catalog.int4send(pg_catalog.octet_length(pg_catalog.convert_to(t, 'UTF8')))
                   OPERATOR(pg_catalog.||) pg_catalog.convert_to(t, 'UTF8') END
$$;
COMMENT ON FUNCTION _reg_enc(text) IS 'Internal: length-prefixed UTF-8 encoding of one hashed field';

CREATE FUNCTION _reg_us(t timestamptz) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT ((pg_catalog.extract('epoch', t) OPERATOR(pg_catalog.*) 1000000)::numeric(30, 0))::text
$$;
COMMENT ON FUNCTION _reg_us(timestamptz) IS 'Internal: a timestamp as integer microseconds since the epoch, for hashing';

CREATE FUNCTION _product_anchor(id bigint, manufacturer uuid, amount numeric, created_at timestamptz)
RETURNS bytea
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog, tracechain, pg_temp AS $$
  SELECT sha256(convert_to('tracechain product', 'UTF8') || _reg_enc(id::text) || _reg_enc(manufacturer::text)
                || _reg_enc(amount::text) || _reg_enc(_reg_us(created_at)))
$$;
COMMENT ON FUNCTION _product_anchor(bigint, uuid, numeric, timestamptz) IS
'Internal: the anchor of a product''s checkpoint chain';

CREATE FUNCTION _checkpoint_hash(prev_hash bytea, product_id bigint, seq int, kind text, location text,
                                 data jsonb, actor uuid, at timestamptz)
RETURNS bytea
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog, tracechain, pg_temp AS $$
  SELECT sha256(prev_hash || _reg_enc(product_id::text) || _reg_enc(seq::text) || _reg_enc(kind)
                || _reg_enc(location) || _reg_enc(data::text) || _reg_enc(actor::text) || _reg_enc(_reg_us(at)))
$$;
COMMENT ON FUNCTION _checkpoint_hash(bytea, bigint, int, text, text, jsonb, uuid, timestamptz) IS
'Internal: the hash of one checkpoint, covering the previous one''s';

CREATE FUNCTION is_paused() RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, tracechain, pg_temp AS $$
  SELECT coalesce((SELECT s.paused FROM tracechain.registry_state s), false)
$$;
COMMENT ON FUNCTION is_paused() IS 'Is the registry paused (every write refused, reads allowed)?';

CREATE FUNCTION _registry_writable() RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, tracechain, pg_temp AS $$
BEGIN
  IF is_paused() THEN
    RAISE EXCEPTION 'the registry is paused'
      USING ERRCODE = 'object_not_in_prerequisite_state',
            HINT = 'Writes are refused until emergency_unpause(); reads keep working.';
  END IF;
END $$;
COMMENT ON FUNCTION _registry_writable() IS 'Internal: 55000 while the registry is paused';

-- Every write to the tables, whoever makes it, is refused while paused.
-- (Not INSERT: rows only enter through functions that check first, and a
-- restore copies rows in whatever the dumped pause state was.)
CREATE FUNCTION _registry_guard() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, tracechain, pg_temp AS $$
BEGIN
  PERFORM _registry_writable();
  RETURN NULL;
END $$;
COMMENT ON FUNCTION _registry_guard() IS 'Internal: statement trigger refusing updates and deletes while the registry is paused';
CREATE TRIGGER registry_guard BEFORE UPDATE OR DELETE OR TRUNCATE ON products
  FOR EACH STATEMENT EXECUTE FUNCTION _registry_guard();
CREATE TRIGGER registry_guard BEFORE UPDATE OR DELETE OR TRUNCATE ON checkpoints
  FOR EACH STATEMENT EXECUTE FUNCTION _registry_guard();
CREATE TRIGGER registry_guard BEFORE UPDATE OR DELETE OR TRUNCATE ON stakeholders
  FOR EACH STATEMENT EXECUTE FUNCTION _registry_guard();

-- The acting principal, or 42501 when there is none.
CREATE FUNCTION _registry_actor(action text) RETURNS uuid
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, tracechain, pg_temp AS $$
DECLARE
  v uuid := current_principal();
BEGIN
  IF v IS NULL THEN
    PERFORM _rbac_deny(action, NULL, NULL, format('%s needs an authenticated principal', action));
  END IF;
  RETURN v;
END $$;
COMMENT ON FUNCTION _registry_actor(text) IS 'Internal: the current principal, or 42501 when none';

CREATE FUNCTION _registry_is_owner(principal uuid) RETURNS boolean
LANGUAGE sql STABLE SET search_path = pg_catalog, tracechain, pg_temp AS $$
  SELECT principal IS NOT NULL AND EXISTS (SELECT 1 FROM tracechain.registry_state s WHERE s.owner = principal)
$$;
COMMENT ON FUNCTION _registry_is_owner(uuid) IS 'Internal: is the principal the registry owner';

-- The registry owner, registry.manage (SUPER_ADMIN), or the bootstrap superuser.
CREATE FUNCTION registry_set_owner(principal uuid) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, tracechain, pg_temp AS $$
DECLARE
  v_actor uuid := current_principal();
BEGIN
  IF NOT ((v_actor IS NULL AND _caller_is_superuser()) OR _registry_is_owner(v_actor)
          OR has_permission('registry.manage', v_actor)) THEN
    PERFORM _rbac_deny('registry.set_owner', 'registry.manage', 'registry',
                       'only the registry owner or a holder of registry.manage may set the owner');
  END IF;
  IF principal IS NULL THEN
    RAISE EXCEPTION 'principal must not be null' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF NOT EXISTS (SELECT 1 FROM principals p WHERE p.id = registry_set_owner.principal) THEN
    RAISE EXCEPTION 'principal % does not exist', principal USING ERRCODE = 'invalid_parameter_value';
  END IF;
  INSERT INTO registry_state AS s (singleton, owner, changed_by) VALUES (true, principal, v_actor)
  ON CONFLICT (singleton) DO UPDATE SET owner = EXCLUDED.owner, changed_at = now(), changed_by = EXCLUDED.changed_by;
  PERFORM _audit_append('security', 'registry.set_owner', 'registry',
                        jsonb_build_object('owner', principal), v_actor, NULL);
END $$;
COMMENT ON FUNCTION registry_set_owner(uuid) IS
'Make a principal the registry owner (the owner itself, registry.manage, or a superuser bootstrapping); audited';

CREATE FUNCTION _registry_pause_set(v_paused boolean) RETURNS void
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, tracechain, pg_temp AS $$
DECLARE
  v_actor uuid := current_principal();
  v_action text := CASE WHEN v_paused THEN 'registry.pause' ELSE 'registry.unpause' END;
BEGIN
  IF NOT ((v_actor IS NULL AND _caller_is_superuser()) OR _registry_is_owner(v_actor)
          OR has_permission('registry.pause', v_actor)) THEN
    PERFORM _rbac_deny(v_action, 'registry.pause', 'registry',
                       'only the registry owner or a holder of registry.pause may pause or unpause the registry');
  END IF;
  -- Lock the state row (creating it if needed) so two calls cannot both succeed.
  INSERT INTO registry_state (singleton) VALUES (true) ON CONFLICT (singleton) DO NOTHING;
  PERFORM 1 FROM registry_state s WHERE s.singleton FOR UPDATE;
  IF is_paused() = v_paused THEN
    RAISE EXCEPTION 'the registry is already %', CASE WHEN v_paused THEN 'paused' ELSE 'running' END
      USING ERRCODE = 'object_not_in_prerequisite_state';
  END IF;
  UPDATE registry_state s SET paused = v_paused, changed_at = now(), changed_by = v_actor WHERE s.singleton;
  PERFORM _audit_append('security', v_action, 'registry', '{}', v_actor, NULL);
END $$;
COMMENT ON FUNCTION _registry_pause_set(boolean) IS 'Internal: pause or unpause, with the owner/registry.pause check';

CREATE FUNCTION emergency_pause() RETURNS void
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, tracechain, pg_temp AS $$
  SELECT tracechain._registry_pause_set(true)
$$;
COMMENT ON FUNCTION emergency_pause() IS
'Refuse every write to the registry until emergency_unpause() (the owner or registry.pause, i.e. SUPER_ADMIN); 55000 when already paused; audited';

CREATE FUNCTION emergency_unpause() RETURNS void
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, tracechain, pg_temp AS $$
  SELECT tracechain._registry_pause_set(false)
$$;
COMMENT ON FUNCTION emergency_unpause() IS
'Allow writes again (the owner or registry.pause, i.e. SUPER_ADMIN); 55000 when not paused; audited';

CREATE FUNCTION _check_amount(what text, v numeric) RETURNS void
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  IF v IS NULL THEN
    RAISE EXCEPTION '% must not be null', what USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF v = 'NaN' OR v IN ('Infinity', '-Infinity') THEN
    RAISE EXCEPTION '% must be a finite number', what USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF v <= 0 THEN
    RAISE EXCEPTION '% must be positive', what USING ERRCODE = 'invalid_parameter_value';
  END IF;
END $$;
COMMENT ON FUNCTION _check_amount(text, numeric) IS 'Internal: 22023 unless the amount is a finite number above zero';

CREATE FUNCTION _check_text(what text, v text, max_len int, required boolean) RETURNS void
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  IF v IS NULL OR v = '' THEN
    IF required THEN
      RAISE EXCEPTION '% must not be empty', what USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF v = '' THEN
      RAISE EXCEPTION '% must be null or not empty', what USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN;
  END IF;
  IF btrim(v) = '' THEN
    RAISE EXCEPTION '% must not be blank', what USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF length(v) > max_len OR v ~ '[[:cntrl:]]' THEN
    RAISE EXCEPTION '% is not valid', what
      USING ERRCODE = 'invalid_parameter_value',
            HINT = format('Use at most %s characters and no control characters.', max_len);
  END IF;
END $$;
COMMENT ON FUNCTION _check_text(text, text, int, boolean) IS 'Internal: 22023 for an empty, blank, overlong or control-character text';

-- What authorizing and revoking a stakeholder share: the caller's right (the
-- registry owner, product.manage, or a superuser without a principal), the
-- registry not paused, a principal given.  Returns the acting principal.
CREATE FUNCTION _stakeholder_admin_begin(action text, verb text, principal uuid) RETURNS uuid
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, tracechain, pg_temp AS $$
DECLARE
  v_actor uuid := current_principal();
BEGIN
  IF NOT ((v_actor IS NULL AND _caller_is_superuser()) OR _registry_is_owner(v_actor)
          OR has_permission('product.manage', v_actor)) THEN
    PERFORM _rbac_deny(action, 'product.manage', 'principal:' || coalesce(principal::text, ''),
                       format('only the registry owner or a holder of product.manage may %s stakeholders', verb));
  END IF;
  PERFORM _registry_writable();
  IF principal IS NULL THEN
    RAISE EXCEPTION 'principal must not be null' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  RETURN v_actor;
END $$;
COMMENT ON FUNCTION _stakeholder_admin_begin(text, text, uuid) IS
'Internal: the checks that authorize_stakeholder and revoke_stakeholder share; returns the acting principal';

CREATE FUNCTION authorize_stakeholder(principal uuid, amount_limit numeric) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, tracechain, pg_temp AS $$
DECLARE
  v_actor uuid := _stakeholder_admin_begin('stakeholder.authorize', 'authorize', principal);
BEGIN
  PERFORM _check_amount('amount_limit', amount_limit);
  IF NOT EXISTS (SELECT 1 FROM principals p WHERE p.id = authorize_stakeholder.principal) THEN
    RAISE EXCEPTION 'principal % does not exist', principal USING ERRCODE = 'invalid_parameter_value';
  END IF;
  INSERT INTO stakeholders AS s (principal, authorized, amount_limit, authorized_by)
  VALUES (principal, true, amount_limit, v_actor)
  ON CONFLICT ON CONSTRAINT stakeholders_pkey DO UPDATE
     SET authorized = true, amount_limit = EXCLUDED.amount_limit,
         authorized_by = EXCLUDED.authorized_by, authorized_at = now();
  PERFORM _audit_append('security', 'stakeholder.authorize', 'principal:' || principal,
                        jsonb_build_object('amount_limit', amount_limit), v_actor, NULL);
END $$;
COMMENT ON FUNCTION authorize_stakeholder(uuid, numeric) IS
'Authorize a principal to register products up to amount_limit (replacing any remaining limit); the owner or product.manage; audited';

CREATE FUNCTION revoke_stakeholder(principal uuid) RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, tracechain, pg_temp AS $$
DECLARE
  v_actor uuid := _stakeholder_admin_begin('stakeholder.revoke', 'revoke', principal);
BEGIN
  UPDATE stakeholders s SET authorized = false WHERE s.principal = revoke_stakeholder.principal AND s.authorized;
  IF NOT FOUND THEN
    RETURN false;
  END IF;
  PERFORM _audit_append('security', 'stakeholder.revoke', 'principal:' || principal, '{}', v_actor, NULL);
  RETURN true;
END $$;
COMMENT ON FUNCTION revoke_stakeholder(uuid) IS
'Withdraw a stakeholder''s authorization to register products; false when it was not authorized; audited';

CREATE FUNCTION register_product(name text, batch_number text, amount numeric) RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, tracechain, pg_temp AS $$
DECLARE
  v_me uuid := _registry_actor('product.register');
  v_authorized boolean;
  v_left numeric;
  v_id bigint;
  v_at timestamptz := clock_timestamp();
BEGIN
  PERFORM require_permission('product.create');
  SELECT s.authorized INTO v_authorized FROM stakeholders s WHERE s.principal = v_me;
  IF v_authorized IS NOT TRUE THEN
    PERFORM _rbac_deny('product.register', 'product.create', 'principal:' || v_me,
                       'the principal is not an authorized stakeholder');
  END IF;
  PERFORM _registry_writable();
  PERFORM _check_text('product name', name, 200, true);
  PERFORM _check_text('batch number', batch_number, 100, false);
  PERFORM _check_amount('amount', amount);
  -- One statement checks and spends: concurrent registrations queue on the
  -- row lock and re-check the remaining limit, so it is never overspent.
  UPDATE stakeholders s SET amount_limit = s.amount_limit - amount
   WHERE s.principal = v_me AND s.authorized AND s.amount_limit >= amount
  RETURNING s.amount_limit INTO v_left;
  IF NOT FOUND THEN
    SELECT s.amount_limit INTO v_left FROM stakeholders s WHERE s.principal = v_me;
    RAISE EXCEPTION 'amount exceeds the remaining stakeholder limit'
      USING ERRCODE = 'object_not_in_prerequisite_state',
            DETAIL = format('Requested %s, remaining %s.', amount, coalesce(v_left, 0));
  END IF;
  v_id := nextval(pg_get_serial_sequence('tracechain.products', 'id'));
  INSERT INTO products (id, manufacturer, name, batch_number, amount, created_at, anchor)
  OVERRIDING SYSTEM VALUE
  VALUES (v_id, v_me, name, batch_number, amount, v_at, _product_anchor(v_id, v_me, amount, v_at));
  PERFORM _audit_enqueue('data', 'product.register', 'product:' || v_id,
                        jsonb_build_object('name', name, 'batch_number', batch_number, 'amount', amount,
                                           'remaining_limit', v_left),
                        v_me, NULL);
  RETURN v_id;
END $$;
COMMENT ON FUNCTION register_product(text, text, numeric) IS
'Register a product as the current principal (product.create, an authorized stakeholder, not paused, amount within the remaining limit, which is decremented atomically); audited';

-- The one statement of the access rules for a single product; the policies below say the same per row.
CREATE FUNCTION can_access_product(product_id bigint, action text, principal uuid DEFAULT current_principal())
RETURNS boolean
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, tracechain, pg_temp AS $$
DECLARE
  p record;
  v_stake boolean;
BEGIN
  IF action IS NULL OR action NOT IN ('view', 'update', 'delete', 'checkpoint', 'verify') THEN
    RAISE EXCEPTION 'invalid product action "%"', left(action, 64)
      USING ERRCODE = 'invalid_parameter_value', HINT = 'Use view, update, delete, checkpoint or verify.';
  END IF;
  IF product_id IS NULL THEN
    RAISE EXCEPTION 'product id must not be null' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF principal IS NULL THEN
    RETURN false;
  END IF;
  SELECT x.manufacturer, x.stakeholders INTO p FROM products x WHERE x.id = product_id;
  IF NOT FOUND THEN
    RETURN false;
  END IF;
  v_stake := p.manufacturer = principal OR principal = ANY (p.stakeholders);
  RETURN CASE action
    WHEN 'view' THEN has_permission('product.view', principal) OR has_permission('product.manage', principal) OR v_stake
    WHEN 'update' THEN has_permission('product.update', principal)
                       OR (has_permission('product.update.own', principal) AND v_stake)
    WHEN 'delete' THEN has_permission('product.manage', principal)
                       OR (p.manufacturer = principal AND has_permission('product.create', principal))
    WHEN 'checkpoint' THEN has_permission('checkpoint.add', principal) AND v_stake
    ELSE has_permission('product.verify', principal) OR has_permission('product.view', principal)
         OR has_permission('product.manage', principal) OR v_stake
  END;
END $$;
COMMENT ON FUNCTION can_access_product(bigint, text, uuid) IS
'May the principal (default: the current one) view, update, delete, checkpoint or verify the product?  False for an unknown product';

-- What adding and removing a stakeholder share: the caller, the arguments,
-- the product locked, the caller's right to change its stakeholders, the
-- registry not paused.
CREATE FUNCTION _stake_change_begin(action text, verb text, product_id bigint, principal uuid,
                                    OUT me uuid, OUT manufacturer uuid, OUT stakeholders uuid[])
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, tracechain, pg_temp AS $$
BEGIN
  me := _registry_actor(action);
  IF product_id IS NULL OR principal IS NULL THEN
    RAISE EXCEPTION 'product id and principal must not be null' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  SELECT x.manufacturer, x.stakeholders INTO manufacturer, stakeholders
    FROM products x WHERE x.id = product_id FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'product % does not exist', product_id USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF manufacturer <> me AND NOT has_permission('product.manage', me) THEN
    PERFORM _rbac_deny(action, 'product.manage', 'product:' || product_id,
                       format('only the manufacturer or a holder of product.manage may %s stakeholders', verb));
  END IF;
  PERFORM _registry_writable();
END $$;
COMMENT ON FUNCTION _stake_change_begin(text, text, bigint, uuid) IS
'Internal: the checks and the row lock that product_add_stakeholder and product_remove_stakeholder share';

CREATE FUNCTION product_add_stakeholder(product_id bigint, principal uuid) RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, tracechain, pg_temp AS $$
DECLARE
  p record := _stake_change_begin('product.add_stakeholder', 'add', product_id, principal);
BEGIN
  IF NOT EXISTS (SELECT 1 FROM principals x WHERE x.id = product_add_stakeholder.principal) THEN
    RAISE EXCEPTION 'principal % does not exist', principal USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF principal = p.manufacturer OR principal = ANY (p.stakeholders) THEN
    RETURN false;
  END IF;
  UPDATE products x SET stakeholders = x.stakeholders || principal WHERE x.id = product_id;
  PERFORM _audit_enqueue('data', 'product.add_stakeholder', 'product:' || product_id,
                        jsonb_build_object('stakeholder', principal), p.me, NULL);
  RETURN true;
END $$;
COMMENT ON FUNCTION product_add_stakeholder(bigint, uuid) IS
'Give a principal a stake in a product (the manufacturer or product.manage); false when it already has one; audited';

CREATE FUNCTION product_remove_stakeholder(product_id bigint, principal uuid) RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, tracechain, pg_temp AS $$
DECLARE
  p record := _stake_change_begin('product.remove_stakeholder', 'remove', product_id, principal);
BEGIN
  IF NOT principal = ANY (p.stakeholders) THEN
    RETURN false;
  END IF;
  UPDATE products x SET stakeholders = array_remove(x.stakeholders, principal) WHERE x.id = product_id;
  PERFORM _audit_enqueue('data', 'product.remove_stakeholder', 'product:' || product_id,
                        jsonb_build_object('stakeholder', principal), p.me, NULL);
  RETURN true;
END $$;
COMMENT ON FUNCTION product_remove_stakeholder(bigint, uuid) IS
'Withdraw a principal''s stake in a product (the manufacturer or product.manage); false when it had none; audited';

CREATE FUNCTION add_checkpoint(product_id bigint, kind text, location text, data jsonb DEFAULT '{}')
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, tracechain, pg_temp AS $$
DECLARE
  v_me uuid := _registry_actor('checkpoint.add');
  p record;
  v_seq int;
  v_prev bytea;
  v_hash bytea;
  v_at timestamptz := clock_timestamp();
  v_data jsonb := coalesce(data, '{}');
  v_id bigint;
BEGIN
  PERFORM require_permission('checkpoint.add');
  IF product_id IS NULL THEN
    RAISE EXCEPTION 'product id must not be null' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  -- The row lock serializes the chain of one product.
  SELECT x.manufacturer, x.stakeholders, x.is_active, x.anchor, x.checkpoint_count, x.checkpoint_head
    INTO p FROM products x WHERE x.id = product_id FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'product % does not exist', product_id USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF NOT (p.manufacturer = v_me OR v_me = ANY (p.stakeholders)) THEN
    PERFORM _rbac_deny('checkpoint.add', 'checkpoint.add', 'product:' || product_id,
                       'a checkpoint needs a stake in the product');
  END IF;
  PERFORM _registry_writable();
  PERFORM _check_text('checkpoint kind', kind, 50, true);
  PERFORM _check_text('location', location, 200, false);
  IF jsonb_typeof(v_data) <> 'object' THEN
    RAISE EXCEPTION 'checkpoint data must be a JSON object' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF NOT p.is_active THEN
    RAISE EXCEPTION 'product % is not active', product_id USING ERRCODE = 'object_not_in_prerequisite_state';
  END IF;
  v_seq := p.checkpoint_count + 1;
  v_prev := coalesce(p.checkpoint_head, p.anchor);
  v_hash := _checkpoint_hash(v_prev, product_id, v_seq, kind, location, v_data, v_me, v_at);
  INSERT INTO checkpoints (product_id, seq, kind, location, data, actor, at, prev_hash, hash)
  VALUES (product_id, v_seq, kind, location, v_data, v_me, v_at, v_prev, v_hash)
  RETURNING id INTO v_id;
  UPDATE products x SET checkpoint_count = v_seq, checkpoint_head = v_hash WHERE x.id = product_id;
  PERFORM _audit_enqueue('data', 'checkpoint.add', 'product:' || product_id,
                        jsonb_build_object('seq', v_seq, 'kind', kind, 'hash', encode(v_hash, 'hex')),
                        v_me, NULL);
  RETURN v_id;
END $$;
COMMENT ON FUNCTION add_checkpoint(bigint, text, text, jsonb) IS
'Append a custody checkpoint to a product''s hash chain (checkpoint.add and a stake in the product); audited with its hash';

CREATE FUNCTION verify_product(product_id bigint) RETURNS jsonb
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, tracechain, pg_temp AS $$
DECLARE
  v_me uuid := _registry_actor('product.verify');
  p record;
  c record;
  v_expect_prev bytea;
  v_expect_seq int := 1;
  v_ok boolean := true;
  v_bad int;
  v_reason text;
  v_list jsonb := '[]';
BEGIN
  IF product_id IS NULL THEN
    RAISE EXCEPTION 'product id must not be null' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  SELECT x.* INTO p FROM products x WHERE x.id = product_id;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'product % does not exist', product_id USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF NOT (has_permission('product.verify', v_me) OR has_permission('product.view', v_me)
          OR has_permission('product.manage', v_me) OR p.manufacturer = v_me OR v_me = ANY (p.stakeholders)) THEN
    PERFORM _rbac_deny('product.verify', 'product.verify', 'product:' || product_id,
                       'permission "product.verify" required');
  END IF;
  IF p.anchor IS DISTINCT FROM _product_anchor(p.id, p.manufacturer, p.amount, p.created_at) THEN
    v_ok := false; v_bad := 0; v_reason := 'product row does not match its anchor';
  END IF;
  v_expect_prev := p.anchor;
  FOR c IN SELECT * FROM checkpoints x WHERE x.product_id = verify_product.product_id ORDER BY x.seq LOOP
    IF v_ok THEN
      IF c.seq <> v_expect_seq THEN
        v_ok := false; v_bad := v_expect_seq; v_reason := format('checkpoint %s is missing', v_expect_seq);
      ELSIF c.prev_hash IS DISTINCT FROM v_expect_prev THEN
        v_ok := false; v_bad := c.seq; v_reason := format('checkpoint %s does not link to its predecessor', c.seq);
      ELSIF c.hash IS DISTINCT FROM _checkpoint_hash(c.prev_hash, c.product_id, c.seq, c.kind, c.location,
                                                      c.data, c.actor, c.at) THEN
        v_ok := false; v_bad := c.seq; v_reason := format('checkpoint %s was altered', c.seq);
      END IF;
    END IF;
    v_expect_prev := c.hash;
    v_expect_seq := c.seq + 1;
    v_list := v_list || jsonb_build_object('seq', c.seq, 'kind', c.kind, 'location', c.location, 'data', c.data,
                                           'actor', c.actor, 'at', c.at, 'hash', encode(c.hash, 'hex'));
  END LOOP;
  IF v_ok AND (v_expect_seq - 1 <> p.checkpoint_count OR v_expect_prev IS DISTINCT FROM coalesce(p.checkpoint_head, p.anchor)) THEN
    v_ok := false; v_bad := v_expect_seq;
    v_reason := 'the chain does not end at the product''s recorded head';
  END IF;
  RETURN jsonb_build_object(
    'product', jsonb_build_object('id', p.id, 'name', p.name, 'batch_number', p.batch_number,
                                  'manufacturer', p.manufacturer, 'amount', p.amount, 'is_active', p.is_active,
                                  'created_at', p.created_at),
    'checkpoints', v_list,
    'chain_ok', v_ok,
    'first_bad_seq', v_bad,
    'reason', v_reason);
END $$;
COMMENT ON FUNCTION verify_product(bigint) IS
'A product''s provenance as jsonb (product, checkpoints, chain_ok, first_bad_seq, reason): product.verify, product.view, product.manage or a stake';

-- Row-level security.  Whatever does not depend on the row sits in a scalar
-- sub-select, which the planner turns into an InitPlan evaluated once per
-- statement; per row only the manufacturer / stakeholders comparison runs.
ALTER TABLE products ENABLE ROW LEVEL SECURITY;
-- The per-row test of the policies below (registry.c): the manufacturer or
-- a stakeholder.  Leakproof: it never fails on a row, so it tells nothing.
CREATE FUNCTION _has_stake(manufacturer uuid, stakeholders uuid[], who uuid) RETURNS boolean
LANGUAGE C IMMUTABLE STRICT LEAKPROOF PARALLEL SAFE AS 'MODULE_PATHNAME', 'tc_has_stake';
COMMENT ON FUNCTION _has_stake(uuid, uuid[], uuid) IS
'Internal: whether who is the manufacturer or one of the stakeholders (the row test of the registry''s RLS policies)';
ALTER TABLE checkpoints ENABLE ROW LEVEL SECURITY;

CREATE POLICY products_view ON products FOR SELECT
  USING ((SELECT tracechain.has_permission('product.view') OR tracechain.has_permission('product.manage'))
         OR tracechain._has_stake(manufacturer, stakeholders, (SELECT tracechain.current_principal())));
CREATE POLICY products_update ON products FOR UPDATE
  USING ((SELECT tracechain.has_permission('product.update'))
         OR ((SELECT tracechain.has_permission('product.update.own'))
             AND tracechain._has_stake(manufacturer, stakeholders, (SELECT tracechain.current_principal()))))
  WITH CHECK ((SELECT tracechain.has_permission('product.update'))
         OR ((SELECT tracechain.has_permission('product.update.own'))
             AND tracechain._has_stake(manufacturer, stakeholders, (SELECT tracechain.current_principal()))));
CREATE POLICY products_delete ON products FOR DELETE
  USING ((SELECT tracechain.has_permission('product.manage'))
         OR (manufacturer = (SELECT tracechain.current_principal())
             AND (SELECT tracechain.has_permission('product.create'))));
CREATE POLICY checkpoints_view ON checkpoints FOR SELECT
  USING ((SELECT tracechain.has_permission('product.view') OR tracechain.has_permission('product.manage'))
         OR EXISTS (SELECT 1 FROM tracechain.products p WHERE p.id = product_id));
COMMENT ON POLICY products_view ON products IS 'Read: product.view or product.manage, or a stake in the product';
COMMENT ON POLICY products_update ON products IS 'Update: product.update, or product.update.own and a stake';
COMMENT ON POLICY products_delete ON products IS 'Delete: product.manage, or the manufacturer while it holds product.create';
COMMENT ON POLICY checkpoints_view ON checkpoints IS 'Read: product.view or product.manage, or the product is visible';

-- pg_dump writes these policies out and CREATE EXTENSION has made them
-- already: on restore, the dumped CREATE POLICY replaces ours (registry.c).
CREATE FUNCTION _registry_policy_restore() RETURNS event_trigger
LANGUAGE C AS 'MODULE_PATHNAME', 'tc_registry_policy_restore';
COMMENT ON FUNCTION _registry_policy_restore() IS
'Internal: event trigger; CREATE POLICY by the owner on a tracechain table replaces a policy of that name (pg_restore)';
CREATE EVENT TRIGGER tracechain_policy_restore ON ddl_command_start WHEN TAG IN ('CREATE POLICY')
  EXECUTE FUNCTION _registry_policy_restore();
COMMENT ON EVENT TRIGGER tracechain_policy_restore IS
'tracechain: lets pg_restore recreate the registry''s row-level-security policies that CREATE EXTENSION already made';

GRANT SELECT ON registry_state, stakeholders TO tracechain_app, tracechain_auditor, tracechain_admin;
GRANT SELECT ON products, checkpoints TO tracechain_app, tracechain_auditor, tracechain_admin;
GRANT UPDATE (name, batch_number, is_active) ON products TO tracechain_app;
GRANT DELETE ON products TO tracechain_app;
-- Those direct writes (governed by the RLS policies above) are captured into
-- the audit chain like any audited table (audit_intake.c).
CREATE TRIGGER tracechain_audit_update AFTER UPDATE ON products
  REFERENCING OLD TABLE AS tc_old NEW TABLE AS tc_new FOR EACH STATEMENT EXECUTE FUNCTION _audit_capture();
CREATE TRIGGER tracechain_audit_delete AFTER DELETE ON products
  REFERENCING OLD TABLE AS tc_old FOR EACH STATEMENT EXECUTE FUNCTION _audit_capture();
-- The policies' row test runs as the querying role.
GRANT EXECUTE ON FUNCTION _has_stake(uuid, uuid[], uuid) TO tracechain_app, tracechain_auditor, tracechain_admin;
GRANT EXECUTE ON FUNCTION is_paused(), can_access_product(bigint, text, uuid), verify_product(bigint)
TO tracechain_app, tracechain_auditor, tracechain_admin;
GRANT EXECUTE ON FUNCTION register_product(text, text, numeric), add_checkpoint(bigint, text, text, jsonb),
  product_add_stakeholder(bigint, uuid), product_remove_stakeholder(bigint, uuid)
TO tracechain_app;
GRANT EXECUTE ON FUNCTION authorize_stakeholder(uuid, numeric), revoke_stakeholder(uuid),
  emergency_pause(), emergency_unpause(), registry_set_owner(uuid)
TO tracechain_app, tracechain_admin;

-- crypt.sql: field encryption (crypt.c).
--
-- tracechain_app may encrypt and decrypt; tracechain_admin also manages
-- keys, protects columns and forgets principals; PUBLIC may do nothing.

CREATE FUNCTION encrypt(plaintext bytea, key_name text DEFAULT 'default', context text DEFAULT '')
RETURNS bytea
LANGUAGE C VOLATILE PARALLEL RESTRICTED AS 'MODULE_PATHNAME', 'tc_encrypt';
COMMENT ON FUNCTION encrypt(bytea, text, text) IS
'AES-256-GCM envelope of plaintext under the current version of the named key, context bound as associated data';

CREATE FUNCTION encrypt(plaintext text, key_name text DEFAULT 'default', context text DEFAULT '')
RETURNS bytea
LANGUAGE C VOLATILE PARALLEL RESTRICTED AS 'MODULE_PATHNAME', 'tc_encrypt';
COMMENT ON FUNCTION encrypt(text, text, text) IS
'AES-256-GCM envelope of the text''s bytes under the current version of the named key; read it back with decrypt_text()';

CREATE FUNCTION decrypt(ciphertext bytea, key_name text DEFAULT 'default', context text DEFAULT '')
RETURNS bytea
LANGUAGE C STABLE PARALLEL RESTRICTED AS 'MODULE_PATHNAME', 'tc_decrypt';
COMMENT ON FUNCTION decrypt(bytea, text, text) IS
'Open an envelope made by encrypt() with the same key name and context; any mismatch raises "decryption failed"';

CREATE FUNCTION decrypt_text(ciphertext bytea, key_name text DEFAULT 'default', context text DEFAULT '')
RETURNS text
LANGUAGE C STABLE PARALLEL RESTRICTED AS 'MODULE_PATHNAME', 'tc_decrypt_text';
COMMENT ON FUNCTION decrypt_text(bytea, text, text) IS 'decrypt() for values that were text';

CREATE FUNCTION rewrap(ciphertext bytea, key_name text DEFAULT 'default', context text DEFAULT '')
RETURNS bytea
LANGUAGE C VOLATILE PARALLEL RESTRICTED AS 'MODULE_PATHNAME', 'tc_rewrap';
COMMENT ON FUNCTION rewrap(bytea, text, text) IS
'The same plaintext under the key''s current version (unchanged when it already is), e.g. before destroying an old version';

CREATE FUNCTION encrypt_for(principal uuid, plaintext bytea, context text DEFAULT '')
RETURNS bytea
LANGUAGE C VOLATILE PARALLEL UNSAFE AS 'MODULE_PATHNAME', 'tc_encrypt_for';
COMMENT ON FUNCTION encrypt_for(uuid, bytea, text) IS
'Envelope under the principal''s own key (made, and audited, on first use); unreadable forever after forget_principal()';

CREATE FUNCTION decrypt_for(principal uuid, ciphertext bytea, context text DEFAULT '')
RETURNS bytea
LANGUAGE C STABLE PARALLEL RESTRICTED AS 'MODULE_PATHNAME', 'tc_decrypt_for';
COMMENT ON FUNCTION decrypt_for(uuid, bytea, text) IS 'Open an envelope made by encrypt_for() for that principal and context';

CREATE FUNCTION forget_principal(principal uuid)
RETURNS int
LANGUAGE C VOLATILE PARALLEL UNSAFE AS 'MODULE_PATHNAME', 'tc_forget_principal';
COMMENT ON FUNCTION forget_principal(uuid) IS
'Crypto-shredding: erase every version of the principal''s key, so nothing encrypted for it can be read again; returns the versions erased; audited';

CREATE FUNCTION is_pii_field(name text)
RETURNS boolean
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
  SELECT pg_catalog.lower(name) OPERATOR(pg_catalog.~)
         'email|phone|address|ssn|passport|patient_id|medical_record|personal_data'
$$;
COMMENT ON FUNCTION is_pii_field(text) IS
'Whether a field name denotes personal data: contains email, phone, address, ssn, passport, patient_id, medical_record or personal_data, in any case';

CREATE FUNCTION _pii_seal(value jsonb, principal uuid, field text)
RETURNS jsonb
LANGUAGE C VOLATILE STRICT AS 'MODULE_PATHNAME', 'tc_pii_seal';
COMMENT ON FUNCTION _pii_seal(jsonb, uuid, text) IS
'Internal: a JSON string "tcenc:" + base64 envelope of the value, for the principal, context pii:<field>';

CREATE FUNCTION _pii_open(value text, principal uuid, field text)
RETURNS jsonb
LANGUAGE C STABLE STRICT AS 'MODULE_PATHNAME', 'tc_pii_open';
COMMENT ON FUNCTION _pii_open(text, uuid, text) IS 'Internal: the value a _pii_seal string holds; null when the string is not sealed';

CREATE FUNCTION _pii_walk(data jsonb, principal uuid, seal boolean)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, tracechain, pg_temp AS $$
DECLARE
  r jsonb;
BEGIN
  CASE jsonb_typeof(data)
  WHEN 'object' THEN
    SELECT coalesce(jsonb_object_agg(e.key,
             CASE
               WHEN NOT is_pii_field(e.key) THEN _pii_walk(e.value, principal, seal)
               WHEN e.value = 'null'::jsonb THEN e.value
               WHEN seal AND jsonb_typeof(e.value) = 'string'
                    AND _pii_is_sealed(e.value #>> '{}', principal, e.key) THEN e.value
               WHEN seal THEN _pii_seal(e.value, principal, e.key)
               WHEN jsonb_typeof(e.value) = 'string'
                 THEN coalesce(_pii_open(e.value #>> '{}', principal, e.key), e.value)
               ELSE e.value
             END), '{}'::jsonb)
      INTO r FROM jsonb_each(data) AS e;
    RETURN r;
  WHEN 'array' THEN
    SELECT coalesce(jsonb_agg(_pii_walk(a.value, principal, seal) ORDER BY a.ord), '[]'::jsonb)
      INTO r FROM jsonb_array_elements(data) WITH ORDINALITY AS a(value, ord);
    RETURN r;
  ELSE
    RETURN data;
  END CASE;
END $$;
COMMENT ON FUNCTION _pii_walk(jsonb, uuid, boolean) IS
'Internal: seal or open the values of PII fields at any depth of objects and arrays';

CREATE FUNCTION _pii_is_sealed(value text, principal uuid, field text)
RETURNS boolean
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, tracechain, pg_temp AS $$
BEGIN
  IF left(value, 6) <> 'tcenc:' THEN
    RETURN false;
  END IF;
  PERFORM _pii_open(value, principal, field);
  RETURN true;
EXCEPTION WHEN invalid_parameter_value THEN
  RETURN false;
END $$;
COMMENT ON FUNCTION _pii_is_sealed(text, uuid, text) IS
'Internal: whether a string already is a PII envelope for this principal and field (so encrypt_pii never encrypts twice)';

CREATE FUNCTION encrypt_pii(data jsonb, principal uuid)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, tracechain, pg_temp AS $$
BEGIN
  IF principal IS NULL THEN
    RAISE EXCEPTION 'principal must not be null' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  RETURN _pii_walk(data, principal, true);
END $$;
COMMENT ON FUNCTION encrypt_pii(jsonb, uuid) IS
'Encrypt, under the principal''s key, the value of every PII field (is_pii_field) at any depth; other values stay readable';

CREATE FUNCTION decrypt_pii(data jsonb, principal uuid)
RETURNS jsonb
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, tracechain, pg_temp AS $$
BEGIN
  IF principal IS NULL THEN
    RAISE EXCEPTION 'principal must not be null' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  BEGIN
    RETURN _pii_walk(data, principal, false);
  EXCEPTION WHEN invalid_parameter_value THEN
    RAISE EXCEPTION 'decryption failed' USING ERRCODE = 'invalid_parameter_value';
  END;
END $$;
COMMENT ON FUNCTION decrypt_pii(jsonb, uuid) IS
'Undo encrypt_pii(); "decryption failed" when the principal was forgotten';

CREATE FUNCTION blind_index(value text, key_name text DEFAULT 'default', context text DEFAULT '')
RETURNS bytea
LANGUAGE C STABLE PARALLEL RESTRICTED AS 'MODULE_PATHNAME', 'tc_blind_index';
COMMENT ON FUNCTION blind_index(text, text, text) IS
'HMAC-SHA256 of value under a key derived from version 1 of the named key (not the data key itself), context bound; for equality search through a btree index';

CREATE FUNCTION hash_secret(secret text)
RETURNS text
LANGUAGE C VOLATILE PARALLEL SAFE AS 'MODULE_PATHNAME', 'tc_hash_secret';
COMMENT ON FUNCTION hash_secret(text) IS
'scrypt (N = 2^15, r = 8, p = 1, 16-byte random salt) as a PHC string $scrypt$ln=15,r=8,p=1$<salt>$<hash>';

CREATE FUNCTION verify_secret(secret text, hash text)
RETURNS boolean
LANGUAGE C IMMUTABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'tc_verify_secret';
COMMENT ON FUNCTION verify_secret(text, text) IS
'Whether secret matches a hash_secret() string (constant-time comparison); raises only for a malformed hash';

CREATE FUNCTION _protect_trigger()
RETURNS trigger
LANGUAGE C AS 'MODULE_PATHNAME', 'tc_protect_trigger';
COMMENT ON FUNCTION _protect_trigger() IS
'Internal: the trigger protect_column() installs; stores a value as is when it already is an envelope for its row';

CREATE FUNCTION column_context(tbl regclass, col name, VARIADIC pk text[])
RETURNS text
LANGUAGE C STABLE STRICT AS 'MODULE_PATHNAME', 'tc_column_context';
COMMENT ON FUNCTION column_context(regclass, name, text[]) IS
'The context under which a protected column''s value is encrypted for the row with that primary key: decrypt(col, key, column_context(...))';

CREATE FUNCTION _protect_args(tbl regclass, col name)
RETURNS text[]
LANGUAGE C STABLE STRICT AS 'MODULE_PATHNAME', 'tc_protect_args';
COMMENT ON FUNCTION _protect_args(regclass, name) IS
'Internal: {key, column, context prefix} of a column''s protection trigger, null when it has none';

CREATE FUNCTION _protect_trigger_name(col name)
RETURNS name
LANGUAGE sql IMMUTABLE STRICT AS $$
  SELECT ('tracechain_protect_' OPERATOR(pg_catalog.||) pg_catalog.left(pg_catalog.md5(col::text), 16))::name
$$;
COMMENT ON FUNCTION _protect_trigger_name(name) IS 'Internal: name of the protection trigger of a column';

-- Not SECURITY DEFINER: CREATE TRIGGER runs as the caller, who therefore
-- needs the TRIGGER privilege on (or ownership of) the table.
CREATE FUNCTION protect_column(tbl regclass, col name, key_name text DEFAULT 'default')
RETURNS void
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  v_type oid;
  v_prefix text;
  v_pk int2[];
  v_att int2;
  v_trg name := tracechain._protect_trigger_name(col);
BEGIN
  IF tbl IS NULL OR col IS NULL OR key_name IS NULL THEN
    RAISE EXCEPTION 'table, column and key name must not be null' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF NOT tracechain._key_usable(key_name) THEN
    RAISE EXCEPTION 'key "%" does not exist or has no current version', key_name
      USING ERRCODE = 'object_not_in_prerequisite_state';
  END IF;
  SELECT a.atttypid, a.attnum INTO v_type, v_att FROM pg_attribute a
   WHERE a.attrelid = tbl AND a.attname = col AND a.attnum > 0 AND NOT a.attisdropped;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'column "%" of % does not exist', col, tbl USING ERRCODE = 'undefined_column';
  END IF;
  IF v_type <> 'bytea'::regtype THEN
    RAISE EXCEPTION 'only bytea columns can be protected' USING ERRCODE = 'datatype_mismatch',
      HINT = 'Change the column''s type to bytea; encrypted values are binary.';
  END IF;
  SELECT i.indkey::int2[] INTO v_pk FROM pg_index i WHERE i.indrelid = tbl AND i.indisprimary;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'table % has no primary key', tbl USING ERRCODE = 'object_not_in_prerequisite_state',
      HINT = 'The primary key is part of every value''s context.';
  END IF;
  IF v_att = ANY (v_pk) THEN
    RAISE EXCEPTION 'a primary key column cannot be protected' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF EXISTS (SELECT 1 FROM pg_trigger t WHERE t.tgrelid = tbl AND t.tgname = v_trg) THEN
    RAISE EXCEPTION 'column "%" of % is already protected', col, tbl USING ERRCODE = 'duplicate_object';
  END IF;
  SELECT n.nspname || '.' || c.relname || '.' || col INTO v_prefix
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = tbl;
  -- every UPDATE, not only of col: the primary key is in the context
  EXECUTE format('CREATE TRIGGER %I BEFORE INSERT OR UPDATE ON %s FOR EACH ROW '
                 'EXECUTE FUNCTION tracechain._protect_trigger(%L, %L, %L)',
                 v_trg, tbl, key_name, col, v_prefix);
  EXECUTE format('ALTER TABLE %s ENABLE ALWAYS TRIGGER %I', tbl, v_trg);
  EXECUTE format('COMMENT ON TRIGGER %I ON %s IS %L', v_trg, tbl,
                 format('tracechain: column %s is stored encrypted under key %s', col, key_name));
  -- encrypt what is there already (values that are envelopes stay as they are)
  EXECUTE format('UPDATE %s SET %I = %I WHERE %I IS NOT NULL', tbl, col, col, col);
  PERFORM tracechain._crypt_audit('column.protect', tbl, col,
                                  jsonb_build_object('column', col, 'key', key_name));
END $$;
COMMENT ON FUNCTION protect_column(regclass, name, text) IS
'Store the bytea column encrypted under the key, with the row''s primary key in the context; encrypts existing rows; values that already are envelopes for their row are kept (pg_dump/restore, replication); audited';

CREATE FUNCTION unprotect_column(tbl regclass, col name, decrypt boolean DEFAULT false)
RETURNS void
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  v_trg name := tracechain._protect_trigger_name(col);
  v_parts text[];
BEGIN
  IF tbl IS NULL OR col IS NULL THEN
    RAISE EXCEPTION 'table and column must not be null' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  v_parts := tracechain._protect_args(tbl, col);
  IF v_parts IS NULL OR NOT EXISTS (SELECT 1 FROM pg_trigger t WHERE t.tgrelid = tbl AND t.tgname = v_trg) THEN
    RAISE EXCEPTION 'column "%" of % is not protected', col, tbl USING ERRCODE = 'object_not_in_prerequisite_state';
  END IF;
  EXECUTE format('DROP TRIGGER %I ON %s', v_trg, tbl);
  IF decrypt THEN
    EXECUTE format('CREATE TRIGGER %I BEFORE UPDATE ON %s FOR EACH ROW '
                   'EXECUTE FUNCTION tracechain._protect_trigger(%L, %L, %L, %L)',
                   v_trg, tbl, v_parts[1], v_parts[2], v_parts[3], 'decrypt');
    EXECUTE format('UPDATE %s SET %I = %I WHERE %I IS NOT NULL', tbl, col, col, col);
    EXECUTE format('DROP TRIGGER %I ON %s', v_trg, tbl);
  END IF;
  PERFORM tracechain._crypt_audit('column.unprotect', tbl, col,
                                  jsonb_build_object('column', col, 'decrypted', decrypt));
END $$;
COMMENT ON FUNCTION unprotect_column(regclass, name, boolean) IS
'Remove the protection trigger; with decrypt => true also turn the stored envelopes back into plaintext; audited';

CREATE FUNCTION _crypt_audit(action text, tbl regclass, col name, details jsonb)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, tracechain, pg_temp AS $$
DECLARE
  v_protected boolean;
BEGIN
  IF action NOT IN ('column.protect', 'column.unprotect') OR tbl IS NULL OR col IS NULL THEN
    RAISE EXCEPTION 'invalid crypt audit action' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  -- The row states a fact that must hold, so nobody can forge a misleading one:
  -- the caller may change triggers on the table, and the column is (or is no
  -- longer) protected.
  IF NOT has_table_privilege(session_user, tbl, 'TRIGGER') THEN
    RAISE EXCEPTION 'permission denied for table %', tbl USING ERRCODE = 'insufficient_privilege';
  END IF;
  v_protected := EXISTS (SELECT 1 FROM pg_trigger t WHERE t.tgrelid = tbl AND t.tgname = _protect_trigger_name(col));
  IF v_protected <> (action = 'column.protect') THEN
    RAISE EXCEPTION 'column "%" of % is not in the state the audit row would claim', col, tbl
      USING ERRCODE = 'object_not_in_prerequisite_state';
  END IF;
  PERFORM _audit_append('security', action, tbl::text,
                        coalesce(details, '{}') || jsonb_build_object('column', col),
                        current_principal(), NULL);
END $$;
COMMENT ON FUNCTION _crypt_audit(text, regclass, name, jsonb) IS
'Internal: the audit row of protect_column() and unprotect_column() (which run as their caller); refuses a row that does not match the table''s triggers';

CREATE FUNCTION _key_usable(name text)
RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, tracechain, pg_temp AS $$
  SELECT EXISTS (SELECT 1 FROM tracechain.keys k WHERE k.name = $1 AND k.kind = 'aead' AND k.status = 'current')
$$;
COMMENT ON FUNCTION _key_usable(text) IS 'Internal: whether an aead key with a current version exists';

GRANT EXECUTE ON FUNCTION encrypt(bytea, text, text), encrypt(text, text, text),
  decrypt(bytea, text, text), decrypt_text(bytea, text, text), rewrap(bytea, text, text),
  encrypt_for(uuid, bytea, text), decrypt_for(uuid, bytea, text),
  is_pii_field(text), encrypt_pii(jsonb, uuid), decrypt_pii(jsonb, uuid),
  _pii_walk(jsonb, uuid, boolean), _pii_seal(jsonb, uuid, text), _pii_open(text, uuid, text),
  _pii_is_sealed(text, uuid, text),
  blind_index(text, text, text), hash_secret(text), verify_secret(text, text),
  column_context(regclass, name, text[])
  TO tracechain_app, tracechain_admin;
GRANT EXECUTE ON FUNCTION forget_principal(uuid), protect_column(regclass, name, text),
  unprotect_column(regclass, name, boolean), _protect_trigger(), _protect_trigger_name(name),
  _protect_args(regclass, name),
  _crypt_audit(text, regclass, name, jsonb), _key_usable(text)
  TO tracechain_admin;

-- keystore.sql: named, versioned data keys (keystore.c).
--
-- Material is stored only sealed under the master key; nobody but the
-- extension's owner can read this table, and only tracechain_admin can call
-- the key functions.  Every key operation writes an audit row.

CREATE SEQUENCE key_ids AS integer MINVALUE 1;
COMMENT ON SEQUENCE key_ids IS 'Ids of named keys (the key id in every envelope)';
SELECT pg_catalog.pg_extension_config_dump('key_ids', '');

CREATE TABLE keys (
  id           int         NOT NULL CHECK (id > 0),
  name         text        NOT NULL CHECK (name ~ '^[A-Za-z0-9._:-]{1,100}$'),
  version      int         NOT NULL CHECK (version > 0),
  kind         text        NOT NULL CHECK (kind IN ('aead', 'hmac', 'ec-p256')),
  status       text        NOT NULL CHECK (status IN ('current', 'retired', 'destroyed')),
  origin       text        NOT NULL CHECK (origin IN ('generated', 'imported')),
  principal    uuid,
  material     bytea,
  encryptions  bigint      NOT NULL DEFAULT 0 CHECK (encryptions >= 0),
  created_at   timestamptz NOT NULL DEFAULT now(),
  retired_at   timestamptz,
  destroyed_at timestamptz,
  PRIMARY KEY (name, version),
  UNIQUE (id, version),
  CHECK ((status = 'destroyed') = (material IS NULL))
);
CREATE UNIQUE INDEX keys_one_current ON keys (name) WHERE status = 'current';
CREATE INDEX keys_principal ON keys (principal) WHERE principal IS NOT NULL;
COMMENT ON INDEX keys_one_current IS 'At most one current (encrypting) version per key name';
COMMENT ON INDEX keys_principal IS 'Per-principal keys by principal';
COMMENT ON INDEX keys_pkey IS 'One row per key name and version';
COMMENT ON INDEX keys_id_version_key IS 'Envelope lookup: key id and version';
COMMENT ON TABLE keys IS
'Named, versioned data keys; material sealed (AES-256-GCM) under a key derived from the master key, with id, name, version and kind as associated data';
COMMENT ON COLUMN keys.id IS 'Key id, the same for every version of a name; written into every envelope';
COMMENT ON COLUMN keys.name IS 'Key name; names starting with principal: are per-principal keys';
COMMENT ON COLUMN keys.version IS '1, 2, ...; the current version encrypts, every version not destroyed decrypts';
COMMENT ON COLUMN keys.kind IS 'aead (AES-256-GCM, 32 bytes), hmac (32 to 256 bytes) or ec-p256 (P-256 private key, DER)';
COMMENT ON COLUMN keys.status IS 'current (encrypts), retired (decrypts only) or destroyed (material erased)';
COMMENT ON COLUMN keys.origin IS 'generated inside the database, or imported with key_import()';
COMMENT ON COLUMN keys.principal IS 'For per-principal keys: the principal';
COMMENT ON COLUMN keys.material IS 'The key sealed under the master key (never plaintext); null once destroyed';
COMMENT ON COLUMN keys.encryptions IS 'Encryptions under this version as last written by the worker (key_usage() shows the live count)';
COMMENT ON COLUMN keys.created_at IS 'When this version was made';
COMMENT ON COLUMN keys.retired_at IS 'When a newer version replaced it';
COMMENT ON COLUMN keys.destroyed_at IS 'When its material was erased';
SELECT pg_catalog.pg_extension_config_dump('keys', '');

CREATE FUNCTION key_create(name text, kind text DEFAULT 'aead')
RETURNS int
LANGUAGE C VOLATILE AS 'MODULE_PATHNAME', 'tc_key_create';
COMMENT ON FUNCTION key_create(text, text) IS
'Create a named key (kind aead, hmac or ec-p256) with fresh random material; returns its version (1); audited';

CREATE FUNCTION key_rotate(name text)
RETURNS int
LANGUAGE C VOLATILE STRICT AS 'MODULE_PATHNAME', 'tc_key_rotate';
COMMENT ON FUNCTION key_rotate(text) IS
'Make a new version of a key the one that encrypts; older versions keep decrypting; returns the new version; audited';

CREATE FUNCTION key_destroy(name text, version int)
RETURNS void
LANGUAGE C VOLATILE AS 'MODULE_PATHNAME', 'tc_key_destroy';
COMMENT ON FUNCTION key_destroy(text, int) IS
'Erase the material of one key version: everything encrypted under it becomes unreadable, on purpose; audited';

CREATE FUNCTION key_import(name text, raw bytea, kind text DEFAULT 'aead')
RETURNS int
LANGUAGE C VOLATILE AS 'MODULE_PATHNAME', 'tc_key_import';
COMMENT ON FUNCTION key_import(text, bytea, text) IS
'Bring in existing key material (aead: 32 bytes; hmac: 32 to 256; ec-p256: DER) as a new key or a new current version; returns the version; audited, the material never';

CREATE FUNCTION key_usage(name text, OUT version int, OUT status text, OUT encryptions bigint)
RETURNS SETOF record
LANGUAGE C VOLATILE STRICT AS 'MODULE_PATHNAME', 'tc_key_usage';
COMMENT ON FUNCTION key_usage(text) IS
'Versions of a key with their status and live encryption count (written count plus what shared memory holds)';

CREATE FUNCTION master_key_rewrap()
RETURNS int
LANGUAGE C VOLATILE AS 'MODULE_PATHNAME', 'tc_master_key_rewrap';
COMMENT ON FUNCTION master_key_rewrap() IS
'With tracechain.master_key_old_file set: reseal every data key under the current master key in this transaction; returns how many; audited';

GRANT EXECUTE ON FUNCTION key_create(text, text), key_rotate(text), key_destroy(text, int),
  key_import(text, bytea, text), key_usage(text), master_key_rewrap() TO tracechain_admin;

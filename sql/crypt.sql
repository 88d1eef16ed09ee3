-- crypt: keys, envelopes, rotation, per-principal keys, PII, blind index,
-- secrets, column protection, privileges.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS tracechain;
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'regress_crypt_app') THEN
    CREATE ROLE regress_crypt_app IN ROLE tracechain_app;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'regress_crypt_admin') THEN
    CREATE ROLE regress_crypt_admin IN ROLE tracechain_admin;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'regress_crypt_nobody') THEN
    CREATE ROLE regress_crypt_nobody;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM tracechain.keys WHERE name = 'default') THEN
    PERFORM tracechain.key_create('default');
  END IF;
END $$;
RESET client_min_messages;
\set VERBOSITY default

-- Keys
SELECT tracechain.key_create('crypt_t1');
SELECT tracechain.key_create('crypt_t1');                 -- exists
SELECT tracechain.key_create('bad name');                 -- invalid
SELECT tracechain.key_create('crypt_x', 'des');           -- invalid kind
SELECT tracechain.key_create('principal:x');              -- reserved
SELECT tracechain.key_create('crypt_h', 'hmac'), tracechain.key_create('crypt_ec', 'ec-p256');
SELECT name, version, kind, status, origin, material IS NOT NULL AS sealed,
       octet_length(material) AS sealed_len
  FROM tracechain.keys WHERE name LIKE 'crypt\_%' ORDER BY name, version;

-- Round trips: text, bytea, empty, 10 MiB
SELECT tracechain.decrypt_text(tracechain.encrypt('hello, world', 'crypt_t1', 'ctx'), 'crypt_t1', 'ctx');
SELECT tracechain.decrypt(tracechain.encrypt('\x00ff10'::bytea, 'crypt_t1'), 'crypt_t1');
SELECT tracechain.decrypt_text(tracechain.encrypt(''::text, 'crypt_t1'), 'crypt_t1') = '' AS empty_text,
       tracechain.decrypt(tracechain.encrypt(''::bytea, 'crypt_t1'), 'crypt_t1') = '' AS empty_bytea,
       octet_length(tracechain.encrypt(''::bytea, 'crypt_t1')) AS empty_len;
SELECT tracechain.decrypt_text(tracechain.encrypt('with the default key')) AS default_key;
SELECT tracechain.encrypt(NULL::bytea, 'crypt_t1') IS NULL AS null_in_null_out;
WITH v AS (SELECT decode(repeat('0123456789abcdef', 1310720), 'hex') AS x),
     e AS (SELECT x, tracechain.encrypt(x, 'crypt_t1', 'big') AS c FROM v)
SELECT octet_length(x) AS plain_len, octet_length(c) - octet_length(x) AS overhead,
       md5(tracechain.decrypt(c, 'crypt_t1', 'big')) = md5(x) AS ten_mib_round_trip FROM e;

-- The envelope: format byte, key id, version, fresh nonce
CREATE TEMP TABLE env AS SELECT tracechain.encrypt('abc', 'crypt_t1', 'ctx') AS c;
SELECT get_byte(c, 0) AS format,
       (get_byte(c, 1) << 24 | get_byte(c, 2) << 16 | get_byte(c, 3) << 8 | get_byte(c, 4))
         = (SELECT id FROM tracechain.keys WHERE name = 'crypt_t1' AND version = 1) AS key_id_ok,
       (get_byte(c, 5) << 24 | get_byte(c, 6) << 16 | get_byte(c, 7) << 8 | get_byte(c, 8)) AS version,
       octet_length(c) AS len
  FROM env;
SELECT tracechain.encrypt('same', 'crypt_t1') <> tracechain.encrypt('same', 'crypt_t1') AS fresh_nonce;

-- Every failure is the same "decryption failed"
SELECT tracechain.decrypt(c, 'crypt_t1', 'other') FROM env;           -- wrong context
SELECT tracechain.decrypt(c, 'default', 'ctx') FROM env;              -- wrong key
SELECT tracechain.decrypt(c, 'crypt_none', 'ctx') FROM env;           -- no such key
SELECT tracechain.decrypt(set_byte(c, 25, get_byte(c, 25) # 1), 'crypt_t1', 'ctx') FROM env;  -- flipped ciphertext bit
SELECT tracechain.decrypt(set_byte(c, 12, get_byte(c, 12) # 128), 'crypt_t1', 'ctx') FROM env; -- flipped nonce bit
SELECT tracechain.decrypt(set_byte(c, 8, 9), 'crypt_t1', 'ctx') FROM env;                     -- header: version
SELECT tracechain.decrypt(set_byte(c, 0, 2), 'crypt_t1', 'ctx') FROM env;                     -- header: format
SELECT tracechain.decrypt(substring(c FROM 1 FOR octet_length(c) - 1), 'crypt_t1', 'ctx') FROM env; -- truncated
SELECT tracechain.decrypt(substring(c FROM 1 FOR 20), 'crypt_t1', 'ctx') FROM env;              -- truncated header
SELECT tracechain.decrypt(''::bytea, 'crypt_t1');
SELECT tracechain.decrypt('\x0100000001000000010000'::bytea, 'crypt_t1');
SELECT tracechain.decrypt(c, 'crypt_h', 'ctx') FROM env;              -- a key of another kind
SELECT tracechain.encrypt('x', 'crypt_h');
SELECT tracechain.encrypt('x', 'crypt_t1', NULL);
SELECT tracechain.decrypt_text(tracechain.encrypt('\xff'::bytea, 'crypt_t1'), 'crypt_t1');  -- not text

-- Rotation: v1 data still decrypts at v3; rewrap moves it; destroying v1 loses only what was not rewrapped
CREATE TEMP TABLE rot AS
  SELECT tracechain.encrypt('old secret', 'crypt_t1', 'r') AS a, tracechain.encrypt('kept secret', 'crypt_t1', 'r') AS b;
SELECT tracechain.key_rotate('crypt_t1'), tracechain.key_rotate('crypt_t1');
SELECT get_byte(tracechain.encrypt('x', 'crypt_t1'), 8) AS encrypts_with;
SELECT tracechain.decrypt_text(a, 'crypt_t1', 'r') AS v1_after_rotation FROM rot;
UPDATE rot SET b = tracechain.rewrap(b, 'crypt_t1', 'r');
SELECT get_byte(b, 8) AS rewrapped_version, tracechain.rewrap(b, 'crypt_t1', 'r') = b AS rewrap_idempotent FROM rot;
SELECT tracechain.rewrap(a, 'crypt_t1', 'wrong') FROM rot;
SELECT tracechain.key_destroy('crypt_t1', 1);
SELECT tracechain.decrypt_text(a, 'crypt_t1', 'r') FROM rot;           -- gone for good
SELECT tracechain.decrypt_text(b, 'crypt_t1', 'r') AS rewrapped_survives FROM rot;
SELECT tracechain.key_destroy('crypt_t1', 7);
SELECT tracechain.key_destroy('crypt_none', 1);
SELECT name, version, status, material IS NULL AS erased FROM tracechain.keys
 WHERE name = 'crypt_t1' ORDER BY version;

-- Import (for migrations and interop): the material never shows up anywhere
SELECT tracechain.key_import('crypt_imp', decode(repeat('42', 32), 'hex'));
SELECT tracechain.key_import('crypt_imp2', decode(repeat('42', 31), 'hex'));
SELECT tracechain.key_import('crypt_imp2', decode('3077', 'hex'), 'ec-p256');
SELECT tracechain.decrypt_text(tracechain.encrypt('imported', 'crypt_imp'), 'crypt_imp');
SELECT count(*) AS rows_with_plain_key FROM tracechain.keys
 WHERE position(decode(repeat('42', 32), 'hex') IN coalesce(material, '')) > 0;
SELECT count(*) AS audit_rows_with_plain_key FROM tracechain.audit_log
 WHERE details::text LIKE '%' || repeat('42', 32) || '%';
SELECT tracechain.key_import('crypt_imp', decode(repeat('43', 32), 'hex')) AS imported_as_version;

-- Encryption counter: warning, then refusal
SELECT tracechain.key_create('crypt_cnt');
SET tracechain.key_encryptions_warn = 3;
SET tracechain.key_encryptions_max = 4;
SELECT octet_length(tracechain.encrypt('x', 'crypt_cnt')) FROM generate_series(1, 4);
SELECT tracechain.encrypt('x', 'crypt_cnt');
SELECT version, status, encryptions FROM tracechain.key_usage('crypt_cnt');
SELECT tracechain.key_rotate('crypt_cnt');
SELECT octet_length(tracechain.encrypt('x', 'crypt_cnt')) AS after_rotation;
RESET tracechain.key_encryptions_warn;
RESET tracechain.key_encryptions_max;

-- Per-principal keys and crypto-shredding
CREATE TEMP TABLE pp AS SELECT tracechain.principal_create('user', 'crypt alice') AS alice,
                               tracechain.principal_create('user', 'crypt bob') AS bob;
CREATE TEMP TABLE ppe AS SELECT tracechain.encrypt_for(alice, 'alice data', 'note') AS c FROM pp;
SELECT convert_from(tracechain.decrypt_for(alice, c, 'note'), 'UTF8') FROM pp, ppe;
SELECT tracechain.decrypt_for(bob, c, 'note') FROM pp, ppe;           -- another principal
SELECT tracechain.decrypt_for(alice, c, 'other') FROM pp, ppe;        -- another context
SELECT tracechain.forget_principal(alice) AS versions_erased FROM pp;
SELECT tracechain.decrypt_for(alice, c, 'note') FROM pp, ppe;         -- shredded
SELECT tracechain.encrypt_for(alice, 'more', 'note') FROM pp;         -- refused
SELECT tracechain.forget_principal(bob) AS bob_never_had_a_key FROM pp;
SELECT tracechain.encrypt_for(bob, 'x') FROM pp;
SELECT a.action, a.details->>'kind' AS kind, a.details->>'versions_destroyed' AS destroyed
  FROM tracechain.audit_log a, pp
 WHERE a.resource IN ('key:principal:' || pp.alice, 'key:principal:' || pp.bob)
 ORDER BY a.id;

-- PII
SELECT f, tracechain.is_pii_field(f) FROM unnest(ARRAY['email', 'Work_Email', 'PHONE_number', 'home_address',
  'ssn', 'passport_no', 'patient_id', 'medical_record', 'personal_data', 'name', 'city', 'Ssn_hash']) AS f;
CREATE TEMP TABLE pii AS
  SELECT p.bob AS who, tracechain.principal_create('user', 'crypt carol') AS carol,
         '{"name": "Carol", "email": "carol@example.com", "age": 41,
           "contacts": [{"phone": "+1 555 0100", "kind": "home"}, {"phone": null, "kind": "none"}],
           "profile": {"home_address": {"street": "1 Main St", "zip": "12345"}, "city": "Springfield"},
           "ssn": 123456789}'::jsonb AS doc
    FROM pp p;
CREATE TEMP TABLE pii_enc AS SELECT carol, doc, tracechain.encrypt_pii(doc, carol) AS enc FROM pii;
SELECT enc->'name' AS name, enc->'age' AS age, enc->'contacts'->0->'kind' AS kind,
       enc->'profile'->'city' AS city, enc->'contacts'->1->'phone' AS null_phone,
       left(enc->>'email', 6) AS email_prefix, left(enc->'contacts'->0->>'phone', 6) AS phone_prefix,
       jsonb_typeof(enc->'profile'->'home_address') AS address_type, left(enc->>'ssn', 6) AS ssn_prefix,
       enc::text NOT LIKE '%carol@example.com%' AND enc::text NOT LIKE '%Main St%' AS no_plain_pii
  FROM pii_enc;
SELECT tracechain.decrypt_pii(enc, carol) = doc AS pii_round_trip FROM pii_enc;
SELECT tracechain.encrypt_pii(enc, carol) = enc AS encrypt_pii_idempotent FROM pii_enc;
SELECT tracechain.decrypt_pii(doc, carol) = doc AS plain_stays_plain FROM pii_enc;
SELECT tracechain.forget_principal(carol) FROM pii_enc;
SELECT tracechain.decrypt_pii(enc, carol) FROM pii_enc;
SELECT tracechain.decrypt_pii('{}', NULL);

-- Blind index: equality search through a btree index, stable across rotation
SELECT tracechain.key_create('crypt_bi');
CREATE TABLE crypt_people (id int PRIMARY KEY, email bytea, email_bi bytea);
CREATE INDEX ON crypt_people (email_bi);
INSERT INTO crypt_people
  SELECT i, tracechain.encrypt('user' || i || '@example.com', 'crypt_bi', 'people.email'),
         tracechain.blind_index('user' || i || '@example.com', 'crypt_bi', 'people.email')
    FROM generate_series(1, 200) i;
ANALYZE crypt_people;
SELECT id, tracechain.decrypt_text(email, 'crypt_bi', 'people.email') FROM crypt_people
 WHERE email_bi = tracechain.blind_index('user42@example.com', 'crypt_bi', 'people.email');
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT id FROM crypt_people
 WHERE email_bi = tracechain.blind_index('user42@example.com', 'crypt_bi', 'people.email');
RESET enable_seqscan;
SELECT tracechain.blind_index('a', 'crypt_bi', 'c1') <> tracechain.blind_index('a', 'crypt_bi', 'c2') AS context_bound,
       tracechain.blind_index('a', 'crypt_bi') <> tracechain.blind_index('a', 'crypt_imp') AS key_bound,
       octet_length(tracechain.blind_index('a', 'crypt_bi')) AS len;
CREATE TEMP TABLE bi AS SELECT tracechain.blind_index('x', 'crypt_bi') AS h;
SELECT tracechain.key_rotate('crypt_bi');
SELECT tracechain.blind_index('x', 'crypt_bi') = h AS stable_across_rotation FROM bi;

-- Secrets
CREATE TEMP TABLE sec AS SELECT tracechain.hash_secret('correct horse') AS h;
SELECT h ~ '^\$scrypt\$ln=15,r=8,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$' AS phc_format FROM sec;
SELECT tracechain.verify_secret('correct horse', h) AS right_secret,
       tracechain.verify_secret('correct horsf', h) AS wrong_secret,
       tracechain.verify_secret('', h) AS empty_secret FROM sec;
SELECT tracechain.hash_secret('same') <> tracechain.hash_secret('same') AS salted;
SELECT tracechain.verify_secret('x', 'not a hash');
SELECT tracechain.verify_secret('x', '$scrypt$ln=30,r=8,p=1$c2FsdHNhbHQ$MDEyMzQ1Njc4OWFiY2RlZg');
SELECT tracechain.verify_secret('x', NULL);
-- interoperable with other scrypt implementations: RFC 7914 test vector 3 (N=16384, r=8, p=1)
SELECT tracechain.verify_secret('pleaseletmein',
  '$scrypt$ln=14,r=8,p=1$' || rtrim(encode('SodiumChloride', 'base64'), '=') || '$' ||
  replace(rtrim(encode(decode('7023bdcb3afd7348461c06cd81fd38ebfda8fbba904f8e3ea9b543f6545da1f2d5432955613f0fcf62d49705242a9af9e61e85dc0d651e40dfcf017b45575887', 'hex'), 'base64'), '='), E'\n', ''))
  AS rfc7914_vector;

-- Column protection
SELECT tracechain.key_create('crypt_col');
CREATE TABLE "crypt we""ird" (id int PRIMARY KEY, "s'sn" bytea, note text);
INSERT INTO "crypt we""ird" VALUES (1, 'before protection', 'a');
SELECT tracechain.protect_column('"crypt we""ird"', 's''sn', 'crypt_col');
SELECT tracechain.protect_column('"crypt we""ird"', 's''sn', 'crypt_col');      -- twice
SELECT tracechain.protect_column('"crypt we""ird"', 'note', 'crypt_col');       -- not bytea
SELECT tracechain.protect_column('"crypt we""ird"', 'id', 'crypt_col');         -- not bytea either
SELECT tracechain.protect_column('"crypt we""ird"', 'nope', 'crypt_col');
SELECT tracechain.protect_column('"crypt we""ird"', 's''sn', 'crypt_missing');
INSERT INTO "crypt we""ird" VALUES (2, '123-45-6789', 'b'), (3, NULL, 'c');
SELECT id, get_byte("s'sn", 0) AS format, octet_length("s'sn") AS len,
       convert_from(tracechain.decrypt("s'sn", 'crypt_col', tracechain.column_context('"crypt we""ird"', 's''sn', id::text)), 'UTF8') AS plain
  FROM "crypt we""ird" ORDER BY id;
SELECT tracechain.column_context('"crypt we""ird"', 's''sn', '2');
-- idempotent: updating another column, or writing the stored envelope back, keeps it
CREATE TEMP TABLE before AS SELECT id, "s'sn" AS v FROM "crypt we""ird";
UPDATE "crypt we""ird" SET note = note || '!';
UPDATE "crypt we""ird" t SET "s'sn" = b.v FROM before b WHERE b.id = t.id;
SELECT count(*) AS unchanged FROM "crypt we""ird" t JOIN before b USING (id) WHERE t."s'sn" = b.v;
-- an envelope of another row is not valid here: it is encrypted again, so it never reveals row 1
UPDATE "crypt we""ird" SET "s'sn" = (SELECT v FROM before WHERE id = 1) WHERE id = 2;
SELECT tracechain.decrypt("s'sn", 'crypt_col', tracechain.column_context('"crypt we""ird"', 's''sn', '2'))
       = (SELECT v FROM before WHERE id = 1) AS copied_envelope_is_just_bytes
  FROM "crypt we""ird" WHERE id = 2;
-- a new primary key moves the value to the new context
UPDATE "crypt we""ird" SET id = 10 WHERE id = 1;
SELECT convert_from(tracechain.decrypt("s'sn", 'crypt_col', tracechain.column_context('"crypt we""ird"', 's''sn', '10')), 'UTF8') AS moved
  FROM "crypt we""ird" WHERE id = 10;
SELECT tracechain.unprotect_column('"crypt we""ird"', 's''sn', decrypt => true);
SELECT id, convert_from("s'sn", 'UTF8') AS plain_again FROM "crypt we""ird" WHERE id = 10;
SELECT tracechain.unprotect_column('"crypt we""ird"', 's''sn');
SELECT action, details FROM tracechain.audit_log WHERE action LIKE 'column.%' ORDER BY id;

-- Privileges: PUBLIC nothing, the app encrypts, only the admin manages keys
SET ROLE regress_crypt_nobody;
SELECT count(*) FROM tracechain.keys;
SELECT tracechain.encrypt('x', 'crypt_bi');
SELECT tracechain.key_create('crypt_nobody');
RESET ROLE;
SET ROLE regress_crypt_app;
SELECT tracechain.decrypt_text(tracechain.encrypt('app may', 'crypt_bi'), 'crypt_bi');
SELECT count(*) FROM tracechain.keys;
SELECT tracechain.key_create('crypt_app');
SELECT tracechain.key_rotate('crypt_bi');
SELECT tracechain.key_destroy('crypt_bi', 1);
SELECT tracechain.key_import('crypt_app', decode(repeat('00', 32), 'hex'));
SELECT tracechain.forget_principal(gen_random_uuid());
SELECT tracechain.master_key_rewrap();
RESET ROLE;
SET ROLE regress_crypt_admin;
SELECT tracechain.key_create('crypt_admin');
SELECT count(*) FROM tracechain.keys;                                    -- not even the admin reads it
SELECT version, status FROM tracechain.key_usage('crypt_admin');
SELECT tracechain.master_key_rewrap();                                   -- no rotation configured
RESET ROLE;
SELECT p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
 WHERE n.nspname = 'tracechain' AND has_function_privilege('regress_crypt_nobody', p.oid, 'EXECUTE')
   AND p.proname IN ('key_create', 'key_rotate', 'key_destroy', 'key_import', 'encrypt', 'decrypt',
                     'encrypt_for', 'forget_principal', 'blind_index', 'protect_column', 'master_key_rewrap');
SELECT count(*) AS uncommented FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
 WHERE n.nspname = 'tracechain' AND obj_description(p.oid, 'pg_proc') IS NULL
   AND p.proname IN ('key_create', 'key_rotate', 'key_destroy', 'key_import', 'key_usage', 'master_key_rewrap',
                     'encrypt', 'decrypt', 'decrypt_text', 'rewrap', 'encrypt_for', 'decrypt_for',
                     'forget_principal', 'is_pii_field', 'encrypt_pii', 'decrypt_pii', 'blind_index',
                     'hash_secret', 'verify_secret', 'protect_column', 'unprotect_column', 'column_context');

-- Every key operation is audited
SELECT action, resource, details->>'version' AS version, details->>'kind' AS kind
  FROM tracechain.audit_log WHERE resource ~ '^key:crypt_(t1|imp|cnt)$' ORDER BY id;
SELECT ok, reason FROM tracechain.verify_audit_chain();

DROP TABLE crypt_people, "crypt we""ird";

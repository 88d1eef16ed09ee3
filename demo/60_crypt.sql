-- 60_crypt.sql: field encryption and keys (docs/crypt.md).
\echo '== field encryption: keys, envelopes, rotation, crypto-shredding, PII, blind index, secrets'
SET client_min_messages = warning;
SELECT tracechain.key_create('demo_customers') AS version
 WHERE NOT EXISTS (SELECT 1 FROM tracechain.key_usage('demo_customers'));
RESET client_min_messages;

\echo '-- a customers table whose ssn column is stored encrypted, searchable by a blind index'
DROP TABLE IF EXISTS demo_customers;
CREATE TABLE demo_customers (
  id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  name     text,
  ssn      bytea,
  ssn_bi   bytea
);

CREATE INDEX ON demo_customers (ssn_bi);
SELECT tracechain.protect_column('demo_customers', 'ssn', 'demo_customers');
INSERT INTO demo_customers (name, ssn, ssn_bi) VALUES
  ('Ada',   convert_to('123-45-6789', 'UTF8'), tracechain.blind_index('123-45-6789', 'demo_customers', 'ssn')),
  ('Grace', convert_to('987-65-4321', 'UTF8'), tracechain.blind_index('987-65-4321', 'demo_customers', 'ssn'));
\echo '-- what is stored: envelopes (format 1, key id, version, nonce, ciphertext, tag)'
SELECT id, name, left(encode(ssn, 'hex'), 42) || '…' AS stored, octet_length(ssn) AS bytes FROM demo_customers;
\echo '-- equality search through the blind index, then decryption with the row''s context'
SELECT id, name,
       convert_from(tracechain.decrypt(ssn, 'demo_customers',
                    tracechain.column_context('demo_customers', 'ssn', id::text)), 'UTF8') AS ssn
  FROM demo_customers WHERE ssn_bi = tracechain.blind_index('987-65-4321', 'demo_customers', 'ssn');

\echo '-- a ciphertext copied to another row does not decrypt there (its context is different)'
SELECT tracechain.decrypt((SELECT ssn FROM demo_customers WHERE name = 'Ada'), 'demo_customers',
                          tracechain.column_context('demo_customers', 'ssn', '2'));

\echo '-- rotation: new data uses version 2, old data still decrypts, rewrap moves it'
SELECT tracechain.key_rotate('demo_customers') AS new_version;
UPDATE demo_customers SET ssn = tracechain.rewrap(ssn, 'demo_customers',
                                 tracechain.column_context('demo_customers', 'ssn', id::text));
SELECT id, get_byte(ssn, 8) AS key_version FROM demo_customers ORDER BY id;
SELECT version, status, encryptions FROM tracechain.key_usage('demo_customers');

\echo '-- per-principal keys and the right to erasure'
SELECT tracechain.principal_create('user', 'demo erasure') AS p \gset
SELECT tracechain.encrypt_pii('{"name": "Eve", "email": "eve@example.com",
        "orders": [{"id": 7, "shipping_address": "1 Main St"}]}'::jsonb, :'p') AS doc \gset
SELECT :'doc'::jsonb AS stored_document;
SELECT tracechain.decrypt_pii(:'doc', :'p') AS read_back;
SELECT tracechain.forget_principal(:'p') AS versions_erased;
SELECT tracechain.decrypt_pii(:'doc', :'p');

\echo '-- secrets: scrypt in a PHC string'
SELECT tracechain.hash_secret('correct horse battery staple') AS h \gset
SELECT :'h' AS stored_hash, tracechain.verify_secret('correct horse battery staple', :'h') AS ok,
       tracechain.verify_secret('Tr0ub4dor&3', :'h') AS wrong;

\echo '-- every key operation is in the audit log'
SELECT action, resource, details FROM tracechain.audit_log
 WHERE action LIKE 'key.%' OR action LIKE 'column.%' ORDER BY id DESC LIMIT 6;

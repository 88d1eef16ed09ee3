-- audit: the hash chain, append-only enforcement, tamper detection, digests.
\set SHOW_CONTEXT never
SET search_path = tracechain;

-- Writing: the three log functions and their refusals.
SELECT principal_create('user', 'audit-tester') AS actor \gset
SELECT log_user_action(:'actor', 'product.view', 'product:42', '{"via": "test"}') AS first_id \gset
SELECT log_system_event('backup.finished', '{"bytes": 1024}', 'notice') > :first_id AS increasing;
SELECT log_security_event('suspicious.login', '{"ip": "10.0.0.1"}') = :first_id + 2 AS gapless;
SELECT type, actor = :'actor' AS by_actor, action, resource, details
  FROM audit_log WHERE id BETWEEN :first_id AND :first_id + 2 ORDER BY id;
SELECT log_user_action(:'actor', '', 'x');
SELECT log_user_action(:'actor', NULL, 'x');
SELECT log_user_action(:'actor', repeat('a', 201), 'x');
SELECT log_user_action(:'actor', E'tab\there', 'x');
SELECT log_user_action(:'actor', 'ok', 'x', '[1, 2]');
SELECT log_user_action(:'actor', 'ok', 'x', '"string"');
SELECT log_system_event('e', '{}', 'fatal');
SELECT log_system_event('e', '{}', NULL);
SELECT log_security_event(NULL);
-- NULL details are stored as {}.
SELECT log_user_action(:'actor', 'null.details', NULL, NULL) AS nid \gset
SELECT details, resource FROM audit_log WHERE id = :nid;
-- Unicode and quotes go through unchanged.
SELECT log_user_action(:'actor', 'unicode', 'ünï''cødé', '{"k": "v\"q\u00e9"}') AS uid \gset
SELECT resource, details FROM audit_log WHERE id = :uid;
-- Details of every shape: the hash covers their text exactly as details::text
-- prints it (checked for every row below).
SELECT count(log_user_action(NULL, 'shapes', NULL, d::jsonb)) FROM (VALUES
  ('{}'), ('{"a": {}}'), ('{"a": []}'), ('{"a": [[], {}, [[1]], {"b": {"c": [null]}}]}'),
  ('{"n": [0, -0, 1.50, -1e-7, 1e100, 123456789012345678901234567890.000]}'),
  ('{"t": true, "f": false, "z": null}'),
  (E'{"ctl": "\\u0001\\u001f\\b\\f\\n\\r\\t x", "q": "\\"\\\\/", "\\u00e9\\"k\\\\": 1}'),
  ('{"emoji": "\ud83d\ude00 \u2028", "long": "' || repeat('ab\"', 500) || '"}'),
  ('{"nested": {"deeper": {"deepest": ["x", {"y": "z"}, 3]}}, "after": 1}')) AS t(d);
SELECT details::text FROM audit_log WHERE action = 'shapes' AND details ? 'ctl';

-- The canonical encoding, recomputed in plain SQL exactly as the README documents it:
-- hash = sha256(prev_hash || enc(id) || enc(at) || ... || enc(ip)),
-- enc(x) = 4-byte big-endian length || UTF-8 bytes, or ff ff ff ff for NULL.
CREATE FUNCTION pg_temp.enc(t text) RETURNS bytea LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE WHEN t IS NULL THEN '\xffffffff'::bytea
              ELSE int4send(octet_length(convert_to(t, 'UTF8'))) || convert_to(t, 'UTF8') END
$$;
SELECT count(*) AS rows, bool_and(a.hash = sha256(
         a.prev_hash || pg_temp.enc(a.id::text)
         || pg_temp.enc(((extract(epoch FROM a.at) * 1000000)::numeric(30,0))::text)
         || pg_temp.enc(a.type) || pg_temp.enc(a.actor::text) || pg_temp.enc(a.db_user::text)
         || pg_temp.enc(a.action) || pg_temp.enc(a.resource) || pg_temp.enc(a.details::text)
         || pg_temp.enc(host(a.ip) || CASE WHEN masklen(a.ip) = CASE family(a.ip) WHEN 4 THEN 32 ELSE 128 END
                                          THEN '' ELSE '/' || masklen(a.ip) END)))
       AS all_hashes_match_documented_encoding
  FROM audit_log a;
SELECT bool_and(a.prev_hash = p.hash) AS every_prev_hash_is_previous_hash
  FROM audit_log a JOIN audit_log p ON p.id = a.id - 1;
SELECT prev_hash = '\x0000000000000000000000000000000000000000000000000000000000000000' AS genesis
  FROM audit_log WHERE id = 1;

-- Append-only, for the owner (this superuser) too.
UPDATE audit_log SET action = 'rewritten' WHERE id = :first_id;
DELETE FROM audit_log WHERE id = :first_id;
TRUNCATE audit_log;
-- A direct INSERT must extend the chain exactly.
\set VERBOSITY terse
INSERT INTO audit_log (id, at, type, db_user, action, prev_hash, hash)
VALUES (1, now(), 'user', 'postgres', 'forged', '\x00'::bytea, '\x00'::bytea);
INSERT INTO audit_log
SELECT id + 1, at, type, actor, db_user, 'forged', resource, details, ip, hash, hash
  FROM audit_log ORDER BY id DESC LIMIT 1;
\set VERBOSITY default
SELECT ok, rows_checked > 0 AS checked, first_bad_id, reason FROM verify_audit_chain();

-- Ranges.
SELECT ok, rows_checked FROM verify_audit_chain(:first_id, :first_id + 2);
SELECT ok, rows_checked FROM verify_audit_chain(:first_id + 1, :first_id + 1);
SELECT verify_audit_chain(0);
SELECT verify_audit_chain(5, 4);

-- Tamper test: a superuser disables the trigger and rewrites one row.
ALTER TABLE audit_log DISABLE TRIGGER audit_log_guard;
UPDATE audit_log SET details = '{"via": "someone else"}' WHERE id = :first_id;
ALTER TABLE audit_log ENABLE ALWAYS TRIGGER audit_log_guard;
SELECT ok, first_bad_id = :first_id AS points_at_rewritten_row, reason ~ 'does not match its contents' AS why
  FROM verify_audit_chain();
-- ...and recomputes its hash too: then the next row's link breaks.
ALTER TABLE audit_log DISABLE TRIGGER audit_log_guard;
UPDATE audit_log SET hash = sha256(hash) WHERE id = :first_id;
ALTER TABLE audit_log ENABLE ALWAYS TRIGGER audit_log_guard;
SELECT ok, first_bad_id IN (:first_id, :first_id + 1) AS points_at_rewrite FROM verify_audit_chain();
-- Put the row back as it was (so later tests see an intact chain).
ALTER TABLE audit_log DISABLE TRIGGER audit_log_guard;
UPDATE audit_log a SET details = '{"via": "test"}', hash = sha256(
         a.prev_hash || pg_temp.enc(a.id::text)
         || pg_temp.enc(((extract(epoch FROM a.at) * 1000000)::numeric(30,0))::text)
         || pg_temp.enc(a.type) || pg_temp.enc(a.actor::text) || pg_temp.enc(a.db_user::text)
         || pg_temp.enc(a.action) || pg_temp.enc(a.resource) || pg_temp.enc('{"via": "test"}')
         || pg_temp.enc(NULL))
 WHERE id = :first_id;
ALTER TABLE audit_log ENABLE ALWAYS TRIGGER audit_log_guard;
SELECT ok FROM verify_audit_chain();

-- Deleting a row in the middle is detected.
CREATE TEMP TABLE saved AS SELECT * FROM audit_log WHERE id = :first_id + 1;
ALTER TABLE audit_log DISABLE TRIGGER audit_log_guard;
DELETE FROM audit_log WHERE id = :first_id + 1;
ALTER TABLE audit_log ENABLE ALWAYS TRIGGER audit_log_guard;
SELECT ok, first_bad_id = :first_id + 2 AS points_after_gap, reason ~ 'is missing' AS why
  FROM verify_audit_chain();
ALTER TABLE audit_log DISABLE TRIGGER audit_log_guard;
INSERT INTO audit_log SELECT * FROM saved;
ALTER TABLE audit_log ENABLE ALWAYS TRIGGER audit_log_guard;
SELECT ok FROM verify_audit_chain();

-- Digests: publish one, append, and prove today's log extends it.
SELECT last_id AS d_id, hash AS d_hash FROM audit_digest() \gset
SELECT length(:'d_hash') AS hex_length;
SELECT log_user_action(:'actor', 'after.digest', NULL) > :d_id AS appended;
SELECT verify_audit_digest(:d_id, :'d_hash') AS extends_digest;
SELECT verify_audit_digest(:d_id, repeat('0', 64)) AS wrong_hash;
SELECT verify_audit_digest(:d_id + 1000000, :'d_hash') AS unknown_row;
SELECT verify_audit_digest(:d_id, 'xyz');
SELECT verify_audit_digest(:d_id, upper(:'d_hash')) AS upper_case_hex_ok;
SELECT verify_audit_digest(0, :'d_hash');
SELECT verify_audit_digest(NULL, :'d_hash');
-- A rewrite before the digest makes it fail.
ALTER TABLE audit_log DISABLE TRIGGER audit_log_guard;
UPDATE audit_log SET action = 'rewritten' WHERE id = :first_id;
SELECT verify_audit_digest(:d_id, :'d_hash') AS after_rewrite;
UPDATE audit_log SET action = 'product.view' WHERE id = :first_id;
ALTER TABLE audit_log ENABLE ALWAYS TRIGGER audit_log_guard;
SELECT verify_audit_digest(:d_id, :'d_hash') AS restored;

-- audit_trail: one actor's rows in chain order.
SELECT action FROM audit_trail(:'actor') ORDER BY id;
SELECT count(*) FROM audit_trail(:'actor', now() + interval '1 day');
-- Its index leaves out the rows without an actor, and still serves a lookup by actor.
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT id FROM audit_log WHERE actor = '00000000-0000-4000-8000-000000000001' AND at >= now() - interval '1 day';
RESET enable_seqscan;
SELECT indexdef ~ 'WHERE \(actor IS NOT NULL\)' AS partial FROM pg_indexes WHERE indexname = 'audit_log_actor_at';
-- the incident watch's index leaves data rows out
SELECT indexdef ~ 'WHERE \(type <> ''data''::text\)' AS partial FROM pg_indexes WHERE indexname = 'audit_log_events';
SELECT count(*) FROM audit_trail(:'actor', NULL, now() - interval '1 day');

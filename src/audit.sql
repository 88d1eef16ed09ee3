-- audit.sql: the append-only, hash-chained audit log (audit.c).

CREATE TABLE audit_log (
  id         bigint      PRIMARY KEY,
  at         timestamptz NOT NULL,
  type       text        NOT NULL CHECK (type IN ('user', 'system', 'security', 'data')),
  actor      uuid,
  db_user    name        NOT NULL,
  action     text        NOT NULL,
  resource   text,
  details    jsonb       NOT NULL DEFAULT '{}',
  ip         inet,
  prev_hash  bytea       NOT NULL CHECK (octet_length(prev_hash) = 32),
  hash       bytea       NOT NULL CHECK (octet_length(hash) = 32)
);
-- For audit_trail(actor): rows without an actor (system events, the worker's,
-- captured changes made with no principal) are never looked up by actor, so
-- they stay out of this index and the sealer skips one index insert for each.
CREATE INDEX audit_log_actor_at ON audit_log (actor, at) WHERE actor IS NOT NULL;
-- For the worker's incident watch, which reads the rows sealed since its last
-- run for failed sign-ins and rate-limit blocks: those are never data rows
-- (captured changes, the registry's rows), which are most rows under load and
-- stay out of this index, so the watch does not read them and the sealer
-- makes no entry for them.
CREATE INDEX audit_log_events ON audit_log (id) INCLUDE (action, ip, at) WHERE type <> 'data';
COMMENT ON TABLE audit_log IS
'Append-only, hash-chained audit trail: hash = SHA-256(prev_hash || canonical encoding of the row); see the README for the encoding';
COMMENT ON COLUMN audit_log.id IS 'Position in the chain: 1, 2, 3, ... without gaps';
COMMENT ON COLUMN audit_log.at IS 'When the event happened (for queued security events, before it was written)';
COMMENT ON COLUMN audit_log.type IS 'user, system, security or data';
COMMENT ON COLUMN audit_log.actor IS 'The principal that acted, if any';
COMMENT ON COLUMN audit_log.db_user IS 'The database session user that acted';
COMMENT ON COLUMN audit_log.prev_hash IS 'hash of row id - 1 (32 zero bytes for row 1)';
-- pg_dump keeps the rows, in chain order so that a restore extends the chain row by row.
SELECT pg_catalog.pg_extension_config_dump('audit_log', 'ORDER BY id');

CREATE FUNCTION _audit_guard() RETURNS trigger
LANGUAGE C AS 'MODULE_PATHNAME', 'tc_audit_guard';
COMMENT ON FUNCTION _audit_guard() IS
'Internal: refuses UPDATE, DELETE and TRUNCATE of audit_log; accepts a direct INSERT only when it extends the chain';
CREATE TRIGGER audit_log_guard BEFORE INSERT OR UPDATE OR DELETE ON audit_log
  FOR EACH ROW EXECUTE FUNCTION _audit_guard();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
  FOR EACH STATEMENT EXECUTE FUNCTION _audit_guard();
-- Fire on replicas too (logical replication applies rows with session_replication_role = replica).
ALTER TABLE audit_log ENABLE ALWAYS TRIGGER audit_log_guard;
ALTER TABLE audit_log ENABLE ALWAYS TRIGGER audit_log_no_truncate;

CREATE FUNCTION _audit_append(type text, action text, resource text, details jsonb,
                              actor uuid, ip inet)
RETURNS bigint
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'tc_audit_append_sql';
COMMENT ON FUNCTION _audit_append(text, text, text, jsonb, uuid, inet) IS
'Internal: append one row to the audit chain in the current transaction; callable by the extension owner only';

CREATE FUNCTION _check_label(what text, value text) RETURNS void
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  IF value IS NULL OR value = '' THEN
    RAISE EXCEPTION '% must not be empty', what USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF length(value) > 200 OR value ~ '[[:cntrl:]]' THEN
    RAISE EXCEPTION '% is not a valid label', what
      USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Use at most 200 characters and no control characters.';
  END IF;
END $$;
COMMENT ON FUNCTION _check_label(text, text) IS 'Internal: validate an action, event or resource name';

CREATE FUNCTION _check_details(details jsonb) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  IF details IS NULL THEN
    RETURN '{}';
  END IF;
  IF jsonb_typeof(details) <> 'object' THEN
    RAISE EXCEPTION 'details must be a JSON object' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  RETURN details;
END $$;
COMMENT ON FUNCTION _check_details(jsonb) IS 'Internal: validate audit details (a JSON object, {} for null)';

CREATE FUNCTION log_user_action(actor uuid, action text, resource text, details jsonb DEFAULT '{}')
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, tracechain, pg_temp AS $$
BEGIN
  PERFORM _check_label('action', action);
  IF resource IS NOT NULL THEN PERFORM _check_label('resource', resource); END IF;
  -- Acting as a principal, one logs one's own actions only.
  IF current_principal() IS NOT NULL AND actor IS DISTINCT FROM current_principal() AND actor IS NOT NULL THEN
    RAISE EXCEPTION 'actor must be the current principal'
      USING ERRCODE = 'insufficient_privilege',
            HINT = 'Pass NULL (or the current principal) as actor after authenticate().';
  END IF;
  RETURN _audit_append('user', action, resource, _check_details(details),
                       coalesce(actor, current_principal()), NULL);
END $$;
COMMENT ON FUNCTION log_user_action(uuid, text, text, jsonb) IS
'Append a user action to the audit chain; the actor is the current principal (another actor only when none is set, for a backend logging on its users'' behalf); returns the row id';

CREATE FUNCTION log_system_event(event text, details jsonb DEFAULT '{}', severity text DEFAULT 'info')
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, tracechain, pg_temp AS $$
BEGIN
  PERFORM _check_label('event', event);
  IF severity IS NULL OR severity NOT IN ('debug', 'info', 'notice', 'warning', 'error', 'critical') THEN
    RAISE EXCEPTION 'invalid severity "%"', severity
      USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Use debug, info, notice, warning, error or critical.';
  END IF;
  RETURN _audit_append('system', event, NULL,
                       _check_details(details) || jsonb_build_object('severity', severity),
                       current_principal(), NULL);
END $$;
COMMENT ON FUNCTION log_system_event(text, jsonb, text) IS
'Append a system event with a severity to the audit chain; returns the row id';

CREATE FUNCTION log_security_event(event text, details jsonb DEFAULT '{}')
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, tracechain, pg_temp AS $$
BEGIN
  PERFORM _check_label('event', event);
  RETURN _audit_append('security', event, NULL, _check_details(details), current_principal(), NULL);
END $$;
COMMENT ON FUNCTION log_security_event(text, jsonb) IS
'Append a security event to the audit chain in the current transaction; returns the row id (tracechain''s own failure events are queued so they survive a rollback)';

CREATE FUNCTION verify_audit_chain(from_id bigint DEFAULT NULL, to_id bigint DEFAULT NULL,
                                   OUT ok boolean, OUT rows_checked bigint,
                                   OUT first_bad_id bigint, OUT reason text)
RETURNS record
LANGUAGE C STABLE
AS 'MODULE_PATHNAME', 'tc_verify_audit_chain';
COMMENT ON FUNCTION verify_audit_chain(bigint, bigint) IS
'Recompute the chain from from_id to to_id (default: all): contiguous ids, each prev_hash the previous hash, each hash the row''s; reports the first bad row';

CREATE FUNCTION audit_digest(OUT last_id bigint, OUT hash text, OUT at timestamptz)
RETURNS record
LANGUAGE C STABLE
AS 'MODULE_PATHNAME', 'tc_audit_digest';
COMMENT ON FUNCTION audit_digest() IS
'The chain head (id, hex hash, time): publish it outside the database to detect a later rewrite';

CREATE FUNCTION verify_audit_digest(last_id bigint, hash text)
RETURNS boolean
LANGUAGE C STABLE
AS 'MODULE_PATHNAME', 'tc_verify_audit_digest';
COMMENT ON FUNCTION verify_audit_digest(bigint, text) IS
'True when row last_id has that hash and the whole chain through today''s head verifies: today''s log extends the published digest';

CREATE FUNCTION audit_trail(actor uuid, from_at timestamptz DEFAULT NULL, to_at timestamptz DEFAULT NULL)
RETURNS SETOF audit_log
LANGUAGE sql STABLE SET search_path = pg_catalog, tracechain, pg_temp AS $$
  SELECT * FROM tracechain.audit_log a
   WHERE a.actor = audit_trail.actor
     AND (from_at IS NULL OR a.at >= from_at)
     AND (to_at IS NULL OR a.at < to_at)
   ORDER BY a.id
$$;
COMMENT ON FUNCTION audit_trail(uuid, timestamptz, timestamptz) IS
'Every audit row of one actor in [from_at, to_at), in chain order';

GRANT SELECT ON audit_log TO tracechain_auditor, tracechain_admin;
GRANT EXECUTE ON FUNCTION
  verify_audit_chain(bigint, bigint), audit_digest(), verify_audit_digest(bigint, text),
  audit_trail(uuid, timestamptz, timestamptz)
TO tracechain_auditor, tracechain_admin;
GRANT EXECUTE ON FUNCTION log_user_action(uuid, text, text, jsonb) TO tracechain_app;
GRANT EXECUTE ON FUNCTION log_system_event(text, jsonb, text), log_security_event(text, jsonb)
TO tracechain_app, tracechain_admin;

-- Archiving: old rows move to audit_archive; the live chain keeps verifying
-- from the anchor recorded for the last archived row.
CREATE TABLE audit_archive (LIKE audit_log INCLUDING ALL);
COMMENT ON TABLE audit_archive IS 'Audit rows moved out of audit_log by audit_archive(); verifies on its own with verify_audit_archive()';
SELECT pg_catalog.pg_extension_config_dump('audit_archive', 'ORDER BY id');
CREATE TABLE audit_anchors (
  through_id  bigint      PRIMARY KEY,
  hash        bytea       NOT NULL CHECK (octet_length(hash) = 32),
  rows        bigint      NOT NULL,
  archived_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE audit_anchors IS 'For each archiving: the last archived row and its hash, which the first live row''s prev_hash must equal';
SELECT pg_catalog.pg_extension_config_dump('audit_anchors', '');

CREATE FUNCTION _append_only_guard() RETURNS trigger
LANGUAGE C AS 'MODULE_PATHNAME', 'tc_append_only_guard';
COMMENT ON FUNCTION _append_only_guard() IS 'Internal: refuses UPDATE, DELETE and TRUNCATE';
CREATE TRIGGER audit_archive_guard BEFORE UPDATE OR DELETE ON audit_archive
  FOR EACH ROW EXECUTE FUNCTION _append_only_guard();
CREATE TRIGGER audit_archive_no_truncate BEFORE TRUNCATE ON audit_archive
  FOR EACH STATEMENT EXECUTE FUNCTION _append_only_guard();
CREATE TRIGGER audit_anchors_guard BEFORE UPDATE OR DELETE ON audit_anchors
  FOR EACH ROW EXECUTE FUNCTION _append_only_guard();
CREATE TRIGGER audit_anchors_no_truncate BEFORE TRUNCATE ON audit_anchors
  FOR EACH STATEMENT EXECUTE FUNCTION _append_only_guard();
ALTER TABLE audit_archive ENABLE ALWAYS TRIGGER audit_archive_guard;
ALTER TABLE audit_archive ENABLE ALWAYS TRIGGER audit_archive_no_truncate;
ALTER TABLE audit_anchors ENABLE ALWAYS TRIGGER audit_anchors_guard;
ALTER TABLE audit_anchors ENABLE ALWAYS TRIGGER audit_anchors_no_truncate;

CREATE FUNCTION audit_archive(before timestamptz) RETURNS bigint
LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, tracechain, pg_temp
AS 'MODULE_PATHNAME', 'tc_audit_archive';
COMMENT ON FUNCTION audit_archive(timestamptz) IS
'Move the oldest audit rows (all older than before; the newest row stays) to audit_archive after verifying them; the live chain then verifies from the recorded anchor';

CREATE FUNCTION verify_audit_archive(OUT ok boolean, OUT rows_checked bigint,
                                     OUT first_bad_id bigint, OUT reason text)
RETURNS record
LANGUAGE C STABLE AS 'MODULE_PATHNAME', 'tc_verify_audit_archive';
COMMENT ON FUNCTION verify_audit_archive() IS 'Verify the archived rows as a chain of their own, from row 1';

GRANT EXECUTE ON FUNCTION audit_archive(timestamptz) TO tracechain_admin;
GRANT EXECUTE ON FUNCTION verify_audit_archive() TO tracechain_auditor, tracechain_admin;
GRANT SELECT ON audit_archive, audit_anchors TO tracechain_auditor, tracechain_admin;

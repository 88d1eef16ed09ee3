-- audit_intake.sql: row-change capture and other high-volume audit rows,
-- written without the chain lock and sealed into the chain by the worker
-- (audit_intake.c); published digests.

CREATE TABLE audit_pending (
  -- no index: writers insert into the heap directly, the sealer reads it whole
  -- the sealer's order: one nextval() per write of a transaction's rows,
  -- times 65536, plus the row's position (audit_queue.c); not cached, so that
  -- a change that had to wait for another transaction's commit is sealed
  -- after that transaction's rows
  id         bigint      GENERATED ALWAYS AS IDENTITY,
  at         timestamptz NOT NULL,
  type       text        NOT NULL CHECK (type IN ('user', 'system', 'security', 'data')),
  actor      uuid,
  db_user    name        NOT NULL,
  action     text        NOT NULL,
  resource   text,
  details    jsonb       NOT NULL DEFAULT '{}',
  ip         inet
);
COMMENT ON TABLE audit_pending IS
'Audit rows of committed transactions not yet sealed into audit_log (the worker seals them within tracechain.worker_naptime)';
SELECT pg_catalog.pg_extension_config_dump('audit_pending', '');
SELECT pg_catalog.pg_extension_config_dump('audit_pending_id_seq', '');

CREATE FUNCTION _audit_pending_guard() RETURNS trigger
LANGUAGE C AS 'MODULE_PATHNAME', 'tc_audit_pending_guard';
COMMENT ON FUNCTION _audit_pending_guard() IS 'Internal: only the sealer removes rows from audit_pending';
CREATE TRIGGER audit_pending_guard BEFORE UPDATE OR DELETE ON audit_pending
  FOR EACH ROW EXECUTE FUNCTION _audit_pending_guard();
CREATE TRIGGER audit_pending_no_truncate BEFORE TRUNCATE ON audit_pending
  FOR EACH STATEMENT EXECUTE FUNCTION _audit_pending_guard();
ALTER TABLE audit_pending ENABLE ALWAYS TRIGGER audit_pending_guard;
ALTER TABLE audit_pending ENABLE ALWAYS TRIGGER audit_pending_no_truncate;

CREATE FUNCTION _audit_enqueue(type text, action text, resource text, details jsonb, actor uuid, ip inet)
RETURNS void
LANGUAGE C VOLATILE AS 'MODULE_PATHNAME', 'tc_audit_enqueue_sql';
COMMENT ON FUNCTION _audit_enqueue(text, text, text, jsonb, uuid, inet) IS
'Internal: queue an audit row in the current transaction without the chain lock; the worker chains it after commit';

-- Not SECURITY DEFINER: it runs as whoever changed the audited table and
-- switches to the extension owner only for its own insert into audit_pending.
CREATE FUNCTION _audit_capture() RETURNS trigger
LANGUAGE C AS 'MODULE_PATHNAME', 'tc_audit_capture';
COMMENT ON FUNCTION _audit_capture() IS
'Internal: statement-level capture trigger installed by audit_table(): one data row per changed row, old and new values';

CREATE FUNCTION audit_seal(max_rows int DEFAULT 1000000) RETURNS bigint
LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, tracechain, pg_temp
AS 'MODULE_PATHNAME', 'tc_audit_seal';
COMMENT ON FUNCTION audit_seal(int) IS
'Seal committed pending audit rows into the chain now (the worker does this on its own); returns how many';

CREATE FUNCTION _audit_table_allowed(tbl regclass) RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  -- Capturing a table's rows reveals them in audit_log: only someone who may
  -- put triggers on the table (its owner, or a holder of TRIGGER) may do it.
  IF NOT (has_table_privilege(session_user, tbl, 'TRIGGER')
          OR pg_has_role(session_user, (SELECT relowner FROM pg_class WHERE oid = tbl), 'USAGE')) THEN
    RAISE EXCEPTION 'permission denied for table %', tbl
      USING ERRCODE = 'insufficient_privilege',
            HINT = 'Auditing a table needs its ownership or the TRIGGER privilege on it.';
  END IF;
END $$;
COMMENT ON FUNCTION _audit_table_allowed(regclass) IS
'Internal: the caller of audit_table()/unaudit_table() must own the table or hold TRIGGER on it';

CREATE FUNCTION audit_table(tbl regclass, record_statement boolean DEFAULT true) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, tracechain, pg_temp AS $$
DECLARE
  v_kind char;
  v_nsp name;
  v_arg text := CASE WHEN record_statement THEN '' ELSE '''nostatement''' END;
BEGIN
  IF tbl IS NULL THEN
    RAISE EXCEPTION 'table must not be null' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  PERFORM _audit_table_allowed(tbl);
  SELECT c.relkind, n.nspname INTO v_kind, v_nsp
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = tbl;
  IF v_kind NOT IN ('r', 'p') THEN
    RAISE EXCEPTION '% is not a table', tbl USING ERRCODE = 'wrong_object_type';
  END IF;
  IF v_nsp = 'tracechain' THEN
    RAISE EXCEPTION 'tracechain''s own tables cannot be audited this way' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = tbl AND tgname = 'tracechain_audit_insert') THEN
    RETURN;   -- already audited
  END IF;
  EXECUTE format('CREATE TRIGGER tracechain_audit_insert AFTER INSERT ON %s '
                 'REFERENCING NEW TABLE AS tc_new FOR EACH STATEMENT EXECUTE FUNCTION tracechain._audit_capture(' || v_arg || ')', tbl);
  EXECUTE format('CREATE TRIGGER tracechain_audit_update AFTER UPDATE ON %s '
                 'REFERENCING OLD TABLE AS tc_old NEW TABLE AS tc_new FOR EACH STATEMENT EXECUTE FUNCTION tracechain._audit_capture(' || v_arg || ')', tbl);
  EXECUTE format('CREATE TRIGGER tracechain_audit_delete AFTER DELETE ON %s '
                 'REFERENCING OLD TABLE AS tc_old FOR EACH STATEMENT EXECUTE FUNCTION tracechain._audit_capture(' || v_arg || ')', tbl);
  EXECUTE format('CREATE TRIGGER tracechain_audit_truncate BEFORE TRUNCATE ON %s '
                 'FOR EACH STATEMENT EXECUTE FUNCTION tracechain._audit_capture(' || v_arg || ')', tbl);
  PERFORM _audit_append('security', 'audit.table', tbl::text,
                        jsonb_build_object('record_statement', record_statement), current_principal(), NULL);
END $$;
COMMENT ON FUNCTION audit_table(regclass, boolean) IS
'Capture every INSERT, UPDATE, DELETE and TRUNCATE of a table (yours, or one you hold TRIGGER on) into the audit chain: key, old and new values, principal, db user, xid and, unless record_statement is false or the table has protected columns, the statement';

CREATE FUNCTION unaudit_table(tbl regclass) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, tracechain, pg_temp AS $$
BEGIN
  IF tbl IS NULL THEN
    RAISE EXCEPTION 'table must not be null' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  PERFORM _audit_table_allowed(tbl);
  IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = tbl AND tgname = 'tracechain_audit_insert') THEN
    RAISE EXCEPTION 'table % is not audited', tbl USING ERRCODE = 'object_not_in_prerequisite_state';
  END IF;
  EXECUTE format('DROP TRIGGER tracechain_audit_insert ON %s', tbl);
  EXECUTE format('DROP TRIGGER tracechain_audit_update ON %s', tbl);
  EXECUTE format('DROP TRIGGER tracechain_audit_delete ON %s', tbl);
  EXECUTE format('DROP TRIGGER tracechain_audit_truncate ON %s', tbl);
  PERFORM _audit_append('security', 'audit.untable', tbl::text, '{}', current_principal(), NULL);
END $$;
COMMENT ON FUNCTION unaudit_table(regclass) IS 'Stop capturing a table''s row changes (audited)';

-- Published digests: the worker records the chain head here every
-- tracechain.audit_digest_interval and NOTIFYs tracechain_audit_digest, so an
-- external service can anchor it (a blockchain, a WORM store).
CREATE TABLE audit_digests (
  last_id  bigint      PRIMARY KEY,
  hash     text        NOT NULL CHECK (hash ~ '^[0-9a-f]{64}$'),
  at       timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE audit_digests IS 'Chain heads published by the worker (also sent with NOTIFY tracechain_audit_digest)';
SELECT pg_catalog.pg_extension_config_dump('audit_digests', '');

CREATE FUNCTION _audit_digest_tick(force boolean DEFAULT false) RETURNS bigint
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, tracechain, pg_temp AS $$
DECLARE
  v_interval interval := coalesce(nullif(current_setting('tracechain.audit_digest_interval', true), ''), '60s')::interval;
  v_last record;
  v_head record;
BEGIN
  IF v_interval <= interval '0' AND NOT force THEN
    RETURN NULL;
  END IF;
  SELECT * INTO v_last FROM audit_digests ORDER BY last_id DESC LIMIT 1;
  IF NOT force AND v_last.at IS NOT NULL AND v_last.at > clock_timestamp() - v_interval THEN
    RETURN NULL;
  END IF;
  SELECT id, encode(hash, 'hex') AS hash INTO v_head FROM audit_log ORDER BY id DESC LIMIT 1;
  IF v_head.id IS NULL OR v_head.id = v_last.last_id THEN
    RETURN NULL;
  END IF;
  INSERT INTO audit_digests (last_id, hash, at) VALUES (v_head.id, v_head.hash, clock_timestamp());
  PERFORM pg_notify('tracechain_audit_digest',
                    jsonb_build_object('last_id', v_head.id, 'hash', v_head.hash, 'at', clock_timestamp())::text);
  RETURN v_head.id;
END $$;
COMMENT ON FUNCTION _audit_digest_tick(boolean) IS
'Internal: publish the chain head when tracechain.audit_digest_interval has passed (the worker calls it)';

CREATE FUNCTION audit_publish_digest() RETURNS bigint
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, tracechain, pg_temp AS $$
  SELECT tracechain._audit_digest_tick(true)
$$;
COMMENT ON FUNCTION audit_publish_digest() IS
'Publish the current chain head now (into audit_digests and NOTIFY tracechain_audit_digest); null when it did not move';

GRANT EXECUTE ON FUNCTION audit_table(regclass, boolean), unaudit_table(regclass), audit_seal(int),
  audit_publish_digest() TO tracechain_admin;
GRANT SELECT ON audit_digests TO tracechain_auditor, tracechain_admin, tracechain_app;
GRANT SELECT ON audit_pending TO tracechain_auditor, tracechain_admin;

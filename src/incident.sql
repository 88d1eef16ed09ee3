-- incident.sql: the incident state machine, automated responses, and the
-- SQL halves of the worker's jobs (incident.c): escalation, the watch over
-- the audit tail (failed logins, rate-limit block storms, chain verification)
-- and maintenance (expired sessions, nonces, challenges, IP blocks, history).
--
-- Every change to an incident goes through the functions below: a trigger
-- refuses any UPDATE or DELETE of incidents that was not announced by
-- _incident_allow() in the same transaction, so neither a direct UPDATE of
-- status nor a stray maintenance statement can skip the state machine.

CREATE TABLE severity_levels (
  severity      text     PRIMARY KEY CHECK (severity IN ('LOW', 'MEDIUM', 'HIGH', 'CRITICAL')),
  rank          int      NOT NULL UNIQUE,
  response_time interval NOT NULL CHECK (response_time >= interval '1 second'),
  escalate      boolean  NOT NULL
);
COMMENT ON TABLE severity_levels IS
'Response time per severity: an open incident not contained within it is escalated (when escalate), then again after each further response time; tracechain_admin may edit response_time and escalate';
COMMENT ON COLUMN severity_levels.rank IS 'Order of severities: 1 LOW .. 4 CRITICAL';
INSERT INTO severity_levels VALUES
  ('LOW', 1, interval '24 hours', false),
  ('MEDIUM', 2, interval '4 hours', true),
  ('HIGH', 3, interval '1 hour', true),
  ('CRITICAL', 4, interval '15 minutes', true);
-- pg_dump keeps the administrators' edits (the seeded rows are re-created by CREATE EXTENSION).
SELECT pg_catalog.pg_extension_config_dump('severity_levels', '');

CREATE TABLE incidents (
  id                 uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
  type               text        NOT NULL CHECK (type ~ '^[A-Za-z][A-Za-z0-9_]{0,63}$'),
  severity           text        NOT NULL REFERENCES severity_levels (severity),
  status             text        NOT NULL DEFAULT 'detected'
                                 CHECK (status IN ('detected', 'acknowledged', 'contained', 'resolved', 'closed')),
  details            jsonb       NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(details) = 'object'),
  source             text        NOT NULL DEFAULT 'api' CHECK (source IN ('api', 'tracechain')),
  detected_by        uuid,
  detected_at        timestamptz NOT NULL DEFAULT clock_timestamp(),
  acknowledged_at    timestamptz,
  contained_at       timestamptz,
  resolved_at        timestamptz,
  closed_at          timestamptz,
  assigned_to        uuid        REFERENCES principals (id) ON DELETE SET NULL,
  escalation_level   int         NOT NULL DEFAULT 0 CHECK (escalation_level >= 0),
  next_escalation_at timestamptz,
  CHECK (next_escalation_at IS NULL OR status IN ('detected', 'acknowledged'))
);
-- The worker's only query on an idle system: the nearest deadline, from this small index.
CREATE INDEX incidents_due ON incidents (next_escalation_at) WHERE next_escalation_at IS NOT NULL;
CREATE INDEX incidents_open ON incidents (detected_at) WHERE status <> 'closed';
CREATE INDEX incidents_closed_at ON incidents (closed_at) WHERE closed_at IS NOT NULL;
CREATE INDEX incidents_assigned_to ON incidents (assigned_to) WHERE assigned_to IS NOT NULL;
COMMENT ON TABLE incidents IS
'Security incidents: detected -> acknowledged -> contained -> resolved -> closed (resolved -> detected reopens); change them only through incident_transition, incident_assign and incident_annotate';
COMMENT ON COLUMN incidents.source IS 'api: detect_incident(); tracechain: raised by the extension itself (failed logins, block storms, audit chain)';
COMMENT ON COLUMN incidents.detected_by IS 'The current principal of the detecting transaction, if any';
COMMENT ON COLUMN incidents.escalation_level IS 'How many response deadlines have passed while the incident was still detected or acknowledged';
COMMENT ON COLUMN incidents.next_escalation_at IS 'The next deadline; null once contained, or when the severity does not escalate';
SELECT pg_catalog.pg_extension_config_dump('incidents', '');

CREATE TABLE incident_events (
  id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  incident    uuid        NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
  at          timestamptz NOT NULL DEFAULT clock_timestamp(),
  kind        text        NOT NULL CHECK (kind IN ('detected', 'response', 'transition', 'escalated',
                                                   'assigned', 'annotated')),
  from_status text,
  to_status   text,
  actor       uuid,
  db_user     name        NOT NULL DEFAULT session_user,
  note        text        CHECK (length(note) <= 2000),
  details     jsonb       NOT NULL DEFAULT '{}'
);
CREATE INDEX incident_events_incident ON incident_events (incident, id);
COMMENT ON TABLE incident_events IS
'History of each incident: detection, automated responses, transitions, escalations, assignments (append-only; purged with their incident)';
COMMENT ON COLUMN incident_events.kind IS 'detected, response, transition, escalated, assigned or annotated';
COMMENT ON COLUMN incident_events.actor IS 'The principal that acted (null for the worker and for callers without one)';
SELECT pg_catalog.pg_extension_config_dump('incident_events', '');
SELECT pg_catalog.pg_extension_config_dump('incident_events_id_seq', '');

-- State of the worker's watch over the audit log: one row.
CREATE TABLE incident_watch_state (
  singleton           boolean     PRIMARY KEY DEFAULT true CHECK (singleton),
  audit_scanned_id    bigint      NOT NULL DEFAULT 0,
  chain_verified_id   bigint      NOT NULL DEFAULT 0,
  chain_verified_hash bytea,
  chain_verified_at   timestamptz,
  chain_reported_id   bigint,
  storm_started_at    timestamptz,
  storm_first_id      bigint,
  storm_blocks        int         NOT NULL DEFAULT 0,
  storm_incident      uuid
);
INSERT INTO incident_watch_state DEFAULT VALUES;
COMMENT ON TABLE incident_watch_state IS
'The worker''s watch: audit rows scanned for failed logins and blocks, the audit chain verified so far (id and hash), the current block storm window';
SELECT pg_catalog.pg_extension_config_dump('incident_watch_state', '');

CREATE TABLE incident_login_failures (
  ip           inet        PRIMARY KEY,
  window_start timestamptz NOT NULL,
  failures     int         NOT NULL,
  incident     uuid
);
CREATE INDEX incident_login_failures_window ON incident_login_failures (window_start);
COMMENT ON TABLE incident_login_failures IS
'Failed sign-ins per IP in the current window (tracechain.incident_failed_login_window); purged by maintenance once the window is over';

-- The maintenance job's purge of ended sessions reads this index, not the whole table.
CREATE INDEX sessions_ended ON sessions ((least(coalesce(revoked_at, 'infinity'), expires_at)));

CREATE FUNCTION _incident_allow(id uuid) RETURNS void
LANGUAGE C VOLATILE AS 'MODULE_PATHNAME', 'tc_incident_allow';
COMMENT ON FUNCTION _incident_allow(uuid) IS
'Internal: let the current transaction make one change to incident id (null: delete incidents and events, for the purge)';

CREATE FUNCTION _incident_allowed(id uuid, consume boolean) RETURNS boolean
LANGUAGE C VOLATILE AS 'MODULE_PATHNAME', 'tc_incident_allowed';
COMMENT ON FUNCTION _incident_allowed(uuid, boolean) IS
'Internal: whether _incident_allow() announced a change to incident id in this transaction (consume: use the permission up)';

CREATE FUNCTION _incident_guard() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, tracechain, pg_temp AS $$
BEGIN
  IF TG_OP = 'TRUNCATE' THEN
    RAISE EXCEPTION '% cannot be truncated', TG_TABLE_NAME
      USING ERRCODE = 'object_not_in_prerequisite_state';
  END IF;
  IF TG_TABLE_NAME = 'incidents' THEN
    IF TG_OP = 'UPDATE' AND NEW.id = OLD.id AND _incident_allowed(OLD.id, true) THEN
      RETURN NEW;
    END IF;
    IF TG_OP = 'DELETE' AND _incident_allowed(NULL, false) THEN
      RETURN OLD;
    END IF;
    -- ON DELETE SET NULL of an assignee that is deleted.
    IF TG_OP = 'UPDATE' AND NEW.assigned_to IS NULL AND OLD.assigned_to IS NOT NULL
       AND to_jsonb(NEW) - 'assigned_to' = to_jsonb(OLD) - 'assigned_to' THEN
      RETURN NEW;
    END IF;
    RAISE EXCEPTION 'incidents can only be changed through incident_transition, incident_assign and incident_annotate'
      USING ERRCODE = 'object_not_in_prerequisite_state',
            HINT = 'Use tracechain.incident_transition(id, status, note) to change an incident''s status.';
  END IF;
  -- incident_events: append-only; rows go only with their incident.
  IF TG_OP = 'DELETE' AND _incident_allowed(NULL, false) THEN
    RETURN OLD;
  END IF;
  RAISE EXCEPTION 'incident_events is append-only' USING ERRCODE = 'object_not_in_prerequisite_state';
END $$;
COMMENT ON FUNCTION _incident_guard() IS
'Internal: refuses UPDATE and DELETE of incidents not announced by the incident functions, any change to incident_events, and TRUNCATE';
CREATE TRIGGER incidents_guard BEFORE UPDATE OR DELETE ON incidents
  FOR EACH ROW EXECUTE FUNCTION _incident_guard();
CREATE TRIGGER incidents_no_truncate BEFORE TRUNCATE ON incidents
  FOR EACH STATEMENT EXECUTE FUNCTION _incident_guard();
CREATE TRIGGER incident_events_guard BEFORE UPDATE OR DELETE ON incident_events
  FOR EACH ROW EXECUTE FUNCTION _incident_guard();
CREATE TRIGGER incident_events_no_truncate BEFORE TRUNCATE ON incident_events
  FOR EACH STATEMENT EXECUTE FUNCTION _incident_guard();
ALTER TABLE incidents ENABLE ALWAYS TRIGGER incidents_guard;
ALTER TABLE incidents ENABLE ALWAYS TRIGGER incidents_no_truncate;
ALTER TABLE incident_events ENABLE ALWAYS TRIGGER incident_events_guard;
ALTER TABLE incident_events ENABLE ALWAYS TRIGGER incident_events_no_truncate;

-- pg_restore re-creates the extension (seeding these one-row-per-key
-- tables) and then copies the dumped rows in: an INSERT of a key that
-- exists updates the row instead, so the dumped values win.
CREATE FUNCTION _restore_upsert() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, tracechain, pg_temp AS $$
BEGIN
  IF TG_TABLE_NAME = 'severity_levels' THEN
    UPDATE severity_levels s SET response_time = NEW.response_time, escalate = NEW.escalate
     WHERE s.severity = NEW.severity;
  ELSE
    UPDATE incident_watch_state w SET audit_scanned_id = NEW.audit_scanned_id,
           chain_verified_id = NEW.chain_verified_id, chain_verified_hash = NEW.chain_verified_hash,
           chain_verified_at = NEW.chain_verified_at, chain_reported_id = NEW.chain_reported_id,
           storm_started_at = NEW.storm_started_at,
           storm_first_id = NEW.storm_first_id, storm_blocks = NEW.storm_blocks,
           storm_incident = NEW.storm_incident
     WHERE w.singleton = NEW.singleton;
  END IF;
  IF FOUND THEN
    RETURN NULL;
  END IF;
  RETURN NEW;
END $$;
COMMENT ON FUNCTION _restore_upsert() IS
'Internal: an INSERT of an existing severity_levels or incident_watch_state key updates that row (so pg_restore brings back the dumped values over the seeded ones)';
CREATE TRIGGER severity_levels_restore BEFORE INSERT ON severity_levels
  FOR EACH ROW EXECUTE FUNCTION _restore_upsert();
CREATE TRIGGER incident_watch_state_restore BEFORE INSERT ON incident_watch_state
  FOR EACH ROW EXECUTE FUNCTION _restore_upsert();

-- Edits of severity_levels by administrators are audited (not the restore
-- of dumped values above: their edits are in the restored audit log).
CREATE FUNCTION _severity_levels_audit() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, tracechain, pg_temp AS $$
BEGIN
  IF NEW.severity <> OLD.severity OR NEW.rank <> OLD.rank THEN
    RAISE EXCEPTION 'a severity level''s name and rank cannot be changed'
      USING ERRCODE = 'object_not_in_prerequisite_state';
  END IF;
  IF (NEW.response_time, NEW.escalate) IS DISTINCT FROM (OLD.response_time, OLD.escalate)
     AND pg_trigger_depth() = 1 THEN
    PERFORM _audit_append('security', 'incident.severity_level', 'severity:' || NEW.severity,
                          jsonb_build_object('from', jsonb_build_object('response_time', OLD.response_time,
                                                                        'escalate', OLD.escalate),
                                             'to', jsonb_build_object('response_time', NEW.response_time,
                                                                      'escalate', NEW.escalate)),
                          current_principal(), NULL);
  END IF;
  RETURN NEW;
END $$;
COMMENT ON FUNCTION _severity_levels_audit() IS
'Internal: audits every change of a response time or escalation flag; the severity names and ranks are fixed';
CREATE TRIGGER severity_levels_audit BEFORE UPDATE ON severity_levels
  FOR EACH ROW EXECUTE FUNCTION _severity_levels_audit();

-- The seed's severity rules, plus DATA_TAMPERING (a broken audit chain) as CRITICAL.
CREATE FUNCTION _incident_severity(type text, details jsonb) RETURNS text
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT CASE type
    WHEN 'DATA_BREACH' THEN
      CASE WHEN (details->>'recordsAffected')::numeric > 1000 THEN 'HIGH' ELSE 'MEDIUM' END
    WHEN 'UNAUTHORIZED_ACCESS' THEN
      CASE WHEN (details->'adminAccess') = 'true'::jsonb THEN 'HIGH' ELSE 'MEDIUM' END
    WHEN 'DDoS_ATTACK' THEN
      CASE WHEN (details->>'duration')::numeric > 3600 THEN 'HIGH' ELSE 'MEDIUM' END
    WHEN 'SMART_CONTRACT_EXPLOIT' THEN 'CRITICAL'
    WHEN 'MALWARE_DETECTED' THEN 'HIGH'
    WHEN 'DATA_TAMPERING' THEN 'CRITICAL'
    ELSE 'LOW'
  END
$$;
COMMENT ON FUNCTION _incident_severity(text, jsonb) IS
'Internal: severity of a new incident (DATA_BREACH HIGH above 1000 records, UNAUTHORIZED_ACCESS HIGH with adminAccess, DDoS_ATTACK HIGH above 3600 s, SMART_CONTRACT_EXPLOIT and DATA_TAMPERING CRITICAL, MALWARE_DETECTED HIGH, else LOW)';

-- Refuse details of the wrong shape before anything is written.
CREATE FUNCTION _incident_check_details(type text, details jsonb) RETURNS void
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, tracechain, pg_temp AS $$
DECLARE
  v jsonb;
  e jsonb;
BEGIN
  IF jsonb_typeof(details) <> 'object' THEN
    RAISE EXCEPTION 'incident details must be a JSON object' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF octet_length(details::text) > 32768 THEN
    RAISE EXCEPTION 'incident details are too large'
      USING ERRCODE = 'invalid_parameter_value', HINT = 'Keep details under 32 kB.';
  END IF;
  FOREACH v IN ARRAY ARRAY[details->'recordsAffected', details->'duration'] LOOP
    IF v IS NOT NULL AND jsonb_typeof(v) NOT IN ('number', 'null') THEN
      RAISE EXCEPTION 'recordsAffected and duration must be numbers' USING ERRCODE = 'invalid_parameter_value';
    END IF;
  END LOOP;
  v := details->'adminAccess';
  IF v IS NOT NULL AND jsonb_typeof(v) NOT IN ('boolean', 'null') THEN
    RAISE EXCEPTION 'adminAccess must be a boolean' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  v := details->'affectedUsers';
  IF v IS NOT NULL AND jsonb_typeof(v) <> 'null' THEN
    IF jsonb_typeof(v) <> 'array' THEN
      RAISE EXCEPTION 'affectedUsers must be an array of principal ids' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    FOR e IN SELECT * FROM jsonb_array_elements(v) LOOP
      IF jsonb_typeof(e) <> 'string' OR e #>> '{}' !~* '^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$' THEN
        RAISE EXCEPTION 'affectedUsers must be an array of principal ids' USING ERRCODE = 'invalid_parameter_value';
      END IF;
    END LOOP;
  END IF;
  v := details->'principal';
  IF v IS NOT NULL AND jsonb_typeof(v) <> 'null' AND (jsonb_typeof(v) <> 'string'
     OR v #>> '{}' !~* '^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$') THEN
    RAISE EXCEPTION 'principal must be a principal id' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  v := details->'ip';
  IF v IS NOT NULL AND jsonb_typeof(v) <> 'null' THEN
    IF jsonb_typeof(v) <> 'string' OR _is_inet(v #>> '{}') IS NOT TRUE THEN
      RAISE EXCEPTION 'ip must be an IP address' USING ERRCODE = 'invalid_parameter_value';
    END IF;
  END IF;
  v := details->'ips';
  IF v IS NOT NULL AND jsonb_typeof(v) <> 'null' THEN
    IF jsonb_typeof(v) <> 'array' THEN
      RAISE EXCEPTION 'ips must be an array of IP addresses' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    FOR e IN SELECT * FROM jsonb_array_elements(v) LOOP
      IF jsonb_typeof(e) <> 'string' OR _is_inet(e #>> '{}') IS NOT TRUE THEN
        RAISE EXCEPTION 'ips must be an array of IP addresses' USING ERRCODE = 'invalid_parameter_value';
      END IF;
    END LOOP;
  END IF;
  v := details->'deviceId';
  IF v IS NOT NULL AND jsonb_typeof(v) <> 'null' AND (jsonb_typeof(v) <> 'string'
     OR length(v #>> '{}') NOT BETWEEN 1 AND 200) THEN
    RAISE EXCEPTION 'deviceId must be a device id' USING ERRCODE = 'invalid_parameter_value';
  END IF;
END $$;
COMMENT ON FUNCTION _incident_check_details(text, jsonb) IS
'Internal: refuse incident details whose recordsAffected, duration, adminAccess, affectedUsers, principal, ip, ips or deviceId have the wrong type';

CREATE FUNCTION _is_inet(value text) RETURNS boolean
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  PERFORM value::inet;
  RETURN true;
EXCEPTION WHEN invalid_text_representation THEN
  RETURN false;
END $$;
COMMENT ON FUNCTION _is_inet(text) IS 'Internal: whether a text is a valid inet value';

-- One response event (kind 'response') with its outcome.
CREATE FUNCTION _incident_response(id uuid, action text, target text, outcome text, extra jsonb DEFAULT '{}')
RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, tracechain, pg_temp AS $$
DECLARE
  v jsonb := jsonb_build_object('action', action, 'target', target, 'outcome', outcome) || extra;
BEGIN
  INSERT INTO incident_events (incident, kind, actor, details) VALUES (id, 'response', current_principal(), v);
  RETURN v;
END $$;
COMMENT ON FUNCTION _incident_response(uuid, text, text, text, jsonb) IS
'Internal: record the outcome of one automated response in incident_events';

-- Call tracechain.<fn> when the module providing it has landed; otherwise
-- record that nothing could act.  Every response runs in its own
-- subtransaction: a failing one is recorded and does not undo the incident.
CREATE FUNCTION _incident_call_optional(id uuid, action text, signature text, call text,
                                        target text, args text[])
RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, tracechain, pg_temp AS $$
DECLARE
  v_result text;
BEGIN
  IF to_regprocedure(signature) IS NULL THEN
    RETURN _incident_response(id, action, target, 'unavailable',
                              jsonb_build_object('note', format('no %s available', replace(action, '_', ' '))));
  END IF;
  BEGIN
    EXECUTE call INTO v_result USING args;
  EXCEPTION WHEN OTHERS THEN
    RETURN _incident_response(id, action, target, 'failed',
                              jsonb_build_object('sqlstate', SQLSTATE, 'error', SQLERRM));
  END;
  RETURN _incident_response(id, action, target, 'done', jsonb_build_object('result', v_result));
END $$;
COMMENT ON FUNCTION _incident_call_optional(uuid, text, text, text, text, text[]) IS
'Internal: run an automated response provided by another module when it exists (to_regprocedure), recording the outcome';

CREATE FUNCTION _incident_respond(id uuid, type text, details jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, tracechain, pg_temp AS $$
DECLARE
  out jsonb := '[]';
  v_user text;
  v_ip text;
  v_n int;
  v_block interval := coalesce(nullif(current_setting('tracechain.incident_block_duration', true), ''), '1h')::interval;
  v_reason text := format('incident %s (%s)', id, type);
BEGIN
  IF type = 'DATA_BREACH' THEN
    FOR v_user IN SELECT jsonb_array_elements_text(coalesce(details->'affectedUsers', '[]')) LOOP
      BEGIN
        IF NOT EXISTS (SELECT 1 FROM principals p WHERE p.id = v_user::uuid) THEN
          out := out || _incident_response(id, 'revoke_sessions', v_user, 'failed',
                                           '{"error": "principal does not exist"}');
          CONTINUE;
        END IF;
        v_n := revoke_sessions(v_user::uuid);
        out := out || _incident_response(id, 'revoke_sessions', v_user, 'done', jsonb_build_object('revoked', v_n));
      EXCEPTION WHEN OTHERS THEN
        out := out || _incident_response(id, 'revoke_sessions', v_user, 'failed',
                                         jsonb_build_object('sqlstate', SQLSTATE, 'error', SQLERRM));
      END;
    END LOOP;
  ELSIF type = 'UNAUTHORIZED_ACCESS' THEN
    IF details->>'ip' IS NOT NULL THEN
      out := out || _incident_call_optional(id, 'ip_blocking', 'tracechain.block_ip(inet,interval,text)',
                                            'SELECT tracechain.block_ip($1[1]::inet, $1[2]::interval, $1[3])::text',
                                            details->>'ip', ARRAY[details->>'ip', v_block::text, v_reason]);
    END IF;
    IF details->'adminAccess' = 'true'::jsonb AND details->>'principal' IS NOT NULL THEN
      BEGIN
        PERFORM principal_set_status((details->>'principal')::uuid, 'suspended');
        out := out || _incident_response(id, 'suspend_principal', details->>'principal', 'done');
      EXCEPTION WHEN OTHERS THEN
        out := out || _incident_response(id, 'suspend_principal', details->>'principal', 'failed',
                                         jsonb_build_object('sqlstate', SQLSTATE, 'error', SQLERRM));
      END;
    END IF;
  ELSIF type = 'DDoS_ATTACK' THEN
    FOR v_ip IN SELECT jsonb_array_elements_text(coalesce(details->'ips', '[]')) LOOP
      out := out || _incident_call_optional(id, 'ip_blocking', 'tracechain.block_ip(inet,interval,text)',
                                            'SELECT tracechain.block_ip($1[1]::inet, $1[2]::interval, $1[3])::text',
                                            v_ip, ARRAY[v_ip, v_block::text, v_reason]);
    END LOOP;
  ELSIF type = 'SMART_CONTRACT_EXPLOIT' THEN
    out := out || _incident_call_optional(id, 'emergency_pause', 'tracechain.emergency_pause()',
                                          'SELECT tracechain.emergency_pause()::text', 'registry', '{}');
  ELSIF type = 'MALWARE_DETECTED' THEN
    IF details->>'deviceId' IS NOT NULL THEN
      out := out || _incident_call_optional(id, 'device_revocation', 'tracechain.device_revoke(text)',
                                            'SELECT tracechain.device_revoke($1[1])::text',
                                            details->>'deviceId', ARRAY[details->>'deviceId']);
    END IF;
  END IF;
  RETURN out;
END $$;
COMMENT ON FUNCTION _incident_respond(uuid, text, jsonb) IS
'Internal: the automated response (DATA_BREACH revokes affectedUsers'' sessions; UNAUTHORIZED_ACCESS blocks ip and, with adminAccess, suspends principal; DDoS_ATTACK blocks ips; SMART_CONTRACT_EXPLOIT pauses the registry; MALWARE_DETECTED revokes deviceId)';

CREATE FUNCTION _incident_notify(id uuid, event text) RETURNS void
LANGUAGE sql VOLATILE SET search_path = pg_catalog, tracechain, pg_temp AS $$
  SELECT pg_notify('tracechain_incident',
                   jsonb_build_object('event', event, 'id', i.id, 'type', i.type, 'severity', i.severity,
                                      'status', i.status, 'escalation_level', i.escalation_level,
                                      'next_escalation_at', i.next_escalation_at)::text)
    FROM tracechain.incidents i WHERE i.id = _incident_notify.id
$$;
COMMENT ON FUNCTION _incident_notify(uuid, text) IS
'Internal: NOTIFY tracechain_incident with {event, id, type, severity, status, escalation_level, next_escalation_at} (sent at commit)';

CREATE FUNCTION _detect_incident(type text, details jsonb, source text) RETURNS uuid
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, tracechain, pg_temp AS $$
DECLARE
  v_id uuid;
  v_sev text;
  lvl record;
  v_now timestamptz := clock_timestamp();
  v_responses jsonb;
BEGIN
  IF type IS NULL OR type !~ '^[A-Za-z][A-Za-z0-9_]{0,63}$' THEN
    RAISE EXCEPTION 'invalid incident type "%"', type
      USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Use a letter followed by at most 63 letters, digits or underscores, e.g. DATA_BREACH.';
  END IF;
  details := coalesce(details, '{}');
  PERFORM _incident_check_details(type, details);
  v_sev := _incident_severity(type, details);
  SELECT * INTO STRICT lvl FROM severity_levels s WHERE s.severity = v_sev;
  INSERT INTO incidents (type, severity, details, source, detected_by, detected_at, next_escalation_at)
  VALUES (type, v_sev, details, source, current_principal(), v_now,
          CASE WHEN lvl.escalate THEN v_now + lvl.response_time END)
  RETURNING id INTO v_id;
  INSERT INTO incident_events (incident, at, kind, to_status, actor, details)
  VALUES (v_id, v_now, 'detected', 'detected', current_principal(),
          jsonb_build_object('severity', v_sev, 'source', source));
  v_responses := _incident_respond(v_id, type, details);
  PERFORM _audit_append('security', 'incident.detected', 'incident:' || v_id,
                        jsonb_build_object('type', type, 'severity', v_sev, 'source', source,
                                           'details', details, 'responses', v_responses),
                        current_principal(), NULL);
  PERFORM _incident_notify(v_id, 'detected');
  RETURN v_id;
END $$;
COMMENT ON FUNCTION _detect_incident(text, jsonb, text) IS
'Internal: record an incident, run its automated response, audit and notify; the worker calls it with source tracechain';

CREATE FUNCTION detect_incident(type text, details jsonb DEFAULT '{}')
RETURNS uuid
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, tracechain, pg_temp AS $$
  SELECT tracechain._detect_incident(type, details, 'api')
$$;
COMMENT ON FUNCTION detect_incident(text, jsonb) IS
'Record a security incident: severity assessed from type and details, automated response run in this transaction, NOTIFY tracechain_incident; returns its id';

CREATE FUNCTION _incident_check_note(note text) RETURNS void
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  IF note IS NOT NULL AND (length(note) > 2000 OR note ~ '[\x01-\x08\x0b\x0c\x0e-\x1f\x7f]') THEN
    RAISE EXCEPTION 'invalid note'
      USING ERRCODE = 'invalid_parameter_value', HINT = 'Use at most 2000 characters and no control characters.';
  END IF;
END $$;
COMMENT ON FUNCTION _incident_check_note(text) IS 'Internal: a note is at most 2000 characters, without control characters but newlines and tabs';

CREATE FUNCTION incident_transition(id uuid, to_status text, note text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, tracechain, pg_temp AS $$
DECLARE
  i record;
  lvl record;
  v_now timestamptz := clock_timestamp();
  v_allowed text[];
BEGIN
  IF to_status IS NULL OR to_status NOT IN ('detected', 'acknowledged', 'contained', 'resolved', 'closed') THEN
    RAISE EXCEPTION 'invalid incident status "%"', to_status
      USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Use detected, acknowledged, contained, resolved or closed.';
  END IF;
  PERFORM _incident_check_note(note);
  SELECT * INTO i FROM incidents x WHERE x.id = incident_transition.id FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'incident % does not exist', id USING ERRCODE = 'invalid_parameter_value';
  END IF;
  v_allowed := CASE i.status
                 WHEN 'detected' THEN ARRAY['acknowledged']
                 WHEN 'acknowledged' THEN ARRAY['contained']
                 WHEN 'contained' THEN ARRAY['resolved']
                 WHEN 'resolved' THEN ARRAY['closed', 'detected']
                 ELSE ARRAY[]::text[] END;
  IF NOT to_status = ANY (v_allowed) THEN
    RAISE EXCEPTION 'invalid incident transition from % to %', i.status, to_status
      USING ERRCODE = 'object_not_in_prerequisite_state',
            HINT = CASE WHEN cardinality(v_allowed) = 0 THEN 'A closed incident cannot change any more.'
                        ELSE format('From %s an incident can go to %s.', i.status, array_to_string(v_allowed, ' or ')) END;
  END IF;
  SELECT * INTO STRICT lvl FROM severity_levels s WHERE s.severity = i.severity;
  PERFORM _incident_allow(i.id);
  UPDATE incidents x SET
    status = to_status,
    acknowledged_at = CASE to_status WHEN 'acknowledged' THEN v_now WHEN 'detected' THEN NULL ELSE x.acknowledged_at END,
    contained_at = CASE to_status WHEN 'contained' THEN v_now WHEN 'detected' THEN NULL ELSE x.contained_at END,
    resolved_at = CASE to_status WHEN 'resolved' THEN v_now WHEN 'detected' THEN NULL ELSE x.resolved_at END,
    closed_at = CASE to_status WHEN 'closed' THEN v_now ELSE x.closed_at END,
    -- Acknowledging keeps the clock running; containing stops it; reopening restarts it.
    next_escalation_at = CASE to_status
                           WHEN 'acknowledged' THEN x.next_escalation_at
                           WHEN 'detected' THEN CASE WHEN lvl.escalate THEN v_now + lvl.response_time END
                           ELSE NULL END
   WHERE x.id = i.id;
  INSERT INTO incident_events (incident, at, kind, from_status, to_status, actor, note)
  VALUES (i.id, v_now, 'transition', i.status, to_status, current_principal(), note);
  PERFORM _audit_append('security', 'incident.transition', 'incident:' || i.id,
                        jsonb_build_object('from', i.status, 'to', to_status, 'note', note),
                        current_principal(), NULL);
  PERFORM _incident_notify(i.id, CASE WHEN to_status = 'detected' THEN 'reopened' ELSE to_status END);
END $$;
COMMENT ON FUNCTION incident_transition(uuid, text, text) IS
'Move an incident: detected -> acknowledged -> contained -> resolved -> closed, resolved -> detected (reopen); anything else raises 55000; recorded with who, when and the note in incident_events and the audit log';

CREATE FUNCTION incident_assign(id uuid, principal uuid)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, tracechain, pg_temp AS $$
DECLARE
  i record;
BEGIN
  SELECT * INTO i FROM incidents x WHERE x.id = incident_assign.id FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'incident % does not exist', id USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF i.status = 'closed' THEN
    RAISE EXCEPTION 'a closed incident cannot be assigned' USING ERRCODE = 'object_not_in_prerequisite_state';
  END IF;
  IF principal IS NOT NULL AND NOT EXISTS (SELECT 1 FROM principals p WHERE p.id = incident_assign.principal) THEN
    RAISE EXCEPTION 'principal % does not exist', principal USING ERRCODE = 'invalid_parameter_value';
  END IF;
  PERFORM _incident_allow(i.id);
  UPDATE incidents x SET assigned_to = principal WHERE x.id = i.id;
  INSERT INTO incident_events (incident, kind, actor, details)
  VALUES (i.id, 'assigned', current_principal(), jsonb_build_object('from', i.assigned_to, 'to', principal));
  PERFORM _audit_append('security', 'incident.assign', 'incident:' || i.id,
                        jsonb_build_object('from', i.assigned_to, 'to', principal), current_principal(), NULL);
END $$;
COMMENT ON FUNCTION incident_assign(uuid, uuid) IS
'Assign an open incident to a principal (null: unassign); recorded in incident_events and the audit log';

CREATE FUNCTION incident_annotate(id uuid, details jsonb)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, tracechain, pg_temp AS $$
DECLARE
  i record;
  v_keys text[];
BEGIN
  IF details IS NULL OR jsonb_typeof(details) <> 'object' THEN
    RAISE EXCEPTION 'details must be a JSON object' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  v_keys := ARRAY(SELECT jsonb_object_keys(details));
  IF NOT v_keys <@ ARRAY['impact', 'rootCause', 'actionsTaken', 'preventionMeasures'] THEN
    RAISE EXCEPTION 'only impact, rootCause, actionsTaken and preventionMeasures can be annotated'
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF octet_length(details::text) > 32768 THEN
    RAISE EXCEPTION 'annotation is too large' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  SELECT * INTO i FROM incidents x WHERE x.id = incident_annotate.id FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'incident % does not exist', id USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF i.status = 'closed' THEN
    RAISE EXCEPTION 'a closed incident cannot be annotated' USING ERRCODE = 'object_not_in_prerequisite_state';
  END IF;
  PERFORM _incident_allow(i.id);
  UPDATE incidents x SET details = x.details || incident_annotate.details WHERE x.id = i.id;
  INSERT INTO incident_events (incident, kind, actor, details)
  VALUES (i.id, 'annotated', current_principal(), incident_annotate.details);
  PERFORM _audit_append('security', 'incident.annotate', 'incident:' || i.id, incident_annotate.details,
                        current_principal(), NULL);
END $$;
COMMENT ON FUNCTION incident_annotate(uuid, jsonb) IS
'Record impact, rootCause, actionsTaken and/or preventionMeasures of an open incident (merged into its details, for incident_report); audited';

CREATE FUNCTION incident_report(id uuid)
RETURNS jsonb
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, tracechain, pg_temp AS $$
DECLARE
  i record;
BEGIN
  SELECT * INTO i FROM incidents x WHERE x.id = incident_report.id;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'incident % does not exist', id USING ERRCODE = 'invalid_parameter_value';
  END IF;
  RETURN jsonb_build_object(
    'incidentId', i.id,
    'type', i.type,
    'severity', i.severity,
    'status', i.status,
    'source', i.source,
    'detectedAt', i.detected_at,
    'acknowledgedAt', i.acknowledged_at,
    'containedAt', i.contained_at,
    'resolvedAt', i.resolved_at,
    'closedAt', i.closed_at,
    'duration', CASE WHEN i.resolved_at IS NOT NULL THEN (i.resolved_at - i.detected_at)::text END,
    'durationSeconds', CASE WHEN i.resolved_at IS NOT NULL
                            THEN round(extract(epoch FROM i.resolved_at - i.detected_at), 3) END,
    'assignedTo', i.assigned_to,
    'escalationLevel', i.escalation_level,
    'nextEscalationAt', i.next_escalation_at,
    'impact', i.details->'impact',
    'rootCause', i.details->'rootCause',
    'actionsTaken', i.details->'actionsTaken',
    'preventionMeasures', i.details->'preventionMeasures',
    'automatedResponses', coalesce((SELECT jsonb_agg(e.details ORDER BY e.id) FROM incident_events e
                                     WHERE e.incident = i.id AND e.kind = 'response'), '[]'),
    'events', coalesce((SELECT jsonb_agg(jsonb_strip_nulls(jsonb_build_object(
                                 'at', e.at, 'kind', e.kind, 'from', e.from_status, 'to', e.to_status,
                                 'actor', e.actor, 'dbUser', e.db_user, 'note', e.note,
                                 'details', nullif(e.details, '{}'))) ORDER BY e.id)
                          FROM incident_events e WHERE e.incident = i.id), '[]'));
END $$;
COMMENT ON FUNCTION incident_report(uuid) IS
'The incident report: type, severity, detected/resolved times, duration, impact, root cause, actions taken, prevention measures, automated responses and the event history';

-- ==== The worker's jobs (called by incident.c, one transaction per call) ====

-- Escalate the most overdue incident, if any.  The row is locked with SKIP
-- LOCKED and the deadline re-checked on the locked row version, inside this
-- transaction: an escalation and its deadline move commit together, so each
-- deadline is escalated exactly once, even across crashes.  Returns the
-- incident escalated, or (null, the nearest deadline) when none is due.
CREATE FUNCTION _incident_escalate_next(OUT escalated uuid, OUT next_due timestamptz)
RETURNS record
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, tracechain, pg_temp
SET lock_timeout = '5s' AS $$
DECLARE
  i record;
  lvl record;
  v_now timestamptz := clock_timestamp();
  v_next timestamptz;
BEGIN
  SELECT x.* INTO i FROM incidents x
   WHERE x.next_escalation_at <= v_now
   ORDER BY x.next_escalation_at
   LIMIT 1 FOR UPDATE SKIP LOCKED;
  IF NOT FOUND THEN
    SELECT min(x.next_escalation_at) INTO next_due FROM incidents x WHERE x.next_escalation_at IS NOT NULL;
    RETURN;
  END IF;
  SELECT * INTO STRICT lvl FROM severity_levels s WHERE s.severity = i.severity;
  PERFORM _incident_allow(i.id);
  IF i.status NOT IN ('detected', 'acknowledged') OR NOT lvl.escalate THEN
    UPDATE incidents x SET next_escalation_at = NULL WHERE x.id = i.id;
    escalated := i.id;
    RETURN;
  END IF;
  -- One response time after the deadline; after an outage longer than that,
  -- one response time from now (one escalation for the outage, not a burst).
  v_next := i.next_escalation_at + lvl.response_time;
  IF v_next <= v_now THEN
    v_next := v_now + lvl.response_time;
  END IF;
  UPDATE incidents x SET escalation_level = x.escalation_level + 1, next_escalation_at = v_next
   WHERE x.id = i.id;
  INSERT INTO incident_events (incident, at, kind, details)
  VALUES (i.id, v_now, 'escalated',
          jsonb_build_object('level', i.escalation_level + 1, 'deadline', i.next_escalation_at,
                             'late_ms', round(extract(epoch FROM v_now - i.next_escalation_at) * 1000, 3),
                             'next_deadline', v_next, 'status', i.status));
  PERFORM _audit_append('security', 'incident.escalated', 'incident:' || i.id,
                        jsonb_build_object('level', i.escalation_level + 1, 'severity', i.severity,
                                           'status', i.status, 'deadline', i.next_escalation_at),
                        NULL, NULL);
  PERFORM _incident_notify(i.id, 'escalated');
  escalated := i.id;
END $$;
COMMENT ON FUNCTION _incident_escalate_next() IS
'Internal (worker): escalate the most overdue detected or acknowledged incident, in the caller''s transaction; else return the nearest deadline';

-- Scan the audit rows written since the last call for failed sign-ins (per
-- IP, tumbling window from the first failure) and rate-limit blocks (all
-- IPs, same window); raise UNAUTHORIZED_ACCESS for an IP reaching the
-- threshold and DDoS_ATTACK for a block storm, once per window.
CREATE FUNCTION _incident_watch(failed_login_actions text[], failed_logins int, login_window interval,
                                block_actions text[], storm_blocks int, max_rows int DEFAULT 50000)
RETURNS int
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, tracechain, pg_temp
SET lock_timeout = '5s' AS $$
DECLARE
  st record;
  r record;
  f record;
  v_to bigint;
  v_raised int := 0;
  v_id uuid;
  v_ips jsonb;
BEGIN
  SELECT * INTO STRICT st FROM incident_watch_state FOR UPDATE;
  SELECT max(a.id) INTO v_to FROM audit_log a;
  IF v_to IS NULL OR v_to <= st.audit_scanned_id THEN
    RETURN 0;
  END IF;
  v_to := least(v_to, st.audit_scanned_id + max_rows);
  IF failed_logins > 0 THEN
    FOR r IN SELECT a.ip, count(*)::int AS n, min(a.at) AS first_at, max(a.at) AS last_at
               FROM audit_log a
              WHERE a.id > st.audit_scanned_id AND a.id <= v_to AND a.type <> 'data' AND a.ip IS NOT NULL
                AND a.action = ANY (failed_login_actions)
              GROUP BY a.ip LOOP
      INSERT INTO incident_login_failures AS l (ip, window_start, failures)
      VALUES (r.ip, r.first_at, r.n)
      ON CONFLICT (ip) DO UPDATE SET
        failures = CASE WHEN l.window_start < r.last_at - login_window THEN excluded.failures
                        ELSE l.failures + excluded.failures END,
        incident = CASE WHEN l.window_start < r.last_at - login_window THEN NULL ELSE l.incident END,
        window_start = CASE WHEN l.window_start < r.last_at - login_window THEN excluded.window_start
                            ELSE l.window_start END
      RETURNING * INTO f;
      IF f.failures >= failed_logins AND f.incident IS NULL THEN
        v_id := _detect_incident('UNAUTHORIZED_ACCESS',
                                 jsonb_build_object('reason', 'repeated_failed_logins', 'ip', host(f.ip),
                                                    'failures', f.failures, 'since', f.window_start,
                                                    'windowSeconds', extract(epoch FROM login_window)::int),
                                 'tracechain');
        UPDATE incident_login_failures l SET incident = v_id WHERE l.ip = f.ip;
        v_raised := v_raised + 1;
      END IF;
    END LOOP;
  END IF;
  IF storm_blocks > 0 THEN
    SELECT count(*)::int AS n, min(a.id) AS first_id, min(a.at) AS first_at, max(a.at) AS last_at INTO r
      FROM audit_log a
     WHERE a.id > st.audit_scanned_id AND a.id <= v_to AND a.type <> 'data' AND a.action = ANY (block_actions);
    IF r.n > 0 THEN
      IF st.storm_started_at IS NULL OR st.storm_started_at < r.last_at - login_window THEN
        st.storm_started_at := r.first_at;
        st.storm_first_id := r.first_id;
        st.storm_blocks := r.n;
        st.storm_incident := NULL;
      ELSE
        st.storm_blocks := st.storm_blocks + r.n;
      END IF;
      IF st.storm_blocks >= storm_blocks AND st.storm_incident IS NULL THEN
        SELECT coalesce(jsonb_agg(DISTINCT host(a.ip)), '[]') INTO v_ips
          FROM (SELECT a.ip FROM audit_log a
                 WHERE a.id >= st.storm_first_id AND a.id <= v_to AND a.type <> 'data' AND a.ip IS NOT NULL
                   AND a.action = ANY (block_actions) LIMIT 1000) a;
        st.storm_incident := _detect_incident('DDoS_ATTACK',
                               jsonb_build_object('reason', 'rate_limit_block_storm', 'blocks', st.storm_blocks,
                                                  'since', st.storm_started_at, 'ips', v_ips,
                                                  'duration', round(extract(epoch FROM r.last_at - st.storm_started_at))),
                               'tracechain');
        v_raised := v_raised + 1;
      END IF;
    END IF;
  END IF;
  UPDATE incident_watch_state SET audit_scanned_id = v_to, storm_started_at = st.storm_started_at,
         storm_first_id = st.storm_first_id, storm_blocks = st.storm_blocks, storm_incident = st.storm_incident;
  RETURN v_raised;
END $$;
COMMENT ON FUNCTION _incident_watch(text[], int, interval, text[], int, int) IS
'Internal (worker): raise UNAUTHORIZED_ACCESS for an IP with failed_logins failures in login_window and DDoS_ATTACK for storm_blocks rate-limit blocks in it, from the audit rows since the last scan (data rows never count); returns the incidents raised';

-- Verify the audit chain from where the last verification stopped (checking
-- that the row it stopped at still has the hash it had then) up to max_rows
-- further; a break raises DATA_TAMPERING (CRITICAL) once, then verification
-- continues after the broken row.
CREATE FUNCTION _incident_verify_chain(max_rows bigint DEFAULT 100000)
RETURNS text
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, tracechain, pg_temp
SET lock_timeout = '5s' AS $$
DECLARE
  st record;
  v_head bigint;
  v_to bigint;
  v_hash bytea;
  v_bad bigint;
  v_reason text;
  v_from bigint;
  r record;
BEGIN
  SELECT * INTO STRICT st FROM incident_watch_state FOR UPDATE;
  SELECT max(a.id) INTO v_head FROM audit_log a;
  IF v_head IS NULL THEN
    RETURN 'empty';
  END IF;
  IF st.chain_verified_id > 0 THEN
    SELECT a.hash INTO v_hash FROM audit_log a WHERE a.id = st.chain_verified_id;
    IF v_hash IS DISTINCT FROM st.chain_verified_hash THEN
      v_bad := st.chain_verified_id;
      v_reason := format('row %s changed after it was verified', st.chain_verified_id);
    END IF;
  END IF;
  v_to := least(v_head, st.chain_verified_id + max_rows);
  -- The last verified row is verified again (its contents and its link),
  -- unless it is the broken row already reported.
  v_from := CASE WHEN st.chain_verified_id = 0 THEN 1
                 WHEN st.chain_verified_id = st.chain_reported_id THEN st.chain_verified_id + 1
                 ELSE st.chain_verified_id END;
  IF v_bad IS NULL AND v_to >= v_from THEN
    SELECT * INTO r FROM verify_audit_chain(v_from, v_to);
    IF NOT r.ok THEN
      v_bad := r.first_bad_id;
      v_reason := r.reason;
    END IF;
  END IF;
  IF v_bad IS NULL THEN
    IF v_to > st.chain_verified_id THEN
      UPDATE incident_watch_state SET chain_verified_id = v_to, chain_verified_at = clock_timestamp(),
             chain_verified_hash = (SELECT a.hash FROM audit_log a WHERE a.id = v_to);
    ELSE
      UPDATE incident_watch_state SET chain_verified_at = clock_timestamp();
    END IF;
    RETURN 'ok';
  END IF;
  PERFORM _detect_incident('DATA_TAMPERING',
                           jsonb_build_object('reason', v_reason, 'firstBadId', v_bad,
                                              'verifiedThrough', st.chain_verified_id),
                           'tracechain');
  -- Reported: go on from the broken row, so that later rows are verified too.
  UPDATE incident_watch_state SET chain_verified_id = v_bad, chain_reported_id = v_bad,
         chain_verified_at = clock_timestamp(),
         chain_verified_hash = (SELECT a.hash FROM audit_log a WHERE a.id = v_bad);
  RETURN v_reason;
END $$;
COMMENT ON FUNCTION _incident_verify_chain(bigint) IS
'Internal (worker): verify the audit chain since the last verified row; a break raises a DATA_TAMPERING incident once';

-- Maintenance: purge what has ended, in bounded batches.  Tables of modules
-- that have not landed are skipped (to_regclass); each module's table is
-- named with the column holding its expiry.
CREATE FUNCTION _maintenance_run(session_retention interval, incident_retention interval,
                                 login_window interval, batch int DEFAULT 10000)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, tracechain, pg_temp
SET lock_timeout = '5s' AS $$
DECLARE
  out jsonb := '{}';
  t record;
  v_n bigint;
  v_now timestamptz := clock_timestamp();
BEGIN
  DELETE FROM sessions s
   WHERE s.id = ANY (ARRAY(SELECT x.id FROM sessions x
                            WHERE least(coalesce(x.revoked_at, 'infinity'), x.expires_at) < v_now - session_retention
                            LIMIT batch));
  GET DIAGNOSTICS v_n = ROW_COUNT;
  IF v_n > 0 THEN out := out || jsonb_build_object('sessions', v_n); END IF;

  FOR t IN SELECT x.tbl, x.col, x.grace FROM (VALUES
             ('siwe_nonces', 'expires_at', interval '1 hour'),
             ('device_challenges', 'expires_at', interval '1 hour'),
             ('ip_blocks', 'expires_at', interval '0'),
             ('rate_limit_blocks', 'expires_at', interval '0')) x (tbl, col, grace)
            WHERE to_regclass('tracechain.' || quote_ident(x.tbl)) IS NOT NULL
              AND EXISTS (SELECT 1 FROM pg_attribute a
                           WHERE a.attrelid = to_regclass('tracechain.' || quote_ident(x.tbl))
                             AND a.attname = x.col AND NOT a.attisdropped
                             AND a.atttypid = 'timestamptz'::regtype) LOOP
    EXECUTE format('DELETE FROM tracechain.%I WHERE ctid = ANY (ARRAY(SELECT ctid FROM tracechain.%I WHERE %I < $1 LIMIT $2))',
                   t.tbl, t.tbl, t.col)
      USING v_now - t.grace, batch;
    GET DIAGNOSTICS v_n = ROW_COUNT;
    IF v_n > 0 THEN out := out || jsonb_build_object(t.tbl, v_n); END IF;
  END LOOP;

  DELETE FROM incident_login_failures l WHERE l.window_start < v_now - login_window;

  IF incident_retention > interval '0' THEN
    PERFORM _incident_allow(NULL);
    DELETE FROM incidents i
     WHERE i.id = ANY (ARRAY(SELECT x.id FROM incidents x WHERE x.closed_at < v_now - incident_retention
                              LIMIT greatest(batch / 100, 1)));
    GET DIAGNOSTICS v_n = ROW_COUNT;
    IF v_n > 0 THEN out := out || jsonb_build_object('incidents', v_n); END IF;
  END IF;

  IF out <> '{}' THEN
    PERFORM _audit_append('system', 'maintenance.purge', NULL, out, NULL, NULL);
  END IF;
  RETURN out;
END $$;
COMMENT ON FUNCTION _maintenance_run(interval, interval, interval, int) IS
'Internal (worker): purge ended sessions, expired SIWE nonces, device challenges and IP blocks (of the modules present), old login-failure windows and incidents closed longer than the retention; audited when it purged anything';

GRANT SELECT ON incidents, incident_events, severity_levels TO tracechain_admin, tracechain_auditor;
GRANT UPDATE (response_time, escalate) ON severity_levels TO tracechain_admin;
GRANT EXECUTE ON FUNCTION detect_incident(text, jsonb) TO tracechain_app, tracechain_admin;
GRANT EXECUTE ON FUNCTION incident_transition(uuid, text, text), incident_assign(uuid, uuid),
  incident_annotate(uuid, jsonb)
TO tracechain_admin;
GRANT EXECUTE ON FUNCTION incident_report(uuid) TO tracechain_admin, tracechain_auditor;

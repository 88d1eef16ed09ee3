-- incident: severities, automated responses, the state machine, its guard, reports, privileges.
-- (Escalation by the worker, restarts and the standby are in test/t/003_incident_*.pl.)
\set SHOW_CONTEXT never
SET search_path = tracechain;
\set VERBOSITY default

SELECT severity, rank, response_time, escalate FROM severity_levels ORDER BY rank;

-- Severity rules (the seed's, plus DATA_TAMPERING).
CREATE TEMP TABLE cases (n int, type text, details jsonb);
INSERT INTO cases VALUES
  (1, 'DATA_BREACH', '{"recordsAffected": 1001}'),
  (2, 'DATA_BREACH', '{"recordsAffected": 1000}'),
  (3, 'DATA_BREACH', '{}'),
  (4, 'UNAUTHORIZED_ACCESS', '{"adminAccess": true}'),
  (5, 'UNAUTHORIZED_ACCESS', '{"adminAccess": false}'),
  (6, 'DDoS_ATTACK', '{"duration": 3601}'),
  (7, 'DDoS_ATTACK', '{"duration": 3600}'),
  (8, 'SMART_CONTRACT_EXPLOIT', '{}'),
  (9, 'MALWARE_DETECTED', '{}'),
  (10, 'DATA_TAMPERING', '{}'),
  (11, 'PHISHING', '{}');
CREATE TEMP TABLE detected AS SELECT c.n, detect_incident(c.type, c.details) AS id FROM cases c;
SELECT c.n, c.type, c.details, i.severity, i.status, i.escalation_level,
       i.next_escalation_at IS NOT NULL AS escalates,
       i.next_escalation_at - i.detected_at AS response_time
  FROM cases c JOIN detected d USING (n) JOIN incidents i ON i.id = d.id
 ORDER BY c.n;
-- Case 8 really paused the registry (it has landed); let later steps write again.
SELECT is_paused() AS paused_by_case_8;
SELECT emergency_unpause();

-- Refused details.
SELECT detect_incident('DATA_BREACH', '[1]');
SELECT detect_incident('DATA_BREACH', '{"recordsAffected": "many"}');
SELECT detect_incident('UNAUTHORIZED_ACCESS', '{"adminAccess": "yes"}');
SELECT detect_incident('DATA_BREACH', '{"affectedUsers": "someone"}');
SELECT detect_incident('DATA_BREACH', '{"affectedUsers": ["not-a-uuid"]}');
SELECT detect_incident('UNAUTHORIZED_ACCESS', '{"principal": 42}');
SELECT detect_incident('UNAUTHORIZED_ACCESS', '{"ip": "300.1.1.1"}');
SELECT detect_incident('DDoS_ATTACK', '{"ips": ["10.0.0.1", "nope"]}');
SELECT detect_incident('MALWARE_DETECTED', '{"deviceId": ""}');
SELECT detect_incident('DATA_BREACH', jsonb_build_object('blob', repeat('x', 40000)));
SELECT detect_incident('bad type', '{}');
SELECT detect_incident(NULL, '{}');
SELECT count(*) AS incidents_after_refusals FROM incidents;

-- Automated responses, in the detecting transaction.
SELECT principal_create('user', 'incident-victim-1') AS v1 \gset
SELECT principal_create('user', 'incident-victim-2') AS v2 \gset
SELECT principal_create('user', 'incident-intruder') AS intruder \gset
SELECT session_create(:'v1') IS NOT NULL AS s, session_create(:'v1') IS NOT NULL AS s,
       session_create(:'v2') IS NOT NULL AS s, session_create(:'intruder') IS NOT NULL AS s;
CREATE TEMP VIEW responses AS
  SELECT e.incident, e.details->>'action' AS action, e.details->>'outcome' AS outcome,
         e.details->>'note' AS note, e.details->>'revoked' AS revoked, e.details->>'error' AS error
    FROM incident_events e WHERE e.kind = 'response';
-- DATA_BREACH revokes the sessions of affectedUsers (an unknown one is recorded as failed).
SELECT detect_incident('DATA_BREACH', jsonb_build_object('recordsAffected', 5000,
         'affectedUsers', jsonb_build_array(:'v1', :'v2', '00000000-0000-0000-0000-000000000001'))) AS breach \gset
SELECT action, outcome, revoked, error FROM responses WHERE incident = :'breach' ORDER BY revoked NULLS LAST;
SELECT count(*) AS live_sessions FROM sessions WHERE principal IN (:'v1', :'v2') AND revoked_at IS NULL;
-- UNAUTHORIZED_ACCESS with adminAccess suspends the principal and blocks the IP.
SELECT detect_incident('UNAUTHORIZED_ACCESS',
         jsonb_build_object('adminAccess', true, 'principal', :'intruder', 'ip', '198.51.100.7')) AS ua \gset
SELECT action, outcome, note FROM responses WHERE incident = :'ua' ORDER BY action;
SELECT status, (SELECT count(*) FROM sessions s WHERE s.principal = p.id AND s.revoked_at IS NULL) AS live_sessions
  FROM principals p WHERE id = :'intruder';
-- Without adminAccess nobody is suspended.
SELECT principal_create('user', 'incident-bystander') AS bystander \gset
SELECT detect_incident('UNAUTHORIZED_ACCESS', jsonb_build_object('principal', :'bystander')) AS ua2 \gset
SELECT count(*) AS responses FROM responses WHERE incident = :'ua2';
SELECT status FROM principals WHERE id = :'bystander';
-- DDoS blocks the IPs, the exploit pauses the registry, malware revokes the (here unknown) device.
SELECT detect_incident('DDoS_ATTACK', '{"ips": ["203.0.113.1", "203.0.113.2"], "duration": 7200}') AS ddos \gset
SELECT action, outcome, note FROM responses WHERE incident = :'ddos';
SELECT detect_incident('SMART_CONTRACT_EXPLOIT', '{"contract": "0xabc"}') AS sce \gset
SELECT action, outcome, note, error FROM responses WHERE incident = :'sce';
-- The registry has landed: the exploit response really paused it.
SELECT is_paused() AS paused_by_incident;
SELECT emergency_unpause();
SELECT detect_incident('MALWARE_DETECTED', '{"deviceId": "sensor-17"}') AS mal \gset
SELECT action, outcome, note FROM responses WHERE incident = :'mal';

-- The other modules have landed: the same hooks act for real.
SELECT device_register('incident-sensor-19', 'thermometer', 'Acme') IS NOT NULL AS registered;
SELECT detect_incident('DDoS_ATTACK', '{"ips": ["203.0.113.9"]}') AS ddos2 \gset
SELECT detect_incident('UNAUTHORIZED_ACCESS', '{"ip": "203.0.113.10"}') AS ua3 \gset
SELECT detect_incident('SMART_CONTRACT_EXPLOIT') AS sce2 \gset
SELECT is_paused() AS paused_again;
SELECT emergency_unpause();
SELECT detect_incident('MALWARE_DETECTED', '{"deviceId": "incident-sensor-19"}') AS mal2 \gset
SELECT detect_incident('MALWARE_DETECTED', '{"deviceId": "no-such-sensor"}') AS mal3 \gset
SELECT is_blocked('203.0.113.9') AS ddos_ip_blocked, is_blocked('203.0.113.10') AS intruder_ip_blocked,
       (SELECT status FROM devices WHERE device_id = 'incident-sensor-19') AS sensor_status;
SELECT action, outcome, error FROM responses WHERE incident IN (:'ddos2', :'ua3', :'sce2', :'mal2', :'mal3') ORDER BY 1, 2;
-- An unknown device revokes nothing; the incident stands.
SELECT status FROM incidents WHERE id = :'mal3';
SELECT count(unblock_ip(ip)) >= 0 AS unblocked
  FROM unnest(ARRAY['203.0.113.9', '203.0.113.10', '198.51.100.7', '203.0.113.1', '203.0.113.2']::inet[]) ip;

-- Each detection is audited with its responses.
SELECT details->>'type' AS type, details->>'severity' AS severity, jsonb_array_length(details->'responses') AS responses
  FROM audit_log WHERE action = 'incident.detected' AND resource = 'incident:' || :'breach';

-- The state machine: every (from, to) pair.
CREATE FUNCTION pg_temp.try(id uuid, to_status text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  PERFORM tracechain.incident_transition(id, to_status);
  RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
  RETURN SQLSTATE;
END $$;
CREATE FUNCTION pg_temp.incident_in(status text) RETURNS uuid LANGUAGE plpgsql AS $$
DECLARE
  v uuid := tracechain.detect_incident('MATRIX_TEST');
  path text[] := ARRAY['acknowledged', 'contained', 'resolved', 'closed'];
BEGIN
  FOR k IN 1 .. array_position(ARRAY['detected', 'acknowledged', 'contained', 'resolved', 'closed'], status) - 1 LOOP
    PERFORM tracechain.incident_transition(v, path[k]);
  END LOOP;
  RETURN v;
END $$;
SELECT f.s AS from_status, t.s AS to_status, pg_temp.try(pg_temp.incident_in(f.s), t.s) AS result
  FROM unnest(ARRAY['detected', 'acknowledged', 'contained', 'resolved', 'closed']) WITH ORDINALITY f (s, fo),
       unnest(ARRAY['detected', 'acknowledged', 'contained', 'resolved', 'closed']) WITH ORDINALITY t (s, tor)
 ORDER BY f.fo, t.tor;
SELECT incident_transition(:'breach', 'closed');
SELECT incident_transition(:'breach', 'bogus');
SELECT incident_transition(NULL, 'acknowledged');
SELECT incident_transition('00000000-0000-0000-0000-000000000000', 'acknowledged');
SELECT incident_transition(:'breach', 'acknowledged', repeat('n', 2001));
SELECT incident_transition(:'breach', 'acknowledged', E'bell\x07');

-- A walk through every state: stamps, deadlines, events, audit rows.
SELECT incident_transition(:'breach', 'acknowledged', 'looking at it');
SELECT status, acknowledged_at IS NOT NULL AS ack, next_escalation_at IS NOT NULL AS escalating FROM incidents WHERE id = :'breach';
SELECT incident_transition(:'breach', 'contained', E'sessions revoked\nkeys rotated');
SELECT status, contained_at IS NOT NULL AS contained, next_escalation_at IS NOT NULL AS escalating FROM incidents WHERE id = :'breach';
SELECT incident_transition(:'breach', 'resolved');
SELECT incident_transition(:'breach', 'detected', 'it came back');
SELECT status, acknowledged_at, contained_at, resolved_at, next_escalation_at - clock_timestamp() > interval '59 minutes' AS escalating_again
  FROM incidents WHERE id = :'breach';
SELECT incident_transition(:'breach', 'acknowledged');
SELECT incident_transition(:'breach', 'contained');
SELECT incident_transition(:'breach', 'resolved', 'root cause fixed');
SELECT incident_transition(:'breach', 'closed');
SELECT status, closed_at >= resolved_at AND resolved_at >= contained_at AND contained_at >= acknowledged_at
         AND acknowledged_at >= detected_at AS stamps_in_order, next_escalation_at
  FROM incidents WHERE id = :'breach';
SELECT kind, from_status, to_status, note, db_user FROM incident_events WHERE incident = :'breach' AND kind <> 'response' ORDER BY id;
SELECT details->>'from' AS from_status, details->>'to' AS to_status, details->>'note' AS note
  FROM audit_log WHERE action = 'incident.transition' AND resource = 'incident:' || :'breach' ORDER BY id;
SELECT incident_transition(:'breach', 'detected');

-- Nothing bypasses the state machine.
UPDATE incidents SET status = 'closed' WHERE id = :'ua';
UPDATE incidents SET escalation_level = 0, next_escalation_at = NULL WHERE id = :'ua';
DELETE FROM incidents WHERE id = :'ua';
TRUNCATE incidents CASCADE;
UPDATE incident_events SET note = 'rewritten' WHERE incident = :'ua';
DELETE FROM incident_events WHERE incident = :'ua';
TRUNCATE incident_events;
-- ...not even within a transaction that just made a legitimate change.
BEGIN;
SELECT incident_transition(:'ua', 'acknowledged');
UPDATE incidents SET status = 'closed' WHERE id = :'ua';
ROLLBACK;
SELECT status FROM incidents WHERE id = :'ua';

-- Assignment and annotations.
SELECT principal_create('user', 'incident-responder') AS responder \gset
SELECT incident_assign(:'ua', :'responder');
SELECT assigned_to = :'responder' AS assigned FROM incidents WHERE id = :'ua';
SELECT incident_assign(:'ua', '00000000-0000-0000-0000-000000000000');
SELECT incident_assign(:'breach', :'responder');
SELECT incident_assign(:'ua', NULL);
SELECT assigned_to FROM incidents WHERE id = :'ua';
SELECT incident_annotate(:'ua', '{"impact": "one admin account", "rootCause": "reused password",
                                  "actionsTaken": ["suspended"], "preventionMeasures": ["MFA for admins"]}');
SELECT incident_annotate(:'ua', '{"severity": "LOW"}');
SELECT incident_annotate(:'ua', '[]');
SELECT severity, details->>'rootCause' AS root_cause FROM incidents WHERE id = :'ua';

-- The report.
SELECT incident_transition(:'ua', 'acknowledged');
SELECT incident_transition(:'ua', 'contained');
SELECT incident_transition(:'ua', 'resolved', 'password reset, MFA on');
SELECT r->>'type' AS type, r->>'severity' AS severity, r->>'status' AS status,
       r->>'impact' AS impact, r->>'rootCause' AS root_cause, r->'actionsTaken' AS actions_taken,
       r->'preventionMeasures' AS prevention, (r->>'durationSeconds')::numeric >= 0 AS has_duration,
       r->>'detectedAt' IS NOT NULL AS detected, r->>'resolvedAt' IS NOT NULL AS resolved,
       jsonb_array_length(r->'automatedResponses') AS responses
  FROM incident_report(:'ua') r;
SELECT e->>'kind' AS kind, e->>'from' AS from_status, e->>'to' AS to_status, e->>'note' AS note
  FROM jsonb_array_elements(incident_report(:'ua')->'events') e;
SELECT array(SELECT jsonb_object_keys(incident_report(:'ua')) ORDER BY 1) AS report_fields;
SELECT incident_report('00000000-0000-0000-0000-000000000000');

-- Severity levels: administrators edit response times; edits are audited.
CREATE ROLE tc_inc_admin LOGIN;
GRANT tracechain_admin TO tc_inc_admin;
SET ROLE tc_inc_admin;
UPDATE tracechain.severity_levels SET response_time = '30 minutes' WHERE severity = 'HIGH';
UPDATE tracechain.severity_levels SET rank = 9 WHERE severity = 'HIGH';
INSERT INTO tracechain.severity_levels VALUES ('EXTREME', 5, '1 minute', true);
DELETE FROM tracechain.severity_levels;
RESET ROLE;
UPDATE severity_levels SET response_time = '0 seconds' WHERE severity = 'HIGH';
SELECT details FROM audit_log WHERE action = 'incident.severity_level' ORDER BY id DESC LIMIT 1;
SELECT detect_incident('MALWARE_DETECTED') AS mal3 \gset
SELECT next_escalation_at - detected_at AS high_response FROM incidents WHERE id = :'mal3';
UPDATE severity_levels SET response_time = '1 hour' WHERE severity = 'HIGH';

-- Who may call what.
CREATE ROLE tc_inc_app LOGIN;
GRANT tracechain_app TO tc_inc_app;
CREATE ROLE tc_inc_auditor LOGIN;
GRANT tracechain_auditor TO tc_inc_auditor;
SET ROLE tc_inc_app;
SELECT tracechain.detect_incident('PHISHING', '{"reported_by": "app"}') IS NOT NULL AS app_detects;
SELECT tracechain.incident_transition(:'ua', 'closed');
SELECT count(*) FROM tracechain.incidents;
SELECT tracechain.incident_report(:'ua');
RESET ROLE;
SET ROLE tc_inc_auditor;
SELECT count(*) > 0 AS auditor_reads FROM tracechain.incidents;
SELECT incident_report(:'ua')->>'status' AS auditor_report;
SELECT tracechain.detect_incident('PHISHING');
SELECT tracechain.incident_transition(:'ua', 'closed');
UPDATE tracechain.severity_levels SET escalate = false;
RESET ROLE;
SET ROLE tc_inc_admin;
SELECT tracechain.incident_transition(:'ua', 'closed', 'closed by the admin role');
SELECT tracechain.incident_assign(:'ua', NULL);
SELECT count(*) > 0 AS admin_reads_events FROM tracechain.incident_events;
UPDATE tracechain.incidents SET status = 'detected';
SELECT tracechain._incident_allow(NULL);
SELECT tracechain._detect_incident('X', '{}', 'tracechain');
RESET ROLE;
SELECT db_user, details->>'note' AS note FROM audit_log WHERE action = 'incident.transition' ORDER BY id DESC LIMIT 1;

-- The worker's jobs are registered.
SELECT j->>'name' AS job FROM worker_status, jsonb_array_elements(jobs) j;

-- Leave no incident behind for later tests: only the purge can delete them.
BEGIN;
SELECT _incident_allow(NULL);
DELETE FROM incidents;
COMMIT;
SELECT count(*) AS incidents, (SELECT count(*) FROM incident_events) AS events FROM incidents;
DROP ROLE tc_inc_admin, tc_inc_app, tc_inc_auditor;

-- demo/80_incident.sql: incidents, automated responses and escalation by the worker.
\echo '== incidents: detection runs the automated response in the same transaction'
SET search_path = tracechain;
-- A short response time for HIGH so the demo does not wait an hour (seeded: 1 hour).
UPDATE severity_levels SET response_time = '3 seconds' WHERE severity = 'HIGH';
SELECT severity, response_time, escalate FROM severity_levels ORDER BY rank;

SELECT principal_create('user', 'demo-breach-victim') AS victim \gset
SELECT session_create(:'victim') IS NOT NULL AS victim_has_a_session;
SELECT detect_incident('DATA_BREACH', jsonb_build_object('recordsAffected', 5000,
         'affectedUsers', jsonb_build_array(:'victim'))) AS breach \gset
SELECT type, severity, status, escalation_level, next_escalation_at - detected_at AS response_time
  FROM incidents WHERE id = :'breach';
\echo 'the victim''s sessions were revoked by the response:'
SELECT count(*) AS live_sessions FROM sessions WHERE principal = :'victim' AND revoked_at IS NULL;
SELECT details->>'action' AS action, details->>'outcome' AS outcome, details->>'revoked' AS revoked
  FROM incident_events WHERE incident = :'breach' AND kind = 'response';

\echo 'responses of modules that are not installed record that nothing could act:'
SELECT detect_incident('SMART_CONTRACT_EXPLOIT', '{"contract": "0xdemo"}') AS exploit \gset
SELECT details->>'action' AS action, details->>'outcome' AS outcome, details->>'note' AS note
  FROM incident_events WHERE incident = :'exploit' AND kind = 'response';

\echo '== nobody reacts for 3 seconds: the worker escalates (and keeps escalating while acknowledged)'
SELECT pg_sleep(3.5);
SELECT status, escalation_level FROM incidents WHERE id = :'breach';
SELECT incident_transition(:'breach', 'acknowledged', 'looking into it');
SELECT pg_sleep(3);
SELECT status, escalation_level FROM incidents WHERE id = :'breach';
SELECT (details->>'level')::int AS level, (details->>'late_ms')::numeric < 1000 AS within_naptime
  FROM incident_events WHERE incident = :'breach' AND kind = 'escalated' ORDER BY id;

\echo '== containing stops the clock; the state machine refuses shortcuts'
SELECT incident_transition(:'breach', 'contained', 'keys rotated, sessions revoked');
SELECT status, next_escalation_at FROM incidents WHERE id = :'breach';
SELECT incident_transition(:'breach', 'closed');
UPDATE incidents SET status = 'closed' WHERE id = :'breach';
SELECT incident_annotate(:'breach', '{"impact": "5000 customer records", "rootCause": "leaked API key",
         "actionsTaken": ["revoked sessions", "rotated keys"], "preventionMeasures": ["secret scanning in CI"]}');
SELECT incident_transition(:'breach', 'resolved', 'key scanning deployed');
SELECT incident_transition(:'breach', 'closed');

\echo '== the report'
SELECT jsonb_pretty(incident_report(:'breach') - 'events' - 'incidentId') AS report;
SELECT e->>'kind' AS kind, e->>'from' AS from_status, e->>'to' AS to_status, e->>'note' AS note
  FROM jsonb_array_elements(incident_report(:'breach')->'events') e;
SELECT action, count(*) FROM audit_log WHERE resource = 'incident:' || :'breach' GROUP BY 1 ORDER BY 1;

\echo '== the worker and its jobs'
SELECT j->>'name' AS job, j->>'runs' AS runs, j->>'items' AS items, j->>'errors' AS errors
  FROM worker_status, jsonb_array_elements(jobs) j;

SELECT incident_transition(:'exploit', 'acknowledged');
UPDATE severity_levels SET response_time = '1 hour' WHERE severity = 'HIGH';
RESET search_path;

-- privileges.sql: who may call what (runs last).  PUBLIC gets nothing; each
-- group role gets exactly what its README section lists.

REVOKE ALL ON ALL TABLES IN SCHEMA @extschema@ FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA @extschema@ FROM PUBLIC;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA @extschema@ FROM PUBLIC;

-- The application backend.
GRANT EXECUTE ON FUNCTION
  principal_create(text, text, text),
  session_create(uuid, interval, inet, text),
  session_verify(text),
  session_revoke(text),
  revoke_sessions(uuid),
  authenticate(text),
  current_principal(),
  current_aal(),
  current_session_id(),
  log_user_action(uuid, text, text, jsonb),
  log_system_event(text, jsonb, text),
  log_security_event(text, jsonb)
TO tracechain_app;
GRANT SELECT ON principals TO tracechain_app;

-- Auditors: read and verify, write nothing.
GRANT SELECT ON audit_log, worker_status TO tracechain_auditor;
GRANT EXECUTE ON FUNCTION
  verify_audit_chain(bigint, bigint),
  audit_digest(),
  verify_audit_digest(bigint, text),
  audit_trail(uuid, timestamptz, timestamptz),
  current_principal(),
  _worker_status()
TO tracechain_auditor;

-- Administrators.
GRANT SELECT ON principals, sessions, audit_log, worker_status TO tracechain_admin;
GRANT EXECUTE ON FUNCTION
  principal_create(text, text, text),
  principal_set_status(uuid, text),
  revoke_sessions(uuid),
  current_principal(),
  current_aal(),
  log_system_event(text, jsonb, text),
  log_security_event(text, jsonb),
  verify_audit_chain(bigint, bigint),
  audit_digest(),
  verify_audit_digest(bigint, text),
  audit_trail(uuid, timestamptz, timestamptz),
  master_key_status(),
  events_flush_wait(int),
  _worker_status()
TO tracechain_admin;

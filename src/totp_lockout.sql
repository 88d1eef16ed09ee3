-- totp_lockout.sql: consecutive TOTP failures and lockouts (totp_lockout.c).
-- The live counts are in shared memory, charged before any code is checked,
-- so that a rollback cannot erase them; totp_lockouts is their durable copy,
-- written by the worker, so that a restart, a failover or an eviction from a
-- full table does not lift a lockout (see docs/totp.md).

CREATE TABLE totp_lockouts (
  principal    uuid        PRIMARY KEY,
  failures     int         NOT NULL CHECK (failures > 0),
  locked_until timestamptz,
  updated_at   timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE totp_lockouts IS
'Durable copy of the TOTP lockout table in shared memory: written by the worker within tracechain.worker_naptime, read when an entry is recreated (after a restart, a failover or an eviction)';
COMMENT ON COLUMN totp_lockouts.failures IS 'Consecutive failed attempts (charged before the code was checked)';
COMMENT ON COLUMN totp_lockouts.locked_until IS 'End of the current lockout; null while the principal is below tracechain.totp_max_failures';
SELECT pg_catalog.pg_extension_config_dump('totp_lockouts', '');

CREATE FUNCTION _totp_attempt(principal uuid) RETURNS int
LANGUAGE C VOLATILE AS 'MODULE_PATHNAME', 'tc_totp_attempt';
COMMENT ON FUNCTION _totp_attempt(uuid) IS
'Internal: charge one attempt in shared memory before checking; -1 when locked, else the consecutive failures counting this one';

CREATE FUNCTION _totp_attempt_ok(principal uuid) RETURNS void
LANGUAGE C VOLATILE AS 'MODULE_PATHNAME', 'tc_totp_attempt_ok';
COMMENT ON FUNCTION _totp_attempt_ok(uuid) IS 'Internal: the charged attempt succeeded; reset the failure count';

CREATE FUNCTION _totp_lock_clear(principal uuid) RETURNS void
LANGUAGE C VOLATILE AS 'MODULE_PATHNAME', 'tc_totp_lock_clear';
COMMENT ON FUNCTION _totp_lock_clear(uuid) IS 'Internal: forget the principal''s lockout entry';

CREATE FUNCTION _totp_lock_state(principal uuid, OUT failures int, OUT locked_until timestamptz)
RETURNS record
LANGUAGE C VOLATILE AS 'MODULE_PATHNAME', 'tc_totp_lock_state';
COMMENT ON FUNCTION _totp_lock_state(uuid) IS 'Internal: consecutive failures and the end of a current lockout';

CREATE FUNCTION _totp_lockout_sync() RETURNS bigint
LANGUAGE C VOLATILE AS 'MODULE_PATHNAME', 'tc_totp_lockout_sync';
COMMENT ON FUNCTION _totp_lockout_sync() IS
'Internal: the worker''s job now, in the caller''s transaction (write changed lockout entries into totp_lockouts, purge ended ones); returns the rows left';

GRANT SELECT ON totp_lockouts TO tracechain_admin;

-- totp.sql: TOTP multi-factor (totp.c; docs/totp.md).
--
-- A principal has at most one confirmed factor (totp_factors) and at most one
-- pending enrolment (totp_pending); confirming the pending one replaces the
-- confirmed one.  last_step is the last accepted RFC 6238 time step: a code
-- is accepted only for a later step, advanced with a compare-and-set.
-- Lockout counters live in shared memory (totp.c), not in a table, so that a
-- rollback cannot erase them.

CREATE TABLE totp_factors (
  principal     uuid        PRIMARY KEY REFERENCES principals (id) ON DELETE CASCADE,
  secret_sealed bytea       NOT NULL,
  algorithm     text        NOT NULL DEFAULT 'SHA1' CHECK (algorithm IN ('SHA1', 'SHA256', 'SHA512')),
  digits        int         NOT NULL DEFAULT 6 CHECK (digits BETWEEN 6 AND 8),
  period        int         NOT NULL DEFAULT 30 CHECK (period BETWEEN 15 AND 300),
  last_step     bigint      NOT NULL DEFAULT -1,
  created_at    timestamptz NOT NULL,
  confirmed_at  timestamptz NOT NULL DEFAULT now(),
  last_used_at  timestamptz
) WITH (fillfactor = 80);   -- every verification updates last_step: keep it on the page (HOT)
COMMENT ON TABLE totp_factors IS 'Confirmed TOTP factors, one per principal; the secret only sealed under the master key';
COMMENT ON COLUMN totp_factors.secret_sealed IS 'The 160-bit secret, sealed (AES-256-GCM) with the principal id as associated data';
COMMENT ON COLUMN totp_factors.last_step IS 'Last accepted time step (RFC 6238 section 5.2): only codes of later steps are accepted';
SELECT pg_catalog.pg_extension_config_dump('totp_factors', '');

CREATE TABLE totp_pending (
  principal     uuid        PRIMARY KEY REFERENCES principals (id) ON DELETE CASCADE,
  secret_sealed bytea       NOT NULL,
  algorithm     text        NOT NULL DEFAULT 'SHA1' CHECK (algorithm IN ('SHA1', 'SHA256', 'SHA512')),
  digits        int         NOT NULL DEFAULT 6 CHECK (digits BETWEEN 6 AND 8),
  period        int         NOT NULL DEFAULT 30 CHECK (period BETWEEN 15 AND 300),
  created_at    timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE totp_pending IS 'Enrolments waiting for totp_confirm; a new totp_enroll replaces the pending one';
COMMENT ON COLUMN totp_pending.secret_sealed IS 'The 160-bit secret, sealed with the principal id as associated data';
SELECT pg_catalog.pg_extension_config_dump('totp_pending', '');

CREATE TABLE totp_recovery_codes (
  principal  uuid        NOT NULL REFERENCES principals (id) ON DELETE CASCADE,
  code_hash  bytea       NOT NULL CHECK (octet_length(code_hash) = 32),
  created_at timestamptz NOT NULL DEFAULT now(),
  used_at    timestamptz,
  PRIMARY KEY (principal, code_hash)
);
COMMENT ON TABLE totp_recovery_codes IS 'Single-use recovery codes, stored as HMAC-SHA256 under a master-key subkey';
COMMENT ON COLUMN totp_recovery_codes.used_at IS 'When totp_verify accepted it; a used code is never accepted again';
SELECT pg_catalog.pg_extension_config_dump('totp_recovery_codes', '');

-- Pure functions -------------------------------------------------------------

CREATE FUNCTION totp_code(secret_base32 text, at timestamptz DEFAULT now(), digits int DEFAULT 6,
                          period int DEFAULT 30, algorithm text DEFAULT 'SHA1')
RETURNS text
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'tc_totp_code';
COMMENT ON FUNCTION totp_code(text, timestamptz, int, int, text) IS
'RFC 6238 code (liboath) for a base32 secret at a time: SHA1, SHA256 or SHA512, 6 to 8 digits, period 15 to 300 s';

CREATE FUNCTION totp_check(secret_base32 text, code text, at timestamptz DEFAULT now(),
                           digits int DEFAULT 6, period int DEFAULT 30, algorithm text DEFAULT 'SHA1',
                           "window" int DEFAULT 1)
RETURNS boolean
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'tc_totp_check';
COMMENT ON FUNCTION totp_check(text, text, timestamptz, int, int, text, int) IS
'Whether a code is valid for a base32 secret at a time within +-window steps (the stateless check inside totp_verify: no replay guard, no lockout)';

CREATE FUNCTION totp_qr_svg(uri text) RETURNS text
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'tc_totp_qr_svg';
COMMENT ON FUNCTION totp_qr_svg(text) IS 'An SVG image of the QR code (libqrencode, level M) of a text such as an otpauth URI';

-- Internal helpers (granted to nobody) --------------------------------------

CREATE FUNCTION _totp_match(sealed bytea, principal uuid, code text, algorithm text, digits int, period int)
RETURNS bigint
LANGUAGE C VOLATILE AS 'MODULE_PATHNAME', 'tc_totp_match';
COMMENT ON FUNCTION _totp_match(bytea, uuid, text, text, int, int) IS
'Internal: the time step a code matches now within +-tracechain.totp_window, or null';

CREATE FUNCTION _totp_new_secret(principal uuid, OUT sealed bytea, OUT secret text)
RETURNS record
LANGUAGE C VOLATILE AS 'MODULE_PATHNAME', 'tc_totp_new_secret';
COMMENT ON FUNCTION _totp_new_secret(uuid) IS 'Internal: 160 random bits, sealed for the principal and in base32';

CREATE FUNCTION _totp_uri(issuer text, account text, secret text, algorithm text, digits int, period int)
RETURNS text
LANGUAGE C IMMUTABLE AS 'MODULE_PATHNAME', 'tc_totp_uri';
COMMENT ON FUNCTION _totp_uri(text, text, text, text, int, int) IS
'Internal: the otpauth:// key URI (Google Authenticator format, as otplib builds it)';

-- _totp_attempt, _totp_attempt_ok, _totp_lock_clear, _totp_lock_state: totp_lockout.sql

CREATE FUNCTION _totp_recovery_new() RETURNS text
LANGUAGE C VOLATILE AS 'MODULE_PATHNAME', 'tc_totp_recovery_new';
COMMENT ON FUNCTION _totp_recovery_new() IS 'Internal: a fresh recovery code (50 random bits, "xxxxx-xxxxx")';

CREATE FUNCTION _totp_recovery_hash(principal uuid, code text) RETURNS bytea
LANGUAGE C STABLE AS 'MODULE_PATHNAME', 'tc_totp_recovery_hash';
COMMENT ON FUNCTION _totp_recovery_hash(uuid, text) IS
'Internal: keyed hash of a recovery code for the principal, null when the text is not one';

CREATE FUNCTION _totp_raise_aal() RETURNS void
LANGUAGE C VOLATILE AS 'MODULE_PATHNAME', 'tc_totp_raise_aal';
COMMENT ON FUNCTION _totp_raise_aal() IS 'Internal: current_aal() = 2 for the rest of the transaction';

-- Only the current principal acts on its own factor.
CREATE FUNCTION _totp_self(principal uuid, what text) RETURNS uuid
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, tracechain, pg_temp AS $$
DECLARE
  v_me uuid := current_principal();
BEGIN
  IF v_me IS NULL THEN
    RAISE EXCEPTION 'no current principal'
      USING ERRCODE = 'insufficient_privilege', HINT = 'Call tracechain.authenticate(token) in this transaction first.';
  END IF;
  IF principal IS NULL OR principal <> v_me THEN
    PERFORM _record_event('security', 'totp.denied', 'principal:' || coalesce(principal::text, 'null'),
                          jsonb_build_object('operation', what), v_me, NULL);
    RAISE EXCEPTION 'a principal may only % its own TOTP factor', what
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  RETURN v_me;
END $$;
COMMENT ON FUNCTION _totp_self(uuid, text) IS
'Internal: the current principal when it is the given one; 42501 (recorded as a security event) otherwise';

-- A failed attempt: a security event that survives the caller's rollback;
-- the attempt that reaches tracechain.totp_max_failures also records the lockout.
CREATE FUNCTION _totp_failed(principal uuid, action text, reason text, failures int) RETURNS void
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, tracechain, pg_temp AS $$
DECLARE
  v_max int := current_setting('tracechain.totp_max_failures')::int;
BEGIN
  -- Login throttling (ratelimit.sql): count the failure per session IP and
  -- per principal in shared memory; a refusal for throttling is not counted again.
  IF reason <> 'throttled' THEN
    PERFORM _login_throttle_fail('totp', (SELECT s.ip FROM sessions s WHERE s.id = current_session_id()),
                                 principal::text);
  END IF;
  PERFORM _record_event('security', action, 'principal:' || principal,
                        jsonb_build_object('reason', reason, 'failures', failures), principal, NULL);
  IF failures = v_max THEN
    PERFORM _record_event('security', 'totp.locked', 'principal:' || principal,
                          jsonb_build_object('failures', failures,
                                             'lockout', current_setting('tracechain.totp_lockout')),
                          principal, NULL);
  END IF;
END $$;
COMMENT ON FUNCTION _totp_failed(uuid, text, text, int) IS
'Internal: record a failed TOTP attempt (and a lockout when this one started it) as security events';

CREATE FUNCTION _totp_check_label(what text, value text) RETURNS void
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  IF value IS NULL OR value = '' THEN
    RAISE EXCEPTION '% must not be empty', what USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF length(value) > 200 OR value ~ '[[:cntrl:]:]' THEN
    RAISE EXCEPTION 'invalid %', what
      USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Use at most 200 characters, no colon and no control characters.';
  END IF;
END $$;
COMMENT ON FUNCTION _totp_check_label(text, text) IS 'Internal: validate an issuer or account name for an otpauth URI';

-- Enrolment -----------------------------------------------------------------

CREATE FUNCTION totp_enroll(principal uuid DEFAULT current_principal(), issuer text DEFAULT 'TraceChain',
                            account text DEFAULT NULL)
RETURNS TABLE (secret text, otpauth_uri text)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, tracechain, pg_temp AS $$
DECLARE
  v_me uuid := _totp_self(principal, 'enrol');
  v_account text := account;
  v_replacing boolean;
  s record;
BEGIN
  PERFORM _totp_check_label('issuer', issuer);
  IF v_account IS NULL THEN
    SELECT coalesce(p.name, p.address, p.id::text) INTO v_account FROM principals p WHERE p.id = v_me;
    v_account := replace(v_account, ':', ' ');
  END IF;
  PERFORM _totp_check_label('account', v_account);
  v_replacing := EXISTS (SELECT 1 FROM totp_factors t WHERE t.principal = v_me);
  IF v_replacing AND current_aal() < 2 THEN
    RAISE EXCEPTION 'replacing a TOTP factor needs a session at assurance level 2'
      USING ERRCODE = 'insufficient_privilege', HINT = 'Verify a code of the current factor with totp_verify first.';
  END IF;
  s := _totp_new_secret(v_me);
  INSERT INTO totp_pending AS p (principal, secret_sealed) VALUES (v_me, s.sealed)
  ON CONFLICT ON CONSTRAINT totp_pending_pkey
  DO UPDATE SET secret_sealed = EXCLUDED.secret_sealed, algorithm = EXCLUDED.algorithm,
                digits = EXCLUDED.digits, period = EXCLUDED.period, created_at = EXCLUDED.created_at;
  PERFORM _audit_append('security', 'totp.enroll', 'principal:' || v_me,
                        jsonb_build_object('issuer', issuer, 'account', v_account, 'replacing', v_replacing),
                        v_me, NULL);
  secret := s.secret;
  otpauth_uri := _totp_uri(issuer, v_account, s.secret, 'SHA1', 6, 30);
  RETURN NEXT;
END $$;
COMMENT ON FUNCTION totp_enroll(uuid, text, text) IS
'Start enrolling a TOTP factor for the current principal: a new 160-bit secret (stored sealed) and its otpauth URI, shown once; pending until totp_confirm; replacing a confirmed factor needs AAL 2';

CREATE FUNCTION totp_confirm(code text, principal uuid DEFAULT current_principal())
RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, tracechain, pg_temp AS $$
DECLARE
  v_me uuid := _totp_self(principal, 'confirm');
  v record;
  v_replaced boolean;
  v_n int;
  v_step bigint;
BEGIN
  IF code IS NULL THEN
    RAISE EXCEPTION 'code must not be null' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  SELECT p.secret_sealed, p.algorithm, p.digits, p.period, p.created_at INTO v
    FROM totp_pending p WHERE p.principal = v_me FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'no pending TOTP enrolment'
      USING ERRCODE = 'object_not_in_prerequisite_state', HINT = 'Call totp_enroll first.';
  END IF;
  v_replaced := EXISTS (SELECT 1 FROM totp_factors t WHERE t.principal = v_me);
  IF v_replaced AND current_aal() < 2 THEN
    RAISE EXCEPTION 'replacing a TOTP factor needs a session at assurance level 2'
      USING ERRCODE = 'insufficient_privilege', HINT = 'Verify a code of the current factor with totp_verify first.';
  END IF;
  -- Lockout is read (and this attempt charged) in shared memory before any HMAC.
  v_n := _totp_attempt(v_me);
  IF v_n < 0 THEN
    PERFORM _totp_failed(v_me, 'totp.confirm_failed', 'locked', NULL);
    RETURN false;
  END IF;
  v_step := _totp_match(v.secret_sealed, v_me, code, v.algorithm, v.digits, v.period);
  IF v_step IS NULL THEN
    PERFORM _totp_failed(v_me, 'totp.confirm_failed', 'wrong_code', v_n);
    RETURN false;
  END IF;
  -- The confirming code's step counts as used (RFC 6238 section 5.2).
  INSERT INTO totp_factors AS t (principal, secret_sealed, algorithm, digits, period, last_step,
                                 created_at, confirmed_at)
  VALUES (v_me, v.secret_sealed, v.algorithm, v.digits, v.period, v_step, v.created_at, clock_timestamp())
  ON CONFLICT ON CONSTRAINT totp_factors_pkey
  DO UPDATE SET secret_sealed = EXCLUDED.secret_sealed, algorithm = EXCLUDED.algorithm,
                digits = EXCLUDED.digits, period = EXCLUDED.period, last_step = EXCLUDED.last_step,
                created_at = EXCLUDED.created_at, confirmed_at = EXCLUDED.confirmed_at,
                last_used_at = NULL;
  DELETE FROM totp_pending p WHERE p.principal = v_me;
  PERFORM _totp_attempt_ok(v_me);
  PERFORM _audit_append('security', 'totp.confirm', 'principal:' || v_me,
                        jsonb_build_object('replaced', v_replaced), v_me, NULL);
  RETURN true;
END $$;
COMMENT ON FUNCTION totp_confirm(text, uuid) IS
'Confirm the pending enrolment with a code from the authenticator: true makes it the factor (replacing any earlier one); false for a wrong code (counted toward lockout)';

-- Verification --------------------------------------------------------------

-- In C (totp.c), because it runs on every second-factor login: the factor
-- and the session are read through their indexes and updated directly
-- (direct.c), with what the SQL did before, in this order:
--   v_me := _totp_self(principal, 'verify');  a null code is 22023;
--   the factor (SELECT ... FROM totp_factors WHERE principal = v_me) or 55000;
--   _login_throttle_ok('totp', <the session's ip>, v_me::text), else
--     _totp_failed(v_me, 'totp.verify_failed', 'throttled', NULL) and false;
--   v_n := _totp_attempt(v_me), when locked _totp_failed(..., 'locked', NULL) and false;
--   a recovery code: UPDATE totp_recovery_codes SET used_at = clock_timestamp()
--     WHERE principal = v_me AND code_hash = _totp_recovery_hash(v_me, code) AND used_at IS NULL;
--   else v_step := _totp_match(...); wrong code, or v_step <= last_step (replay), or
--     the compare-and-set UPDATE totp_factors SET last_step = v_step, last_used_at =
--     clock_timestamp() WHERE principal = v_me AND last_step < v_step updating no row
--     (a racing verification won: replay) -> _totp_failed(v_me, ..., reason, v_n) and false;
--   success: _totp_attempt_ok(v_me); UPDATE sessions SET aal = 2 WHERE id =
--     current_session_id() AND aal < 2; _totp_raise_aal(); _audit_enqueue('security',
--     'totp.verify', 'principal:' || v_me, {method, session, step}, v_me, NULL); true.
-- The audit row goes to the intake (audit_pending): it commits or rolls back
-- with the verifying transaction but takes no chain lock, so verifications of
-- different principals do not serialize.
CREATE FUNCTION totp_verify(code text, principal uuid DEFAULT current_principal())
RETURNS boolean
LANGUAGE C VOLATILE AS 'MODULE_PATHNAME', 'tc_totp_verify';
COMMENT ON FUNCTION totp_verify(text, uuid) IS
'Check a TOTP code (or an unused recovery code) of the current principal: accepted once, within +-tracechain.totp_window steps, refused during a lockout; success raises the session to AAL 2';

CREATE FUNCTION totp_recovery_codes(principal uuid DEFAULT current_principal(), n int DEFAULT 10)
RETURNS SETOF text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, tracechain, pg_temp AS $$
DECLARE
  v_me uuid := _totp_self(principal, 'make recovery codes for');
  v_code text;
  v_voided int;
  v_made int := 0;
BEGIN
  IF n IS NULL OR n < 1 OR n > 50 THEN
    RAISE EXCEPTION 'number of recovery codes must be between 1 and 50' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF NOT EXISTS (SELECT 1 FROM totp_factors t WHERE t.principal = v_me) THEN
    RAISE EXCEPTION 'no confirmed TOTP factor'
      USING ERRCODE = 'object_not_in_prerequisite_state', HINT = 'Confirm a TOTP factor first.';
  END IF;
  IF current_aal() < 2 THEN
    RAISE EXCEPTION 'recovery codes need a session at assurance level 2'
      USING ERRCODE = 'insufficient_privilege', HINT = 'Verify a TOTP code with totp_verify first.';
  END IF;
  DELETE FROM totp_recovery_codes r WHERE r.principal = v_me;
  GET DIAGNOSTICS v_voided = ROW_COUNT;
  WHILE v_made < n LOOP
    v_code := _totp_recovery_new();
    INSERT INTO totp_recovery_codes AS r (principal, code_hash)
    VALUES (v_me, _totp_recovery_hash(v_me, v_code))
    ON CONFLICT DO NOTHING;
    IF FOUND THEN
      v_made := v_made + 1;
      RETURN NEXT v_code;
    END IF;
  END LOOP;
  PERFORM _audit_append('security', 'totp.recovery_codes', 'principal:' || v_me,
                        jsonb_build_object('made', n, 'voided', v_voided), v_me, NULL);
END $$;
COMMENT ON FUNCTION totp_recovery_codes(uuid, int) IS
'New single-use recovery codes for the current principal (needs AAL 2), shown once and stored hashed; voids the earlier set';

-- Administration ------------------------------------------------------------

CREATE FUNCTION totp_disable(principal uuid)
RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, tracechain, pg_temp AS $$
DECLARE
  v_factor int;
  v_pending int;
  v_codes int;
BEGIN
  IF principal IS NULL THEN
    RAISE EXCEPTION 'principal must not be null' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  DELETE FROM totp_factors t WHERE t.principal = totp_disable.principal;
  GET DIAGNOSTICS v_factor = ROW_COUNT;
  DELETE FROM totp_pending p WHERE p.principal = totp_disable.principal;
  GET DIAGNOSTICS v_pending = ROW_COUNT;
  DELETE FROM totp_recovery_codes r WHERE r.principal = totp_disable.principal;
  GET DIAGNOSTICS v_codes = ROW_COUNT;
  -- The worker's job copies lockouts into totp_lockouts under this lock: a
  -- copy it took before the entry is dropped is then either committed before
  -- the DELETE below (which sees it) or never taken.
  LOCK TABLE totp_lockouts IN SHARE ROW EXCLUSIVE MODE;
  PERFORM _totp_lock_clear(principal);
  DELETE FROM totp_lockouts l WHERE l.principal = totp_disable.principal;
  PERFORM _audit_append('security', 'totp.disable', 'principal:' || principal,
                        jsonb_build_object('factor', v_factor > 0, 'pending', v_pending > 0,
                                           'recovery_codes', v_codes),
                        current_principal(), NULL);
  RETURN v_factor + v_pending > 0;
END $$;
COMMENT ON FUNCTION totp_disable(uuid) IS
'For administrators: remove a principal''s TOTP factor, pending enrolment, recovery codes and lockout; audited; false when there was nothing';

CREATE FUNCTION totp_status(principal uuid DEFAULT current_principal(),
                            OUT enrolled boolean, OUT pending boolean, OUT confirmed_at timestamptz,
                            OUT last_used_at timestamptz, OUT recovery_codes_left int,
                            OUT failures int, OUT locked_until timestamptz)
RETURNS record
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, tracechain, pg_temp AS $$
DECLARE
  v_me uuid := _totp_self(principal, 'read');
  l record;
BEGIN
  SELECT true, t.confirmed_at, t.last_used_at INTO enrolled, confirmed_at, last_used_at
    FROM totp_factors t WHERE t.principal = v_me;
  enrolled := coalesce(enrolled, false);
  pending := EXISTS (SELECT 1 FROM totp_pending p WHERE p.principal = v_me);
  SELECT count(*) INTO recovery_codes_left FROM totp_recovery_codes r
   WHERE r.principal = v_me AND r.used_at IS NULL;
  l := _totp_lock_state(v_me);
  failures := l.failures;
  locked_until := l.locked_until;
END $$;
COMMENT ON FUNCTION totp_status(uuid) IS
'The current principal''s TOTP state: enrolled, pending, recovery codes left, consecutive failures and the end of a lockout';

CREATE FUNCTION totp_admin_status(principal uuid,
                                  OUT enrolled boolean, OUT pending boolean, OUT confirmed_at timestamptz,
                                  OUT last_used_at timestamptz, OUT recovery_codes_left int,
                                  OUT failures int, OUT locked_until timestamptz)
RETURNS record
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, tracechain, pg_temp AS $$
DECLARE
  l record;
BEGIN
  IF principal IS NULL THEN
    RAISE EXCEPTION 'principal must not be null' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  SELECT true, t.confirmed_at, t.last_used_at INTO enrolled, confirmed_at, last_used_at
    FROM totp_factors t WHERE t.principal = totp_admin_status.principal;
  enrolled := coalesce(enrolled, false);
  pending := EXISTS (SELECT 1 FROM totp_pending p WHERE p.principal = totp_admin_status.principal);
  SELECT count(*) INTO recovery_codes_left FROM totp_recovery_codes r
   WHERE r.principal = totp_admin_status.principal AND r.used_at IS NULL;
  l := _totp_lock_state(principal);
  failures := l.failures;
  locked_until := l.locked_until;
END $$;
COMMENT ON FUNCTION totp_admin_status(uuid) IS
'For administrators: any principal''s TOTP state (as totp_status shows it to the principal itself)';

GRANT EXECUTE ON FUNCTION totp_code(text, timestamptz, int, int, text),
  totp_check(text, text, timestamptz, int, int, text, int), totp_qr_svg(text)
TO tracechain_app, tracechain_admin;
GRANT EXECUTE ON FUNCTION totp_enroll(uuid, text, text), totp_confirm(text, uuid),
  totp_verify(text, uuid), totp_recovery_codes(uuid, int), totp_status(uuid)
TO tracechain_app;
GRANT EXECUTE ON FUNCTION totp_disable(uuid), totp_admin_status(uuid) TO tracechain_admin;

-- principal.sql: principals, sessions and the current principal (principal.c).

CREATE TABLE principals (
  id         uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
  kind       text        NOT NULL CHECK (kind IN ('user', 'wallet', 'device', 'db_role')),
  address    text,
  name       text        CHECK (length(name) BETWEEN 1 AND 200),
  status     text        NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended')),
  created_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (kind, address)
);
COMMENT ON TABLE principals IS 'Who can act: users, wallets, devices and database roles';
COMMENT ON COLUMN principals.address IS 'For wallets the lower-case 0x address; unique per kind';
SELECT pg_catalog.pg_extension_config_dump('principals', '');

CREATE TABLE sessions (
  id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  token_hash  bytea       NOT NULL UNIQUE CHECK (octet_length(token_hash) = 32),
  principal   uuid        NOT NULL REFERENCES principals (id) ON DELETE CASCADE,
  aal         int         NOT NULL DEFAULT 1 CHECK (aal IN (1, 2)),
  created_at  timestamptz NOT NULL DEFAULT now(),
  expires_at  timestamptz NOT NULL,
  revoked_at  timestamptz,
  ip          inet,
  user_agent  text        CHECK (length(user_agent) <= 512)
) WITH (fillfactor = 90);   -- room for the AAL update to stay on the page (HOT: no new index entries)
CREATE INDEX sessions_principal ON sessions (principal) WHERE revoked_at IS NULL;
COMMENT ON TABLE sessions IS 'Sessions; only the SHA-256 of each token is stored';
COMMENT ON COLUMN sessions.aal IS 'Authenticator assurance level: 1, or 2 after MFA';
SELECT pg_catalog.pg_extension_config_dump('sessions', '');
SELECT pg_catalog.pg_extension_config_dump('sessions_id_seq', '');

CREATE FUNCTION _token_new() RETURNS text
LANGUAGE C VOLATILE STRICT AS 'MODULE_PATHNAME', 'tc_token_new';
COMMENT ON FUNCTION _token_new() IS 'Internal: a new session token (tcs_ and 256 random bits in base64url)';

CREATE FUNCTION _token_hash(token text) RETURNS bytea
LANGUAGE C IMMUTABLE STRICT AS 'MODULE_PATHNAME', 'tc_token_hash';
COMMENT ON FUNCTION _token_hash(text) IS 'Internal: SHA-256 of a well-formed session token, null for anything else';

CREATE FUNCTION _set_principal(principal uuid, aal int, session_id bigint) RETURNS void
LANGUAGE C VOLATILE AS 'MODULE_PATHNAME', 'tc_set_principal';
COMMENT ON FUNCTION _set_principal(uuid, int, bigint) IS
'Internal: set the current principal for the rest of the transaction; callable by the extension owner only';

CREATE FUNCTION current_principal() RETURNS uuid
LANGUAGE C STABLE PARALLEL RESTRICTED AS 'MODULE_PATHNAME', 'tc_current_principal_sql';
COMMENT ON FUNCTION current_principal() IS
'The principal authenticate() set for this transaction, or null; no setting a client can SET changes it';

CREATE FUNCTION current_aal() RETURNS int
LANGUAGE C STABLE PARALLEL RESTRICTED AS 'MODULE_PATHNAME', 'tc_current_aal_sql';
COMMENT ON FUNCTION current_aal() IS
'Assurance level of the current session: 1, 2 after MFA, 0 when no principal is set';

CREATE FUNCTION current_session_id() RETURNS bigint
LANGUAGE C STABLE PARALLEL RESTRICTED AS 'MODULE_PATHNAME', 'tc_current_session_sql';
COMMENT ON FUNCTION current_session_id() IS 'Id of the session authenticate() verified in this transaction, or null';

CREATE FUNCTION principal_create(kind text, name text DEFAULT NULL, address text DEFAULT NULL)
RETURNS uuid
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, tracechain, pg_temp AS $$
DECLARE
  v_id uuid;
  v_address text := address;
BEGIN
  IF kind IS NULL OR kind NOT IN ('user', 'wallet', 'device', 'db_role') THEN
    RAISE EXCEPTION 'invalid principal kind "%"', kind
      USING ERRCODE = 'invalid_parameter_value', HINT = 'Use user, wallet, device or db_role.';
  END IF;
  IF name IS NOT NULL AND (length(name) NOT BETWEEN 1 AND 200 OR name ~ '[[:cntrl:]]') THEN
    RAISE EXCEPTION 'invalid principal name'
      USING ERRCODE = 'invalid_parameter_value', HINT = 'Use 1 to 200 characters and no control characters.';
  END IF;
  IF kind = 'wallet' THEN
    IF v_address IS NULL OR v_address !~ '^0x[0-9a-fA-F]{40}$' THEN
      RAISE EXCEPTION 'a wallet principal needs an Ethereum address'
        USING ERRCODE = 'invalid_parameter_value', HINT = 'Give 0x followed by 40 hexadecimal digits.';
    END IF;
    v_address := lower(v_address);
  ELSIF v_address IS NOT NULL AND (length(v_address) NOT BETWEEN 1 AND 200 OR v_address ~ '[[:cntrl:]]') THEN
    RAISE EXCEPTION 'invalid principal address' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  BEGIN
    INSERT INTO principals (kind, name, address) VALUES (kind, name, v_address) RETURNING id INTO v_id;
  EXCEPTION WHEN unique_violation THEN
    RAISE EXCEPTION 'a % principal with this address already exists', kind
      USING ERRCODE = 'unique_violation';
  END;
  PERFORM _audit_append('security', 'principal.create', 'principal:' || v_id,
                        jsonb_build_object('kind', kind, 'name', name, 'address', v_address),
                        current_principal(), NULL);
  RETURN v_id;
END $$;
COMMENT ON FUNCTION principal_create(text, text, text) IS
'Create a principal (user, wallet, device or db_role); audited; returns its id';

CREATE FUNCTION principal_set_status(principal uuid, status text)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, tracechain, pg_temp AS $$
DECLARE
  v_old text;
  v_revoked int := 0;
BEGIN
  IF status IS NULL OR status NOT IN ('active', 'suspended') THEN
    RAISE EXCEPTION 'invalid principal status "%"', status
      USING ERRCODE = 'invalid_parameter_value', HINT = 'Use active or suspended.';
  END IF;
  SELECT p.status INTO v_old FROM principals p WHERE p.id = principal FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'principal % does not exist', principal USING ERRCODE = 'invalid_parameter_value';
  END IF;
  UPDATE principals p SET status = principal_set_status.status WHERE p.id = principal;
  IF status = 'suspended' THEN
    UPDATE sessions s SET revoked_at = clock_timestamp()
     WHERE s.principal = principal_set_status.principal AND s.revoked_at IS NULL;
    GET DIAGNOSTICS v_revoked = ROW_COUNT;
  END IF;
  PERFORM _audit_append('security', 'principal.status', 'principal:' || principal,
                        jsonb_build_object('from', v_old, 'to', status, 'sessions_revoked', v_revoked),
                        current_principal(), NULL);
END $$;
COMMENT ON FUNCTION principal_set_status(uuid, text) IS
'Suspend (revoking every session) or reactivate a principal; audited';

CREATE FUNCTION session_create(principal uuid, ttl interval DEFAULT '24 hours',
                               ip inet DEFAULT NULL, user_agent text DEFAULT NULL)
RETURNS text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, tracechain, pg_temp AS $$
DECLARE
  v_status text;
  v_token text;
  v_id bigint;
  v_expires timestamptz;
  v_max interval := current_setting('tracechain.session_max_ttl')::interval;
BEGIN
  IF principal IS NULL THEN
    RAISE EXCEPTION 'principal must not be null' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF ttl IS NULL OR ttl <= interval '0' OR ttl > v_max THEN
    RAISE EXCEPTION 'invalid session lifetime'
      USING ERRCODE = 'invalid_parameter_value',
            HINT = format('Give a ttl above zero and at most %s (tracechain.session_max_ttl).',
                          current_setting('tracechain.session_max_ttl'));
  END IF;
  IF user_agent IS NOT NULL AND length(user_agent) > 512 THEN
    user_agent := left(user_agent, 512);
  END IF;
  SELECT p.status INTO v_status FROM principals p WHERE p.id = principal;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'principal % does not exist', principal USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF v_status <> 'active' THEN
    PERFORM _record_event('security', 'session.create_refused', 'principal:' || principal,
                          jsonb_build_object('reason', 'suspended'), principal, ip);
    RAISE EXCEPTION 'principal is suspended' USING ERRCODE = 'invalid_authorization_specification';
  END IF;
  v_token := _token_new();
  v_expires := clock_timestamp() + ttl;
  INSERT INTO sessions (token_hash, principal, expires_at, ip, user_agent)
  VALUES (_token_hash(v_token), principal, v_expires, ip, user_agent)
  RETURNING id INTO v_id;
  PERFORM _audit_append('security', 'session.create', 'session:' || v_id,
                        jsonb_build_object('expires_at', v_expires, 'user_agent', user_agent),
                        principal, ip);
  RETURN v_token;
END $$;
COMMENT ON FUNCTION session_create(uuid, interval, inet, text) IS
'Create a session for an active principal; returns the token (shown once: only its SHA-256 is stored); audited';

-- The one place a token is checked.  Failures are queued as security events
-- (they survive the rollback the error causes) and raise 28000.
CREATE FUNCTION _session_check(token text, OUT session_id bigint, OUT principal uuid,
                               OUT aal int, OUT expires_at timestamptz)
RETURNS record
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, tracechain, pg_temp AS $$
DECLARE
  v_hash bytea := _token_hash(token);
  s record;
  v_reason text;
BEGIN
  IF token IS NULL THEN
    RAISE EXCEPTION 'session token must not be null' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF v_hash IS NULL THEN
    PERFORM _record_event('security', 'session.verify_failed', NULL,
                          jsonb_build_object('reason', 'malformed'), NULL, NULL);
    RAISE EXCEPTION 'malformed session token'
      USING ERRCODE = 'invalid_text_representation',
            HINT = 'A session token is "tcs_" followed by 43 base64url characters.';
  END IF;
  SELECT x.id, x.principal, x.aal, x.expires_at, x.revoked_at, x.ip, p.status
    INTO s
    FROM sessions x JOIN principals p ON p.id = x.principal
   WHERE x.token_hash = v_hash;
  IF NOT FOUND THEN
    v_reason := 'unknown';
  ELSIF s.revoked_at IS NOT NULL THEN
    v_reason := 'revoked';
  ELSIF s.expires_at <= clock_timestamp() THEN
    v_reason := 'expired';
  ELSIF s.status <> 'active' THEN
    v_reason := 'suspended';
  END IF;
  IF v_reason IS NOT NULL THEN
    PERFORM _record_event('security', 'session.verify_failed',
                          CASE WHEN s.id IS NOT NULL THEN 'session:' || s.id END,
                          jsonb_build_object('reason', v_reason), s.principal, s.ip);
    RAISE EXCEPTION '%', CASE v_reason
                           WHEN 'unknown' THEN 'invalid session token'
                           WHEN 'revoked' THEN 'session has been revoked'
                           WHEN 'expired' THEN 'session has expired'
                           ELSE 'principal is suspended' END
      USING ERRCODE = 'invalid_authorization_specification';
  END IF;
  session_id := s.id;
  principal := s.principal;
  aal := s.aal;
  expires_at := s.expires_at;
END $$;
COMMENT ON FUNCTION _session_check(text) IS 'Internal: verify a token, recording failures as security events';

CREATE FUNCTION session_verify(token text)
RETURNS TABLE (principal uuid, aal int, expires_at timestamptz)
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, tracechain, pg_temp AS $$
  SELECT c.principal, c.aal, c.expires_at FROM tracechain._session_check(token) c
$$;
COMMENT ON FUNCTION session_verify(text) IS
'Check a session token: its principal, assurance level and expiry; 28000 when unknown, expired, revoked or suspended (recorded as a security event)';

-- In C (principal.c): a live session is read through the indexes directly
-- (this runs on every request); anything else goes through _session_check,
-- which records the failure and raises.
CREATE FUNCTION authenticate(token text)
RETURNS uuid
LANGUAGE C VOLATILE AS 'MODULE_PATHNAME', 'tc_authenticate';
COMMENT ON FUNCTION authenticate(text) IS
'Verify a session token and make its principal the current principal until the end of the transaction';

CREATE FUNCTION session_revoke(token text)
RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, tracechain, pg_temp AS $$
DECLARE
  v_hash bytea := _token_hash(token);
  v_id bigint;
  v_principal uuid;
BEGIN
  IF token IS NULL THEN
    RAISE EXCEPTION 'session token must not be null' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF v_hash IS NULL THEN
    RAISE EXCEPTION 'malformed session token' USING ERRCODE = 'invalid_text_representation';
  END IF;
  UPDATE sessions s SET revoked_at = clock_timestamp()
   WHERE s.token_hash = v_hash AND s.revoked_at IS NULL
  RETURNING s.id, s.principal INTO v_id, v_principal;
  IF v_id IS NULL THEN
    RETURN false;
  END IF;
  PERFORM _audit_append('security', 'session.revoke', 'session:' || v_id, '{}', v_principal, NULL);
  RETURN true;
END $$;
COMMENT ON FUNCTION session_revoke(text) IS
'Revoke a session by its token; false when it was unknown or already revoked; audited';

CREATE FUNCTION revoke_sessions(principal uuid)
RETURNS int
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, tracechain, pg_temp AS $$
DECLARE
  v_n int;
BEGIN
  IF principal IS NULL THEN
    RAISE EXCEPTION 'principal must not be null' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  UPDATE sessions s SET revoked_at = clock_timestamp()
   WHERE s.principal = revoke_sessions.principal AND s.revoked_at IS NULL;
  GET DIAGNOSTICS v_n = ROW_COUNT;
  PERFORM _audit_append('security', 'session.revoke_all', 'principal:' || principal,
                        jsonb_build_object('revoked', v_n), principal, NULL);
  RETURN v_n;
END $$;
COMMENT ON FUNCTION revoke_sessions(uuid) IS 'Revoke every live session of a principal; returns how many; audited';

GRANT SELECT ON principals TO tracechain_app, tracechain_admin;
GRANT SELECT ON sessions TO tracechain_admin;
GRANT EXECUTE ON FUNCTION current_principal(), current_aal()
TO tracechain_app, tracechain_auditor, tracechain_admin;
GRANT EXECUTE ON FUNCTION
  principal_create(text, text, text), session_create(uuid, interval, inet, text),
  session_verify(text), session_revoke(text), revoke_sessions(uuid), authenticate(text),
  current_session_id()
TO tracechain_app;
GRANT EXECUTE ON FUNCTION principal_create(text, text, text), principal_set_status(uuid, text),
  revoke_sessions(uuid)
TO tracechain_admin;

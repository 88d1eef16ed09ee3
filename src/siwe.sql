-- siwe.sql: Sign-In with Ethereum (EIP-4361) with server-issued, single-use
-- nonces (siwe.c, src/core/siwe.c).
--
-- Data path of a login: siwe_login -> size check -> _siwe_parse (strict
-- grammar) -> domain, chain, URI, time checks -> nonce consumed (DELETE ...
-- RETURNING: of two concurrent logins with one nonce, the second waits for
-- the first and then finds nothing) -> _eth_recover_message -> wallet
-- principal -> session_create -> _audit_append.  Every failure is queued with
-- _record_event (it survives the rollback of the 28000 error), so a failed
-- attempt also leaves its nonce unused.

CREATE TABLE siwe_nonces (
  nonce      text        PRIMARY KEY CHECK (nonce ~ '^[A-Za-z0-9]{8,128}$'),
  address    text        NOT NULL CHECK (address ~ '^0x[0-9a-f]{40}$'),
  domain     text        NOT NULL,
  issued_at  timestamptz NOT NULL,
  expires_at timestamptz NOT NULL,
  CHECK (expires_at > issued_at)
);
CREATE INDEX siwe_nonces_expires ON siwe_nonces (expires_at);
COMMENT ON TABLE siwe_nonces IS
'Sign-in nonces siwe_challenge issued and siwe_login has not consumed yet; each for one lower-case address until expires_at';
-- Not marked for pg_dump (pg_extension_config_dump): a nonce is worth
-- minutes, and a restored one would only widen the window for replay.

CREATE FUNCTION _siwe_parse(message text,
  OUT error text, OUT scheme text, OUT domain text, OUT address text, OUT statement text,
  OUT uri text, OUT chain_id bigint, OUT nonce text, OUT issued_at timestamptz,
  OUT expiration_time timestamptz, OUT not_before timestamptz, OUT request_id text,
  OUT resources text[])
RETURNS record
LANGUAGE C IMMUTABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'tc_siwe_parse_sql';
COMMENT ON FUNCTION _siwe_parse(text) IS
'Internal: the fields of an EIP-4361 message (address in lower case), or only error saying what is wrong; never raises on bad input';

CREATE FUNCTION _siwe_nonce_new() RETURNS text
LANGUAGE C VOLATILE AS 'MODULE_PATHNAME', 'tc_siwe_nonce_new';
COMMENT ON FUNCTION _siwe_nonce_new() IS 'Internal: a new nonce of 24 random letters and digits (about 143 bits)';

CREATE FUNCTION _siwe_build(domain text, address text, statement text, uri text, chain_id bigint,
                            nonce text, issued_at timestamptz, expiration_time timestamptz)
RETURNS text
LANGUAGE C IMMUTABLE AS 'MODULE_PATHNAME', 'tc_siwe_build_sql';
COMMENT ON FUNCTION _siwe_build(text, text, text, text, bigint, text, timestamptz, timestamptz) IS
'Internal: an EIP-4361 message from its fields (address in EIP-55 form); 22023 when a field breaks the grammar';

CREATE FUNCTION _siwe_valid_uri(uri text) RETURNS boolean
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'tc_siwe_valid_uri_sql';
COMMENT ON FUNCTION _siwe_valid_uri(text) IS 'Internal: whether a text is an RFC 3986 URI';

-- The origin sign-in URIs must be on: tracechain.siwe_uri_origin, or https://<domain>.
CREATE FUNCTION _siwe_origin() RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, tracechain, pg_temp AS $$
  SELECT coalesce(nullif(current_setting('tracechain.siwe_uri_origin'), ''),
                  'https://' || current_setting('tracechain.siwe_domain'))
$$;
COMMENT ON FUNCTION _siwe_origin() IS
'Internal: the origin sign-in URIs must be on (tracechain.siwe_uri_origin, or https:// and tracechain.siwe_domain)';

CREATE FUNCTION _siwe_uri_on_origin(uri text, origin text) RETURNS boolean
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, tracechain, pg_temp AS $$
  SELECT uri = origin
      OR (left(uri, length(origin)) = origin AND substr(uri, length(origin) + 1, 1) IN ('/', '?', '#'))
$$;
COMMENT ON FUNCTION _siwe_uri_on_origin(text, text) IS
'Internal: whether uri is the origin itself or a path, query or fragment on it (not a longer host name)';

-- Record a failed login (rollback-proof) and raise 28000.
CREATE FUNCTION _siwe_fail(reason text, message text, address text, ip inet, user_agent text,
                           extra jsonb DEFAULT '{}')
RETURNS void
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, tracechain, pg_temp AS $$
BEGIN
  -- Login throttling (ratelimit.sql): count the failure per IP and per wallet
  -- in shared memory; a refusal for throttling is not counted again.
  IF reason <> 'throttled' THEN
    PERFORM _login_throttle_fail('siwe', ip, address);
  END IF;
  PERFORM _record_event('security', 'siwe.login_failed',
                        CASE WHEN address IS NOT NULL THEN 'wallet:' || address END,
                        jsonb_build_object('reason', reason, 'user_agent', user_agent) || coalesce(extra, '{}'),
                        NULL, ip);
  RAISE EXCEPTION USING MESSAGE = message, ERRCODE = 'invalid_authorization_specification',
    HINT = 'Ask for a new challenge with siwe_challenge() and sign it.';
END $$;
COMMENT ON FUNCTION _siwe_fail(text, text, text, inet, text, jsonb) IS
'Internal: queue a siwe.login_failed security event (survives the rollback) and raise 28000 with message';

CREATE FUNCTION siwe_challenge(address text,
                               domain text DEFAULT current_setting('tracechain.siwe_domain'),
                               uri text DEFAULT NULL,
                               chain_id int DEFAULT current_setting('tracechain.siwe_chain_id')::int,
                               statement text DEFAULT NULL,
                               ttl interval DEFAULT '5 minutes')
RETURNS text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, tracechain, pg_temp AS $$
DECLARE
  v_conf_domain text := current_setting('tracechain.siwe_domain');
  v_max_age interval := current_setting('tracechain.siwe_max_age')::interval;
  v_origin text := _siwe_origin();
  v_addr text;
  v_uri text := uri;
  v_nonce text;
  v_issued timestamptz := clock_timestamp();
  v_msg text;
BEGIN
  IF v_conf_domain = '' THEN
    RAISE EXCEPTION 'wallet sign-in is not configured'
      USING ERRCODE = 'object_not_in_prerequisite_state',
            HINT = 'Set tracechain.siwe_domain to the domain of the site users sign in to.';
  END IF;
  IF address IS NULL THEN
    RAISE EXCEPTION 'address must not be null' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  v_addr := eth_checksum_address(address);
  IF domain IS DISTINCT FROM v_conf_domain THEN
    RAISE EXCEPTION 'domain % is not the configured sign-in domain', quote_literal(coalesce(domain, 'null'))
      USING ERRCODE = 'invalid_parameter_value',
            HINT = 'siwe_login accepts only messages for tracechain.siwe_domain.';
  END IF;
  IF v_uri IS NULL THEN
    v_uri := v_origin;
  ELSIF NOT _siwe_valid_uri(v_uri) OR NOT _siwe_uri_on_origin(v_uri, v_origin) THEN
    RAISE EXCEPTION 'uri must be an RFC 3986 URI on %', v_origin
      USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Leave uri null, or set tracechain.siwe_uri_origin for another origin.';
  END IF;
  IF chain_id IS DISTINCT FROM current_setting('tracechain.siwe_chain_id')::int THEN
    RAISE EXCEPTION 'chain id % is not the configured chain id', coalesce(chain_id::text, 'null')
      USING ERRCODE = 'invalid_parameter_value', HINT = 'siwe_login accepts only tracechain.siwe_chain_id.';
  END IF;
  IF ttl IS NULL OR ttl <= interval '0' OR ttl > v_max_age THEN
    RAISE EXCEPTION 'invalid challenge lifetime'
      USING ERRCODE = 'invalid_parameter_value',
            HINT = format('Give a ttl above zero and at most %s (tracechain.siwe_max_age).', v_max_age);
  END IF;
  -- Expired nonces are useless: drop a few on every challenge.
  DELETE FROM siwe_nonces n
   WHERE n.nonce IN (SELECT x.nonce FROM siwe_nonces x WHERE x.expires_at < v_issued
                      ORDER BY x.expires_at LIMIT 100 FOR UPDATE SKIP LOCKED);
  v_nonce := _siwe_nonce_new();
  v_msg := _siwe_build(domain, v_addr, statement, v_uri, chain_id, v_nonce, v_issued, v_issued + ttl);
  INSERT INTO siwe_nonces (nonce, address, domain, issued_at, expires_at)
  VALUES (v_nonce, lower(v_addr), domain, v_issued, v_issued + ttl);
  RETURN v_msg;
END $$;
COMMENT ON FUNCTION siwe_challenge(text, text, text, int, text, interval) IS
'An EIP-4361 sign-in message for address with a new single-use nonce (24 letters and digits) that expires after ttl; sign it with personal_sign and pass it to siwe_login';

CREATE FUNCTION siwe_login(message text, signature text, ip inet DEFAULT NULL, user_agent text DEFAULT NULL)
RETURNS text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, tracechain, pg_temp AS $$
DECLARE
  v_ua text := left(user_agent, 512);
  v_domain text := current_setting('tracechain.siwe_domain');
  v_now timestamptz := clock_timestamp();
  v_skew interval := current_setting('tracechain.siwe_clock_skew')::interval;
  v_origin text;
  m record;
  r record;
  n record;
  p record;
  v_new boolean := false;
  v_role text := nullif(current_setting('tracechain.default_wallet_role'), '');
  v_token text;
BEGIN
  IF message IS NULL OR signature IS NULL THEN
    PERFORM _siwe_fail('missing', 'sign-in message and signature must not be null', NULL, ip, v_ua);
  END IF;
  -- Size first: octet_length does not detoast, the parser never sees a long message.
  IF octet_length(message) > 4096 THEN
    PERFORM _siwe_fail('too_long', 'sign-in message is longer than 4096 bytes', NULL, ip, v_ua,
                       jsonb_build_object('bytes', octet_length(message)));
  END IF;
  IF v_domain = '' THEN
    PERFORM _siwe_fail('not_configured', 'wallet sign-in is not configured (tracechain.siwe_domain is empty)',
                       NULL, ip, v_ua);
  END IF;
  -- Login throttling (ratelimit.sql): too many recent failures from this IP
  -- or for this wallet refuse the attempt before any signature is checked.
  IF NOT _login_throttle_ok('siwe', ip, NULL) THEN
    PERFORM _siwe_fail('throttled', 'too many failed sign-in attempts', NULL, ip, v_ua);
  END IF;
  m := _siwe_parse(message);
  IF m.error IS NOT NULL THEN
    PERFORM _siwe_fail('malformed', 'malformed sign-in message: ' || m.error, NULL, ip, v_ua);
  END IF;
  IF NOT _login_throttle_ok('siwe', NULL, m.address) THEN
    PERFORM _siwe_fail('throttled', 'too many failed sign-in attempts', m.address, ip, v_ua);
  END IF;
  IF m.domain <> v_domain THEN
    PERFORM _siwe_fail('domain', 'sign-in message is for another domain', m.address, ip, v_ua,
                       jsonb_build_object('domain', left(m.domain, 256)));
  END IF;
  v_origin := _siwe_origin();
  IF m.scheme IS NOT NULL AND left(v_origin, length(m.scheme) + 3) <> m.scheme || '://' THEN
    PERFORM _siwe_fail('scheme', 'sign-in message names another scheme than the site''s', m.address, ip, v_ua);
  END IF;
  IF m.chain_id <> current_setting('tracechain.siwe_chain_id')::bigint THEN
    PERFORM _siwe_fail('chain_id', 'sign-in message is for another chain', m.address, ip, v_ua,
                       jsonb_build_object('chain_id', m.chain_id));
  END IF;
  IF NOT _siwe_uri_on_origin(m.uri, v_origin) THEN
    PERFORM _siwe_fail('uri', 'sign-in URI is not on this site', m.address, ip, v_ua,
                       jsonb_build_object('uri', left(m.uri, 256)));
  END IF;
  IF m.issued_at > v_now + v_skew THEN
    PERFORM _siwe_fail('issued_in_future', 'sign-in message is issued in the future', m.address, ip, v_ua);
  END IF;
  IF m.issued_at < v_now - current_setting('tracechain.siwe_max_age')::interval THEN
    PERFORM _siwe_fail('too_old', 'sign-in message is too old (tracechain.siwe_max_age)', m.address, ip, v_ua);
  END IF;
  IF m.expiration_time IS NOT NULL AND m.expiration_time <= v_now THEN
    PERFORM _siwe_fail('expired', 'sign-in message has expired', m.address, ip, v_ua);
  END IF;
  IF m.not_before IS NOT NULL AND m.not_before > v_now + v_skew THEN
    PERFORM _siwe_fail('not_yet_valid', 'sign-in message is not valid yet (Not Before)', m.address, ip, v_ua);
  END IF;
  -- Consume the nonce.  A concurrent login with the same nonce blocks on the
  -- row until this transaction ends, then deletes nothing.
  DELETE FROM siwe_nonces x WHERE x.nonce = m.nonce
  RETURNING x.address, x.domain, x.expires_at INTO n;
  IF n.address IS NULL THEN
    PERFORM _siwe_fail('unknown_nonce', 'unknown or already used sign-in nonce', m.address, ip, v_ua);
  END IF;
  IF n.address <> m.address THEN
    PERFORM _siwe_fail('nonce_address', 'sign-in nonce was issued for another address', m.address, ip, v_ua);
  END IF;
  IF n.domain <> m.domain THEN
    PERFORM _siwe_fail('nonce_domain', 'sign-in nonce was issued for another domain', m.address, ip, v_ua);
  END IF;
  IF n.expires_at <= v_now THEN
    PERFORM _siwe_fail('nonce_expired', 'sign-in nonce has expired', m.address, ip, v_ua);
  END IF;
  r := _eth_recover_message(message, signature);
  IF r.error IS NOT NULL THEN
    PERFORM _siwe_fail('bad_signature', 'invalid sign-in signature: ' || r.error, m.address, ip, v_ua);
  END IF;
  IF r.address <> m.address THEN
    PERFORM _siwe_fail('wrong_signer', 'sign-in signature is not from the message''s address', m.address, ip, v_ua);
  END IF;
  -- The wallet principal, created on first sight.
  SELECT x.id, x.status INTO p FROM principals x WHERE x.kind = 'wallet' AND x.address = m.address;
  IF p.id IS NULL THEN
    INSERT INTO principals (kind, address) VALUES ('wallet', m.address)
    ON CONFLICT (kind, address) DO NOTHING
    RETURNING id, status INTO p;
    IF p.id IS NULL THEN  -- created concurrently
      SELECT x.id, x.status INTO p FROM principals x WHERE x.kind = 'wallet' AND x.address = m.address;
    ELSE
      v_new := true;
      PERFORM _audit_append('security', 'principal.create', 'principal:' || p.id,
                            jsonb_build_object('kind', 'wallet', 'address', m.address, 'via', 'siwe',
                                               'default_role', v_role),
                            p.id, ip);
      -- tracechain.default_wallet_role: granted by the system (no granting principal).
      -- An unknown role is not granted (the audit row says so); the login still succeeds.
      IF v_role IS NOT NULL THEN
        INSERT INTO principal_roles (principal, role, granted_by)
        SELECT p.id, r.name, NULL FROM roles r WHERE r.name = v_role
        ON CONFLICT DO NOTHING;
        PERFORM _audit_append('security', CASE WHEN FOUND THEN 'role.grant' ELSE 'role.grant_skipped' END,
                              'principal:' || p.id,
                              jsonb_build_object('role', v_role, 'via', 'tracechain.default_wallet_role'),
                              NULL, ip);
      END IF;
    END IF;
  END IF;
  IF p.status <> 'active' THEN
    PERFORM _siwe_fail('suspended', 'wallet principal is suspended', m.address, ip, v_ua);
  END IF;
  v_token := session_create(p.id, ip => ip, user_agent => v_ua);
  PERFORM _audit_append('security', 'siwe.login', 'principal:' || p.id,
                        jsonb_build_object('address', m.address, 'domain', m.domain, 'chain_id', m.chain_id,
                                           'uri', m.uri, 'request_id', m.request_id,
                                           'new_principal', v_new, 'user_agent', v_ua),
                        p.id, ip);
  RETURN v_token;
END $$;
COMMENT ON FUNCTION siwe_login(text, text, inet, text) IS
'Sign in with a signed EIP-4361 message from siwe_challenge: consumes its nonce, creates the wallet principal on first sight, returns a session token; 28000 with the reason on failure (recorded as a security event)';

GRANT EXECUTE ON FUNCTION siwe_challenge(text, text, text, int, text, interval),
  siwe_login(text, text, inet, text)
TO tracechain_app;

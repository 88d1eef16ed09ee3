-- device.sql: IoT device security (device.c; docs/device.md).
--
-- devices holds each device's sealed secret (challenge-response), sealed
-- data key (telemetry), and firmware public key.  Challenges are in shared
-- memory (device.c): taking one consumes it even if the caller rolls back.
-- Device tokens are HS256 JWTs from an internal signer until the jwt module
-- lands (see the note in device.c).

CREATE TABLE devices (
  device_id       text        PRIMARY KEY CHECK (device_id ~ '^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$'),
  device_type     text        NOT NULL CHECK (length(device_type) BETWEEN 1 AND 100),
  manufacturer    text        NOT NULL CHECK (length(manufacturer) BETWEEN 1 AND 100),
  status          text        NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'revoked')),
  secret_sealed   bytea       NOT NULL,
  data_key_sealed bytea       NOT NULL,
  public_key      bytea,
  public_key_type text        CHECK (public_key_type IN ('ecdsa-p256', 'ed25519')),
  created_at      timestamptz NOT NULL DEFAULT now(),
  last_verified_at timestamptz,
  revoked_at      timestamptz,
  CHECK ((public_key IS NULL) = (public_key_type IS NULL))
);
COMMENT ON TABLE devices IS
'IoT devices: the challenge-response secret and the telemetry key, both sealed under the master key with the device id bound; the firmware public key (DER)';
COMMENT ON COLUMN devices.secret_sealed IS 'The 256-bit device secret, sealed (AES-256-GCM) with the device id as associated data';
COMMENT ON COLUMN devices.data_key_sealed IS 'The device''s AES-256 telemetry key, sealed with the device id as associated data';
COMMENT ON COLUMN devices.public_key IS 'Firmware signing key, DER SubjectPublicKeyInfo (ECDSA P-256 or Ed25519)';
SELECT pg_catalog.pg_extension_config_dump('devices', '');

-- Internal helpers (granted to nobody) --------------------------------------

CREATE FUNCTION _device_new_secret(device_id text, OUT sealed bytea, OUT secret text) RETURNS record
LANGUAGE C VOLATILE AS 'MODULE_PATHNAME', 'tc_device_new_secret';
COMMENT ON FUNCTION _device_new_secret(text) IS 'Internal: 256 random bits, sealed for the device and in hex';

CREATE FUNCTION _device_new_data_key(device_id text) RETURNS bytea
LANGUAGE C VOLATILE AS 'MODULE_PATHNAME', 'tc_device_new_data_key';
COMMENT ON FUNCTION _device_new_data_key(text) IS 'Internal: a random AES-256 key, sealed for the device';

CREATE FUNCTION _device_challenge_new(device_id text, ttl_s int, OUT challenge text, OUT issued_at bigint)
RETURNS record
LANGUAGE C VOLATILE AS 'MODULE_PATHNAME', 'tc_device_challenge_new';
COMMENT ON FUNCTION _device_challenge_new(text, int) IS
'Internal: a new random challenge for the device in shared memory (replacing an outstanding one)';

CREATE FUNCTION _device_challenge_drop(device_id text) RETURNS void
LANGUAGE C VOLATILE AS 'MODULE_PATHNAME', 'tc_device_challenge_drop';
COMMENT ON FUNCTION _device_challenge_drop(text) IS 'Internal: forget the device''s outstanding challenge';

CREATE FUNCTION _device_check_response(device_id text, secret_sealed bytea, response text) RETURNS text
LANGUAGE C VOLATILE AS 'MODULE_PATHNAME', 'tc_device_check_response';
COMMENT ON FUNCTION _device_check_response(text, bytea, text) IS
'Internal: consume the outstanding challenge, then check the response in constant time: ok, unknown, no_challenge, expired, malformed or mismatch';

CREATE FUNCTION _device_aead(sealed_key bytea, device_id text, data bytea, encrypt boolean) RETURNS bytea
LANGUAGE C VOLATILE AS 'MODULE_PATHNAME', 'tc_device_aead';
COMMENT ON FUNCTION _device_aead(bytea, text, bytea, boolean) IS
'Internal: AES-256-GCM under the device key, device id bound as associated data';

CREATE FUNCTION _device_parse_public_key(pem text, OUT der bytea, OUT key_type text) RETURNS record
LANGUAGE C IMMUTABLE AS 'MODULE_PATHNAME', 'tc_device_parse_public_key';
COMMENT ON FUNCTION _device_parse_public_key(text) IS
'Internal: a PEM public key (ECDSA P-256 or Ed25519) as DER and its type; 22P02 malformed, 22023 other types';

CREATE FUNCTION _device_verify_signature(der bytea, key_type text, data bytea, signature bytea) RETURNS boolean
LANGUAGE C IMMUTABLE AS 'MODULE_PATHNAME', 'tc_device_verify_signature';
COMMENT ON FUNCTION _device_verify_signature(bytea, text, bytea, bytea) IS
'Internal: EVP_DigestVerify (SHA-256 + DER for ECDSA P-256, raw for Ed25519)';

CREATE FUNCTION _device_jwt_sign(claims jsonb) RETURNS text
LANGUAGE C STABLE AS 'MODULE_PATHNAME', 'tc_device_jwt_sign';
COMMENT ON FUNCTION _device_jwt_sign(jsonb) IS
'Internal: compact JWS (HS256, kid "device") under a master-key subkey; to be replaced by jwt_sign';

CREATE FUNCTION _device_jwt_verify(token text) RETURNS jsonb
LANGUAGE C STABLE AS 'MODULE_PATHNAME', 'tc_device_jwt_verify';
COMMENT ON FUNCTION _device_jwt_verify(text) IS
'Internal: the claims of a device token whose header and signature are ours, else null (exp not checked here)';

CREATE FUNCTION _device_token_key() RETURNS text
LANGUAGE C STABLE AS 'MODULE_PATHNAME', 'tc_device_token_key';
COMMENT ON FUNCTION _device_token_key() IS 'Internal: the HS256 device-token key, base64url';

CREATE FUNCTION _device_check_id(device_id text) RETURNS void
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  IF device_id IS NULL OR device_id !~ '^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$' THEN
    RAISE EXCEPTION 'invalid device id'
      USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Use 1 to 128 letters, digits, ".", "_", ":" or "-", starting with a letter or digit.';
  END IF;
END $$;
COMMENT ON FUNCTION _device_check_id(text) IS 'Internal: 22023 unless a well-formed device id';

-- A failed device authentication: a security event that survives the
-- rollback, then the one message for every reason (28000).
CREATE FUNCTION _device_fail(device_id text, action text, reason text) RETURNS void
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, tracechain, pg_temp AS $$
BEGIN
  PERFORM _record_event('security', action, 'device:' || left(device_id, 128),
                        jsonb_build_object('reason', reason), current_principal(), NULL);
  RAISE EXCEPTION 'device authentication failed'
    USING ERRCODE = 'invalid_authorization_specification',
          HINT = 'Ask for a new challenge with device_challenge() and answer it.';
END $$;
COMMENT ON FUNCTION _device_fail(text, text, text) IS
'Internal: record a failed device authentication (reason in the event only) and raise 28000 with one message for all reasons';

-- Registration and challenge-response --------------------------------------

CREATE FUNCTION device_register(device_id text, device_type text, manufacturer text) RETURNS text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, tracechain, pg_temp AS $$
DECLARE
  s record;
BEGIN
  PERFORM _device_check_id(device_id);
  IF device_type IS NULL OR length(device_type) NOT BETWEEN 1 AND 100
     OR manufacturer IS NULL OR length(manufacturer) NOT BETWEEN 1 AND 100 THEN
    RAISE EXCEPTION 'device type and manufacturer must be 1 to 100 characters'
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF EXISTS (SELECT 1 FROM devices d WHERE d.device_id = device_register.device_id) THEN
    RAISE EXCEPTION 'device % is already registered', device_id
      USING ERRCODE = 'object_not_in_prerequisite_state',
            HINT = 'Device ids are never reused, even after device_revoke.';
  END IF;
  s := _device_new_secret(device_id);
  INSERT INTO devices (device_id, device_type, manufacturer, secret_sealed, data_key_sealed)
  VALUES (device_id, device_type, manufacturer, s.sealed, _device_new_data_key(device_id));
  PERFORM _audit_append('security', 'device.register', 'device:' || device_id,
                        jsonb_build_object('device_type', device_type, 'manufacturer', manufacturer),
                        current_principal(), NULL);
  RETURN s.secret;
END $$;
COMMENT ON FUNCTION device_register(text, text, text) IS
'Register a device: returns its 256-bit secret (64 hex digits) once; only the sealed secret is stored';

CREATE FUNCTION device_challenge(device_id text)
RETURNS TABLE (challenge text, issued_at bigint, expires_in int)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, tracechain, pg_temp AS $$
DECLARE
  c record;
BEGIN
  PERFORM _device_check_id(device_id);
  IF NOT EXISTS (SELECT 1 FROM devices d WHERE d.device_id = device_challenge.device_id AND d.status = 'active') THEN
    PERFORM _device_fail(device_id, 'device.challenge_refused', 'unknown_or_revoked');
  END IF;
  c := _device_challenge_new(device_id, 300);
  challenge := c.challenge;
  issued_at := c.issued_at;
  expires_in := 300;
  RETURN NEXT;
END $$;
COMMENT ON FUNCTION device_challenge(text) IS
'A single-use random challenge (64 hex digits) for the device, valid 5 minutes; a new one replaces an outstanding one. Answer: lower-case hex of HMAC-SHA256(secret, challenge || issued_at in decimal)';

CREATE FUNCTION device_verify(device_id text, response text) RETURNS text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, tracechain, pg_temp AS $$
DECLARE
  d record;
  v_reason text;
  v_now bigint := floor(extract(epoch FROM clock_timestamp()))::bigint;
BEGIN
  PERFORM _device_check_id(device_id);
  SELECT x.secret_sealed, x.device_type, x.manufacturer INTO d
    FROM devices x WHERE x.device_id = device_verify.device_id AND x.status = 'active';
  -- The challenge is consumed here, whatever the outcome (shared memory: a rollback does not bring it back).
  v_reason := _device_check_response(device_id, d.secret_sealed, response);
  IF v_reason = 'malformed' AND response IS NOT NULL AND d.secret_sealed IS NOT NULL THEN
    PERFORM _record_event('security', 'device.verify_failed', 'device:' || device_id,
                          jsonb_build_object('reason', 'malformed'), current_principal(), NULL);
    RAISE EXCEPTION 'malformed device response'
      USING ERRCODE = 'invalid_text_representation',
            HINT = 'Answer with the 64 lower-case hex digits of HMAC-SHA256(secret, challenge || issued_at).';
  END IF;
  IF v_reason <> 'ok' THEN
    PERFORM _device_fail(device_id, 'device.verify_failed', v_reason);
  END IF;
  UPDATE devices x SET last_verified_at = clock_timestamp() WHERE x.device_id = device_verify.device_id;
  -- Frequent rows: through the audit intake (no chain lock).
  PERFORM _audit_enqueue('security', 'device.verify', 'device:' || device_id, '{}', current_principal(), NULL);
  RETURN _device_jwt_sign(jsonb_build_object(
    'iss', 'tracechain', 'sub', 'device:' || device_id, 'device_id', device_id,
    'device_type', d.device_type, 'manufacturer', d.manufacturer,
    'iat', v_now, 'exp', v_now + 3600, 'jti', gen_random_uuid()::text));
END $$;
COMMENT ON FUNCTION device_verify(text, text) IS
'Check a device''s answer to its challenge (consumed either way): a device JWT (HS256, 1 hour; claims device_id, device_type, manufacturer); 28000 "device authentication failed" for an unknown or revoked device, no or an expired challenge, or a wrong answer; 22P02 for a response that is not 64 hex digits';

CREATE FUNCTION device_token_verify(token text) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, tracechain, pg_temp AS $$
DECLARE
  c jsonb := _device_jwt_verify(token);
BEGIN
  IF c IS NULL OR (c ->> 'exp')::bigint <= extract(epoch FROM clock_timestamp())
     OR NOT EXISTS (SELECT 1 FROM devices x WHERE x.device_id = c ->> 'device_id' AND x.status = 'active') THEN
    RAISE EXCEPTION 'invalid device token'
      USING ERRCODE = 'invalid_authorization_specification',
            HINT = 'The token is malformed, not signed by this database, expired, or its device is revoked.';
  END IF;
  RETURN c;
END $$;
COMMENT ON FUNCTION device_token_verify(text) IS
'The claims of a valid device token (signature, header, expiry, device still active); 28000 otherwise';

CREATE FUNCTION device_token_key() RETURNS text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, tracechain, pg_temp AS $$
BEGIN
  PERFORM _audit_append('security', 'device.token_key_read', NULL, '{}', current_principal(), NULL);
  RETURN _device_token_key();
END $$;
COMMENT ON FUNCTION device_token_key() IS
'The HS256 key that verifies device tokens (base64url), for a relying party outside the database; whoever holds it can also mint tokens, so prefer device_token_verify; each read is audited';

-- Telemetry -------------------------------------------------------------------

CREATE FUNCTION device_encrypt(device_id text, data jsonb) RETURNS bytea
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, tracechain, pg_temp AS $$
DECLARE
  v_key bytea;
BEGIN
  PERFORM _device_check_id(device_id);
  IF data IS NULL THEN
    RAISE EXCEPTION 'data must not be null' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  SELECT x.data_key_sealed INTO v_key FROM devices x
   WHERE x.device_id = device_encrypt.device_id AND x.status = 'active';
  IF v_key IS NULL THEN
    RAISE EXCEPTION 'unknown or revoked device' USING ERRCODE = 'invalid_authorization_specification';
  END IF;
  RETURN _device_aead(v_key, device_id, convert_to(data::text, 'UTF8'), true);
END $$;
COMMENT ON FUNCTION device_encrypt(text, jsonb) IS
'Encrypt telemetry under the device''s key (AES-256-GCM, fresh nonce, device id bound as associated data)';

CREATE FUNCTION device_decrypt(device_id text, data bytea) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, tracechain, pg_temp AS $$
DECLARE
  v_key bytea;
BEGIN
  PERFORM _device_check_id(device_id);
  SELECT x.data_key_sealed INTO v_key FROM devices x WHERE x.device_id = device_decrypt.device_id;
  IF v_key IS NULL THEN
    RAISE EXCEPTION 'unknown or revoked device' USING ERRCODE = 'invalid_authorization_specification';
  END IF;
  RETURN convert_from(_device_aead(v_key, device_id, data, false), 'UTF8')::jsonb;
END $$;
COMMENT ON FUNCTION device_decrypt(text, bytea) IS
'Decrypt what device_encrypt returned for the same device (also after revocation); 22023 when altered or of another device';

-- Firmware ----------------------------------------------------------------

CREATE FUNCTION device_set_public_key(device_id text, pem text) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, tracechain, pg_temp AS $$
DECLARE
  k record;
BEGIN
  PERFORM _device_check_id(device_id);
  k := _device_parse_public_key(pem);
  UPDATE devices x SET public_key = k.der, public_key_type = k.key_type
   WHERE x.device_id = device_set_public_key.device_id AND x.status = 'active';
  IF NOT FOUND THEN
    RAISE EXCEPTION 'unknown or revoked device' USING ERRCODE = 'invalid_authorization_specification';
  END IF;
  PERFORM _audit_append('security', 'device.public_key', 'device:' || device_id,
                        jsonb_build_object('key_type', k.key_type, 'sha256', encode(sha256(k.der), 'hex')),
                        current_principal(), NULL);
END $$;
COMMENT ON FUNCTION device_set_public_key(text, text) IS
'Set the device''s firmware signing key from a PEM public key: ECDSA P-256 or Ed25519 (22P02 malformed, 22023 RSA or another type or curve)';

CREATE FUNCTION verify_firmware(device_id text, firmware bytea, signature bytea) RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, tracechain, pg_temp AS $$
DECLARE
  d record;
  v_ok boolean;
BEGIN
  PERFORM _device_check_id(device_id);
  IF firmware IS NULL OR signature IS NULL THEN
    RAISE EXCEPTION 'firmware and signature must not be null' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  SELECT x.public_key, x.public_key_type, x.status INTO d FROM devices x WHERE x.device_id = verify_firmware.device_id;
  IF d.status IS DISTINCT FROM 'active' THEN
    RAISE EXCEPTION 'unknown or revoked device' USING ERRCODE = 'invalid_authorization_specification';
  END IF;
  IF d.public_key IS NULL THEN
    RAISE EXCEPTION 'device has no firmware public key'
      USING ERRCODE = 'object_not_in_prerequisite_state', HINT = 'Set one with device_set_public_key.';
  END IF;
  v_ok := _device_verify_signature(d.public_key, d.public_key_type, firmware, signature);
  IF v_ok THEN
    PERFORM _audit_enqueue('security', 'device.firmware_verified', 'device:' || device_id,
                           jsonb_build_object('sha256', encode(sha256(firmware), 'hex')), current_principal(), NULL);
  ELSE
    PERFORM _record_event('security', 'device.firmware_rejected', 'device:' || device_id,
                          jsonb_build_object('sha256', encode(sha256(firmware), 'hex')), current_principal(), NULL);
  END IF;
  RETURN v_ok;
END $$;
COMMENT ON FUNCTION verify_firmware(text, bytea, bytea) IS
'Whether signature is the device key''s signature of firmware (ECDSA P-256: SHA-256, DER; Ed25519: raw 64 bytes); false for a wrong signature';

CREATE FUNCTION device_revoke(device_id text) RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, tracechain, pg_temp AS $$
BEGIN
  PERFORM _device_check_id(device_id);
  UPDATE devices x SET status = 'revoked', revoked_at = clock_timestamp()
   WHERE x.device_id = device_revoke.device_id AND x.status = 'active';
  IF NOT FOUND THEN
    RETURN false;
  END IF;
  PERFORM _device_challenge_drop(device_id);
  PERFORM _audit_append('security', 'device.revoke', 'device:' || device_id, '{}', current_principal(), NULL);
  RETURN true;
END $$;
COMMENT ON FUNCTION device_revoke(text) IS
'Revoke a device: its challenges, verifications, tokens, encryption and firmware checks fail from now on; true when it was active';

GRANT EXECUTE ON FUNCTION device_register(text, text, text), device_challenge(text), device_verify(text, text),
  device_token_verify(text), device_encrypt(text, jsonb), device_decrypt(text, bytea),
  device_set_public_key(text, text), verify_firmware(text, bytea, bytea)
  TO tracechain_app;
GRANT EXECUTE ON FUNCTION device_register(text, text, text), device_set_public_key(text, text),
  device_revoke(text), device_token_key()
  TO tracechain_admin;
GRANT SELECT (device_id, device_type, manufacturer, status, public_key_type, created_at, last_verified_at, revoked_at)
  ON devices TO tracechain_admin;

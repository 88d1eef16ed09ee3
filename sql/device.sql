-- device: registration, challenge-response, device tokens, telemetry
-- encryption, firmware signatures, bad input.  Prints no secret, token,
-- challenge, id or timestamp.
\set SHOW_CONTEXT never
\set VERBOSITY terse
SET search_path = tracechain, public;
SET client_min_messages = warning;

-- HMAC-SHA256 in plain SQL (what a device computes), checked against RFC 4231-style vectors.
CREATE FUNCTION pg_temp.hmac_sha256(key bytea, msg bytea) RETURNS bytea LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
  k bytea := key || decode(repeat('00', 64 - length(key)), 'hex');
  i bytea := k;
  o bytea := k;
BEGIN
  FOR n IN 0..63 LOOP
    i := set_byte(i, n, get_byte(k, n) # 54);
    o := set_byte(o, n, get_byte(k, n) # 92);
  END LOOP;
  RETURN sha256(o || sha256(i || msg));
END $$;
SELECT encode(pg_temp.hmac_sha256('key', 'The quick brown fox jumps over the lazy dog'), 'hex')
       = 'f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8' AS hmac_vector;
CREATE FUNCTION pg_temp.err(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE q;
  RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
  RETURN SQLSTATE || ' ' || SQLERRM;
END $$;
CREATE TABLE pg_temp.dev (id text PRIMARY KEY, secret text, challenge text, issued_at bigint, response text, token text);
CREATE FUNCTION pg_temp.challenge(d text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE c record;
BEGIN
  SELECT * INTO c FROM tracechain.device_challenge(d);
  UPDATE pg_temp.dev SET challenge = c.challenge, issued_at = c.issued_at,
         response = encode(pg_temp.hmac_sha256(decode(secret, 'hex'), convert_to(c.challenge || c.issued_at, 'UTF8')), 'hex')
   WHERE id = d;
END $$;

-- Registration: a 256-bit secret shown once, stored only sealed.
INSERT INTO pg_temp.dev (id, secret) VALUES ('sensor-001', device_register('sensor-001', 'temperature-sensor', 'Acme Sensors'));
INSERT INTO pg_temp.dev (id, secret) VALUES ('gateway:7', device_register('gateway:7', 'gateway', 'Globex'));
SELECT id, secret ~ '^[0-9a-f]{64}$' AS secret_is_64_hex FROM pg_temp.dev ORDER BY id;
SELECT device_id, device_type, manufacturer, status, octet_length(secret_sealed) > 32 AS sealed,
       position(decode(d.secret, 'hex') IN secret_sealed) = 0 AS secret_not_in_row
  FROM devices JOIN pg_temp.dev d ON d.id = device_id ORDER BY device_id;
-- the sealed secret is bound to its device: moved onto another row it does not unseal
SELECT expires_in FROM device_challenge('gateway:7');
SELECT pg_temp.err($$SELECT tracechain._device_check_response('gateway:7',
  (SELECT secret_sealed FROM tracechain.devices WHERE device_id = 'sensor-001'), repeat('0', 64))$$) AS swapped_secret;
SELECT pg_temp.err($$SELECT tracechain.device_register('sensor-001', 'x', 'y')$$) AS duplicate;

-- Challenge-response: a token for the right answer; the challenge is single-use.
SELECT pg_temp.challenge('sensor-001');
SELECT challenge ~ '^[0-9a-f]{64}$' AS challenge_hex, issued_at > 1700000000 AS issued_unix_seconds FROM pg_temp.dev WHERE id = 'sensor-001';
SELECT expires_in FROM device_challenge('gateway:7');
UPDATE pg_temp.dev SET token = device_verify(id, response) WHERE id = 'sensor-001';
SELECT split_part(token, '.', 1) AS jws_header, array_length(string_to_array(token, '.'), 1) AS parts
  FROM pg_temp.dev WHERE id = 'sensor-001';
SELECT convert_from(decode(translate(split_part(token, '.', 1), '-_', '+/'), 'base64'), 'UTF8') AS header
  FROM pg_temp.dev WHERE id = 'sensor-001';
SELECT c - 'iat' - 'exp' - 'jti' AS claims, (c->>'exp')::bigint - (c->>'iat')::bigint AS lifetime_s
  FROM (SELECT device_token_verify(token) c FROM pg_temp.dev WHERE id = 'sensor-001') x;
-- the same response again (replay): refused, with the one message
SELECT pg_temp.err(format('SELECT tracechain.device_verify(%L, %L)', id, response)) AS replay FROM pg_temp.dev WHERE id = 'sensor-001';
-- a wrong answer consumes the challenge: the right answer afterwards is refused
SELECT pg_temp.challenge('sensor-001');
SELECT pg_temp.err(format('SELECT tracechain.device_verify(%L, %L)', id, repeat('0', 64))) AS wrong FROM pg_temp.dev WHERE id = 'sensor-001';
SELECT pg_temp.err(format('SELECT tracechain.device_verify(%L, %L)', id, response)) AS right_after_wrong FROM pg_temp.dev WHERE id = 'sensor-001';
-- consumed even when the verifying transaction rolls back
SELECT pg_temp.challenge('sensor-001');
BEGIN;
SELECT device_verify(id, response) IS NOT NULL AS verified_then_rolled_back FROM pg_temp.dev WHERE id = 'sensor-001';
ROLLBACK;
SELECT pg_temp.err(format('SELECT tracechain.device_verify(%L, %L)', id, response)) AS after_rollback FROM pg_temp.dev WHERE id = 'sensor-001';
-- a new challenge replaces an outstanding one
SELECT pg_temp.challenge('sensor-001');
SELECT response AS old_response FROM pg_temp.dev WHERE id = 'sensor-001' \gset
SELECT pg_temp.challenge('sensor-001');
SELECT pg_temp.err(format('SELECT tracechain.device_verify(%L, %L)', 'sensor-001', :'old_response')) AS old_challenge;
-- upper-case hex, a non-hex or short response: 22P02 (the challenge is consumed all the same)
SELECT pg_temp.challenge('sensor-001');
SELECT pg_temp.err(format('SELECT tracechain.device_verify(%L, %L)', id, upper(response))) AS upper_hex FROM pg_temp.dev WHERE id = 'sensor-001';
SELECT pg_temp.challenge('sensor-001');
SELECT pg_temp.err(format('SELECT tracechain.device_verify(%L, %L)', id, 'zz' || substr(response, 3))) AS non_hex FROM pg_temp.dev WHERE id = 'sensor-001';
SELECT pg_temp.err(format('SELECT tracechain.device_verify(%L, %L)', id, response)) AS after_non_hex FROM pg_temp.dev WHERE id = 'sensor-001';
SELECT pg_temp.challenge('sensor-001');
SELECT pg_temp.err(format('SELECT tracechain.device_verify(%L, %L)', id, 'abc')) AS short FROM pg_temp.dev WHERE id = 'sensor-001';
-- unknown device, no challenge: the same message
SELECT pg_temp.err($$SELECT tracechain.device_verify('no-such-device', repeat('0', 64))$$) AS unknown;
SELECT pg_temp.err($$SELECT tracechain.device_verify('gateway:7', repeat('0', 64))$$) AS wrong_gateway;
SELECT pg_temp.err($$SELECT tracechain.device_verify('gateway:7', repeat('0', 64))$$) AS no_challenge;
SELECT pg_temp.err($$SELECT * FROM tracechain.device_challenge('no-such-device')$$) AS challenge_unknown;
-- tokens: altered, foreign, "none"
SELECT pg_temp.err(format('SELECT tracechain.device_token_verify(%L)', token || 'x')) AS altered FROM pg_temp.dev WHERE id = 'sensor-001';
SELECT pg_temp.err(format('SELECT tracechain.device_token_verify(%L)',
  'eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.' || split_part(token, '.', 2) || '.')) AS alg_none FROM pg_temp.dev WHERE id = 'sensor-001';
SELECT pg_temp.err($$SELECT tracechain.device_token_verify('not.a.token')$$) AS garbage;

-- Telemetry: AES-256-GCM per device, device id bound.
SELECT device_decrypt('sensor-001', device_encrypt('sensor-001', '{"celsius": 21.5, "battery": 0.93}')) AS roundtrip;
SELECT device_encrypt('sensor-001', '{"a": 1}') <> device_encrypt('sensor-001', '{"a": 1}') AS fresh_nonce,
       get_byte(device_encrypt('sensor-001', '{"a": 1}'), 0) AS version,
       octet_length(device_encrypt('sensor-001', '{"a": 1}')) - octet_length('{"a": 1}') AS overhead;
SELECT pg_temp.err($$SELECT tracechain.device_decrypt('gateway:7', tracechain.device_encrypt('sensor-001', '{"a": 1}'))$$) AS other_device;
SELECT pg_temp.err($$SELECT tracechain.device_decrypt('sensor-001',
  set_byte(tracechain.device_encrypt('sensor-001', '{"a": 1}'), 14, 0))$$) AS flipped;
SELECT pg_temp.err($$SELECT tracechain.device_decrypt('sensor-001', '\x0102')$$) AS too_short;
SELECT pg_temp.err($$SELECT tracechain.device_encrypt('no-such-device', '{}')$$) AS unknown_encrypt;

-- Firmware: ECDSA P-256 (openssl dgst -sha256 -sign) and Ed25519 (openssl pkeyutl -sign -rawin).
SELECT device_set_public_key('sensor-001', $pem$-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEkvEL9aDVlIXxD1gjl5iawFYBGJn3
Z2qPKs94VUq4fk+VWeRpPyO9Huth2VT5onM/LQ1/0S4qkoloq75oQu/pJw==
-----END PUBLIC KEY-----$pem$);
SELECT public_key_type FROM devices WHERE device_id = 'sensor-001';
SELECT verify_firmware('sensor-001', convert_to(E'firmware image v1.0\n', 'UTF8'), '\x304502200a2e3aec6462491535f7283f8713daa883b5178179349da4a51049ae36aa60e4022100b1abf20c06ce9d8ea81dc18f088e0a650c15b38aff05d622f30a98c18817318e') AS p256_ok,
       verify_firmware('sensor-001', convert_to(E'firmware image v1.1\n', 'UTF8'), '\x304502200a2e3aec6462491535f7283f8713daa883b5178179349da4a51049ae36aa60e4022100b1abf20c06ce9d8ea81dc18f088e0a650c15b38aff05d622f30a98c18817318e') AS p256_other_image,
       verify_firmware('sensor-001', convert_to(E'firmware image v1.0\n', 'UTF8'), '\x3006020101020101') AS p256_bogus_der,
       verify_firmware('sensor-001', convert_to(E'firmware image v1.0\n', 'UTF8'), '\x') AS empty_signature;
SELECT device_set_public_key('gateway:7', $pem$-----BEGIN PUBLIC KEY-----
MCowBQYDK2VwAyEAkKOSKWhsT7Q+Jv6rkd2PFOkFITd4prA1hgJKYVO+ams=
-----END PUBLIC KEY-----$pem$);
SELECT public_key_type FROM devices WHERE device_id = 'gateway:7';
SELECT verify_firmware('gateway:7', convert_to(E'firmware image v1.0\n', 'UTF8'), '\x83276870bb8c7770323cf860863e1ba64640ec05ed6c352b256bcadd418bf69f315dd878cd85a81db021fb25fd8bc7e4aaa3e0603c7b598ef66b9e3f632d720c') AS ed25519_ok,
       verify_firmware('gateway:7', convert_to(E'firmware image v1.0\n', 'UTF8'),
                       set_byte('\x83276870bb8c7770323cf860863e1ba64640ec05ed6c352b256bcadd418bf69f315dd878cd85a81db021fb25fd8bc7e4aaa3e0603c7b598ef66b9e3f632d720c'::bytea, 10, 0)) AS ed25519_flipped_signature,
       verify_firmware('gateway:7', convert_to(E'firmware image v1.0!', 'UTF8'), '\x83276870bb8c7770323cf860863e1ba64640ec05ed6c352b256bcadd418bf69f315dd878cd85a81db021fb25fd8bc7e4aaa3e0603c7b598ef66b9e3f632d720c') AS ed25519_other_image,
       verify_firmware('sensor-001', convert_to(E'firmware image v1.0\n', 'UTF8'), '\x83276870bb8c7770323cf860863e1ba64640ec05ed6c352b256bcadd418bf69f315dd878cd85a81db021fb25fd8bc7e4aaa3e0603c7b598ef66b9e3f632d720c') AS wrong_key;
SELECT q, pg_temp.err(q) FROM (VALUES
  ($q$SELECT tracechain.device_set_public_key('sensor-001', 'not a key')$q$),
  ($q$SELECT tracechain.device_set_public_key('sensor-001', '-----BEGIN PUBLIC KEY-----' || chr(10) || 'AAAA' || chr(10) || '-----END PUBLIC KEY-----')$q$),
  ($q$SELECT tracechain.device_set_public_key('sensor-001', $pem$-----BEGIN PUBLIC KEY-----
MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQCgP/qAtH1Ik5ZXGjm/whSDGK8s
VuGSxESJ+pKuLbRN+Rwp4dbLOgyeQczeMdA+WjtdkNXMViNn/cCFqAyE6R20C2YO
zDB55/AMaVzFFpJPDM/Sd7SuxCW4xHRah7NjjAkdU4z3vHpVSMc25biZz3iN4yfT
QWvIYDYexQmCDq+faQIDAQAB
-----END PUBLIC KEY-----$pem$)$q$),
  ($q$SELECT tracechain.device_set_public_key('sensor-001', $pem$-----BEGIN PUBLIC KEY-----
MHYwEAYHKoZIzj0CAQYFK4EEACIDYgAERJXsoV+RqjpYRvU9Ov6bOHub41aNZGtS
rOuRTRbkHXCc3QisH3EM9sFAOrv6hqhSINBrSmyr6gmIkK+8smgzAXUbjBO+yZIw
9eoRZadUz/X49pXItVRsQ4wvxuWQec5J
-----END PUBLIC KEY-----$pem$)$q$),
  ($q$SELECT tracechain.device_set_public_key('sensor-001', $pem$-----BEGIN EC PRIVATE KEY-----
MHcCAQEEID0R9cohbIVYtRx1RxtpW+qSq66B8ZHErugXFhliTbsPoAoGCCqGSM49
AwEHoUQDQgAEkvEL9aDVlIXxD1gjl5iawFYBGJn3Z2qPKs94VUq4fk+VWeRpPyO9
Huth2VT5onM/LQ1/0S4qkoloq75oQu/pJw==
-----END EC PRIVATE KEY-----$pem$)$q$),
  ($q$SELECT tracechain.device_set_public_key('sensor-001', repeat('A', 20000))$q$),
  ($q$SELECT tracechain.device_set_public_key('sensor-001', NULL)$q$),
  ($q$SELECT tracechain.device_set_public_key('no-such-device', $pem$-----BEGIN PUBLIC KEY-----
MCowBQYDK2VwAyEAkKOSKWhsT7Q+Jv6rkd2PFOkFITd4prA1hgJKYVO+ams=
-----END PUBLIC KEY-----$pem$)$q$),
  ($q$SELECT tracechain.verify_firmware('sensor-001', NULL, '\x00')$q$),
  ($q$SELECT tracechain.device_register('bad id!', 'x', 'y')$q$),
  ($q$SELECT tracechain.device_register(repeat('d', 129), 'x', 'y')$q$),
  ($q$SELECT tracechain.device_register('ok-id', '', 'y')$q$),
  ($q$SELECT tracechain.device_register(NULL, 'x', 'y')$q$),
  ($q$SELECT tracechain.device_verify(NULL, 'x')$q$),
  ($q$SELECT tracechain.device_encrypt('sensor-001', NULL)$q$)) v(q);
SELECT public_key_type FROM devices WHERE device_id = 'sensor-001';

-- Revocation: everything but decrypting old telemetry fails; the token too.
SELECT device_encrypt('gateway:7', '{"kept": true}') AS old_telemetry \gset
SELECT pg_temp.challenge('gateway:7');
SELECT device_revoke('gateway:7') AS revoked, device_revoke('gateway:7') AS revoked_twice;
SELECT pg_temp.err(format('SELECT tracechain.device_verify(%L, %L)', id, response)) AS verify_revoked FROM pg_temp.dev WHERE id = 'gateway:7';
SELECT pg_temp.err($$SELECT * FROM tracechain.device_challenge('gateway:7')$$) AS challenge_revoked;
SELECT pg_temp.err($$SELECT tracechain.device_encrypt('gateway:7', '{}')$$) AS encrypt_revoked;
SELECT device_decrypt('gateway:7', :'old_telemetry') AS decrypt_old;
SELECT device_revoke('sensor-001');
SELECT pg_temp.err(format('SELECT tracechain.device_token_verify(%L)', token)) AS token_of_revoked FROM pg_temp.dev WHERE id = 'sensor-001';

-- Audited: successes in the chain, failures as rollback-proof security events.
SELECT audit_seal() >= 0 AS sealed;
SELECT events_flush_wait();
SELECT action, details ->> 'reason' AS reason, count(*) FROM audit_log
 WHERE resource IN ('device:sensor-001', 'device:gateway:7', 'device:no-such-device')
 GROUP BY 1, 2 ORDER BY 1, 2;

-- Who may call what.
CREATE ROLE tc_dev_app LOGIN;
GRANT tracechain_app TO tc_dev_app;
SET ROLE tc_dev_app;
SELECT length(tracechain.device_register('app-dev-1', 'meter', 'Initech')) AS app_registers;
SELECT expires_in FROM tracechain.device_challenge('app-dev-1');
SELECT tracechain.device_revoke('app-dev-1');
SELECT tracechain.device_token_key();
SELECT tracechain._device_jwt_sign('{}');
SELECT * FROM tracechain.devices;
RESET ROLE;
DROP ROLE tc_dev_app;
CREATE ROLE tc_dev_admin LOGIN;
GRANT tracechain_admin TO tc_dev_admin;
SET ROLE tc_dev_admin;
SELECT length(tracechain.device_token_key()) AS key_b64url_len;
SELECT device_id, status FROM tracechain.devices WHERE device_id = 'app-dev-1';
SELECT secret_sealed FROM tracechain.devices;
SELECT tracechain.device_revoke('app-dev-1') AS admin_revokes;
RESET ROLE;
DROP ROLE tc_dev_admin;

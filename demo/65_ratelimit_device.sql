-- demo/65_ratelimit_device.sql: rate limiting in shared memory (GCRA, no
-- double burst at a window edge), blocks of addresses and networks, and an
-- IoT device that signs in with a challenge, encrypts telemetry and has its
-- firmware checked.
\set ON_ERROR_STOP 0
\set SHOW_CONTEXT never
\pset footer off
SET search_path = tracechain;

\echo
\echo '### 1. 60 requests a minute by default: the 61st is refused and blocks the address.'
SELECT count(*) FILTER (WHERE rate_limit_check('198.51.100.7', 'POST /login')) AS admitted_of_61
  FROM generate_series(1, 61);
SELECT is_blocked('198.51.100.7') AS blocked, is_blocked('198.51.100.8') AS neighbour_blocked;
SELECT minute, hour, day, limits FROM rate_limit_info('198.51.100.7', 'POST /login');

\echo
\echo '### 2. A window edge admits no second burst (GCRA): 60 at 00:00:59, then 60 more at 00:01:00.5.'
SELECT count(*) FILTER (WHERE _rate_limit_check_at('203.0.113.9', 'demo:edge', '2001-01-01 00:00:59+00'::timestamptz + g * interval '1 ms')) AS before_edge,
       (SELECT count(*) FILTER (WHERE _rate_limit_check_at('203.0.113.9', 'demo:edge', '2001-01-01 00:01:00.5+00'::timestamptz + g * interval '1 ms'))
          FROM generate_series(1, 60) g) AS after_edge
  FROM generate_series(1, 60) g;

\echo
\echo '### 3. Per-endpoint limits, networks, IPv6.'
SELECT rate_limit_set('POST /reset-password', 3, 10, 20);
SELECT rate_limit_check('192.0.2.5', 'POST /reset-password') AS r FROM generate_series(1, 4);
SELECT block_ip('10.66.0.0/16', '1 hour', 'demo: a scanner network');
SELECT is_blocked('10.66.200.1') AS in_network, is_blocked('10.67.0.1') AS outside;
SELECT block_ip('2001:db8:bad::/48', '1 hour', 'demo');
SELECT is_blocked('2001:db8:bad:1::42') AS v6_in_network;
SELECT unblock_ip('198.51.100.7') AS unblocked, is_blocked('198.51.100.7') AS blocked;
SELECT pg_sleep(0.3);
SELECT network, reason FROM ip_blocks ORDER BY network;
SELECT * FROM rate_limit_stats();

\echo
\echo '### 4. A device registers (its secret is shown once) and signs in with a challenge.'
SELECT device_register('demo-sensor-1', 'temperature-sensor', 'Acme Sensors') AS secret \gset
SELECT * FROM device_challenge('demo-sensor-1') \gset
\echo 'The device computes hex(HMAC-SHA256(secret, challenge || issued_at)); here, in SQL:'
CREATE FUNCTION pg_temp.hmac_sha256(key bytea, msg bytea) RETURNS bytea LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE k bytea := key || decode(repeat('00', 64 - length(key)), 'hex'); i bytea := k; o bytea := k;
BEGIN
  FOR n IN 0..63 LOOP i := set_byte(i, n, get_byte(k, n) # 54); o := set_byte(o, n, get_byte(k, n) # 92); END LOOP;
  RETURN sha256(o || sha256(i || msg));
END $$;
SELECT encode(pg_temp.hmac_sha256(decode(:'secret', 'hex'), convert_to(:'challenge' || :'issued_at', 'UTF8')), 'hex') AS answer \gset
SELECT device_verify('demo-sensor-1', :'answer') AS token \gset
SELECT device_token_verify(:'token') AS claims;
\echo 'The same answer again (a replay) fails:'
SELECT device_verify('demo-sensor-1', :'answer');

\echo
\echo '### 5. Telemetry under the device key (AES-256-GCM, device id bound).'
SELECT device_encrypt('demo-sensor-1', '{"celsius": 21.5}') AS blob \gset
SELECT device_decrypt('demo-sensor-1', :'blob') AS telemetry;

\echo
\echo '### 6. Firmware keys: RSA is refused.'
SELECT device_set_public_key('demo-sensor-1', '-----BEGIN PUBLIC KEY-----
MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQCgP/qAtH1Ik5ZXGjm/whSDGK8s
VuGSxESJ+pKuLbRN+Rwp4dbLOgyeQczeMdA+WjtdkNXMViNn/cCFqAyE6R20C2YO
zDB55/AMaVzFFpJPDM/Sd7SuxCW4xHRah7NjjAkdU4z3vHpVSMc25biZz3iN4yfT
QWvIYDYexQmCDq+faQIDAQAB
-----END PUBLIC KEY-----');
SELECT device_revoke('demo-sensor-1') AS revoked;
SELECT device_token_verify(:'token');

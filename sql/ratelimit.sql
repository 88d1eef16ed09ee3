-- ratelimit: GCRA counters in shared memory, blocks, networks, IPv6,
-- eviction, login throttling.  Prints no id, uuid or timestamp.
\set SHOW_CONTEXT never
\set VERBOSITY terse
SET search_path = tracechain, public;
SET client_min_messages = warning;

-- The 61st call in a minute is refused and blocks the address; other
-- addresses and endpoints are unaffected.
SELECT count(*) FILTER (WHERE rate_limit_check('198.51.100.7', 'rl:login')) AS admitted_of_60
  FROM generate_series(1, 60);
SELECT rate_limit_check('198.51.100.7', 'rl:other') AS same_ip_other_endpoint_before_block;
SELECT minute, hour, day, limits - 'blocked_until' AS limits FROM rate_limit_info('198.51.100.7', 'rl:login');
SELECT is_blocked('198.51.100.7') AS blocked_before;
SELECT rate_limit_check('198.51.100.7', 'rl:login') AS call_61;
SELECT is_blocked('198.51.100.7') AS blocked_after,
       (SELECT limits ->> 'blocked_until' IS NOT NULL FROM rate_limit_info('198.51.100.7', 'rl:login')) AS info_shows_block;
SELECT rate_limit_check('198.51.100.7', 'rl:other') AS blocked_ip_other_endpoint;
SELECT rate_limit_check('198.51.100.8', 'rl:login') AS other_ip_same_endpoint;
SELECT minute FROM rate_limit_info('198.51.100.8', 'rl:login');
-- The block is written to ip_blocks by the worker (here: now) and is a security event.
SELECT _rate_limit_sync();
SELECT network, reason FROM ip_blocks WHERE network = '198.51.100.7/32';
SELECT events_flush_wait();
SELECT action, resource, details - 'until' AS details FROM audit_log
 WHERE action = 'ratelimit.blocked' AND resource = 'ip:198.51.100.7';
SELECT unblock_ip('198.51.100.7') AS unblocked, is_blocked('198.51.100.7') AS still_blocked,
       rate_limit_check('198.51.100.7', 'rl:login') AS admitted_again;
SELECT unblock_ip('198.51.100.7') AS unblocked_twice;

-- A window edge does not admit a second burst (time moved with the
-- test-only _rate_limit_check_at): 60 requests at 00:00:59, then 60 more
-- just after 00:01:00.  A fixed window would admit all 120.
-- (Test time lies in the future, so the worker does not purge the block as expired.)
CREATE TEMP TABLE t0 AS SELECT date_trunc('minute', now()) + interval '1 day 59 seconds' AS t0;
SELECT count(*) FILTER (WHERE _rate_limit_check_at('203.0.113.50', 'rl:edge', t0 + g * interval '1 ms')) AS burst_before_edge
  FROM t0, generate_series(1, 60) g;
SELECT count(*) FILTER (WHERE _rate_limit_check_at('203.0.113.50', 'rl:edge', t0 + interval '1.5 s' + g * interval '1 ms')) AS burst_after_edge
  FROM t0, generate_series(1, 60) g;
-- ... which blocked the address for a minute (of test time): refused until then, then GCRA admits again
SELECT _rate_limit_check_at('203.0.113.50', 'rl:edge', t0 + interval '61 s') AS within_block,
       _rate_limit_check_at('203.0.113.50', 'rl:edge', t0 + interval '62 s') AS after_the_block_ends
  FROM t0;
-- after the block and a quiet minute, a full burst again
SELECT count(*) FILTER (WHERE _rate_limit_check_at('203.0.113.50', 'rl:edge', t0 + interval '180 s' + g * interval '1 ms')) AS burst_later
  FROM t0, generate_series(1, 60) g;
-- a steady client at exactly the rate (one a second) is never refused
SELECT count(*) FILTER (WHERE _rate_limit_check_at('203.0.113.51', 'rl:edge', t0 + g * interval '1 s')) AS steady_of_300
  FROM t0, generate_series(1, 300) g;
SELECT unblock_ip('203.0.113.50');

-- Per-endpoint limits from rate_limits, picked up at once (cached per
-- backend, refreshed by the trigger's generation counter).
SELECT rate_limit_set('rl:hourly', 1000, 5, 1000);
SELECT count(*) FILTER (WHERE rate_limit_check('198.51.100.20', 'rl:hourly')) AS admitted_of_6
  FROM generate_series(1, 6);
SELECT minute, hour, day, limits - 'blocked_until' AS limits FROM rate_limit_info('198.51.100.20', 'rl:hourly');
SELECT rate_limit_set('rl:hourly', 1000, 7, 1000);
SELECT limits - 'blocked_until' AS limits FROM rate_limit_info('198.51.100.20', 'rl:hourly');
SELECT endpoint, per_minute, per_hour, per_day FROM rate_limits ORDER BY endpoint;
-- a block of an hour window lasts an hour
SELECT _rate_limit_sync();
SELECT blocked_until - created_at BETWEEN interval '59 minutes' AND interval '61 minutes' AS hour_long
  FROM ip_blocks WHERE network = '198.51.100.20/32';
SELECT unblock_ip('198.51.100.20');

-- Networks: a block of a /24 blocks its addresses and nothing else.
SELECT block_ip('192.0.2.0/24', '1 hour', 'test: a /24');
SELECT is_blocked('192.0.2.1') AS inside, is_blocked('192.0.2.254') AS inside_too,
       is_blocked('192.0.3.1') AS outside, rate_limit_check('192.0.2.77', 'rl:login') AS check_inside;
SELECT block_ip('192.0.2.99/24', '1 hour', 'same network, host bits set');
SELECT network, reason FROM ip_blocks WHERE network <<= '192.0.2.0/24' AND reason NOT LIKE 'incident %' ORDER BY network;
SELECT unblock_ip('192.0.2.1') AS unblock_one_address_of_the_network, is_blocked('192.0.2.1') AS still_inside;
SELECT unblock_ip('192.0.2.0/24') AS unblock_network, is_blocked('192.0.2.1') AS inside_after;

-- IPv6: addresses and networks; counted per /64 (tracechain.ratelimit_ipv6_prefix).
SHOW tracechain.ratelimit_ipv6_prefix;
SELECT rate_limit_set('rl:v6', 3, 100, 1000);
SELECT rate_limit_check('2001:db8:aa::1', 'rl:v6') AS a1, rate_limit_check('2001:db8:aa::1', 'rl:v6') AS a2,
       rate_limit_check('2001:db8:aa::2', 'rl:v6') AS same_64, rate_limit_check('2001:db8:aa::3', 'rl:v6') AS over;
SELECT is_blocked('2001:db8:aa::ffff') AS same_64_blocked, is_blocked('2001:db8:ab::1') AS other_64,
       rate_limit_check('2001:db8:ab::1', 'rl:v6') AS other_64_admitted;
SELECT _rate_limit_sync();
SELECT network FROM ip_blocks WHERE family(network) = 6 ORDER BY network;
SELECT block_ip('2001:db8:1000::/36', '10 minutes', 'test: a /36');
SELECT is_blocked('2001:db8:1234::9') AS inside, is_blocked('2001:db8:2000::1') AS outside,
       is_blocked('192.0.2.1') AS v4_untouched;
SELECT unblock_ip('2001:db8:1000::/36'), unblock_ip('2001:db8:aa::/64');
SELECT is_blocked('2001:db8:aa::1') AS v6_after_unblock;

-- Expired blocks stop applying at once and are purged later.
SELECT block_ip('198.51.100.30', '1 second', 'short');
SELECT is_blocked('198.51.100.30') AS blocked_now;
SELECT pg_sleep(1.2);
SELECT is_blocked('198.51.100.30') AS blocked_after_expiry;
SELECT _rate_limit_sync();
SELECT count(*) AS expired_rows_left FROM ip_blocks WHERE network = '198.51.100.30/32';

-- Eviction: far more distinct addresses than counter slots; no error, memory bounded.
SELECT rate_limit_set('rl:flood', 10000000, 10000000, 10000000);
SELECT count(*) FILTER (WHERE rate_limit_check(('10.' || (g >> 16) || '.' || ((g >> 8) & 255) || '.' || (g & 255))::inet, 'rl:flood')) AS admitted
  FROM generate_series(1, 3 * current_setting('tracechain.ratelimit_slots')::int) g;
SELECT entries <= slots AS bounded, evictions > 0 AS evicted FROM rate_limit_stats();
-- recently used keys survived; the blocked address's state is independent of counters
SELECT rate_limit_check('198.51.100.8', 'rl:login') AS still_works;

-- Bad input (SQLSTATE and message).
CREATE FUNCTION pg_temp.err(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE q;
  RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
  RETURN SQLSTATE || ' ' || SQLERRM;
END $$;
SELECT q, pg_temp.err(q) FROM (VALUES
  ($$SELECT tracechain.rate_limit_check(NULL, 'rl:login')$$),
  ($$SELECT tracechain.rate_limit_check('198.51.100.9', NULL)$$),
  ($$SELECT tracechain.rate_limit_check('198.51.100.9', '')$$),
  ($$SELECT tracechain.rate_limit_check('198.51.100.9', repeat('x', 201))$$),
  ($$SELECT tracechain.rate_limit_check('not an address', 'rl:login')$$),
  ($$SELECT tracechain.rate_limit_check('2001:db8::zz', 'rl:login')$$),
  ($$SELECT tracechain.rate_limit_check('2001:db8::1/129', 'rl:login')$$),
  ($$SELECT tracechain.block_ip('198.51.100.9', '-1 hour', 'negative')$$),
  ($$SELECT tracechain.block_ip('198.51.100.9', NULL, 'null')$$),
  ($$SELECT tracechain.block_ip(NULL, '1 hour', 'null')$$),
  ($$SELECT tracechain.block_ip('198.51.100.9', '1 hour', repeat('r', 501))$$),
  ($$SELECT tracechain.rate_limit_set('rl:bad', 0, 1, 1)$$),
  ($$SELECT tracechain.rate_limit_set(repeat('e', 201), 1, 1, 1)$$),
  ($$SELECT tracechain.is_blocked(NULL)$$),
  ($$SELECT tracechain.unblock_ip(NULL)$$)) v(q);

-- Login throttling: failed sign-ins count per IP (and per wallet / principal);
-- over tracechain.login_throttle_ip the attempt is refused before any check.
SET tracechain.siwe_domain = 'example.com';
SET tracechain.login_throttle_ip = 3;
SELECT siwe_login('not a sign-in message', '0x00', '198.51.100.40');
SELECT siwe_login('not a sign-in message', '0x00', '198.51.100.40');
SELECT siwe_login('not a sign-in message', '0x00', '198.51.100.40');
SELECT siwe_login('not a sign-in message', '0x00', '198.51.100.40');
SELECT siwe_login('not a sign-in message', '0x00', '198.51.100.41');
SELECT events_flush_wait();
SELECT details ->> 'reason' AS reason, count(*) FROM audit_log
 WHERE action = 'siwe.login_failed' AND ip <<= '198.51.100.40/31' GROUP BY 1 ORDER BY 1;
SET tracechain.login_throttle_principal = 2;
SELECT _login_throttle_fail('totp', NULL, 'principal-a'), _login_throttle_ok('totp', NULL, 'principal-a') AS ok_after_1;
SELECT _login_throttle_fail('totp', NULL, 'principal-a'), _login_throttle_ok('totp', NULL, 'principal-a') AS ok_after_2;
SELECT _login_throttle_ok('totp', NULL, 'principal-b') AS other_principal, _login_throttle_ok('siwe', NULL, 'principal-a') AS other_kind;
RESET tracechain.login_throttle_ip;
RESET tracechain.login_throttle_principal;
RESET tracechain.siwe_domain;

-- Who may call what.
CREATE ROLE tc_rl_app LOGIN;
GRANT tracechain_app TO tc_rl_app;
SET ROLE tc_rl_app;
SELECT tracechain.rate_limit_check('198.51.100.50', 'rl:app') AS app_checks;
SELECT tracechain.is_blocked('198.51.100.50') AS app_reads_blocks;
SELECT minute FROM tracechain.rate_limit_info('198.51.100.50', 'rl:app');
SELECT tracechain.block_ip('198.51.100.50', '1 hour', 'app');
SELECT tracechain.unblock_ip('198.51.100.50');
SELECT tracechain.rate_limit_set('rl:app', 1, 1, 1);
SELECT tracechain._rate_limit_check_at('198.51.100.50', 'rl:app', now());
SELECT * FROM tracechain.ip_blocks;
RESET ROLE;
DROP ROLE tc_rl_app;

-- ratelimit.sql: rate limiting and IP blocking (ratelimit.c; docs/ratelimit.md).
--
-- Counters live in shared memory only (GCRA per minute, hour and day).
-- rate_limits holds per-endpoint limits; a statement trigger tells every
-- backend to reload its cached copy.  ip_blocks is the durable copy of the
-- shared-memory block list: the worker writes new blocks into it, loads it
-- after a restart and purges expired rows.

CREATE TABLE rate_limits (
  endpoint   text PRIMARY KEY CHECK (octet_length(endpoint) BETWEEN 1 AND 200),
  per_minute int  NOT NULL DEFAULT 60    CHECK (per_minute BETWEEN 1 AND 10000000),
  per_hour   int  NOT NULL DEFAULT 1000  CHECK (per_hour BETWEEN 1 AND 10000000),
  per_day    int  NOT NULL DEFAULT 10000 CHECK (per_day BETWEEN 1 AND 10000000),
  updated_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE rate_limits IS
'Per-endpoint request limits per minute, hour and day; endpoints without a row use the row ''*'', else 60/1000/10000';
SELECT pg_catalog.pg_extension_config_dump('rate_limits', '');

CREATE FUNCTION _rate_limits_changed() RETURNS trigger
LANGUAGE C AS 'MODULE_PATHNAME', 'tc_rate_limits_changed';
COMMENT ON FUNCTION _rate_limits_changed() IS
'Internal: statement trigger on rate_limits; bumps the shared generation so every backend reloads its cached limits (now and at commit)';
CREATE TRIGGER rate_limits_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON rate_limits
  FOR EACH STATEMENT EXECUTE FUNCTION _rate_limits_changed();

CREATE TABLE ip_blocks (
  network       cidr        PRIMARY KEY,
  blocked_until timestamptz NOT NULL,
  reason        text,
  created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ip_blocks_until ON ip_blocks (blocked_until);
COMMENT ON TABLE ip_blocks IS
'Blocked addresses and networks (the durable copy of the shared-memory list that checks read); expired rows are purged by the worker';
SELECT pg_catalog.pg_extension_config_dump('ip_blocks', '');

-- The hot path: C, not SECURITY DEFINER (a SET clause would cost more than
-- the check).  It touches no table except rate_limits on a cache miss, which
-- it reads as the table's owner.
CREATE FUNCTION rate_limit_check(ip inet, endpoint text) RETURNS boolean
LANGUAGE C VOLATILE AS 'MODULE_PATHNAME', 'tc_rate_limit_check';
COMMENT ON FUNCTION rate_limit_check(inet, text) IS
'Count one request of ip on endpoint (GCRA per minute, hour and day, in shared memory): true when admitted; false when the ip is blocked or over a limit, which blocks it for that window''s length';

CREATE FUNCTION _rate_limit_check_at(ip inet, endpoint text, at timestamptz) RETURNS boolean
LANGUAGE C VOLATILE AS 'MODULE_PATHNAME', 'tc_rate_limit_check_at';
COMMENT ON FUNCTION _rate_limit_check_at(inet, text, timestamptz) IS
'Internal (tests): rate_limit_check as if the time were at';

CREATE FUNCTION is_blocked(ip inet) RETURNS boolean
LANGUAGE C VOLATILE AS 'MODULE_PATHNAME', 'tc_is_blocked';
COMMENT ON FUNCTION is_blocked(inet) IS
'Whether a live block (of the address or of a network containing it) applies now';

CREATE FUNCTION _rate_limit_info(ip inet, endpoint text, at timestamptz,
  OUT minute int, OUT hour int, OUT day int, OUT per_minute int, OUT per_hour int, OUT per_day int)
RETURNS record
LANGUAGE C VOLATILE AS 'MODULE_PATHNAME', 'tc_rate_limit_info';
COMMENT ON FUNCTION _rate_limit_info(inet, text, timestamptz) IS
'Internal: requests counted per window for ip on endpoint at a time, and the endpoint''s limits';

CREATE FUNCTION _rate_limit_blocked_until(ip inet, at timestamptz) RETURNS timestamptz
LANGUAGE C VOLATILE AS 'MODULE_PATHNAME', 'tc_rate_limit_blocked_until';
COMMENT ON FUNCTION _rate_limit_blocked_until(inet, timestamptz) IS
'Internal: the end of the latest live block covering ip at a time, or null';

CREATE FUNCTION _rate_limit_block(network inet, until timestamptz, reason text) RETURNS void
LANGUAGE C VOLATILE AS 'MODULE_PATHNAME', 'tc_rate_limit_block';
COMMENT ON FUNCTION _rate_limit_block(inet, timestamptz, text) IS
'Internal: add or extend a block in shared memory (takes effect at once; the worker copies it into ip_blocks)';

CREATE FUNCTION _rate_limit_unblock(network inet) RETURNS int
LANGUAGE C VOLATILE AS 'MODULE_PATHNAME', 'tc_rate_limit_unblock';
COMMENT ON FUNCTION _rate_limit_unblock(inet) IS
'Internal: drop a network''s block from shared memory and forget the counters of the addresses in it';

CREATE FUNCTION _rate_limit_sync() RETURNS void
LANGUAGE C VOLATILE AS 'MODULE_PATHNAME', 'tc_rate_limit_sync';
COMMENT ON FUNCTION _rate_limit_sync() IS
'Internal: the worker''s job now (load ip_blocks after a restart, write new blocks, purge expired ones)';

CREATE FUNCTION _login_throttle_ok(kind text, ip inet, principal text) RETURNS boolean
LANGUAGE C VOLATILE AS 'MODULE_PATHNAME', 'tc_login_throttle_ok';
COMMENT ON FUNCTION _login_throttle_ok(text, inet, text) IS
'Internal: whether another sign-in attempt of a kind (siwe, totp) may be made from ip and for principal (either may be null): false once tracechain.login_throttle_ip or _principal failures fell within tracechain.login_throttle_window';

CREATE FUNCTION _login_throttle_fail(kind text, ip inet, principal text) RETURNS boolean
LANGUAGE C VOLATILE AS 'MODULE_PATHNAME', 'tc_login_throttle_fail';
COMMENT ON FUNCTION _login_throttle_fail(text, inet, text) IS
'Internal: count one failed sign-in attempt per ip and per principal (in shared memory: survives the caller''s rollback); false once over';

CREATE FUNCTION _rate_limit_stats(OUT slots int, OUT entries bigint, OUT evictions bigint,
                                  OUT blocks int, OUT blocks_dropped bigint, OUT blocks_loaded boolean)
RETURNS record
LANGUAGE C VOLATILE AS 'MODULE_PATHNAME', 'tc_rate_limit_stats';
COMMENT ON FUNCTION _rate_limit_stats() IS 'Internal: the row behind rate_limit_stats()';

CREATE FUNCTION rate_limit_stats(OUT slots int, OUT entries bigint, OUT evictions bigint,
                                 OUT blocks int, OUT blocks_dropped bigint, OUT blocks_loaded boolean)
RETURNS record
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, tracechain, pg_temp AS $$
  SELECT * FROM _rate_limit_stats()
$$;
COMMENT ON FUNCTION rate_limit_stats() IS
'Shared-memory rate limiter: counter slots (tracechain.ratelimit_slots), entries in use, LRU evictions, live blocks, blocks pushed out of a full list, whether ip_blocks was loaded since start';

CREATE FUNCTION rate_limit_info(ip inet, endpoint text)
RETURNS TABLE (minute int, hour int, day int, limits jsonb)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, tracechain, pg_temp AS $$
DECLARE
  r record;
  v_at timestamptz := clock_timestamp();
BEGIN
  r := _rate_limit_info(ip, endpoint, v_at);
  minute := r.minute;
  hour := r.hour;
  day := r.day;
  limits := jsonb_build_object('per_minute', r.per_minute, 'per_hour', r.per_hour, 'per_day', r.per_day,
                               'blocked_until', _rate_limit_blocked_until(ip, v_at));
  RETURN NEXT;
END $$;
COMMENT ON FUNCTION rate_limit_info(inet, text) IS
'Requests of ip on endpoint counted now in each window (minute, hour, day), with the endpoint''s limits and the end of a live block (null when none)';

CREATE FUNCTION rate_limit_set(endpoint text, per_minute int DEFAULT 60, per_hour int DEFAULT 1000,
                               per_day int DEFAULT 10000)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, tracechain, pg_temp AS $$
BEGIN
  IF endpoint IS NULL OR octet_length(endpoint) NOT BETWEEN 1 AND 200 THEN
    RAISE EXCEPTION 'endpoint must be between 1 and 200 bytes' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF per_minute IS NULL OR per_hour IS NULL OR per_day IS NULL
     OR least(per_minute, per_hour, per_day) < 1 OR greatest(per_minute, per_hour, per_day) > 10000000 THEN
    RAISE EXCEPTION 'rate limits must be between 1 and 10000000'
      USING ERRCODE = 'invalid_parameter_value', HINT = 'Give per_minute, per_hour and per_day.';
  END IF;
  INSERT INTO rate_limits AS l (endpoint, per_minute, per_hour, per_day)
  VALUES (endpoint, per_minute, per_hour, per_day)
  ON CONFLICT ON CONSTRAINT rate_limits_pkey
  DO UPDATE SET per_minute = EXCLUDED.per_minute, per_hour = EXCLUDED.per_hour,
                per_day = EXCLUDED.per_day, updated_at = now();
  PERFORM _audit_append('security', 'ratelimit.set', 'endpoint:' || endpoint,
                        jsonb_build_object('per_minute', per_minute, 'per_hour', per_hour, 'per_day', per_day),
                        current_principal(), NULL);
END $$;
COMMENT ON FUNCTION rate_limit_set(text, int, int, int) IS
'Set an endpoint''s limits per minute, hour and day (''*'' for every endpoint without a row of its own); every backend picks them up at its next check';

CREATE FUNCTION block_ip(ip inet, duration interval, reason text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, tracechain, pg_temp AS $$
DECLARE
  v_net cidr;
  v_until timestamptz;
BEGIN
  IF ip IS NULL THEN
    RAISE EXCEPTION 'ip must not be null' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF duration IS NULL OR duration <= interval '0' OR duration > interval '10 years' THEN
    RAISE EXCEPTION 'invalid block duration'
      USING ERRCODE = 'invalid_parameter_value', HINT = 'Give a duration above zero and at most 10 years.';
  END IF;
  IF octet_length(reason) > 500 THEN
    RAISE EXCEPTION 'reason is longer than 500 bytes' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  v_net := network(ip);
  v_until := clock_timestamp() + duration;
  INSERT INTO ip_blocks AS b (network, blocked_until, reason) VALUES (v_net, v_until, reason)
  ON CONFLICT (network) DO UPDATE SET blocked_until = greatest(b.blocked_until, EXCLUDED.blocked_until),
                                      reason = EXCLUDED.reason;
  PERFORM _rate_limit_block(v_net, v_until, left(coalesce(reason, 'block_ip'), 90));
  PERFORM _audit_append('security', 'ratelimit.block', 'ip:' || v_net::text,
                        jsonb_build_object('duration', duration::text, 'reason', reason),
                        current_principal(), NULL);
END $$;
COMMENT ON FUNCTION block_ip(inet, interval, text) IS
'Block an address, or every address of a network (10.0.0.0/24, 2001:db8::/48), for a duration: takes effect at once; an existing block is extended, never shortened (unblock_ip first)';

CREATE FUNCTION unblock_ip(ip inet) RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, tracechain, pg_temp AS $$
DECLARE
  v_net cidr;
  v_rows int;
  v_mem int;
BEGIN
  IF ip IS NULL THEN
    RAISE EXCEPTION 'ip must not be null' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  v_net := network(ip);
  DELETE FROM ip_blocks b WHERE b.network = v_net;
  GET DIAGNOSTICS v_rows = ROW_COUNT;
  v_mem := _rate_limit_unblock(v_net);
  PERFORM _audit_append('security', 'ratelimit.unblock', 'ip:' || v_net::text,
                        jsonb_build_object('was_blocked', v_rows + v_mem > 0), current_principal(), NULL);
  RETURN v_rows + v_mem > 0;
END $$;
COMMENT ON FUNCTION unblock_ip(inet) IS
'Lift the block of exactly this address or network (not of a larger network containing it) and reset its counters; true when there was one';

GRANT EXECUTE ON FUNCTION rate_limit_check(inet, text), is_blocked(inet), rate_limit_info(inet, text)
  TO tracechain_app, tracechain_admin;
GRANT EXECUTE ON FUNCTION block_ip(inet, interval, text), unblock_ip(inet),
  rate_limit_set(text, int, int, int), rate_limit_stats()
  TO tracechain_admin;
GRANT SELECT ON rate_limits, ip_blocks TO tracechain_admin;

-- bench/rate.sql: rate(query, n) runs a query over n rows three times and
-- returns the best rows per second (loaded by bench/crypt and bench/jwt).
CREATE FUNCTION rate(q text, n bigint) RETURNS numeric LANGUAGE plpgsql AS $$
DECLARE t0 timestamptz; best float8 := 1e9; dt float8;
BEGIN
  FOR k IN 1..3 LOOP
    t0 := clock_timestamp();
    EXECUTE q;
    dt := extract(epoch FROM clock_timestamp() - t0);
    best := least(best, dt);
  END LOOP;
  RETURN round(n / best);
END $$;

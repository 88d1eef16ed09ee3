#!/usr/bin/env bash
# load_mix.sh: the load test of issue #7.  16 pgbench clients (LOAD_CLIENTS)
# run a weighted mix for LOAD_SECONDS (default 20 here; the issue's figure is
# LOAD_SECONDS=60) as one tracechain_app login, every transaction
# authenticating the principal it acts for, as a pooled application would:
#
#   siwe_login      wallet sign-in with a pre-signed EIP-4361 message (one per
#                   transaction; its nonce inserted as siwe_challenge would)
#   siwe_replay     the same call with a message handed out moments before
#                   (racing its first use, or replaying it afterwards)
#   session         authenticate + session_verify of a session; one token in
#                   21 is revoked and must be refused
#   totp            totp_verify of the current or the next step's code of one
#                   of LOAD_TOTP (300) principals: accepted once per step, the
#                   rest are replays and must be refused
#   register        register_product by one of 8 manufacturers; 4 of them have
#                   a small limit and run out (refusals are expected)
#   checkpoint      add_checkpoint to one of 160 products
#   crypt           encrypt, decrypt, and a decrypt with the wrong context
#                   (which must fail)
#   audit           an UPDATE of a product (captured by audit_table) and
#                   log_user_action in one transaction
#
# Every transaction writes its outcome into load_results in the same
# transaction, so load_results holds exactly what committed.  Afterwards: no
# failed transaction and no aborted client in pgbench's report; per
# manufacturer the limit consumed equals the amounts of its new products and
# the limit is not negative; each nonce was accepted at most once and every
# lost login lost to a replay of its own message; no (principal, TOTP step)
# was accepted twice, in load_results and in the audit log alike; every
# refused sign-in and TOTP code was refused for the expected reason; every
# product's checkpoint chain holds; after events_flush_wait and audit_seal
# (audit_pending drained) the audit log holds one row per committed audited
# action and the whole chain verifies, with no fork and no gap.
#
# Run by test.sh as the postgres user with PGHOST/PGPORT/PGUSER/PGDATABASE
# set; needs cc and libsecp256k1 to sign the messages (bench/ethsig's
# generator).  Leaves its principals behind, drops its tables.
set -euo pipefail
SECS=${LOAD_SECONDS:-20}
CLIENTS=${LOAD_CLIENTS:-16}
NTOTP=${LOAD_TOTP:-300}
NMSG=${LOAD_MESSAGES:-$((SECS * 500 + 2000))}
PG_BIN=${PG_BIN:-$(dirname "$(command -v psql)")}
here=$(cd "$(dirname "$0")/../.." && pwd)
PSQL=("$PG_BIN/psql" -X -qtA -v ON_ERROR_STOP=1)
q() { "${PSQL[@]}" -c "$1"; }
work=$(mktemp -d "${TMPDIR:-/tmp}/tc-load-mix.XXXXXX")
chmod 755 "$work"
trap 'rm -rf "$work"' EXIT
fail=0
check() {  # description, then the command; counts failures, never stops
  local what=$1; shift
  if "$@"; then echo "   ok    $what"; else echo "   FAIL  $what"; fail=$((fail + 1)); fi
}

echo "== signing $NMSG sign-in messages"
cc -std=c11 -O2 -I"$here/src/core" -o "$work/ethsig_bench" "$here/bench/ethsig/ethsig_bench.c" \
   "$here"/src/core/*.c -lsecp256k1 -lnettle -lcrypto
"$work/ethsig_bench" logins "$NMSG" "$work/logins.tsv" "$work/nonces.tsv"
chmod 644 "$work"/*.tsv

echo "== setup"
"${PSQL[@]}" >/dev/null <<SQL
SET client_min_messages = warning;
DROP TABLE IF EXISTS load_makers, load_cp_products, load_sessions, load_totp, load_siwe_msgs,
                     load_nonces, load_results;
DROP SEQUENCE IF EXISTS load_siwe_seq;
DO \$\$ BEGIN
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'tc_load_app') THEN
    DROP OWNED BY tc_load_app;
    DROP ROLE tc_load_app;
  END IF;
END \$\$;
CREATE ROLE tc_load_app LOGIN;
GRANT tracechain_app TO tc_load_app;
-- Settings of this login only: the generator's domain; refused codes and
-- replayed sign-ins are part of the mix, so the login throttle and the TOTP
-- lockout would otherwise lock the principals and the test IPs out.
ALTER ROLE tc_load_app SET tracechain.siwe_domain = 'bench.example';
ALTER ROLE tc_load_app SET tracechain.siwe_uri_origin = '';
ALTER ROLE tc_load_app SET tracechain.siwe_max_age = '1h';
ALTER ROLE tc_load_app SET tracechain.login_throttle_ip = 0;
ALTER ROLE tc_load_app SET tracechain.login_throttle_principal = 0;
ALTER ROLE tc_load_app SET tracechain.totp_max_failures = 1000;

CREATE TABLE load_results (kind text NOT NULL, item bigint, ok boolean, n bigint, ref bigint,
                           at timestamptz NOT NULL DEFAULT clock_timestamp());
CREATE TABLE load_makers (idx int PRIMARY KEY, principal uuid, token text, limit_start numeric);
CREATE TABLE load_cp_products (idx int PRIMARY KEY, product_id bigint, maker int);
CREATE TABLE load_sessions (idx int PRIMARY KEY, principal uuid, token text, revoked boolean);
CREATE TABLE load_totp (idx int PRIMARY KEY, principal uuid, token text, secret text);
CREATE TABLE load_siwe_msgs (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, message text, signature text);
CREATE TABLE load_nonces (nonce text PRIMARY KEY, address text, domain text);
CREATE SEQUENCE load_siwe_seq;
COPY load_siwe_msgs (message, signature) FROM '$work/logins.tsv';
COPY load_nonces FROM '$work/nonces.tsv';
-- The generator's nonces are not random: drop any a former run left.
DELETE FROM tracechain.siwe_nonces WHERE nonce IN (SELECT nonce FROM load_nonces);
INSERT INTO tracechain.siwe_nonces SELECT nonce, address, domain, now(), now() + interval '1 hour' FROM load_nonces;
DO \$\$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM tracechain.keys WHERE name = 'load_mix') THEN
    PERFORM tracechain.key_create('load_mix');
  END IF;
END \$\$;

-- 8 manufacturers, 20 products each for checkpoints; makers 1-4 keep a limit of 30
-- (spent within the first few seconds even on a slow or instrumented build).
INSERT INTO load_makers (idx, principal)
SELECT g, tracechain.principal_create('user', 'load-maker-' || g) FROM generate_series(1, 8) g;
SELECT count(tracechain.grant_role(principal, 'MANUFACTURER')),
       count(tracechain.authorize_stakeholder(principal, CASE WHEN idx <= 4 THEN 50 ELSE 1000000000 END))
  FROM load_makers;
UPDATE load_makers SET token = tracechain.session_create(principal, '2 hours');
DO \$\$
DECLARE m record;
BEGIN
  FOR m IN SELECT * FROM load_makers ORDER BY idx LOOP
    PERFORM tracechain.authenticate(m.token);
    INSERT INTO load_cp_products (idx, product_id, maker)
    SELECT (m.idx - 1) * 20 + g, tracechain.register_product('load cp ' || g, 'LOADCP', 1), m.idx
      FROM generate_series(1, 20) g;
  END LOOP;
END \$\$;
UPDATE load_makers m SET limit_start = s.amount_limit FROM tracechain.stakeholders s WHERE s.principal = m.principal;

-- 200 sessions to verify, 10 revoked ones.
INSERT INTO load_sessions (idx, principal)
SELECT g, tracechain.principal_create('user', 'load-session-' || g) FROM generate_series(1, 210) g;
UPDATE load_sessions SET token = tracechain.session_create(principal, '2 hours'), revoked = idx > 200;
SELECT count(tracechain.session_revoke(token)) FROM load_sessions WHERE revoked;

-- TOTP principals: enrolled and confirmed (which uses up the current step).
INSERT INTO load_totp (idx, principal)
SELECT g, tracechain.principal_create('user', 'load-totp-' || g) FROM generate_series(1, $NTOTP) g;
UPDATE load_totp SET token = tracechain.session_create(principal, '2 hours');
DO \$\$
DECLARE t record; v_secret text;
BEGIN
  FOR t IN SELECT * FROM load_totp ORDER BY idx LOOP
    PERFORM tracechain.authenticate(t.token);
    SELECT e.secret INTO v_secret FROM tracechain.totp_enroll(t.principal) e;
    IF NOT tracechain.totp_confirm(tracechain.totp_code(v_secret), t.principal) THEN
      RAISE EXCEPTION 'totp_confirm refused the current code';
    END IF;
    UPDATE load_totp SET secret = v_secret WHERE idx = t.idx;
  END LOOP;
END \$\$;

-- The transactions, as functions run by tc_load_app (SECURITY INVOKER).
CREATE FUNCTION load_siwe(p_id bigint, p_kind text) RETURNS boolean LANGUAGE plpgsql AS \$\$
DECLARE m record; v_tok text;
BEGIN
  SELECT message, signature INTO m FROM load_siwe_msgs WHERE id = p_id;
  IF NOT FOUND THEN
    INSERT INTO load_results (kind, item) VALUES ('siwe_' || p_kind, p_id);  -- out of messages
    RETURN NULL;
  END IF;
  BEGIN
    v_tok := tracechain.siwe_login(m.message, m.signature,
                                   CASE p_kind WHEN 'login' THEN '198.51.100.7' ELSE '198.51.100.8' END::inet,
                                   'load_mix');
  EXCEPTION WHEN invalid_authorization_specification THEN
    v_tok := NULL;
  END;
  IF v_tok IS NOT NULL AND NOT EXISTS (
       SELECT 1 FROM tracechain.principals p
        WHERE p.id = tracechain.authenticate(v_tok) AND p.kind = 'wallet'
          AND position(p.address IN lower(m.message)) > 0) THEN
    RAISE EXCEPTION 'the session of message % is not the wallet''s', p_id;
  END IF;
  INSERT INTO load_results (kind, item, ok) VALUES ('siwe_' || p_kind, p_id, v_tok IS NOT NULL);
  RETURN v_tok IS NOT NULL;
END \$\$;

CREATE FUNCTION load_session(p_idx int) RETURNS boolean LANGUAGE plpgsql AS \$\$
DECLARE s record; v_p uuid; v_ok boolean := true;
BEGIN
  SELECT * INTO s FROM load_sessions WHERE idx = p_idx;
  BEGIN
    v_p := tracechain.authenticate(s.token);
  EXCEPTION WHEN invalid_authorization_specification THEN
    v_ok := false;
  END;
  IF v_ok = s.revoked THEN
    RAISE EXCEPTION 'session % (revoked: %) authenticated: %', p_idx, s.revoked, v_ok;
  END IF;
  IF v_ok AND (v_p IS DISTINCT FROM s.principal OR tracechain.current_principal() IS DISTINCT FROM s.principal
               OR tracechain.current_aal() <> 1
               OR NOT EXISTS (SELECT 1 FROM tracechain.session_verify(s.token) v WHERE v.principal = s.principal)) THEN
    RAISE EXCEPTION 'session % is not its principal''s', p_idx;
  END IF;
  INSERT INTO load_results (kind, item, ok) VALUES ('session', p_idx, v_ok);
  RETURN v_ok;
END \$\$;

CREATE FUNCTION load_totp_try(p_idx int, p_off int) RETURNS boolean LANGUAGE plpgsql AS \$\$
DECLARE t record; v_at timestamptz := now() + p_off * interval '30 seconds'; v_ok boolean;
BEGIN
  SELECT * INTO t FROM load_totp WHERE idx = p_idx;
  PERFORM tracechain.authenticate(t.token);
  v_ok := tracechain.totp_verify(tracechain.totp_code(t.secret, v_at), t.principal);
  IF v_ok AND tracechain.current_aal() <> 2 THEN
    RAISE EXCEPTION 'accepted code did not raise the session to AAL 2';
  END IF;
  INSERT INTO load_results (kind, item, ok, n, ref)
  VALUES ('totp', p_idx, v_ok, floor(extract(epoch FROM v_at) / 30)::bigint, p_off);
  RETURN v_ok;
END \$\$;

CREATE FUNCTION load_register(p_maker int, p_amount int) RETURNS bigint LANGUAGE plpgsql AS \$\$
DECLARE v_id bigint;
BEGIN
  PERFORM tracechain.authenticate((SELECT token FROM load_makers WHERE idx = p_maker));
  BEGIN
    v_id := tracechain.register_product('load widget', 'LOAD-' || p_maker, p_amount);
  EXCEPTION WHEN object_not_in_prerequisite_state THEN
    v_id := NULL;  -- the limit is spent
  END;
  INSERT INTO load_results (kind, item, ok, n, ref) VALUES ('register', p_maker, v_id IS NOT NULL, p_amount, v_id);
  RETURN v_id;
END \$\$;

CREATE FUNCTION load_checkpoint(p_idx int) RETURNS bigint LANGUAGE plpgsql AS \$\$
DECLARE r record; v_id bigint;
BEGIN
  SELECT c.product_id, m.token INTO r FROM load_cp_products c JOIN load_makers m ON m.idx = c.maker WHERE c.idx = p_idx;
  PERFORM tracechain.authenticate(r.token);
  v_id := tracechain.add_checkpoint(r.product_id, 'scan', 'dock ' || p_idx, jsonb_build_object('load', p_idx));
  INSERT INTO load_results (kind, item, ok, ref) VALUES ('checkpoint', r.product_id, true, v_id);
  RETURN v_id;
END \$\$;

CREATE FUNCTION load_crypt(p_n int) RETURNS boolean LANGUAGE plpgsql AS \$\$
DECLARE v_ct bytea; v_wrong boolean := false;
BEGIN
  v_ct := tracechain.encrypt('load payload ' || p_n, 'load_mix', 'load:' || p_n);
  IF tracechain.decrypt_text(v_ct, 'load_mix', 'load:' || p_n) IS DISTINCT FROM 'load payload ' || p_n THEN
    RAISE EXCEPTION 'decrypt did not return the plaintext';
  END IF;
  BEGIN
    PERFORM tracechain.decrypt_text(v_ct, 'load_mix', 'load:' || (p_n + 1));
  EXCEPTION WHEN invalid_parameter_value THEN
    v_wrong := true;
  END;
  IF NOT v_wrong THEN
    RAISE EXCEPTION 'decrypt accepted the wrong context';
  END IF;
  INSERT INTO load_results (kind, item, ok) VALUES ('crypt', p_n, true);
  RETURN true;
END \$\$;

-- The product row first, then the audit chain, as add_checkpoint does.
CREATE FUNCTION load_audit(p_idx int, p_n int) RETURNS bigint LANGUAGE plpgsql AS \$\$
DECLARE r record; v_rows int; v_id bigint;
BEGIN
  SELECT c.product_id, m.token INTO r FROM load_cp_products c JOIN load_makers m ON m.idx = c.maker WHERE c.idx = p_idx;
  PERFORM tracechain.authenticate(r.token);
  UPDATE tracechain.products SET name = 'load cp renamed ' || p_n WHERE id = r.product_id;
  GET DIAGNOSTICS v_rows = ROW_COUNT;
  IF v_rows <> 1 THEN
    RAISE EXCEPTION 'the manufacturer could not update its product %', r.product_id;
  END IF;
  v_id := tracechain.log_user_action(tracechain.current_principal(), 'load.action', 'product:' || r.product_id,
                                     jsonb_build_object('n', p_n));
  INSERT INTO load_results (kind, item, ok, n, ref) VALUES ('audit', r.product_id, true, p_n, v_id);
  RETURN v_id;
END \$\$;

GRANT SELECT ON load_makers, load_cp_products, load_sessions, load_totp, load_siwe_msgs TO tc_load_app;
GRANT INSERT ON load_results TO tc_load_app;
GRANT USAGE, SELECT ON SEQUENCE load_siwe_seq TO tc_load_app;
SQL
chmod 755 "$work"
q "SELECT tracechain.events_flush_wait(30000)" >/dev/null
q "SELECT tracechain.audit_seal()" >/dev/null
start_id=$(q "SELECT coalesce(max(id), 0) FROM tracechain.audit_log")
sessions_before=$(q "SELECT count(*) FROM tracechain.sessions WHERE ip <<= '198.51.100.0/24' AND user_agent = 'load_mix'")

# The mix: weights in per cent of the transactions.
cat > "$work/siwe_login.sql" <<'SQL'
SELECT load_siwe(nextval('load_siwe_seq'), 'login');
SQL
cat > "$work/siwe_replay.sql" <<'SQL'
\set r random(0, 40)
SELECT load_siwe(greatest(1, (SELECT last_value FROM load_siwe_seq) - :r), 'replay');
SQL
cat > "$work/session.sql" <<'SQL'
\set i random(1, 210)
SELECT load_session(:i);
SQL
cat > "$work/totp.sql" <<SQL
\set i random(1, $NTOTP)
\set off random(0, 1)
SELECT load_totp_try(:i, :off);
SQL
cat > "$work/register.sql" <<'SQL'
\set m random(1, 8)
\set a random(1, 3)
SELECT load_register(:m, :a);
SQL
cat > "$work/checkpoint.sql" <<'SQL'
\set k random(1, 160)
SELECT load_checkpoint(:k);
SQL
cat > "$work/crypt.sql" <<'SQL'
\set n random(1, 1000000)
SELECT load_crypt(:n);
SQL
cat > "$work/audit.sql" <<'SQL'
\set k random(1, 160)
\set n random(1, 1000000)
SELECT load_audit(:k, :n);
SQL
chmod 644 "$work"/*.sql
mix=(siwe_login@15 siwe_replay@5 session@20 totp@15 register@10 checkpoint@15 crypt@10 audit@10)
args=()
for m in "${mix[@]}"; do args+=(-f "$work/${m%@*}.sql@${m#*@}"); done

echo "== pgbench: $CLIENTS clients, $SECS s"
rc=0
"$PG_BIN/pgbench" -n -U tc_load_app -c "$CLIENTS" -j 4 -T "$SECS" "${args[@]}" "$PGDATABASE" \
  > "$work/pgbench.out" 2>&1 || rc=$?
grep -vE '^(pgbench \(|transaction type|scaling factor|query mode|number of clients|number of threads|maximum number of tries|duration|initial connection|latency average|latency stddev)' \
  "$work/pgbench.out" | grep -vE '^ - (weight|latency)' | head -60 | sed 's/^/   /'
tx=$(sed -nE 's/^number of transactions actually processed: ([0-9]+).*/\1/p' "$work/pgbench.out")
failed=$(sed -nE 's/^number of failed transactions: ([0-9]+).*/\1/p' "$work/pgbench.out")
aborted=$(grep -cE 'aborted|^pgbench: error' "$work/pgbench.out" || true)
check "pgbench exit status 0 (got $rc)" test "$rc" = 0
check "transactions processed: ${tx:-none}" test "${tx:-0}" -gt 0
check "failed transactions: ${failed:-?}" test "${failed:-x}" = 0
check "aborted clients or errors in pgbench's output: $aborted" test "$aborted" = 0

echo "== draining the audit queues"
q "SELECT tracechain.events_flush_wait(60000)" | grep -qx t || echo "   (events_flush_wait timed out)"
for _ in $(seq 1 60); do
  q "SELECT tracechain.audit_seal()" >/dev/null
  [ "$(q "SELECT count(*) FROM tracechain.audit_pending")" = 0 ] && break
  sleep 0.5
done
check "audit_pending drained" test "$(q "SELECT count(*) FROM tracechain.audit_pending")" = 0

echo "== committed transactions per type (from load_results)"
"${PSQL[@]}" -F ' ' -c "SELECT rpad(kind, 12), count(*) AS total, count(*) FILTER (WHERE ok) AS ok,
                               count(*) FILTER (WHERE NOT ok) AS refused, count(*) FILTER (WHERE ok IS NULL) AS other
                          FROM load_results GROUP BY kind ORDER BY kind" |
  awk '{printf "   %-12s %8d committed, %8d accepted, %8d refused%s\n", $1, $2, $3, $4, ($5 > 0 ? ", " $5 " out of messages" : "")}'
check "pgbench transactions = committed outcomes" test "${tx:-0}" = "$(q "SELECT count(*) FROM load_results")"

echo "== invariants"
# Registry: per manufacturer, limit consumed = amounts of its new products, never negative.
check "limits not overspent: consumed = sum(amount) of new products, limit >= 0, per manufacturer" \
  test "$(q "SELECT count(*) FROM load_makers m
               JOIN tracechain.stakeholders s ON s.principal = m.principal
              WHERE s.amount_limit >= 0
                AND m.limit_start - s.amount_limit =
                    (SELECT coalesce(sum(p.amount), 0) FROM tracechain.products p
                      WHERE p.manufacturer = m.principal AND p.batch_number = 'LOAD-' || m.idx)
                AND (SELECT count(*) FROM tracechain.products p WHERE p.manufacturer = m.principal AND p.batch_number = 'LOAD-' || m.idx)
                  = (SELECT count(*) FROM load_results r WHERE r.kind = 'register' AND r.item = m.idx AND r.ok)")" = 8
check "the small limits ran out (refusals happened) and nothing was refused under a large limit" \
  test "$(q "SELECT (SELECT count(*) FROM load_results WHERE kind = 'register' AND NOT ok AND item <= 4) > 0
                AND (SELECT count(*) FROM load_results WHERE kind = 'register' AND NOT ok AND item > 4) = 0
                AND (SELECT max(s.amount_limit) FROM load_makers m JOIN tracechain.stakeholders s ON s.principal = m.principal
                      WHERE m.idx <= 4) < 3")" = t
check "every registration audited (product.register rows = accepted registrations)" \
  test "$(q "SELECT count(*) FROM tracechain.audit_log WHERE id > $start_id AND action = 'product.register'")" \
     = "$(q "SELECT count(*) FROM load_results WHERE kind = 'register' AND ok")"
# SIWE: each nonce accepted at most once; each message that lost its login lost it to its replay.
check "no nonce accepted twice" \
  test "$(q "SELECT count(*) FROM (SELECT item FROM load_results WHERE kind LIKE 'siwe%' AND ok
                                    GROUP BY item HAVING count(*) > 1) d")" = 0
check "every refused login lost to a replay of its own message" \
  test "$(q "SELECT count(*) FROM load_results l WHERE l.kind = 'siwe_login' AND NOT l.ok
               AND NOT EXISTS (SELECT 1 FROM load_results r WHERE r.kind = 'siwe_replay' AND r.ok AND r.item = l.item)")" = 0
check "consumed nonces = accepted sign-ins = siwe.login rows = sessions created" \
  test "$(q "SELECT (SELECT count(*) FROM load_nonces) - (SELECT count(*) FROM tracechain.siwe_nonces n JOIN load_nonces l USING (nonce))")" \
     = "$(q "SELECT count(*) FROM load_results WHERE kind LIKE 'siwe%' AND ok")" -a \
     "$(q "SELECT count(*) FROM load_results WHERE kind LIKE 'siwe%' AND ok")" \
     = "$(q "SELECT count(*) FROM tracechain.audit_log WHERE id > $start_id AND action = 'siwe.login' AND ip <<= '198.51.100.0/24'")" -a \
     "$(q "SELECT count(*) FROM load_results WHERE kind LIKE 'siwe%' AND ok")" \
     = "$(q "SELECT count(*) - $sessions_before FROM tracechain.sessions WHERE ip <<= '198.51.100.0/24' AND user_agent = 'load_mix'")"
check "refused sign-ins were refused for an already used nonce, and recorded" \
  test "$(q "SELECT count(*) FILTER (WHERE details->>'reason' = 'unknown_nonce') || ' ' || count(*)
               FROM tracechain.audit_log WHERE id > $start_id AND action = 'siwe.login_failed' AND ip <<= '198.51.100.0/24'")" \
     = "$(q "SELECT n || ' ' || n FROM (SELECT count(*) AS n FROM load_results WHERE kind LIKE 'siwe%' AND NOT ok) x")"
# TOTP: no (principal, step) accepted twice; the audit log says the same step; refusals were replays.
check "no TOTP step accepted twice (load_results)" \
  test "$(q "SELECT count(*) FROM (SELECT item, n FROM load_results WHERE kind = 'totp' AND ok
                                    GROUP BY item, n HAVING count(*) > 1) d")" = 0
check "no TOTP step accepted twice (audit log), and the audited steps are the accepted ones" \
  test "$(q "WITH a AS (SELECT t.idx, (l.details->>'step')::bigint AS step FROM tracechain.audit_log l
                         JOIN load_totp t ON l.actor = t.principal
                        WHERE l.id > $start_id AND l.action = 'totp.verify')
             SELECT (SELECT count(*) FROM a) = (SELECT count(DISTINCT (idx, step)) FROM a)
                AND NOT EXISTS (SELECT idx, step FROM a EXCEPT SELECT item, n FROM load_results WHERE kind = 'totp' AND ok)
                AND NOT EXISTS (SELECT item, n FROM load_results WHERE kind = 'totp' AND ok EXCEPT SELECT idx, step FROM a)")" = t
check "refused TOTP codes were replays (of a step at or before the last accepted one), and recorded" \
  test "$(q "SELECT count(*) FILTER (WHERE l.details->>'reason' = 'replay') || ' ' || count(*)
               FROM tracechain.audit_log l JOIN load_totp t ON l.actor = t.principal
              WHERE l.id > $start_id AND l.action = 'totp.verify_failed'")" \
     = "$(q "SELECT n || ' ' || n FROM (SELECT count(*) AS n FROM load_results WHERE kind = 'totp' AND NOT ok) x")"
check "each principal's last accepted step is the highest step it was accepted for" \
  test "$(q "SELECT count(*) FROM load_totp t JOIN tracechain.totp_factors f ON f.principal = t.principal
              WHERE f.last_step < coalesce((SELECT max(n) FROM load_results r WHERE r.kind = 'totp' AND r.ok AND r.item = t.idx), -1)")" = 0
# Registry chains and the audit log.
check "every product's checkpoint chain holds and counts its checkpoints" \
  test "$(q "DO \$\$
             DECLARE m record; c record; v jsonb;
             BEGIN
               FOR c IN SELECT p.product_id, k.token FROM load_cp_products p JOIN load_makers k ON k.idx = p.maker LOOP
                 PERFORM tracechain.authenticate(c.token);
                 v := tracechain.verify_product(c.product_id);
                 IF NOT (v->>'chain_ok')::boolean THEN RAISE EXCEPTION 'product %: %', c.product_id, v->>'reason'; END IF;
               END LOOP;
             END \$\$" && q "SELECT count(*) FROM load_cp_products c JOIN tracechain.products p ON p.id = c.product_id
                              WHERE p.checkpoint_count <> (SELECT count(*) FROM tracechain.checkpoints k WHERE k.product_id = c.product_id)
                                 OR p.checkpoint_count <> (SELECT count(*) FROM load_results r WHERE r.kind = 'checkpoint' AND r.item = c.product_id)")" = 0
check "audit rows = committed audited actions (load.action, checkpoint.add, captured product updates)" \
  test "$(q "SELECT (SELECT count(*) FROM tracechain.audit_log WHERE id > $start_id AND action = 'load.action')
                  = (SELECT count(*) FROM load_results WHERE kind = 'audit')
                AND (SELECT count(*) FROM tracechain.audit_log WHERE id > $start_id AND action = 'checkpoint.add')
                  = (SELECT count(*) FROM load_results WHERE kind = 'checkpoint')
                AND (SELECT count(*) FROM tracechain.audit_log WHERE id > $start_id AND resource = 'tracechain.products'
                        AND action = 'row.update' AND details->'new'->>'name' LIKE 'load cp renamed %')
                  = (SELECT count(*) FROM load_results WHERE kind = 'audit')")" = t
rows=$(q "SELECT count(*) FROM tracechain.audit_log WHERE id > $start_id")
echo "   audit rows written during the run: $rows"
check "the audit chain verifies" test "$(q "SELECT ok FROM tracechain.verify_audit_chain()")" = t
check "no fork and no gap in the audit chain" \
  test "$(q "SELECT count(*) = count(DISTINCT prev_hash) AND max(id) - min(id) + 1 = count(*) FROM tracechain.audit_log")" = t

if [ "$(q "SELECT count(*) FROM load_results WHERE ok IS NULL")" != 0 ]; then
  echo "   (the mix ran out of signed messages: raise LOAD_MESSAGES)"
fi
"${PSQL[@]}" <<'SQL' >/dev/null
SET client_min_messages = warning;
DROP TABLE load_makers, load_cp_products, load_sessions, load_totp, load_siwe_msgs, load_nonces, load_results;
DROP FUNCTION load_siwe(bigint, text), load_session(int), load_totp_try(int, int), load_register(int, int),
              load_checkpoint(int), load_crypt(int), load_audit(int, int);
DROP SEQUENCE load_siwe_seq;
DROP OWNED BY tc_load_app;
DROP ROLE tc_load_app;
SQL
echo "$fail invariant check(s) failed"
[ "$fail" = 0 ]

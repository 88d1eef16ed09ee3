-- jwt: jwt_sign / jwt_verify with HS256 and ES256 under key store keys
-- (RFC 7519, RFC 8725): the normal path, every refusal, rotation, iss/aud,
-- public keys, privileges.  Tokens, timestamps and ids are never printed:
-- crafted tokens are signed here with an HMAC written in SQL over the
-- built-in sha256(), under keys brought in with key_import.
\set SHOW_CONTEXT never
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS tracechain;
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'regress_jwt_app') THEN
    CREATE ROLE regress_jwt_app IN ROLE tracechain_app;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'regress_jwt_admin') THEN
    CREATE ROLE regress_jwt_admin IN ROLE tracechain_admin;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'regress_jwt_nobody') THEN
    CREATE ROLE regress_jwt_nobody;
  END IF;
END $$;
RESET client_min_messages;
SET search_path = tracechain, public;
\set VERBOSITY default

-- SQLSTATE and message of a statement, or ok.
CREATE FUNCTION pg_temp.try(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE q;
  RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
  RETURN SQLSTATE || ': ' || SQLERRM;
END $$;
CREATE FUNCTION pg_temp.v(tok text, k text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  PERFORM tracechain.jwt_verify(tok, k);
  RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
  RETURN SQLSTATE || ': ' || SQLERRM;
END $$;
CREATE FUNCTION pg_temp.b64u(b bytea) RETURNS text LANGUAGE sql IMMUTABLE AS $$
  SELECT rtrim(translate(encode(b, 'base64'), E'+/\n', '-_'), '=')
$$;
CREATE FUNCTION pg_temp.b64u(t text) RETURNS text LANGUAGE sql IMMUTABLE AS $$
  SELECT pg_temp.b64u(convert_to(t, 'UTF8'))
$$;
CREATE FUNCTION pg_temp.unb64u(t text) RETURNS bytea LANGUAGE sql IMMUTABLE AS $$
  SELECT decode(translate(t, '-_', '+/') || repeat('=', (4 - length(t) % 4) % 4), 'base64')
$$;
CREATE FUNCTION pg_temp.part(tok text, n int) RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
  SELECT convert_from(pg_temp.unb64u(split_part(tok, '.', n)), 'UTF8')::jsonb
$$;
-- HMAC-SHA256 (RFC 2104) from sha256(), for keys of at most 64 bytes.
CREATE FUNCTION pg_temp.hmac256(k bytea, m bytea) RETURNS bytea LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
  kp bytea := k || decode(repeat('00', 64 - length(k)), 'hex');
  i bytea := kp;
  o bytea := kp;
BEGIN
  FOR n IN 0..63 LOOP
    i := set_byte(i, n, get_byte(kp, n) # 54);
    o := set_byte(o, n, get_byte(kp, n) # 92);
  END LOOP;
  RETURN sha256(o || sha256(i || m));
END $$;
-- An HS256 token of raw header and payload texts (or bytes), signed with k.
CREATE FUNCTION pg_temp.hs(hdr bytea, pl bytea, k bytea) RETURNS text LANGUAGE sql IMMUTABLE AS $$
  SELECT s || '.' || pg_temp.b64u(pg_temp.hmac256(k, convert_to(s, 'UTF8')))
    FROM (SELECT pg_temp.b64u(hdr) || '.' || pg_temp.b64u(pl) AS s) x
$$;
CREATE FUNCTION pg_temp.hs(hdr text, pl text, k bytea) RETURNS text LANGUAGE sql IMMUTABLE AS $$
  SELECT pg_temp.hs(convert_to(hdr, 'UTF8'), convert_to(pl, 'UTF8'), k)
$$;
CREATE FUNCTION pg_temp.now_s(off int DEFAULT 0) RETURNS bigint LANGUAGE sql STABLE AS $$
  SELECT extract(epoch FROM now())::bigint + off
$$;
\set k '\'\\x000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\'::bytea'
\set hk '\'{"alg":"HS256","typ":"JWT","kid":"jwt_t_k:1"}\''

-- Keys: an imported hmac key (the test knows its material), a generated hmac
-- key that will be rotated, a P-256 key, another hmac key, an aead key.
SELECT key_import('jwt_t_k', :k, 'hmac') AS v;
SELECT key_create('jwt_t_h', 'hmac') AS v, key_create('jwt_t_ec', 'ec-p256') AS v,
       key_create('jwt_t_other', 'hmac') AS v, key_create('jwt_t_aead') AS v;

-- HS256: the header, the claims jwt_sign sets, and the signature (checked
-- with the SQL HMAC above, independently of the C code).
CREATE TEMP TABLE t AS SELECT jwt_sign('{"sub": "alice", "role": "admin"}', 'jwt_t_k') AS tok;
SELECT pg_temp.part(tok, 1) AS header FROM t;
SELECT jsonb_object_keys(pg_temp.part(tok, 2)) AS claim FROM t ORDER BY 1;
SELECT (c->>'exp')::bigint - (c->>'iat')::bigint AS lifetime, c->'nbf' = c->'iat' AS nbf_is_iat,
       abs((c->>'iat')::bigint - pg_temp.now_s()) <= 2 AS iat_now
  FROM (SELECT pg_temp.part(tok, 2) AS c FROM t) x;
SELECT split_part(tok, '.', 3) = pg_temp.b64u(pg_temp.hmac256(:k,
         convert_to(split_part(tok, '.', 1) || '.' || split_part(tok, '.', 2), 'UTF8'))) AS hmac_matches,
       tok !~ '[=+/ ]' AS url_safe
  FROM t;
SELECT jwt_verify(tok, 'jwt_t_k') - 'iat' - 'exp' - 'nbf' AS claims FROM t;
-- a token made here with the SQL HMAC verifies
SELECT jwt_verify(pg_temp.hs(:hk, format('{"sub":"bob","exp":%s}', pg_temp.now_s(60)), :k), 'jwt_t_k')->>'sub' AS sub;
-- ttl and an explicit nbf
SELECT (c->>'exp')::bigint - (c->>'iat')::bigint AS lifetime, c->>'nbf' AS nbf
  FROM (SELECT pg_temp.part(jwt_sign('{"nbf": 1700000000}', 'jwt_t_k', '5 minutes'), 2) AS c) x;

-- ES256: header, a 64-byte r || s signature, verification, fresh signatures.
CREATE TEMP TABLE e AS SELECT jwt_sign('{"sub": "carol"}', 'jwt_t_ec', '10 minutes') AS tok;
SELECT pg_temp.part(tok, 1) AS header, length(pg_temp.unb64u(split_part(tok, '.', 3))) AS sig_bytes FROM e;
SELECT jwt_verify(tok, 'jwt_t_ec')->>'sub' AS sub FROM e;
SELECT jwt_sign('{}', 'jwt_t_ec') <> jwt_sign('{}', 'jwt_t_ec') AS randomized;
-- a flipped signature bit, and r || s of zeros
SELECT pg_temp.v(split_part(tok, '.', 1) || '.' || split_part(tok, '.', 2) || '.' ||
                 pg_temp.b64u(set_byte(pg_temp.unb64u(split_part(tok, '.', 3)), 10,
                                       get_byte(pg_temp.unb64u(split_part(tok, '.', 3)), 10) # 1)), 'jwt_t_ec') AS flipped,
       pg_temp.v(split_part(tok, '.', 1) || '.' || split_part(tok, '.', 2) || '.' ||
                 pg_temp.b64u(decode(repeat('00', 64), 'hex')), 'jwt_t_ec') AS zeros,
       pg_temp.v(split_part(tok, '.', 1) || '.' || split_part(tok, '.', 2) || '.' ||
                 pg_temp.b64u(decode(repeat('00', 72), 'hex')), 'jwt_t_ec') AS der_length
  FROM e;

-- Public keys for relying parties (ES256 only)
SELECT k LIKE E'-----BEGIN PUBLIC KEY-----\n%' AS pem, k LIKE E'%-----END PUBLIC KEY-----\n' AS pem_end
  FROM (SELECT jwt_public_key('jwt_t_ec') AS k) x;
SELECT jwt_public_key('jwt_t_k');
SELECT jsonb_path_query(jwt_jwks('jwt_t_ec'), '$.keys[*].kid') AS kid,
       jsonb_path_query(jwt_jwks('jwt_t_ec'), '$.keys[*].kty') AS kty;

-- Missing and unusable keys
SELECT jwt_sign('{}');
SELECT jwt_sign('{}', 'jwt_t_aead');
SELECT jwt_verify('a.b.c', 'jwt_t_none');
SELECT jwt_sign('{}', 'bad name');

-- Bad arguments to jwt_sign
SELECT pg_temp.try($$SELECT tracechain.jwt_sign('[1]', 'jwt_t_k')$$) AS array_claims,
       pg_temp.try($$SELECT tracechain.jwt_sign('"x"', 'jwt_t_k')$$) AS scalar_claims,
       pg_temp.try($$SELECT tracechain.jwt_sign(NULL, 'jwt_t_k')$$) AS null_claims,
       pg_temp.try($$SELECT tracechain.jwt_sign('{}', NULL)$$) AS null_key;
SELECT pg_temp.try($$SELECT tracechain.jwt_sign('{}', 'jwt_t_k', '0 s')$$) AS zero_ttl,
       pg_temp.try($$SELECT tracechain.jwt_sign('{}', 'jwt_t_k', '-1 hour')$$) AS negative_ttl,
       pg_temp.try($$SELECT tracechain.jwt_sign('{}', 'jwt_t_k', '2 days')$$) AS long_ttl,
       pg_temp.try($$SELECT tracechain.jwt_sign('{}', 'jwt_t_k', NULL)$$) AS null_ttl;
SELECT pg_temp.try($$SELECT tracechain.jwt_sign('{"exp": 1}', 'jwt_t_k')$$) AS given_exp,
       pg_temp.try($$SELECT tracechain.jwt_sign('{"iat": 1}', 'jwt_t_k')$$) AS given_iat,
       pg_temp.try($$SELECT tracechain.jwt_sign('{"nbf": "soon"}', 'jwt_t_k')$$) AS text_nbf;
SELECT pg_temp.try(format($$SELECT tracechain.jwt_sign('{"pad": "%s"}', 'jwt_t_k')$$, repeat('x', 13000))) AS too_large;

-- Refused (28000): algorithms
SELECT pg_temp.v(pg_temp.b64u('{"alg":"none","typ":"JWT","kid":"jwt_t_k:1"}') || '.' ||
                 pg_temp.b64u(format('{"sub":"eve","exp":%s}', pg_temp.now_s(60))) || '.AAAA', 'jwt_t_k') AS alg_none;
SELECT pg_temp.v(pg_temp.hs('{"alg":"NONE","kid":"jwt_t_k:1"}', format('{"exp":%s}', pg_temp.now_s(60)), :k), 'jwt_t_k') AS alg_none_upper;
SELECT pg_temp.v(pg_temp.hs('{"typ":"JWT","kid":"jwt_t_k:1"}', format('{"exp":%s}', pg_temp.now_s(60)), :k), 'jwt_t_k') AS alg_missing;
SELECT pg_temp.v(pg_temp.hs('{"alg":"HS512","kid":"jwt_t_k:1"}', format('{"exp":%s}', pg_temp.now_s(60)), :k), 'jwt_t_k') AS alg_hs512;
SELECT pg_temp.v(pg_temp.hs('{"alg":"RS256","kid":"jwt_t_k:1"}', format('{"exp":%s}', pg_temp.now_s(60)), :k), 'jwt_t_k') AS alg_rs256;
-- HS256 -> ES256 switching: an HMAC keyed with the public key, for the ec key
SELECT pg_temp.v(pg_temp.hs('{"alg":"HS256","typ":"JWT","kid":"jwt_t_ec:1"}', format('{"exp":%s}', pg_temp.now_s(60)),
                            convert_to(jwt_public_key('jwt_t_ec'), 'UTF8')), 'jwt_t_ec') AS hs256_for_ec_key;
-- ES256 -> HS256: an ES256 token presented for an hmac key
SELECT pg_temp.v(tok, 'jwt_t_k') AS es256_for_hmac_key FROM e;
-- typ, crit, kid
SELECT pg_temp.v(pg_temp.hs('{"alg":"HS256","typ":"at+jwt","kid":"jwt_t_k:1"}', format('{"exp":%s}', pg_temp.now_s(60)), :k), 'jwt_t_k') AS typ;
SELECT pg_temp.v(pg_temp.hs('{"alg":"HS256","crit":["exp"],"exp":1,"kid":"jwt_t_k:1"}', format('{"exp":%s}', pg_temp.now_s(60)), :k), 'jwt_t_k') AS crit;
SELECT pg_temp.v(pg_temp.hs('{"alg":"HS256","typ":"JWT"}', format('{"exp":%s}', pg_temp.now_s(60)), :k), 'jwt_t_k') AS no_kid;
SELECT pg_temp.v(pg_temp.hs('{"alg":"HS256","kid":"jwt_t_other:1"}', format('{"exp":%s}', pg_temp.now_s(60)), :k), 'jwt_t_k') AS other_kid;
SELECT pg_temp.v(pg_temp.hs('{"alg":"HS256","kid":"jwt_t_k:9"}', format('{"exp":%s}', pg_temp.now_s(60)), :k), 'jwt_t_k') AS unknown_version;
-- a token of another key, verified with this one; and one signed with another key's material
SELECT pg_temp.v(jwt_sign('{}', 'jwt_t_other'), 'jwt_t_k') AS other_key;
SELECT pg_temp.v(pg_temp.hs(:hk, format('{"exp":%s}', pg_temp.now_s(60)), sha256('another secret')), 'jwt_t_k') AS wrong_secret;
-- tampered payload: the signature of the original
SELECT pg_temp.v(split_part(tok, '.', 1) || '.' ||
                 pg_temp.b64u(jsonb_set(pg_temp.part(tok, 2), '{role}', '"root"')::text) || '.' ||
                 split_part(tok, '.', 3), 'jwt_t_k') AS tampered FROM t;
SELECT pg_temp.v(split_part(tok, '.', 1) || '.' || split_part(tok, '.', 2) || '.' ||
                 left(split_part(tok, '.', 3), 40), 'jwt_t_k') AS short_signature FROM t;

-- Refused (28000): the times
SELECT pg_temp.v(pg_temp.hs(:hk, '{"sub":"eve"}', :k), 'jwt_t_k') AS no_exp;
SELECT pg_temp.v(pg_temp.hs(:hk, '{"exp":"tomorrow"}', :k), 'jwt_t_k') AS text_exp;
SELECT pg_temp.v(pg_temp.hs(:hk, format('{"exp":%s}', pg_temp.now_s(-100)), :k), 'jwt_t_k') AS expired,
       pg_temp.v(pg_temp.hs(:hk, format('{"exp":%s}', pg_temp.now_s(-10)), :k), 'jwt_t_k') AS expired_within_leeway,
       pg_temp.v(pg_temp.hs(:hk, format('{"exp":%s.5}', pg_temp.now_s(100)), :k), 'jwt_t_k') AS fractional_exp;
SELECT pg_temp.v(pg_temp.hs(:hk, format('{"exp":%s,"nbf":%s}', pg_temp.now_s(600), pg_temp.now_s(100)), :k), 'jwt_t_k') AS nbf_future,
       pg_temp.v(pg_temp.hs(:hk, format('{"exp":%s,"nbf":%s}', pg_temp.now_s(600), pg_temp.now_s(10)), :k), 'jwt_t_k') AS nbf_within_leeway,
       pg_temp.v(pg_temp.hs(:hk, format('{"exp":%s,"iat":%s}', pg_temp.now_s(600), pg_temp.now_s(100)), :k), 'jwt_t_k') AS iat_future,
       pg_temp.v(pg_temp.hs(:hk, format('{"exp":%s,"nbf":"x"}', pg_temp.now_s(600)), :k), 'jwt_t_k') AS text_nbf;
SET tracechain.jwt_leeway = 0;
SELECT pg_temp.v(pg_temp.hs(:hk, format('{"exp":%s}', pg_temp.now_s(-10)), :k), 'jwt_t_k') AS expired_no_leeway;
RESET tracechain.jwt_leeway;

-- Malformed (22P02)
SELECT pg_temp.v('...', 'jwt_t_k') AS three_dots,
       pg_temp.v('a.b', 'jwt_t_k') AS two_segments,
       pg_temp.v('a.b.c.d', 'jwt_t_k') AS four_segments,
       pg_temp.v('', 'jwt_t_k') AS empty;
SELECT pg_temp.v(split_part(tok, '.', 1) || '..' || split_part(tok, '.', 3), 'jwt_t_k') AS empty_payload,
       pg_temp.v(split_part(tok, '.', 1) || '.' || split_part(tok, '.', 2) || '.', 'jwt_t_k') AS empty_signature
  FROM t;
SELECT pg_temp.v(tok || '=', 'jwt_t_k') AS padding,
       pg_temp.v(replace(tok, '.', ' .'), 'jwt_t_k') AS blank,
       pg_temp.v(tok || E'\n', 'jwt_t_k') AS newline,
       pg_temp.v(translate(tok, '-_', '+/') || '+', 'jwt_t_k') AS std_alphabet
  FROM t;
SELECT pg_temp.v(split_part(tok, '.', 1) || '.' || split_part(tok, '.', 2) || 'A.' || split_part(tok, '.', 3), 'jwt_t_k') AS bad_length
  FROM t;
SELECT pg_temp.v(repeat('a', 20000) || '.b.c', 'jwt_t_k') AS huge,
       pg_temp.v(repeat('eyJhbGciOiJIUzI1NiJ9', 1000000) || '.b.c', 'jwt_t_k') AS twenty_mb;
SELECT pg_temp.v(pg_temp.hs('["HS256"]', format('{"exp":%s}', pg_temp.now_s(60)), :k), 'jwt_t_k') AS array_header,
       pg_temp.v(pg_temp.hs(:hk, '[1,2]', :k), 'jwt_t_k') AS array_payload,
       pg_temp.v(pg_temp.hs(:hk, '"claims"', :k), 'jwt_t_k') AS string_payload,
       pg_temp.v(pg_temp.hs(:hk, '{"exp":1', :k), 'jwt_t_k') AS truncated_json;
SELECT pg_temp.v(pg_temp.hs(convert_to(:hk, 'UTF8'), '\x7b22737562223a22ff227d'::bytea, :k), 'jwt_t_k') AS invalid_utf8,
       pg_temp.v(pg_temp.hs(:hk, '{"a":"\u0000"}', :k), 'jwt_t_k') AS nul_escape,
       pg_temp.v(pg_temp.hs(:hk, format('{"exp":%s,"exp":1}', pg_temp.now_s(60)), :k), 'jwt_t_k') AS duplicate_exp,
       pg_temp.v(pg_temp.hs(:hk, format('{"exp":%s,"d":%s1%s}', pg_temp.now_s(60), repeat('[', 40), repeat(']', 40)), :k), 'jwt_t_k') AS deep;
SELECT pg_temp.v(pg_temp.hs('{"alg":"HS256","kid":7}', format('{"exp":%s}', pg_temp.now_s(60)), :k), 'jwt_t_k') AS numeric_kid,
       pg_temp.v(pg_temp.hs(:hk, format('{"exp":1e999}'), :k), 'jwt_t_k') AS huge_number;
SELECT pg_temp.v(NULL, 'jwt_t_k') AS null_token;
-- one detail in full
SELECT jwt_verify('a.b', 'jwt_t_k');

-- Rotation: old tokens verify until their version is destroyed
CREATE TEMP TABLE r AS SELECT jwt_sign('{"n": 1}', 'jwt_t_h') AS v1;
SELECT key_rotate('jwt_t_h') AS v;
ALTER TABLE r ADD COLUMN v2 text;
UPDATE r SET v2 = jwt_sign('{"n": 2}', 'jwt_t_h');
SELECT pg_temp.part(v1, 1)->>'kid' AS kid1, pg_temp.part(v2, 1)->>'kid' AS kid2,
       jwt_verify(v1, 'jwt_t_h')->'n' AS n1, jwt_verify(v2, 'jwt_t_h')->'n' AS n2 FROM r;
SELECT key_destroy('jwt_t_h', 1);
SELECT pg_temp.v(v1, 'jwt_t_h') AS destroyed_version, pg_temp.v(v2, 'jwt_t_h') AS current_version FROM r;
-- the same for ES256, and the JWK Set lists every usable version
SELECT key_rotate('jwt_t_ec') AS v;
SELECT jwt_verify(tok, 'jwt_t_ec')->>'sub' AS old_es256_token FROM e;
SELECT jsonb_path_query(jwt_jwks('jwt_t_ec'), '$.keys[*].kid') AS kid;
SELECT jwt_public_key('jwt_t_ec', 1) = jwt_public_key('jwt_t_ec', 2) AS same_public_key,
       jwt_public_key('jwt_t_ec', 2) = jwt_public_key('jwt_t_ec') AS current_is_2;
SELECT key_destroy('jwt_t_ec', 1);
SELECT pg_temp.v(tok, 'jwt_t_ec') AS destroyed_es256 FROM e;
SELECT jsonb_path_query(jwt_jwks('jwt_t_ec'), '$.keys[*].kid') AS kid;

-- iss and aud
SET tracechain.jwt_issuer = 'https://issuer.example';
SET tracechain.jwt_audience = 'supply-api';
CREATE TEMP TABLE ia AS SELECT jwt_sign('{"sub": "dave"}', 'jwt_t_k') AS tok;
SELECT c->>'iss' AS iss, c->>'aud' AS aud FROM (SELECT jwt_verify(tok, 'jwt_t_k') AS c FROM ia) x;
SELECT pg_temp.try($$SELECT tracechain.jwt_sign('{"iss": "https://other.example"}', 'jwt_t_k')$$) AS other_iss,
       pg_temp.try($$SELECT tracechain.jwt_sign('{"aud": "other"}', 'jwt_t_k')$$) AS other_aud,
       pg_temp.try($$SELECT tracechain.jwt_sign('{"iss": "https://issuer.example"}', 'jwt_t_k')$$) AS same_iss;
SELECT pg_temp.v(pg_temp.hs(:hk, format('{"exp":%s,"aud":"supply-api"}', pg_temp.now_s(60)), :k), 'jwt_t_k') AS no_iss,
       pg_temp.v(pg_temp.hs(:hk, format('{"exp":%s,"iss":"https://evil.example","aud":"supply-api"}', pg_temp.now_s(60)), :k), 'jwt_t_k') AS wrong_iss;
SELECT pg_temp.v(pg_temp.hs(:hk, format('{"exp":%s,"iss":"https://issuer.example"}', pg_temp.now_s(60)), :k), 'jwt_t_k') AS no_aud,
       pg_temp.v(pg_temp.hs(:hk, format('{"exp":%s,"iss":"https://issuer.example","aud":"other"}', pg_temp.now_s(60)), :k), 'jwt_t_k') AS wrong_aud,
       pg_temp.v(pg_temp.hs(:hk, format('{"exp":%s,"iss":"https://issuer.example","aud":["x","supply-api"]}', pg_temp.now_s(60)), :k), 'jwt_t_k') AS aud_array,
       pg_temp.v(pg_temp.hs(:hk, format('{"exp":%s,"iss":"https://issuer.example","aud":["x","y"]}', pg_temp.now_s(60)), :k), 'jwt_t_k') AS aud_array_without;
RESET tracechain.jwt_issuer;
RESET tracechain.jwt_audience;
SELECT pg_temp.v(tok, 'jwt_t_k') AS aud_when_none_configured FROM ia;

-- Failures are security events that survive the error's rollback (at most
-- 10 a second per backend; the rest are counted in the next one).
SELECT pg_sleep(1.1);
SELECT count(*) AS burst FROM generate_series(1, 30) i WHERE pg_temp.v('x.y.z' || i, 'jwt_t_k') <> 'ok';
SELECT pg_sleep(1.1);
SELECT pg_temp.v('x.y', 'jwt_t_k') AS one_more;
SELECT tracechain.events_flush_wait();
SELECT count(*) > 0 AS recorded, bool_and(type = 'security') AS security,
       bool_and(details ? 'reason' AND details->>'key' = 'jwt_t_k') AS details,
       bool_or(details ? 'suppressed_before') AS counted_suppressed,
       bool_and(octet_length(details::text) < 200) AS small
  FROM audit_log WHERE action = 'jwt.verify_failed' AND resource = 'key:jwt_t_k';
SELECT count(*) AS with_token
  FROM audit_log WHERE action = 'jwt.verify_failed' AND details::text LIKE '%eyJ%';

-- Privileges: the app signs and verifies; PUBLIC and other roles nothing
SET ROLE regress_jwt_app;
SELECT jwt_verify(jwt_sign('{"sub": "app"}', 'jwt_t_k'), 'jwt_t_k')->>'sub' AS app_round_trip;
SELECT jwt_public_key('jwt_t_ec') IS NOT NULL AS app_public_key;
SELECT pg_temp.try('SELECT count(*) FROM tracechain.keys') AS app_reads_keys;
SELECT pg_temp.try($$SELECT tracechain.key_create('jwt_t_app', 'hmac')$$) AS app_creates_key;
RESET ROLE;
SET ROLE regress_jwt_nobody;
SELECT pg_temp.try($$SELECT tracechain.jwt_sign('{}', 'jwt_t_k')$$) AS nobody_signs,
       pg_temp.try($$SELECT tracechain.jwt_verify('a.b.c', 'jwt_t_k')$$) AS nobody_verifies,
       pg_temp.try($$SELECT tracechain.jwt_public_key('jwt_t_ec')$$) AS nobody_public_key;
RESET ROLE;
SET ROLE regress_jwt_admin;
SELECT pg_temp.try($$SELECT tracechain.jwt_sign('{}', 'jwt_t_k')$$) AS admin_signs;
SELECT jsonb_array_length(jwt_jwks('jwt_t_ec')->'keys') AS admin_jwks;
RESET ROLE;
SELECT p.oid::regprocedure AS function,
       has_function_privilege('public', p.oid, 'EXECUTE') AS public,
       has_function_privilege('tracechain_app', p.oid, 'EXECUTE') AS app,
       has_function_privilege('tracechain_admin', p.oid, 'EXECUTE') AS admin
  FROM pg_proc p WHERE p.pronamespace = 'tracechain'::regnamespace AND p.proname LIKE 'jwt\_%' ORDER BY 1::text;

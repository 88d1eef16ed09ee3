-- 45_jwt.sql: JSON Web Tokens (docs/jwt.md).
\echo '== JSON Web Tokens: HS256 and ES256 under key store keys, RFC 8725'
SET client_min_messages = warning;
SELECT tracechain.key_create('demo_jwt', 'hmac') AS version
 WHERE NOT EXISTS (SELECT 1 FROM tracechain.key_usage('demo_jwt'));
SELECT tracechain.key_create('demo_jwt_es', 'ec-p256') AS version
 WHERE NOT EXISTS (SELECT 1 FROM tracechain.key_usage('demo_jwt_es'));
RESET client_min_messages;

\echo '-- an HS256 token for 15 minutes: the key decides the algorithm, kid names the key version'
SELECT tracechain.jwt_sign('{"sub": "user-42", "role": "DISTRIBUTOR"}', 'demo_jwt', '15 minutes') AS token \gset
SELECT convert_from(decode(translate(split_part(:'token', '.', 1), '-_', '+/') || '==', 'base64'), 'UTF8') AS header;
\echo '-- verified: the claims, with iat, nbf and exp set by jwt_sign'
SELECT tracechain.jwt_verify(:'token', 'demo_jwt') AS claims;

\echo '-- refused: a tampered payload, alg none, the wrong key, garbage'
\set VERBOSITY terse
SELECT tracechain.jwt_verify(split_part(:'token', '.', 1) || '.' ||
       rtrim(translate(encode(convert_to('{"sub":"user-42","role":"SUPER_ADMIN","exp":4102444800}', 'UTF8'), 'base64'), '+/', '-_'), '=') ||
       '.' || split_part(:'token', '.', 3), 'demo_jwt');
SELECT tracechain.jwt_verify('eyJhbGciOiJub25lIiwia2lkIjoiZGVtb19qd3Q6MSJ9.eyJzdWIiOiJldmUiLCJleHAiOjQxMDI0NDQ4MDB9.AAAA', 'demo_jwt');
SELECT tracechain.jwt_verify(:'token', 'demo_jwt_es');
SELECT tracechain.jwt_verify('not.a.token!', 'demo_jwt');
\set VERBOSITY default

\echo '-- ES256: relying parties verify with the public key (PEM, or a JWK Set with every live version)'
SELECT tracechain.jwt_verify(tracechain.jwt_sign('{"sub": "device-7"}', 'demo_jwt_es'), 'demo_jwt_es')->>'sub' AS sub;
SELECT tracechain.jwt_public_key('demo_jwt_es') AS public_key;
SELECT jsonb_pretty(tracechain.jwt_jwks('demo_jwt_es')) AS jwks;

\echo '-- rotation: tokens signed under version 1 keep verifying until version 1 is destroyed'
SELECT tracechain.key_rotate('demo_jwt') AS new_version;
SELECT tracechain.jwt_verify(:'token', 'demo_jwt')->>'sub' AS old_token_still_verifies;
\echo '-- failed verifications are security events (they survive the rollback of the error)'
SELECT tracechain.events_flush_wait() AS flushed;
SELECT action, resource, details->>'reason' AS reason FROM tracechain.audit_log
 WHERE action = 'jwt.verify_failed' AND resource = 'key:demo_jwt' ORDER BY id DESC LIMIT 3;

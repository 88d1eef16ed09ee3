-- jwt.sql: JSON Web Tokens (jwt.c, src/core/jwt.c), RFC 7519 with the rules
-- of RFC 8725.  The key decides the algorithm: a key of kind hmac signs and
-- verifies HS256, a key of kind ec-p256 ES256; the token's header never
-- chooses.  Every token carries kid "<key name>:<version>", so tokens signed
-- before a key_rotate still verify until that version is destroyed.
--
-- tracechain_app signs and verifies; relying parties get ES256 public keys
-- from jwt_public_key / jwt_jwks (app and admin); PUBLIC may do nothing.
-- Keys are made by a tracechain_admin: key_create('jwt', 'hmac') or
-- key_create('jwt', 'ec-p256').

CREATE FUNCTION jwt_sign(claims jsonb, key_name text DEFAULT 'jwt', ttl interval DEFAULT '1 hour')
RETURNS text
LANGUAGE C VOLATILE PARALLEL RESTRICTED AS 'MODULE_PATHNAME', 'tc_jwt_sign';
COMMENT ON FUNCTION jwt_sign(jsonb, text, interval) IS
'A JWT of the claims (a JSON object) signed with the current version of the named key (HS256 for an hmac key, ES256 for an ec-p256 key); sets iat, exp = iat + ttl (at most tracechain.jwt_max_ttl), nbf = iat unless given, and iss / aud from tracechain.jwt_issuer / jwt_audience';

CREATE FUNCTION jwt_verify(token text, key_name text DEFAULT 'jwt')
RETURNS jsonb
LANGUAGE C VOLATILE PARALLEL RESTRICTED AS 'MODULE_PATHNAME', 'tc_jwt_verify';
COMMENT ON FUNCTION jwt_verify(text, text) IS
'The claims of a JWT signed with the named key: checks the compact form (22P02 when malformed), then alg (the key''s; none refused), typ, kid, the signature, exp (required), nbf and iat with tracechain.jwt_leeway, iss and aud (28000 with the reason, recorded as a jwt.verify_failed security event)';

CREATE FUNCTION jwt_public_key(key_name text DEFAULT 'jwt', version int DEFAULT NULL)
RETURNS text
LANGUAGE C STABLE PARALLEL RESTRICTED AS 'MODULE_PATHNAME', 'tc_jwt_public_key';
COMMENT ON FUNCTION jwt_public_key(text, int) IS
'The public key (SubjectPublicKeyInfo PEM) of an ec-p256 JWT key version (null: the current one), for relying parties that verify ES256 tokens';

CREATE FUNCTION jwt_jwks(key_name text DEFAULT 'jwt')
RETURNS jsonb
LANGUAGE C STABLE PARALLEL RESTRICTED AS 'MODULE_PATHNAME', 'tc_jwt_jwks';
COMMENT ON FUNCTION jwt_jwks(text) IS
'A JWK Set (RFC 7517) of every version of an ec-p256 JWT key that still verifies, each with its kid, for relying parties';

GRANT EXECUTE ON FUNCTION jwt_sign(jsonb, text, interval), jwt_verify(text, text) TO tracechain_app;
GRANT EXECUTE ON FUNCTION jwt_public_key(text, int), jwt_jwks(text) TO tracechain_app, tracechain_admin;

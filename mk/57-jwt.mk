# JSON Web Tokens (RFC 7519, RFC 8725): HS256 and ES256 under key store keys;
# the compact form, strict JSON and header policy in the core.
OBJS        += src/jwt.o
CORE_OBJS   += src/core/jwt.o
SQL_MODULES += src/jwt.sql
REGRESS     += jwt
UNIT_TESTS  += test/unit/test_jwt

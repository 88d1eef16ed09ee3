# Sign-In with Ethereum (EIP-4361): the strict message parser and builder in
# the core, server-issued single-use nonces, wallet login.
OBJS        += src/siwe.o
CORE_OBJS   += src/core/siwe.o
SQL_MODULES += src/siwe.sql
REGRESS     += siwe
ISOLATION   += siwe_nonce_race
UNIT_TESTS  += test/unit/test_siwe

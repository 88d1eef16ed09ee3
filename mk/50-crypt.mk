# Key store (named, versioned data keys) and field encryption.
OBJS        += src/keystore.o src/crypt.o
CORE_OBJS   += src/core/envelope.o src/core/phc.o
SQL_MODULES += src/keystore.sql src/crypt.sql
REGRESS     += crypt
ISOLATION   += crypt_rotate
UNIT_TESTS  += test/unit/test_envelope

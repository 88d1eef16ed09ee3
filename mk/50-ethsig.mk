# Ethereum signatures: keccak-256 (nettle's permutation), EIP-191, ecrecover
# (libsecp256k1's recovery module), EIP-55.
OBJS        += src/ethsig.o
CORE_OBJS   += src/core/keccak.o src/core/eth.o
CORE_LIBS   += -lnettle
SQL_MODULES += src/ethsig.sql
REGRESS     += ethsig
UNIT_TESTS  += test/unit/test_keccak

# TOTP multi-factor (liboath; QR codes with libqrencode).
OBJS        += src/totp.o src/totp_lockout.o
CORE_OBJS   += src/core/base32.o src/core/otpauth.o
SQL_MODULES += src/totp.sql src/totp_lockout.sql
SHLIB_LINK  += -lqrencode
REGRESS     += totp totp_lockout
ISOLATION   += totp_race
UNIT_TESTS  += test/unit/test_totp

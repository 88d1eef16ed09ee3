# Principals, sessions, the current principal.
OBJS        += src/principal.o
SQL_MODULES += src/principal.sql
REGRESS     += principal
# Direct heap and index access for the hot paths (authenticate, totp_verify).
OBJS        += src/direct.o

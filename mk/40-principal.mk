# Principals, sessions, the current principal.
OBJS        += src/principal.o
SQL_MODULES += src/principal.sql
REGRESS     += principal

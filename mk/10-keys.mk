# The master key service.
OBJS        += src/keys.o
SQL_MODULES += src/keys.sql
REGRESS     += keys

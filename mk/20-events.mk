# Rollback-proof security events and the background worker.
OBJS        += src/events.o src/worker.o
SQL_MODULES += src/events.sql
REGRESS     += events

# Rate limiting and IP blocking in shared memory (GCRA per minute, hour and
# day), blocks persisted in ip_blocks by the worker, login throttling.
OBJS        += src/ratelimit.o
SQL_MODULES += src/ratelimit.sql
REGRESS     += ratelimit

# The hash-chained audit log.
OBJS        += src/audit.o
CORE_OBJS   += src/core/audit_enc.o
SQL_MODULES += src/audit.sql
REGRESS     += audit
ISOLATION   += audit_chain

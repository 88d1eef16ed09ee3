# The hash-chained audit log.
OBJS        += src/audit.o src/audit_intake.o
CORE_OBJS   += src/core/audit_enc.o
SQL_MODULES += src/audit.sql src/audit_intake.sql
REGRESS     += audit audit_capture
ISOLATION   += audit_chain

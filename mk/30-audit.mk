# The hash-chained audit log.
OBJS        += src/audit.o src/audit_intake.o src/audit_parallel.o src/audit_json.o src/audit_capture.o src/audit_queue.o
CORE_OBJS   += src/core/audit_enc.o
SQL_MODULES += src/audit.sql src/audit_intake.sql
REGRESS     += audit audit_capture audit_parallel
ISOLATION   += audit_chain audit_capture_order
CORE_OBJS   += src/core/csv.o

# The independent verifier of an audit log export (links the pure core only).
tools/tc-verify: tools/tc-verify.c src/core/audit_enc.c src/core/encoding.c src/core/csv.c $(wildcard src/core/*.h)
	$(CC) -std=c11 -O2 -Wall -Wextra -Werror -Isrc/core -o $@ tools/tc-verify.c src/core/audit_enc.c src/core/encoding.c src/core/csv.c -lcrypto

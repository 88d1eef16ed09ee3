# tracechain: PGXS build.
#
# The install script tracechain--1.0.sql is assembled from the modules' SQL
# files in the order of SQL_MODULES (each module's SQL sits beside its C file).

EXTENSION   = tracechain
MODULE_big  = tracechain

# Pure parsers and formats (no PostgreSQL headers); unit tests and fuzzers link these alone.
CORE_OBJS   = src/core/encoding.o src/core/audit_enc.o

# Services and modules, in src/<name>.c + src/<name>.sql.
OBJS        = src/tracechain.o src/shmem.o src/worker.o src/keys.o src/events.o \
              src/audit.o src/principal.o $(CORE_OBJS)

# Order matters: later files use objects of earlier ones; privileges.sql runs last.
SQL_MODULES = src/schema.sql src/keys.sql src/events.sql src/audit.sql \
              src/principal.sql src/privileges.sql

DATA_built  = tracechain--1.0.sql
EXTRA_CLEAN = tracechain--1.0.sql test/unit/test_core results regression.diffs regression.out \
              output_iso tmp_check

PG_CONFIG  ?= pg_config
PG_CPPFLAGS = -I$(srcdir)/src -I$(srcdir)/src/core
PG_CFLAGS   = -Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers -Wmissing-prototypes
SHLIB_LINK  = -lcrypto -lsecp256k1 -loath

REGRESS      = setup principal audit events keys privileges
REGRESS_OPTS = --use-existing
ISOLATION    = audit_chain
ISOLATION_OPTS = --use-existing
TAP_TESTS    = 1
PROVE_TESTS  = test/t/*.pl

PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

tracechain--1.0.sql: src/header.sql $(SQL_MODULES)
	cat src/header.sql > $@
	for f in $(SQL_MODULES); do printf '\n-- ==== %s ====\n' "$$f"; cat $$f; done >> $@

# Unit tests of the pure core: no server needed.
test/unit/test_core: test/unit/test_core.c $(CORE_OBJS:.o=.c)
	$(CC) -std=c11 -O1 -g -Wall -Wextra -Werror -Isrc/core -o $@ $^ -lcrypto

.PHONY: unit
unit: test/unit/test_core
	./test/unit/test_core

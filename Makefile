# tracechain: PGXS build.
#
# Each module adds itself in mk/NN-<module>.mk (its C objects, its SQL file,
# its tests).  The install script tracechain--1.0.sql is the modules' SQL
# files concatenated in the order of those mk files.

EXTENSION   = tracechain
MODULE_big  = tracechain
# A mk file defines a rule (tools/tc-verify) before PGXS does: without this,
# a bare `make` (as build_install runs it, with COPT=-Werror) built only that.
.DEFAULT_GOAL := all

# src/core: pure parsers and formats (no PostgreSQL headers); the unit tests
# and fuzzers link these alone.
CORE_OBJS   = src/core/encoding.o
OBJS        = src/tracechain.o src/shmem.o
SQL_MODULES = src/schema.sql
# pg_regress tests share one database, contrib_regression (tracechain.database
# in the test cluster); `setup` creates the extension and runs first.
REGRESS     = setup
ISOLATION   =

include $(sort $(wildcard mk/*.mk))

OBJS       += $(CORE_OBJS)
DATA_built  = tracechain--1.0.sql
EXTRA_CLEAN = tracechain--1.0.sql $(UNIT_TESTS) results regression.diffs regression.out \
              output_iso tmp_check

PG_CONFIG  ?= pg_config
PG_CPPFLAGS = -I$(srcdir)/src -I$(srcdir)/src/core
PG_CFLAGS   = -Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers -Wmissing-prototypes
# += so that a mk/NN-module.mk can add its libraries (it is included above);
# CORE_LIBS are libraries the pure core needs too (unit tests link them).
SHLIB_LINK += -lcrypto -lsecp256k1 -loath $(CORE_LIBS)
# make SANITIZE=1: AddressSanitizer + UndefinedBehaviorSanitizer (scripts/asan.sh;
# the postmaster then needs LD_PRELOAD of libasan, see docs/hardening.md).
ifdef SANITIZE
PG_CFLAGS  += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize=alignment
SHLIB_LINK += -fsanitize=address,undefined
endif

REGRESS_OPTS   = --use-existing
ISOLATION_OPTS = --use-existing
TAP_TESTS      = 1
PROVE_TESTS    = test/t/*.pl

PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# PGXS tracks no header dependencies: a changed struct in a header must
# rebuild every object that includes it, or objects disagree on its layout.
$(OBJS) $(OBJS:.o=.bc): $(wildcard src/*.h src/core/*.h)

tracechain--1.0.sql: src/header.sql $(SQL_MODULES) $(wildcard mk/*.mk)
	cat src/header.sql > $@
	for f in $(SQL_MODULES); do printf '\n-- ==== %s ====\n' "$$f"; cat $$f; done >> $@

# Unit tests of the pure core: no server needed.  Each module may add a
# test/unit/test_<name>.c (printing TAP lines) to UNIT_TESTS in its mk file.
UNIT_TESTS += test/unit/test_core
CORE_SRCS   = $(CORE_OBJS:.o=.c)
test/unit/%: test/unit/%.c $(CORE_SRCS) $(wildcard src/core/*.h)
	$(CC) -std=c11 -O1 -g -Wall -Wextra -Werror -Isrc/core -o $@ $< $(CORE_SRCS) -lcrypto -lsecp256k1 $(CORE_LIBS)

.PHONY: unit
unit: $(UNIT_TESTS)
	@for t in $(UNIT_TESTS); do ./$$t || exit 1; done

# `make print-REGRESS` and the like, for test.sh.
print-%:
	@echo $($*)

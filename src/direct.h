/*
 * direct.h: direct heap and index access for the hot paths (direct.c).
 *
 * authenticate() and totp_verify() run on every request of every
 * application; the executor start-up of a prepared SQL statement costs far
 * more than the index probe or the one-row update it does.  These helpers
 * do the same work without the executor, with the executor's semantics:
 * reads under the active snapshot through a unique btree index, and updates
 * that, like UPDATE ... WHERE in READ COMMITTED, wait for a concurrent
 * writer and recheck the condition on the row's newest version (a
 * serialization failure under REPEATABLE READ and SERIALIZABLE).  Callers
 * read directly only when tc_direct_readable() (no row-level security) and
 * update directly only when tc_direct_plain() (no user trigger, no rule
 * either) says nothing else would have run, and fall back to SQL otherwise.
 */
#ifndef TC_DIRECT_H
#define TC_DIRECT_H

#include "postgres.h"
#include "access/htup.h"
#include "executor/tuptable.h"
#include "fmgr.h"
#include "utils/rel.h"

/* tracechain.<relname>, opened with `lockmode`; an error when it is missing. */
extern Relation tc_direct_open(const char *relname, LOCKMODE lockmode);

/* Attribute number of a column of the given type; an error otherwise. */
extern AttrNumber tc_direct_attnum(Relation rel, const char *colname, Oid typid);

/* Whether a SELECT of rel would read nothing but the heap (a table without row-level security). */
extern bool tc_direct_readable(Relation rel);

/* Whether an UPDATE of rel would run nothing but the heap and index updates (no user trigger, no rule). */
extern bool tc_direct_plain(Relation rel);

/*
 * The row whose column `att` equals `key` (through a unique, non-partial
 * btree index on that column alone; `eqproc` the type's equality function),
 * as the active snapshot sees it, stored in `slot` (from table_slot_create).
 * False when there is none.
 */
extern bool tc_direct_fetch(Relation rel, AttrNumber att, RegProcedure eqproc, Datum key,
							TupleTableSlot *slot);

/* Whether the row version in `slot` still qualifies for the update. */
typedef bool (*tc_direct_recheck) (TupleTableSlot *slot, void *arg);

/*
 * UPDATE rel SET cols = values WHERE ctid = the row in `slot` (fetched with
 * tc_direct_fetch) AND recheck(row): when another transaction updated the
 * row meanwhile, wait for it, then (READ COMMITTED) recheck the newest
 * version and update that, or (REPEATABLE READ and up) fail with a
 * serialization error, as the executor does.  Maintains the indexes.
 * False when no row was updated (the row is gone or no longer qualifies).
 */
extern bool tc_direct_update(Relation rel, TupleTableSlot *slot, int ncols, const int *cols,
							 const Datum *values, const bool *nulls,
							 tc_direct_recheck recheck, void *arg);

/*
 * Around a hot path: advance the command counter and push a fresh snapshot,
 * as SPI does before each statement of a volatile function.
 */
extern void tc_direct_begin(void);
extern void tc_direct_end(void);

/*
 * The slow paths of a C function that is not SECURITY DEFINER (so that its
 * fast path pays for no user and GUC switch): run SQL as the function's
 * owner with search_path pinned, as SECURITY DEFINER SET search_path =
 * pg_catalog, tracechain, pg_temp would.  An error inside needs no
 * tc_as_owner_end: the (sub)transaction abort restores both.
 */
typedef struct tc_as_owner
{
	Oid			save_userid;
	int			save_sec_context;
	int			guc_nest;
} tc_as_owner;

extern void tc_as_owner_begin(FunctionCallInfo fcinfo, tc_as_owner *s);
extern void tc_as_owner_end(tc_as_owner *s);

#endif

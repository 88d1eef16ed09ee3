/*
 * audit_walk.h: what a chain walk keeps, shared by the serial walk (audit.c)
 * and the parallel heap walk (audit_parallel.c).  Internal to the audit
 * module.
 */
#ifndef TC_AUDIT_WALK_H
#define TC_AUDIT_WALK_H

#include "postgres.h"
#include "lib/stringinfo.h"
#include "utils/jsonb.h"
#include "utils/relcache.h"
#include "utils/snapshot.h"

#include "audit_enc.h"			/* TC_HASH_LEN */

/* audit_log's columns, 1-based as in the table definition. */
enum
{
	A_ID = 1, A_AT, A_TYPE, A_ACTOR, A_DB_USER, A_ACTION, A_RESOURCE,
	A_DETAILS, A_IP, A_PREV_HASH, A_HASH, A_NATTS = A_HASH
};

/* Result of a chain walk. */
typedef struct chain_result
{
	bool		ok;
	int64		rows;
	int64		first_bad;
	int64		last_id;
	char		reason[160];
} chain_result;

/* State of a walk: what the next row must look like. */
typedef struct chain_walk
{
	chain_result *res;
	int64		expect_id;
	uint8		expect_prev[TC_HASH_LEN];
	bool		have_prev;
	int64		want_id;
	const uint8 *want_hash;
	bool		want_found;
	bool		want_match;
	StringInfoData dbuf;
	StringInfoData hbuf;
} chain_walk;

/* The canonical text of details: exactly details::text (audit_json.c). */
extern void tc_jsonb_text(Jsonb *j, StringInfo out);

/* Check one deformed row; false when it breaks the chain (res says how). */
extern bool tc_walk_check_row(chain_walk *w, Datum *v, bool *n);

/*
 * Walk the whole heap of rel in physical order, as runs of consecutive ids
 * joined at the end, with parallel workers on a large table (setting
 * tracechain.verify_workers; audit_parallel.c).  Returns true when it decided
 * the walk: every row matched, the runs tile the ids and every link holds; w
 * and w->res then read as after a serial walk.  Returns false otherwise (a
 * broken row or link, a gap, more runs than it keeps): the caller then walks
 * serially, which also names the first bad row exactly.
 */
extern bool tc_walk_heap_runs(Relation rel, Snapshot snap, chain_walk *w);

#endif

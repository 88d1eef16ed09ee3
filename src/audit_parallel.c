/*
 * audit_parallel.c: verify_audit_chain over a large log with parallel workers.
 *
 * Each row's hash covers its own prev_hash, so rows can be checked one by one
 * in any order; only the links (a row's prev_hash is its predecessor's hash,
 * ids have no gaps) run across rows.  The heap is cut into block ranges
 * (segments); the leader and its parallel workers claim segments one at a
 * time, and each walks its range in heap order, checking every row and every
 * link inside the range, and records the range's first id and prev_hash and
 * its last id and hash.  The leader then links the ranges end to end.
 *
 * The workers are PostgreSQL parallel workers (access/parallel.h): they run
 * under the leader's transaction and snapshot, so they see exactly the rows
 * the leader would.  Anything unusual (a row out of id order, a broken row or
 * link, no workers to be had) makes the parallel walk give up and the caller
 * walks serially, which names the first bad row exactly as before: a broken
 * chain costs a second walk, an intact one is checked at the speed of all
 * the cores it is given.
 */
#include "postgres.h"

#include "access/heapam.h"
#include "access/parallel.h"
#include "access/relscan.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "miscadmin.h"
#include "optimizer/optimizer.h"
#include "optimizer/paths.h"
#include "port/atomics.h"
#include "storage/bufmgr.h"
#include "storage/shm_toc.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "audit.h"
#include "audit_walk.h"

#define PV_KEY_SHARED	UINT64CONST(0x7463766572690001)

static int	verify_workers = 2;

/* What one segment found. */
typedef struct pv_segment
{
	bool		done;
	bool		usable;			/* every row in order, linked and matching */
	bool		want_found;
	bool		want_match;
	int64		rows;
	int64		first_id;
	int64		last_id;
	uint8		first_prev[TC_HASH_LEN];
	uint8		last_hash[TC_HASH_LEN];
} pv_segment;

typedef struct pv_shared
{
	Oid			relid;
	BlockNumber nblocks;
	int			nseg;
	int64		want_id;
	bool		have_want_hash;
	uint8		want_hash[TC_HASH_LEN];
	pg_atomic_uint32 next_seg;
	pv_segment	seg[FLEXIBLE_ARRAY_MEMBER];
} pv_shared;

PGDLLEXPORT void tc_audit_verify_worker(dsm_segment *seg, shm_toc *toc);

/* Walk blocks of segment i; fills sh->seg[i]. */
static void
walk_segment(pv_shared *sh, int i, Relation rel, Snapshot snap)
{
	pv_segment *out = &sh->seg[i];
	BlockNumber start = (BlockNumber) ((uint64) sh->nblocks * i / sh->nseg);
	BlockNumber end = (BlockNumber) ((uint64) sh->nblocks * (i + 1) / sh->nseg);
	TupleDesc	desc = RelationGetDescr(rel);
	MemoryContext rowcxt = AllocSetContextCreate(CurrentMemoryContext, "tracechain parallel walk",
												 ALLOCSET_DEFAULT_SIZES);
	MemoryContext oldcxt;
	TableScanDesc scan;
	HeapTuple	tup;
	Datum		v[A_NATTS];
	bool		n[A_NATTS];
	chain_result res;
	chain_walk	w;
	bool		first = true;
	bool		usable = true;

	memset(&res, 0, sizeof(res));
	memset(&w, 0, sizeof(w));
	w.res = &res;
	w.want_id = sh->want_id;
	w.want_hash = sh->have_want_hash ? sh->want_hash : NULL;
	initStringInfo(&w.dbuf);
	initStringInfo(&w.hbuf);

	scan = table_beginscan_strat(rel, snap, 0, NULL, true, false);
	heap_setscanlimits(scan, start, end - start);
	oldcxt = MemoryContextSwitchTo(rowcxt);
	while ((tup = heap_getnext(scan, ForwardScanDirection)) != NULL)
	{
		int64		id;

		CHECK_FOR_INTERRUPTS();
		heap_deform_tuple(tup, desc, v, n);
		id = DatumGetInt64(v[A_ID - 1]);
		if (first)
			w.expect_id = id;	/* the range's first link is the leader's to check */
		else if (id != w.expect_id)
		{
			usable = false;
			break;
		}
		if (!tc_walk_check_row(&w, v, n))
		{
			usable = false;
			break;
		}
		if (first)
		{
			/* tc_walk_check_row has checked that it is a 32-byte bytea */
			bytea	   *prev = DatumGetByteaPP(v[A_PREV_HASH - 1]);

			memcpy(out->first_prev, VARDATA_ANY(prev), TC_HASH_LEN);
			out->first_id = id;
			first = false;
		}
		MemoryContextReset(rowcxt);
	}
	MemoryContextSwitchTo(oldcxt);
	table_endscan(scan);

	out->usable = usable;
	out->rows = res.rows;
	out->last_id = res.last_id;
	memcpy(out->last_hash, w.expect_prev, TC_HASH_LEN);
	out->want_found = w.want_found;
	out->want_match = w.want_match;
	out->done = true;
	pfree(w.dbuf.data);
	pfree(w.hbuf.data);
	MemoryContextDelete(rowcxt);
}

/* Claim and walk segments until none is left (leader and workers alike). */
static void
walk_segments(pv_shared *sh, Relation rel, Snapshot snap)
{
	for (;;)
	{
		uint32		i = pg_atomic_fetch_add_u32(&sh->next_seg, 1);

		if (i >= (uint32) sh->nseg)
			break;
		walk_segment(sh, (int) i, rel, snap);
	}
}

void
tc_audit_verify_worker(dsm_segment *seg, shm_toc *toc)
{
	pv_shared  *sh = shm_toc_lookup(toc, PV_KEY_SHARED, false);
	Relation	rel = table_open(sh->relid, AccessShareLock);

	walk_segments(sh, rel, GetActiveSnapshot());
	table_close(rel, AccessShareLock);
}

/* Link the segments end to end onto w; false if any does not fit. */
static bool
link_segments(pv_shared *sh, chain_walk *w)
{
	chain_result *res = w->res;
	int64		rows = 0;

	for (int i = 0; i < sh->nseg; i++)
	{
		pv_segment *s = &sh->seg[i];

		if (!s->done || !s->usable)
			return false;
		if (s->rows == 0)
			continue;
		if (s->first_id != w->expect_id ||
			(w->have_prev && memcmp(s->first_prev, w->expect_prev, TC_HASH_LEN) != 0))
			return false;
		rows += s->rows;
		w->expect_id = s->last_id + 1;
		memcpy(w->expect_prev, s->last_hash, TC_HASH_LEN);
		w->have_prev = true;
		res->last_id = s->last_id;
		if (s->want_found)
		{
			w->want_found = true;
			w->want_match = s->want_match;
		}
	}
	res->rows = rows;
	return true;
}

bool
tc_walk_heap_parallel(Relation rel, Snapshot snap, chain_walk *w)
{
	BlockNumber nblocks;
	ParallelContext *pcxt;
	pv_shared  *sh;
	Size		size;
	int			nseg;
	bool		decided;

	if (verify_workers <= 0 || IsInParallelMode() || !IsUnderPostmaster)
		return false;
	/* Below min_parallel_table_scan_size (8 MB), as for a parallel scan. */
	nblocks = RelationGetNumberOfBlocks(rel);
	if (nblocks == 0 || nblocks < (BlockNumber) min_parallel_table_scan_size)
		return false;
	/* A few segments a process, so that a slow one does not hold up the rest. */
	nseg = (int) Min((BlockNumber) (8 * (verify_workers + 1)), nblocks);

	EnterParallelMode();
	pcxt = CreateParallelContext("$libdir/tracechain", "tc_audit_verify_worker", verify_workers);
	size = add_size(offsetof(pv_shared, seg), mul_size(sizeof(pv_segment), nseg));
	shm_toc_estimate_chunk(&pcxt->estimator, size);
	shm_toc_estimate_keys(&pcxt->estimator, 1);
	InitializeParallelDSM(pcxt);
	if (pcxt->seg == NULL)
	{
		/* no dynamic shared memory to be had: walk serially */
		DestroyParallelContext(pcxt);
		ExitParallelMode();
		return false;
	}
	sh = shm_toc_allocate(pcxt->toc, size);
	memset(sh, 0, size);
	sh->relid = RelationGetRelid(rel);
	sh->nblocks = nblocks;
	sh->nseg = nseg;
	sh->want_id = w->want_id;
	sh->have_want_hash = (w->want_hash != NULL);
	if (w->want_hash)
		memcpy(sh->want_hash, w->want_hash, TC_HASH_LEN);
	pg_atomic_init_u32(&sh->next_seg, 0);
	shm_toc_insert(pcxt->toc, PV_KEY_SHARED, sh);

	LaunchParallelWorkers(pcxt);
	/* As for a parallel query: the leader walks too, unless told not to. */
	if (parallel_leader_participation || pcxt->nworkers_launched == 0)
		walk_segments(sh, rel, snap);
	WaitForParallelWorkersToFinish(pcxt);

	{
		chain_walk	saved = *w;
		chain_result saved_res = *w->res;

		decided = link_segments(sh, w);
		if (!decided)
		{
			*w = saved;
			*w->res = saved_res;
		}
	}
	elog(DEBUG1, "verify_audit_chain: %d segments, %d parallel workers launched, %s",
		 nseg, pcxt->nworkers_launched,
		 decided ? "segments linked" : "walking serially instead");
	DestroyParallelContext(pcxt);
	ExitParallelMode();
	return decided;
}

void
tc_audit_parallel_init(void)
{
	DefineCustomIntVariable("tracechain.verify_workers",
							"Parallel workers that verify_audit_chain uses on a large log, besides the calling backend.",
							"0 walks the chain in the calling backend alone.  Workers come from max_parallel_workers.",
							&verify_workers, 2, 0, 32, PGC_USERSET, 0, NULL, NULL, NULL);
}

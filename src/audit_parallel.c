/*
 * audit_parallel.c: verify_audit_chain over the heap, in any order, in
 * parallel.
 *
 * Each row's hash covers its own prev_hash, so every row can be checked on
 * its own, wherever it lies; only the links (a row's prev_hash is its
 * predecessor's hash, ids have no gap) run across rows.  The walk reads the
 * heap in physical order and cuts it into runs: maximal stretches of rows
 * whose ids follow one another, linked inside the run.  Appends are nearly
 * always in id order, but backends that append at the same time fill
 * different pages, so a busy log has a few places where the order jumps; a
 * run ends there.  Each run is remembered by its first id and prev_hash and
 * its last id and hash; at the end the runs, sorted by first id, must tile
 * the ids from the first to the last, each run's first prev_hash being the
 * hash that ended the run before it.
 *
 * On a large log the heap is also cut into block ranges (segments) that the
 * calling backend and its PostgreSQL parallel workers (access/parallel.h:
 * the caller's transaction and snapshot, so the same rows) claim one at a
 * time.  Anything wrong (a broken row, a gap, too many runs to keep) makes
 * this give up and the caller walks again serially in id order, which names
 * the first bad row exactly: a broken chain costs a second walk, an intact
 * one is checked once, at the speed of all the cores it is given.
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
#define PV_MAX_RUNS		262144	/* runs kept in all, over all segments (20 MB) */
#define PV_RUNS_PER_BLOCK 64	/* no more rows than that fit a page */

static int	verify_workers = 2;

typedef struct pv_run
{
	int64		first_id;
	int64		last_id;
	uint8		first_prev[TC_HASH_LEN];
	uint8		last_hash[TC_HASH_LEN];
} pv_run;

/* What one segment found. */
typedef struct pv_segment
{
	bool		done;
	bool		usable;			/* every row matched its hash and runs fitted */
	bool		want_found;
	bool		want_match;
	int64		rows;
} pv_segment;

typedef struct pv_shared
{
	Oid			relid;
	BlockNumber nblocks;
	int			nseg;
	uint32		max_runs;		/* the pool after the segments */
	int64		want_id;
	bool		have_want_hash;
	uint8		want_hash[TC_HASH_LEN];
	pg_atomic_uint32 next_seg;
	pg_atomic_uint32 next_run;	/* runs taken from the pool, by any segment */
	pv_segment	seg[FLEXIBLE_ARRAY_MEMBER];
	/* then max_runs pv_run */
} pv_shared;

PGDLLEXPORT void tc_audit_verify_worker(dsm_segment *seg, shm_toc *toc);

static inline pv_run *
run_pool(pv_shared *sh)
{
	return (pv_run *) MAXALIGN((char *) &sh->seg[sh->nseg]);
}

static Size
shared_size(int nseg, uint32 max_runs)
{
	return add_size(MAXALIGN(add_size(offsetof(pv_shared, seg), mul_size(sizeof(pv_segment), nseg))),
					mul_size(sizeof(pv_run), max_runs));
}

/* Walk the blocks of segment i; fills sh->seg[i] and its runs. */
static void
walk_segment(pv_shared *sh, int i, Relation rel, Snapshot snap)
{
	pv_segment *out = &sh->seg[i];
	pv_run	   *runs = run_pool(sh);
	pv_run	   *run = NULL;
	BlockNumber start = (BlockNumber) ((uint64) sh->nblocks * i / sh->nseg);
	BlockNumber end = (BlockNumber) ((uint64) sh->nblocks * (i + 1) / sh->nseg);
	TupleDesc	desc = RelationGetDescr(rel);
	MemoryContext rowcxt = AllocSetContextCreate(CurrentMemoryContext, "tracechain chain runs",
												 ALLOCSET_DEFAULT_SIZES);
	MemoryContext oldcxt;
	TableScanDesc scan;
	HeapTuple	tup;
	Datum		v[A_NATTS];
	bool		n[A_NATTS];
	chain_result res;
	chain_walk	w;
	bool		usable = true;

	memset(&res, 0, sizeof(res));
	memset(&w, 0, sizeof(w));
	w.res = &res;
	w.want_id = sh->want_id;
	w.want_hash = sh->have_want_hash ? sh->want_hash : NULL;
	initStringInfo(&w.dbuf);
	initStringInfo(&w.hbuf);

	/* No synchronized scan: segments are block ranges. */
	scan = table_beginscan_strat(rel, snap, 0, NULL, true, false);
	heap_setscanlimits(scan, start, end - start);
	oldcxt = MemoryContextSwitchTo(rowcxt);
	while ((tup = heap_getnext(scan, ForwardScanDirection)) != NULL)
	{
		int64		id;
		bool		new_run;

		CHECK_FOR_INTERRUPTS();
		heap_deform_tuple(tup, desc, v, n);
		id = DatumGetInt64(v[A_ID - 1]);
		new_run = (run == NULL || id != w.expect_id);
		if (new_run)
		{
			uint32		r;

			if (run != NULL)
				memcpy(run->last_hash, w.expect_prev, TC_HASH_LEN);
			r = pg_atomic_fetch_add_u32(&sh->next_run, 1);
			if (r >= sh->max_runs)
			{
				usable = false;
				break;
			}
			run = &runs[r];
			w.expect_id = id;
			w.have_prev = false;	/* the run's first link is checked when runs are joined */
		}
		if (!tc_walk_check_row(&w, v, n))
		{
			usable = false;
			break;
		}
		if (new_run)
		{
			/* tc_walk_check_row has checked that it is a 32-byte bytea */
			bytea	   *prev = DatumGetByteaPP(v[A_PREV_HASH - 1]);

			memcpy(run->first_prev, VARDATA_ANY(prev), TC_HASH_LEN);
			run->first_id = id;
		}
		run->last_id = id;
		MemoryContextReset(rowcxt);
	}
	MemoryContextSwitchTo(oldcxt);
	table_endscan(scan);
	if (usable && run != NULL)
		memcpy(run->last_hash, w.expect_prev, TC_HASH_LEN);

	out->usable = usable;
	out->rows = res.rows;
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

static int
run_cmp(const void *a, const void *b)
{
	int64		x = ((const pv_run *) a)->first_id;
	int64		y = ((const pv_run *) b)->first_id;

	return (x > y) - (x < y);
}

/*
 * Join the runs of all segments in id order onto w: true when they tile the
 * ids without a gap or an overlap and every link holds.
 */
static bool
join_runs(pv_shared *sh, chain_walk *w)
{
	chain_result *res = w->res;
	uint32		total = pg_atomic_read_u32(&sh->next_run);
	int64		rows = 0;
	pv_run	   *all = run_pool(sh);

	for (int i = 0; i < sh->nseg; i++)
	{
		pv_segment *s = &sh->seg[i];

		if (!s->done || !s->usable)
			return false;
		rows += s->rows;
		if (s->want_found)
		{
			w->want_found = true;
			w->want_match = s->want_match;
		}
	}
	/* every segment was usable, so every run taken was filled */
	if (total > sh->max_runs)
		return false;
	qsort(all, total, sizeof(pv_run), run_cmp);
	for (uint32 i = 0; i < total; i++)
	{
		if (all[i].first_id != w->expect_id ||
			(w->have_prev && memcmp(all[i].first_prev, w->expect_prev, TC_HASH_LEN) != 0))
			return false;
		w->expect_id = all[i].last_id + 1;
		memcpy(w->expect_prev, all[i].last_hash, TC_HASH_LEN);
		w->have_prev = true;
		res->last_id = all[i].last_id;
	}
	res->rows = rows;
	return true;
}

bool
tc_walk_heap_runs(Relation rel, Snapshot snap, chain_walk *w)
{
	BlockNumber nblocks = RelationGetNumberOfBlocks(rel);
	ParallelContext *pcxt = NULL;
	pv_shared  *sh;
	Size		size;
	int			nseg = 1;
	int			nworkers = 0;
	int			launched = 0;
	uint32		max_runs;
	bool		decided;
	chain_walk	saved = *w;
	chain_result saved_res = *w->res;

	if (nblocks == 0)
		return false;
	/* Workers above min_parallel_table_scan_size (8 MB), as for a parallel scan. */
	if (verify_workers > 0 && !IsInParallelMode() && IsUnderPostmaster &&
		nblocks >= (BlockNumber) min_parallel_table_scan_size)
	{
		nworkers = verify_workers;
		/* A few segments a process, so that a slow one does not hold up the rest. */
		nseg = (int) Min((BlockNumber) (8 * (nworkers + 1)), nblocks);
	}
	max_runs = (uint32) Min((uint64) PV_MAX_RUNS, (uint64) nblocks * PV_RUNS_PER_BLOCK);
	size = shared_size(nseg, max_runs);

	if (nworkers > 0)
	{
		EnterParallelMode();
		pcxt = CreateParallelContext("$libdir/tracechain", "tc_audit_verify_worker", nworkers);
		shm_toc_estimate_chunk(&pcxt->estimator, size);
		shm_toc_estimate_keys(&pcxt->estimator, 1);
		InitializeParallelDSM(pcxt);
		sh = shm_toc_allocate(pcxt->toc, size);
	}
	else
		sh = palloc(size);
	memset(sh, 0, offsetof(pv_shared, seg) + sizeof(pv_segment) * nseg);
	sh->relid = RelationGetRelid(rel);
	sh->nblocks = nblocks;
	sh->nseg = nseg;
	sh->max_runs = max_runs;
	sh->want_id = w->want_id;
	sh->have_want_hash = (w->want_hash != NULL);
	if (w->want_hash)
		memcpy(sh->want_hash, w->want_hash, TC_HASH_LEN);
	pg_atomic_init_u32(&sh->next_seg, 0);
	pg_atomic_init_u32(&sh->next_run, 0);

	if (pcxt != NULL)
	{
		shm_toc_insert(pcxt->toc, PV_KEY_SHARED, sh);
		LaunchParallelWorkers(pcxt);
		launched = pcxt->nworkers_launched;
	}
	/* As for a parallel query: the leader walks too, unless told not to. */
	if (pcxt == NULL || parallel_leader_participation || launched == 0)
		walk_segments(sh, rel, snap);
	if (pcxt != NULL)
		WaitForParallelWorkersToFinish(pcxt);

	decided = join_runs(sh, w);
	if (!decided)
	{
		*w = saved;
		*w->res = saved_res;
	}
	elog(DEBUG1, "verify_audit_chain: %d segments, %d parallel workers launched, %s",
		 nseg, launched, decided ? "runs joined" : "walking serially instead");
	if (pcxt != NULL)
	{
		DestroyParallelContext(pcxt);
		ExitParallelMode();
	}
	else
		pfree(sh);
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

/*
 * audit_intake.c: high-volume audit rows, written without the chain lock.
 *
 * Writers (row-change capture triggers installed by audit_table(), and
 * tc_audit_enqueue()) insert into tracechain.audit_pending inside their own
 * transaction, all of its rows in one multi-insert just before it commits
 * (audit_queue.c): plain inserts, so concurrent writers never wait for each
 * other, and a row exists if and only if its transaction committed.  The
 * sealer (a job of the background worker, or audit_seal()) moves committed
 * pending rows into the chain in its own transactions: under the chain lock
 * it appends them in pending-id order, hashing each onto the head, and
 * deletes them from audit_pending in the same transaction.  So:
 *  - at commit, a row is durable and immutable in audit_pending;
 *  - within tracechain.worker_naptime (plus sealing time) it is in the chain;
 *  - a row of an aborted transaction is never seen by the sealer, and rows
 *    of transactions that commit out of order are simply sealed in a later
 *    batch: the chain has no gaps and no forks whatever the commit order.
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/dependency.h"
#include "catalog/index.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "commands/sequence.h"
#include "commands/trigger.h"
#include "commands/vacuum.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "nodes/makefuncs.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/bufmgr.h"
#include "tcop/tcopprot.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/fmgrprotos.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "audit.h"
#include "audit_walk.h"
#include "principal.h"
#include "worker.h"

#define SEAL_BATCH 5000
#define PENDING_VACUUM_ROWS 10000	/* sealed rows between two vacuums of audit_pending */

static int	seal_max_per_run = 100000;
static int	digest_interval_s = 60;

/*
 * Rows into audit_pending.  Direct heap inserts, held until just before
 * commit and then written together (audit_queue.c): this runs for every
 * captured row of every audited table, and the executor machinery of an SPI
 * INSERT costs several times the insert itself.  The id, which orders the
 * rows for the sealer, is given out when they are written.  audit_pending has no index (the
 * sealer reads it whole, in id order), no constraint that our own values
 * could break, and no insert trigger, so nothing is skipped; and it needs no
 * privilege of the writer, who has none on tracechain's tables.  A capture
 * trigger opens the table once for all the rows of its statement.
 */
/* audit_pending's oid and identity sequence; forgotten on any invalidation of it. */
static Oid	pending_relid = InvalidOid;
static Oid	pending_seq = InvalidOid;

static void
pending_relcache_cb(Datum arg, Oid relid)
{
	if (!OidIsValid(relid) || relid == pending_relid)
		pending_relid = InvalidOid;
}

/* audit_pending's column types: audit_log's first nine (A_ID .. A_IP). */
#define PENDING_NATTS A_IP
static const Oid pending_types[PENDING_NATTS] = {INT8OID, TIMESTAMPTZOID, TEXTOID, UUIDOID, NAMEOID,
TEXTOID, TEXTOID, JSONBOID, INETOID};

/*
 * audit_pending's oid, its shape checked (these 9 columns, no index: nothing
 * that the direct inserts and deletes here would skip), once until it
 * changes.
 */
static Oid
pending_relid_get(void)
{
	static bool registered = false;

	if (!registered)
	{
		CacheRegisterRelcacheCallback(pending_relcache_cb, (Datum) 0);
		registered = true;
	}
	if (!OidIsValid(pending_relid))
	{
		Oid			relid = get_relname_relid("audit_pending", get_namespace_oid("tracechain", false));
		Relation	rel;
		bool		ok;

		if (!OidIsValid(relid))
			elog(ERROR, "tracechain.audit_pending does not exist");
		rel = table_open(relid, RowExclusiveLock);
		/*
		 * The queue writes each id in place at the start of its tuple's data
		 * (a not-null int8 first); the sealer hands the other columns to
		 * audit_log's as they are (the same types in the same order).
		 */
		ok = RelationGetDescr(rel)->natts == PENDING_NATTS &&
			RelationGetIndexList(rel) == NIL &&
			TupleDescAttr(RelationGetDescr(rel), 0)->attnotnull;
		for (int i = 0; ok && i < PENDING_NATTS; i++)
			ok = TupleDescAttr(RelationGetDescr(rel), i)->atttypid == pending_types[i] &&
				!TupleDescAttr(RelationGetDescr(rel), i)->attisdropped;
		table_close(rel, NoLock);
		if (!ok)
			elog(ERROR, "tracechain.audit_pending has an unexpected shape");
		pending_seq = getIdentitySequence(relid, 1, false);
		pending_relid = relid;
	}
	return pending_relid;
}

void
tc_pending_open(tc_pending *p)
{
	Oid			relid = pending_relid_get();

	p->seq = pending_seq;
	p->rel = table_open(relid, RowExclusiveLock);
	p->session_user = NULL;
}

static void
tc_pending_insert(tc_pending *p, const tc_audit_row *row)
{
	Datum		v[PENDING_NATTS];
	bool		n[PENDING_NATTS] = {false};
	const char *db_user = row->db_user;

	if (db_user == NULL)
	{
		if (p->session_user == NULL)
			p->session_user = GetUserNameFromId(GetSessionUserId(), false);
		db_user = p->session_user;
	}
	v[A_ID - 1] = Int64GetDatum(0); /* given out when it is written (audit_queue.c) */
	v[A_AT - 1] = TimestampTzGetDatum(row->at);
	v[A_TYPE - 1] = CStringGetTextDatum(row->type);
	v[A_ACTOR - 1] = row->actor ? UUIDPGetDatum(row->actor) : (Datum) 0;
	n[A_ACTOR - 1] = row->actor == NULL;
	v[A_DB_USER - 1] = DirectFunctionCall1(namein, CStringGetDatum(db_user));
	v[A_ACTION - 1] = CStringGetTextDatum(row->action);
	v[A_RESOURCE - 1] = row->resource ? CStringGetTextDatum(row->resource) : (Datum) 0;
	n[A_RESOURCE - 1] = row->resource == NULL;
	v[A_DETAILS - 1] = row->details ? JsonbPGetDatum(row->details) : DirectFunctionCall1(jsonb_in, CStringGetDatum("{}"));
	v[A_IP - 1] = row->ip ? DirectFunctionCall1(inet_in, CStringGetDatum(row->ip)) : (Datum) 0;
	n[A_IP - 1] = row->ip == NULL;
	tc_pending_queue_add(p->rel, p->seq, v, n);
}

void
tc_pending_close(tc_pending *p)
{
	table_close(p->rel, NoLock);	/* the lock is held to the end of the transaction */
	p->rel = NULL;
}

void
tc_audit_enqueue(const tc_audit_row *row)
{
	tc_pending	p;

	tc_pending_open(&p);
	tc_pending_insert(&p, row);
	tc_pending_close(&p);
}

/* SQL: _audit_enqueue(type, action, resource, details, actor, ip); internal. */
PG_FUNCTION_INFO_V1(tc_audit_enqueue_sql);
Datum
tc_audit_enqueue_sql(PG_FUNCTION_ARGS)
{
	tc_audit_row row;

	tc_audit_row_from_args(fcinfo, &row);
	tc_audit_enqueue(&row);
	PG_RETURN_VOID();
}

/* ---- the sealer ---- */

typedef struct pending_ref
{
	int64		id;
	ItemPointerData tid;
} pending_ref;

static int
pending_ref_cmp(const void *a, const void *b)
{
	int64		x = ((const pending_ref *) a)->id;
	int64		y = ((const pending_ref *) b)->id;

	return (x > y) - (x < y);
}

/*
 * The rows of audit_pending that `snap` sees, sorted by id (*n of them; with
 * `any_only`, stop at the first).  One pass over the heap with no executor:
 * the table has no index, and a sort node over the whole table would spill
 * to disk for every batch of a large backlog.
 */
static pending_ref *
pending_scan(Relation rel, Snapshot snap, bool any_only, int64 *n)
{
	TableScanDesc scan = table_beginscan_strat(rel, snap, 0, NULL, true, false);
	TupleDesc	desc = RelationGetDescr(rel);
	Size		cap = 1024;
	pending_ref *refs = palloc(sizeof(pending_ref) * cap);
	HeapTuple	tup;

	*n = 0;
	while ((tup = heap_getnext(scan, ForwardScanDirection)) != NULL)
	{
		bool		isnull;
		Datum		id = heap_getattr(tup, 1, desc, &isnull);

		if (isnull)
			elog(ERROR, "tracechain.audit_pending has a row without an id");
		if ((Size) *n == cap)
		{
			cap *= 2;
			refs = repalloc_huge(refs, sizeof(pending_ref) * cap);
		}
		refs[*n].id = DatumGetInt64(id);
		refs[*n].tid = tup->t_self;
		(*n)++;
		if (any_only)
			break;
	}
	table_endscan(scan);
	if (*n > 1)
		qsort(refs, (size_t) *n, sizeof(pending_ref), pending_ref_cmp);
	return refs;
}

/*
 * Append the pending row `ref` to the chain, if `snap` still sees it: false
 * when another sealer has moved it since the row was planned (see
 * seal_plan), and when a vacuum has since given its place to another row.
 * audit_pending's columns are audit_log's first nine, so the row's values go
 * to the chain as they are.
 */
static bool
seal_row(tc_chain *chain, Relation rel, Snapshot snap, const pending_ref *ref)
{
	HeapTupleData tuple;
	Buffer		buf;
	Datum		v[A_NATTS];
	bool		isnull[A_NATTS];

	tuple.t_self = ref->tid;
	if (!heap_fetch(rel, snap, &tuple, &buf, false))
		return false;
	heap_deform_tuple(&tuple, RelationGetDescr(rel), v, isnull);
	if (isnull[0] || DatumGetInt64(v[0]) != ref->id)
	{
		ReleaseBuffer(buf);
		return false;
	}
	/* the values point into the buffer until the row is formed */
	tc_chain_append_values(chain, v, isnull);
	ReleaseBuffer(buf);
	return true;
}

/*
 * The rows a sealer has yet to seal, in pending-id order: one scan of
 * audit_pending gives the rows of several batches (each batch used to scan
 * the whole table again, dead rows of earlier batches included).
 *
 * A plan made under one snapshot stays a correct order for later batches
 * under newer ones: if a planned row's transaction had to wait for another
 * transaction's commit, that transaction's rows were committed, and so
 * planned, too, with smaller ids.  Rows committed after the plan was made
 * wait for the next plan.  Planned rows that another sealer (audit_seal() in
 * a session) moved in between are skipped.  Between two of the worker's
 * batches no lock is held on audit_pending: a vacuum may truncate its empty
 * tail (planned rows there are gone: skipped too), and a rewrite (VACUUM
 * FULL, CLUSTER) moves every row, so the plan is dropped and made again.
 */
typedef struct seal_plan
{
	MemoryContext cxt;			/* refs live here (the worker's: across transactions) */
	pending_ref *refs;
	int64		n;				/* planned rows */
	int64		next;			/* the first not yet taken */
	Oid			relfilenode;	/* audit_pending's storage when the plan was made */
} seal_plan;

/*
 * Seal the next at most `max_rows` rows of `plan` (making a new plan when it
 * is used up) in one transaction, the caller's.  Returns how many rows were
 * taken from the plan (0: nothing is pending); *sealed says how many of them
 * went into the chain.
 */
static int64
seal_batch(seal_plan *plan, int max_rows, int64 *sealed)
{
	tc_chain	chain;
	Relation	rel;
	Snapshot	snap;
	int64		take;
	MemoryContext rowcxt,
				old;

	*sealed = 0;
	rel = table_open(pending_relid_get(), RowExclusiveLock);
	if (plan->next < plan->n && plan->relfilenode != rel->rd_node.relNode)
		plan->next = plan->n;	/* rewritten since: its TIDs mean nothing now */
	if (plan->next >= plan->n)
	{
		pending_ref *refs;
		int64		n;

		/* Cheap test first: nothing pending, no chain lock. */
		refs = pending_scan(rel, GetActiveSnapshot(), true, &n);
		pfree(refs);
		if (n == 0)
		{
			table_close(rel, NoLock);
			return 0;
		}
	}
	tc_chain_open(&chain);
	/*
	 * After the lock, a fresh snapshot: it sees every row committed so far
	 * and none that another sealer already moved.
	 */
	snap = RegisterSnapshot(GetLatestSnapshot());
	if (plan->next >= plan->n)
	{
		MemoryContextReset(plan->cxt);
		old = MemoryContextSwitchTo(plan->cxt);
		plan->refs = pending_scan(rel, snap, false, &plan->n);
		MemoryContextSwitchTo(old);
		plan->next = 0;
		plan->relfilenode = rel->rd_node.relNode;
	}
	take = Min(plan->n - plan->next, max_rows);
	if (take > 0)
	{
		pending_ref *refs = plan->refs + plan->next;
		BlockNumber nblocks = RelationGetNumberOfBlocks(rel);

		rowcxt = AllocSetContextCreate(CurrentMemoryContext, "tracechain seal row", ALLOCSET_DEFAULT_SIZES);
		tc_chain_begin_direct(&chain);
		for (int64 i = 0; i < take; i++)
		{
			CHECK_FOR_INTERRUPTS();
			old = MemoryContextSwitchTo(rowcxt);
			if (ItemPointerGetBlockNumber(&refs[i].tid) < nblocks &&
				seal_row(&chain, rel, snap, &refs[i]))
				(*sealed)++;
			else
				ItemPointerSetInvalid(&refs[i].tid);
			MemoryContextSwitchTo(old);
			MemoryContextReset(rowcxt);
		}
		tc_chain_end_direct(&chain);
		MemoryContextDelete(rowcxt);
		/*
		 * Out of audit_pending in the same transaction.  Straight from the
		 * heap: the guard trigger on audit_pending refuses every DELETE,
		 * which only this code path, under the chain lock, may do.
		 */
		for (int64 i = 0; i < take; i++)
			if (ItemPointerIsValid(&refs[i].tid))
				simple_heap_delete(rel, &refs[i].tid);
		plan->next += take;
		/* the next batch of this transaction must not see them */
		CommandCounterIncrement();
	}
	UnregisterSnapshot(snap);
	table_close(rel, NoLock);
	return take;
}

/* SQL: audit_seal(max_rows) -> rows sealed, in the caller's transaction. */
PG_FUNCTION_INFO_V1(tc_audit_seal);
Datum
tc_audit_seal(PG_FUNCTION_ARGS)
{
	int32		max_rows = PG_ARGISNULL(0) ? 1000000 : PG_GETARG_INT32(0);
	int64		total = 0,
				sealed;
	seal_plan	plan = {0};

	if (max_rows < 1)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("max_rows must be at least 1")));
	/* The sealer must see rows committed after its transaction began. */
	if (IsolationUsesXactSnapshot())
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("audit_seal() must run in a READ COMMITTED transaction")));
	/*
	 * This transaction's own captured rows are sealed with the rest: write
	 * them, and seal under a copy of the statement's snapshot that sees them
	 * (the caller's own snapshot must not change under it).
	 */
	if (tc_pending_queue_flush_all())
		CommandCounterIncrement();
	PushCopiedSnapshot(GetActiveSnapshot());
	UpdateActiveSnapshotCommandId();
	plan.cxt = AllocSetContextCreate(CurrentMemoryContext, "tracechain seal plan", ALLOCSET_DEFAULT_SIZES);
	/* until a new plan finds nothing: rows committed while sealing are sealed too */
	while (total < max_rows && seal_batch(&plan, Min(SEAL_BATCH, max_rows - total), &sealed) > 0)
		total += sealed;
	MemoryContextDelete(plan.cxt);
	PopActiveSnapshot();
	PG_RETURN_INT64(total);
}

/*
 * VACUUM audit_pending from the worker, as autovacuum would.  Every sealed
 * row leaves a dead tuple; until a vacuum makes the space reusable, writers
 * extend the table page after page (under the extension lock) and every
 * sealer pass reads all of it: at 13,000 captured rows a second, 700 new
 * pages a second, while autovacuum visits a database once a minute.  No
 * truncation: that needs the exclusive lock, which a stream of writers keeps
 * VACUUM waiting for up to five seconds, and the space is reused anyway.
 */
static void
pending_vacuum(void)
{
	VacuumParams params;
	Oid			nsp,
				relid = InvalidOid;
	MemoryContext saved_portal,
				portal;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	nsp = get_namespace_oid("tracechain", true);
	if (OidIsValid(nsp))
		relid = get_relname_relid("audit_pending", nsp);
	if (!OidIsValid(relid))
	{
		CommitTransactionCommand();
		return;
	}
	pgstat_report_activity(STATE_RUNNING, "vacuuming tracechain.audit_pending");
	memset(&params, 0, sizeof(params));
	params.options = VACOPT_VACUUM | VACOPT_PROCESS_TOAST | VACOPT_SKIP_LOCKED;
	params.freeze_min_age = -1;
	params.freeze_table_age = -1;
	params.multixact_freeze_min_age = -1;
	params.multixact_freeze_table_age = -1;
	params.is_wraparound = false;
	params.log_min_duration = -1;
	params.index_cleanup = VACOPTVALUE_AUTO;
	params.truncate = VACOPTVALUE_DISABLED;
	params.nworkers = -1;
	/* vacuum() keeps its cross-transaction state under PortalContext, as autovacuum sets it up */
	saved_portal = PortalContext;
	portal = AllocSetContextCreate(TopMemoryContext, "tracechain vacuum", ALLOCSET_SMALL_SIZES);
	PortalContext = portal;
	PG_TRY();
	{
		List	   *rels;
		MemoryContext old = MemoryContextSwitchTo(portal);

		/* the target list must outlive the transactions vacuum() commits: in portal, not ours */
		rels = list_make1(makeVacuumRelation(NULL, relid, NIL));
		MemoryContextSwitchTo(old);
		vacuum(rels, &params, NULL, true);
	}
	PG_FINALLY();
	{
		PortalContext = saved_portal;
		MemoryContextDelete(portal);
	}
	PG_END_TRY();
	CommitTransactionCommand();
	pgstat_report_activity(STATE_IDLE, NULL);
}

/*
 * The worker job: seal in transactions of SEAL_BATCH rows, one plan for all
 * the rows pending when the run began; vacuum audit_pending now and then.
 */
static void
tc_audit_seal_job(void)
{
	static int64 since_vacuum = 0;
	static TimestampTz last_vacuum = 0;
	static MemoryContext plan_cxt = NULL;
	seal_plan	plan = {0};
	int64		total = 0;

	if (plan_cxt == NULL)
		plan_cxt = AllocSetContextCreate(TopMemoryContext, "tracechain seal plan", ALLOCSET_DEFAULT_SIZES);
	/* a run that failed left its plan here */
	MemoryContextReset(plan_cxt);
	plan.cxt = plan_cxt;
	for (;;)
	{
		int64		taken,
					sealed;

		SetCurrentStatementStartTimestamp();
		StartTransactionCommand();
		PushActiveSnapshot(GetTransactionSnapshot());
		pgstat_report_activity(STATE_RUNNING, "sealing tracechain audit rows");
		taken = seal_batch(&plan, SEAL_BATCH, &sealed);
		PopActiveSnapshot();
		CommitTransactionCommand();
		pgstat_report_activity(STATE_IDLE, NULL);
		total += sealed;
		if (taken == 0 || total >= seal_max_per_run)
			break;			/* nothing pending, or enough for one run */
		/*
		 * The plan is used up.  After a small one, what was committed since
		 * waits for the next run; after a large one (a backlog, heavy load),
		 * a new plan at once.
		 */
		if (taken < SEAL_BATCH && plan.n < SEAL_BATCH)
			break;
	}
	MemoryContextReset(plan_cxt);
	since_vacuum += total;
	if (since_vacuum >= PENDING_VACUUM_ROWS ||
		(since_vacuum > 0 && TimestampDifferenceExceeds(last_vacuum, GetCurrentTimestamp(), 10 * 1000)))
	{
		pending_vacuum();
		since_vacuum = 0;
		last_vacuum = GetCurrentTimestamp();
	}
}

/*
 * BEFORE UPDATE/DELETE/TRUNCATE on audit_pending: refused.  Only the sealer
 * removes rows, from the heap directly (seal_batch), which fires no trigger.
 */
PG_FUNCTION_INFO_V1(tc_audit_pending_guard);
Datum
tc_audit_pending_guard(PG_FUNCTION_ARGS)
{
	if (!CALLED_AS_TRIGGER(fcinfo))
		elog(ERROR, "tc_audit_pending_guard: not called as a trigger");
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("tracechain.audit_pending is append-only"),
			 errdetail("Rows leave it only when the sealer moves them into audit_log.")));
	PG_RETURN_NULL();
}

/* The worker job: publish the chain head every tracechain.audit_digest_interval. */
static void
tc_audit_digest_job(void)
{
	if (digest_interval_s <= 0)
		return;
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute("SELECT tracechain._audit_digest_tick()", false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not publish an audit digest");
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
}

void
tc_audit_intake_init(void)
{
	DefineCustomIntVariable("tracechain.audit_digest_interval",
							"How often the worker publishes the audit chain head (0 turns it off).",
							NULL, &digest_interval_s, 60, 0, 86400 * 7,
							PGC_SIGHUP, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomIntVariable("tracechain.audit_seal_max_per_run",
							"Most pending audit rows the worker seals in one run before its other jobs.",
							NULL, &seal_max_per_run, 100000, 1000, INT_MAX,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	tc_worker_add_job("seal audit rows", tc_audit_seal_job);
	tc_worker_add_job("publish audit digests", tc_audit_digest_job);
}

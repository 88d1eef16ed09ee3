/*
 * audit_queue.c: rows for audit_pending, held in the backend until commit.
 *
 * A capture trigger fires for every audited statement; writing its rows at
 * once costs one heap insert (a WAL record, the lock of the table's last
 * page, the free space search) per row.  Instead each row gets its pending
 * id (its place in the order) when it is captured, and the rows of a
 * transaction are written together with one multi-insert just before it
 * commits (XACT_EVENT_PRE_COMMIT, or PRE_PREPARE for two-phase commit), still
 * inside it: a row exists in audit_pending if and only if its transaction
 * commits, exactly as before, and an error while writing aborts the
 * transaction.
 *
 * Subtransactions: each held row remembers the nesting level that captured
 * it.  Levels never decrease along the queue (a subtransaction's rows come
 * after its parent's), so a subtransaction's abort drops a tail of the queue,
 * and its commit hands its tail to the parent.  A large statement does not
 * hold its rows for the rest of the transaction: past QUEUE_FLUSH_BYTES the
 * rows of the current level are written at once, in the current
 * subtransaction (whose abort then removes them as it removes any insert).
 * Rows of outer levels are never written from inside a subtransaction.
 */
#include "postgres.h"

#include "access/heapam.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "executor/tuptable.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "audit.h"

#define QUEUE_FLUSH_BYTES (1024 * 1024)
#define QUEUE_INSERT_BATCH 1000		/* tuples per multi-insert */

typedef struct queued_row
{
	HeapTuple	tuple;
	int			level;			/* transaction nesting level that captured it */
} queued_row;

static MemoryContext queue_cxt = NULL;	/* child of TopTransactionContext */
static queued_row *queue = NULL;
static int	queue_len = 0;
static int	queue_cap = 0;
static Size queue_bytes = 0;
static Size queue_flush_at = QUEUE_FLUSH_BYTES;	/* queue_bytes that triggers a write */
static Oid	queue_relid = InvalidOid;
static bool callbacks_registered = false;

static void
queue_forget(void)
{
	/* the memory goes with TopTransactionContext */
	queue_cxt = NULL;
	queue = NULL;
	queue_len = queue_cap = 0;
	queue_bytes = 0;
	queue_flush_at = QUEUE_FLUSH_BYTES;
	queue_relid = InvalidOid;
}

/* Write the held rows from index `from` to the end, then drop them from the queue. */
static void
queue_write(int from)
{
	Relation	rel;
	TupleTableSlot **slots;
	int			nslots;
	CommandId	cid;

	if (from >= queue_len)
		return;
	rel = table_open(queue_relid, RowExclusiveLock);
	nslots = Min(queue_len - from, QUEUE_INSERT_BATCH);
	slots = palloc(sizeof(TupleTableSlot *) * nslots);
	for (int i = 0; i < nslots; i++)
		slots[i] = MakeSingleTupleTableSlot(RelationGetDescr(rel), &TTSOpsHeapTuple);
	cid = GetCurrentCommandId(true);
	for (int i = from; i < queue_len; i += nslots)
	{
		int			n = Min(nslots, queue_len - i);

		for (int k = 0; k < n; k++)
		{
			queue_bytes -= queue[i + k].tuple->t_len;
			/* the slot owns the tuple from here: the insert needs no copy of it */
			ExecStoreHeapTuple(queue[i + k].tuple, slots[k], true);
			queue[i + k].tuple = NULL;
		}
		table_multi_insert(rel, slots, n, cid, 0, NULL);
		for (int k = 0; k < n; k++)
			ExecClearTuple(slots[k]);
	}
	for (int i = 0; i < nslots; i++)
		ExecDropSingleTupleTableSlot(slots[i]);
	pfree(slots);
	table_close(rel, NoLock);	/* the lock is held to the end of the transaction */
	queue_len = from;
	/* what is left belongs to outer levels: do not write again at every new row */
	queue_flush_at = queue_bytes + QUEUE_FLUSH_BYTES;
}

/* Index of the first held row of nesting level >= `level`. */
static int
queue_tail(int level)
{
	int			i = queue_len;

	while (i > 0 && queue[i - 1].level >= level)
		i--;
	return i;
}

static void
queue_xact_cb(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
		case XACT_EVENT_PRE_PREPARE:
			/* at the top level: every held row */
			queue_write(0);
			break;
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PREPARE:
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_PARALLEL_ABORT:
			queue_forget();
			break;
		default:
			break;
	}
}

static void
queue_subxact_cb(SubXactEvent event, SubTransactionId mySubid,
				 SubTransactionId parentSubid, void *arg)
{
	int			level = GetCurrentTransactionNestLevel();	/* the ending subtransaction's */
	int			i;

	if (queue_len == 0)
		return;
	switch (event)
	{
		case SUBXACT_EVENT_ABORT_SUB:
			for (i = queue_tail(level); queue_len > i; queue_len--)
			{
				queue_bytes -= queue[queue_len - 1].tuple->t_len;
				heap_freetuple(queue[queue_len - 1].tuple);
			}
			break;
		case SUBXACT_EVENT_COMMIT_SUB:
			for (i = queue_tail(level); i < queue_len; i++)
				queue[i].level = level - 1;
			break;
		default:
			break;
	}
}

/*
 * Hold a row of audit_pending (`rel`) until commit.  The pending id in it
 * already fixes its place in the chain's order.
 */
void
tc_pending_queue_add(Relation rel, Datum *values, bool *nulls)
{
	HeapTuple	tup;
	MemoryContext old;
	int			level = GetCurrentTransactionNestLevel();

	if (!callbacks_registered)
	{
		RegisterXactCallback(queue_xact_cb, NULL);
		RegisterSubXactCallback(queue_subxact_cb, NULL);
		callbacks_registered = true;
	}
	if (queue_cxt == NULL)
		queue_cxt = AllocSetContextCreate(TopTransactionContext, "tracechain audit queue",
										  ALLOCSET_DEFAULT_SIZES);
	if (OidIsValid(queue_relid) && queue_relid != RelationGetRelid(rel))
		elog(ERROR, "tracechain.audit_pending changed within the transaction");
	queue_relid = RelationGetRelid(rel);
	old = MemoryContextSwitchTo(queue_cxt);
	if (queue_len == queue_cap)
	{
		queue_cap = queue_cap == 0 ? 16 : queue_cap * 2;
		queue = queue == NULL ? palloc(sizeof(queued_row) * queue_cap)
			: repalloc(queue, sizeof(queued_row) * queue_cap);
	}
	tup = heap_form_tuple(RelationGetDescr(rel), values, nulls);
	queue[queue_len].tuple = tup;
	queue[queue_len].level = level;
	queue_len++;
	queue_bytes += tup->t_len;
	MemoryContextSwitchTo(old);
	if (queue_bytes > queue_flush_at)
		tc_pending_queue_flush();
}

/*
 * Write the held rows that the current (sub)transaction may write now: those
 * it captured itself.  For audit_seal(), which must see its own
 * transaction's rows, and for a queue grown past QUEUE_FLUSH_BYTES.
 */
void
tc_pending_queue_flush(void)
{
	if (queue_len > 0)
		queue_write(queue_tail(GetCurrentTransactionNestLevel()));
}

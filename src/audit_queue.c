/*
 * audit_queue.c: rows for audit_pending, held in the backend until commit.
 *
 * A capture trigger fires for every audited statement; writing its rows at
 * once costs one heap insert (a WAL record, the lock of the table's last
 * page, the free space search) and one nextval() per row.  Instead the rows
 * of a transaction are written together with one multi-insert just before it
 * commits (XACT_EVENT_PRE_COMMIT, or PRE_PREPARE for two-phase commit), still
 * inside it: a row exists in audit_pending if and only if its transaction
 * commits, exactly as before, and an error while writing aborts the
 * transaction.
 *
 * Pending ids (the sealer's order) are given out when rows are written, to
 * every held row in queue order (which is capture order): one nextval() of
 * audit_pending's sequence per write, times 2^16, plus the row's position.
 * So a transaction's rows keep their order, and a change that had to wait
 * for another transaction's commit (a row lock) gets a larger id than all of
 * that transaction's rows, which had theirs before it committed.
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
#include "access/htup_details.h"
#include "access/parallel.h"
#include "access/table.h"
#include "access/xact.h"
#include "commands/sequence.h"
#include "executor/tuptable.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "audit.h"

#define QUEUE_FLUSH_BYTES (1024 * 1024)
#define QUEUE_INSERT_BATCH 1000		/* tuples per multi-insert */
#define IDS_PER_NEXTVAL 65536		/* pending ids given out per nextval() */

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
static int	queue_with_ids = 0;	/* queue[0 .. queue_with_ids) have their ids */
static Oid	queue_relid = InvalidOid;
static Oid	queue_seq = InvalidOid;
static bool callbacks_registered = false;

static void
queue_forget(void)
{
	/* the memory goes with TopTransactionContext */
	queue_cxt = NULL;
	queue = NULL;
	queue_len = queue_cap = 0;
	queue_with_ids = 0;
	queue_bytes = 0;
	queue_flush_at = QUEUE_FLUSH_BYTES;
	queue_relid = InvalidOid;
	queue_seq = InvalidOid;
}

/*
 * Give every held row that has none its pending id, in queue order.  The id
 * is audit_pending's first column (bigint, never null), so it sits at the
 * start of the tuple's data.
 */
static void
queue_assign_ids(void)
{
	int64		base = 0;

	for (int i = queue_with_ids; i < queue_len; i++)
	{
		HeapTupleHeader h = queue[i].tuple->t_data;
		int			k = i - queue_with_ids;

		if (k % IDS_PER_NEXTVAL == 0)
		{
			base = nextval_internal(queue_seq, false);
			if (base > PG_INT64_MAX / IDS_PER_NEXTVAL - 1)
				ereport(ERROR,
						(errcode(ERRCODE_SEQUENCE_GENERATOR_LIMIT_EXCEEDED),
						 errmsg("tracechain.audit_pending ids are exhausted"),
						 errhint("Seal the pending rows, then reset the sequence of tracechain.audit_pending.")));
			base *= IDS_PER_NEXTVAL;
		}
		*(int64 *) ((char *) h + h->t_hoff) = base + k % IDS_PER_NEXTVAL;
	}
	queue_with_ids = queue_len;
}

/*
 * Write the held rows from index `from` to the end, then drop them from the
 * queue.  A row stays in the queue until its batch is inserted (an error in
 * the insert leaves the queue consistent for the subtransaction abort that
 * follows); written rows are NULL until queue_len drops below them.
 */
static void
queue_write(int from)
{
	Relation	rel;
	TupleTableSlot **slots;
	int			nslots;
	CommandId	cid;
	MemoryContext old;

	if (from >= queue_len)
		return;
	/* dropped in this transaction (DROP EXTENSION): the rows go with it */
	rel = try_table_open(queue_relid, RowExclusiveLock);
	if (rel == NULL)
	{
		queue_forget();
		return;
	}
	/* what the insert allocates (its tuple arrays, toasted copies) goes with the transaction */
	old = MemoryContextSwitchTo(queue_cxt);
	/* all of them, written or not: the ones held for outer levels come later */
	queue_assign_ids();
	nslots = Min(queue_len - from, QUEUE_INSERT_BATCH);
	slots = palloc(sizeof(TupleTableSlot *) * nslots);
	for (int i = 0; i < nslots; i++)
		slots[i] = MakeSingleTupleTableSlot(RelationGetDescr(rel), &TTSOpsHeapTuple);
	cid = GetCurrentCommandId(true);
	for (int i = from; i < queue_len; i += nslots)
	{
		int			n = Min(nslots, queue_len - i);

		/*
		 * The slots own the tuples, so the insert uses them in place with no
		 * copy; the queue keeps pointing at them until the batch is in, for
		 * the subtransaction abort that would follow a failed insert (which
		 * never clears these slots, so nothing frees them twice).
		 */
		for (int k = 0; k < n; k++)
			ExecStoreHeapTuple(queue[i + k].tuple, slots[k], true);
		table_multi_insert(rel, slots, n, cid, 0, NULL);
		for (int k = 0; k < n; k++)
		{
			queue_bytes -= queue[i + k].tuple->t_len;
			queue[i + k].tuple = NULL;
			ExecClearTuple(slots[k]);
		}
	}
	for (int i = 0; i < nslots; i++)
		ExecDropSingleTupleTableSlot(slots[i]);
	pfree(slots);
	MemoryContextSwitchTo(old);
	table_close(rel, NoLock);	/* the lock is held to the end of the transaction */
	queue_len = from;
	queue_with_ids = Min(queue_with_ids, queue_len);
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

/*
 * Write the held rows that the current (sub)transaction may write now: those
 * it captured itself (or, ending, was handed by its children).
 */
static void
queue_write_own(void)
{
	if (queue_len > 0)
		queue_write(queue_tail(GetCurrentTransactionNestLevel()));
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
			/* nothing runs user code after PRE_COMMIT; were a row captured there, say so */
			if (queue_len > 0)
				elog(WARNING, "%d captured audit rows were not written before commit", queue_len);
			queue_forget();
			break;
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
		case SUBXACT_EVENT_PRE_COMMIT_SUB:
			/*
			 * Still inside the subtransaction: if the queue is large, write
			 * its rows now instead of handing them to the parent, which
			 * could otherwise only write them at its own level (an
			 * exception block per row would hold them all to commit).
			 */
			if (queue_bytes > QUEUE_FLUSH_BYTES)
				queue_write_own();
			break;
		case SUBXACT_EVENT_ABORT_SUB:
			for (i = queue_tail(level); queue_len > i; queue_len--)
			{
				HeapTuple	t = queue[queue_len - 1].tuple;

				if (t == NULL)
					continue;	/* inserted by a write that failed later: the abort removes it */
				queue_bytes -= t->t_len;
				heap_freetuple(t);
			}
			queue_with_ids = Min(queue_with_ids, queue_len);
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
 * Hold a row of audit_pending (`rel`, whose identity sequence is `seq`) until
 * commit.  Its id (values[0]) is filled in when it is written.
 */
void
tc_pending_queue_add(Relation rel, Oid seq, Datum *values, bool *nulls)
{
	HeapTuple	tup;
	MemoryContext old;
	int			level = GetCurrentTransactionNestLevel();

	if (IsParallelWorker())
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TRANSACTION_STATE),
				 errmsg("audit rows cannot be captured in a parallel worker")));
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
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("tracechain.audit_pending was replaced within the transaction"),
				 errhint("Commit or roll back the rows captured before the extension was re-created, then capture again.")));
	queue_relid = RelationGetRelid(rel);
	queue_seq = seq;
	old = MemoryContextSwitchTo(queue_cxt);
	if (queue_len == queue_cap)
	{
		queue_cap = queue_cap == 0 ? 16 : queue_cap * 2;
		queue = queue == NULL ? palloc(sizeof(queued_row) * queue_cap)
			: repalloc_huge(queue, sizeof(queued_row) * queue_cap);
	}
	tup = heap_form_tuple(RelationGetDescr(rel), values, nulls);
	queue[queue_len].tuple = tup;
	queue[queue_len].level = level;
	queue_len++;
	queue_bytes += tup->t_len;
	MemoryContextSwitchTo(old);
	if (queue_bytes > queue_flush_at)
		queue_write_own();
}

/*
 * For audit_seal(), which seals its own transaction's rows with the rest:
 * write every held row, if they are all the current subtransaction's.  Were
 * some held for an outer level, sealing the others now would put them ahead
 * of rows captured before them; then nothing is written (all are sealed
 * after commit).  True if it wrote any (visible after the next
 * CommandCounterIncrement).
 */
bool
tc_pending_queue_flush_all(void)
{
	if (queue_len == 0 || queue_tail(GetCurrentTransactionNestLevel()) != 0)
		return false;
	queue_write(0);
	return true;
}

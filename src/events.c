/*
 * events.c: rollback-proof security events (see events.h).
 *
 * The queue is a byte ring in shared memory.  Backends append records under
 * the queue's LWLock and set the worker's latch; the worker copies a batch
 * out, writes it to audit_log in its own transaction, and only after that
 * transaction commits advances the tail, so an error in the worker loses
 * nothing.  A full queue makes the recording backend wait for the worker
 * (up to tracechain.events_full_wait), then fail.
 */
#include "postgres.h"

#include "access/xact.h"
#include "access/xlog.h"
#include "commands/dbcommands.h"
#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/condition_variable.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/inet.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "audit.h"
#include "events.h"
#include "shmem.h"
#include "worker.h"

#define EV_MAX_DETAILS 8192		/* longer details are replaced by a note */
#define EV_MAX_STRING 256		/* type, action, resource, ip, db_user */
#define EV_BATCH_BYTES (256 * 1024)

typedef struct ev_hdr
{
	uint32		total;			/* record size, MAXALIGNed */
	Oid			dbid;
	TimestampTz at;
	bool		has_actor;
	pg_uuid_t	actor;
	uint16		len[6];			/* type, action, resource, details, ip, db_user */
	bool		isnull[6];
} ev_hdr;

enum
{
	EV_TYPE, EV_ACTION, EV_RESOURCE, EV_DETAILS, EV_IP, EV_DB_USER, EV_NSTR
};

typedef struct ev_queue
{
	uint64		head;			/* bytes ever written */
	uint64		tail;			/* bytes ever consumed */
	uint64		enqueued;		/* records ever written */
	uint64		flushed;		/* records ever written to audit_log */
	uint64		dropped;		/* records the worker could not write */
	Latch	   *worker_latch;
	ConditionVariable cv;		/* broadcast after every flush */
	Size		cap;
	char		data[FLEXIBLE_ARRAY_MEMBER];
} ev_queue;

static ev_queue *queue = NULL;
static int	queue_lock_index = -1;
static int	queue_size_kb = 1024;
static int	full_wait_ms = 5000;
static Oid	events_dboid = InvalidOid;

static LWLock *
queue_lock(void)
{
	return &tc_shmem_lwlocks()[queue_lock_index].lock;
}

static void
queue_init(void *ptr, bool found)
{
	ev_queue   *q = ptr;

	if (found)
		return;
	memset(q, 0, offsetof(ev_queue, data));
	q->cap = (Size) queue_size_kb * 1024;
	ConditionVariableInit(&q->cv);
}

static void
ring_write(uint64 pos, const void *src, Size len)
{
	Size		off = pos % queue->cap;
	Size		first = Min(len, queue->cap - off);

	memcpy(queue->data + off, src, first);
	if (first < len)
		memcpy(queue->data, (const char *) src + first, len - first);
}

static void
ring_read(uint64 pos, void *dst, Size len)
{
	Size		off = pos % queue->cap;
	Size		first = Min(len, queue->cap - off);

	memcpy(dst, queue->data + off, first);
	if (first < len)
		memcpy((char *) dst + first, queue->data, len - first);
}

/* Bound a string's length on a character boundary. */
static Size
bounded_len(const char *s, Size max)
{
	Size		n = strlen(s);

	if (n <= max)
		return n;
	return pg_mbcliplen(s, n, max);
}

static void
check_database(void)
{
	if (!OidIsValid(events_dboid))
		events_dboid = get_database_oid(tc_database, true);
	if (events_dboid != MyDatabaseId)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("tracechain security events can only be recorded in database \"%s\"", tc_database),
				 errhint("Set tracechain.database to the database where tracechain is installed and restart the server.")));
}

void
tc_event_record(const char *type, const char *action, const char *resource,
				Jsonb *details, const pg_uuid_t *actor, const char *ip)
{
	const char *str[EV_NSTR];
	ev_hdr		h;
	char	   *dtext = NULL;
	Size		body = 0,
				total;
	char	   *rec;
	TimestampTz deadline;

	if (RecoveryInProgress())
	{
		ereport(LOG,
				(errmsg("tracechain security event on a standby, not recorded in audit_log: %s %s",
						action, resource ? resource : "")));
		return;
	}
	if (queue == NULL || !tc_shmem_available())
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("tracechain must be loaded through shared_preload_libraries to record security events"),
				 errhint("Add tracechain to shared_preload_libraries and restart the server.")));
	check_database();

	if (details)
	{
		StringInfoData buf;

		initStringInfo(&buf);
		(void) JsonbToCString(&buf, &details->root, VARSIZE(details));
		dtext = buf.data;
		if (buf.len > EV_MAX_DETAILS)
			dtext = psprintf("{\"truncated\": true, \"original_bytes\": %d}", buf.len);
	}
	str[EV_TYPE] = type;
	str[EV_ACTION] = action;
	str[EV_RESOURCE] = resource;
	str[EV_DETAILS] = dtext;
	str[EV_IP] = ip;
	str[EV_DB_USER] = GetUserNameFromId(GetSessionUserId(), false);

	memset(&h, 0, sizeof(h));
	for (int i = 0; i < EV_NSTR; i++)
	{
		h.isnull[i] = str[i] == NULL;
		h.len[i] = str[i] ? bounded_len(str[i], i == EV_DETAILS ? EV_MAX_DETAILS + 64 : EV_MAX_STRING) : 0;
		body += h.len[i];
	}
	h.dbid = MyDatabaseId;
	h.at = GetCurrentTimestamp();
	h.has_actor = actor != NULL;
	if (actor)
		h.actor = *actor;
	total = MAXALIGN(sizeof(ev_hdr) + body);
	h.total = (uint32) total;

	rec = palloc0(total);
	memcpy(rec, &h, sizeof(h));
	{
		Size		o = sizeof(h);

		for (int i = 0; i < EV_NSTR; i++)
		{
			if (h.len[i])
				memcpy(rec + o, str[i], h.len[i]);
			o += h.len[i];
		}
	}

	deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), full_wait_ms);
	for (;;)
	{
		Latch	   *latch;
		bool		done = false;

		LWLockAcquire(queue_lock(), LW_EXCLUSIVE);
		if (queue->cap - (queue->head - queue->tail) >= total)
		{
			ring_write(queue->head, rec, total);
			queue->head += total;
			queue->enqueued++;
			done = true;
		}
		latch = queue->worker_latch;
		LWLockRelease(queue_lock());
		if (latch)
			SetLatch(latch);
		if (done)
			break;
		if (GetCurrentTimestamp() >= deadline)
			ereport(ERROR,
					(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
					 errmsg("the tracechain security event queue is full"),
					 errhint("Check that the tracechain background worker is running (tracechain.worker_status), or raise tracechain.events_queue_size.")));
		ConditionVariableTimedSleep(&queue->cv, 100, PG_WAIT_EXTENSION);
	}
	ConditionVariableCancelSleep();
	pfree(rec);
}

void
tc_events_attach_worker(Latch *latch)
{
	if (queue == NULL)
		return;
	LWLockAcquire(queue_lock(), LW_EXCLUSIVE);
	queue->worker_latch = latch;
	LWLockRelease(queue_lock());
}

/* Write one queued record to audit_log (inside the caller's transaction). */
static void
write_record(const char *rec)
{
	ev_hdr		h;
	char	   *str[EV_NSTR];
	Size		o = sizeof(ev_hdr);
	tc_audit_row row;

	memcpy(&h, rec, sizeof(h));
	for (int i = 0; i < EV_NSTR; i++)
	{
		str[i] = h.isnull[i] ? NULL : pnstrdup(rec + o, h.len[i]);
		o += h.len[i];
	}
	row.at = h.at;
	row.type = str[EV_TYPE] ? str[EV_TYPE] : "security";
	row.actor = h.has_actor ? &h.actor : NULL;
	row.db_user = str[EV_DB_USER];
	row.action = str[EV_ACTION] ? str[EV_ACTION] : "event";
	row.resource = str[EV_RESOURCE];
	row.details = str[EV_DETAILS] ?
		DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(str[EV_DETAILS]))) : NULL;
	row.ip = str[EV_IP];
	tc_audit_append(&row);
}

/*
 * Write records [from, from + len) of `buf` in one transaction.  Returns the
 * number written; on error the transaction is rolled back and -1 returned.
 */
static int
write_batch(const char *buf, Size len, bool one_only)
{
	MemoryContext cxt = CurrentMemoryContext;
	volatile int n = 0;
	volatile bool ok = true;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	PG_TRY();
	{
		Size		o = 0;

		while (o < len)
		{
			const ev_hdr *h = (const ev_hdr *) (buf + o);

			if (h->dbid == MyDatabaseId)
				write_record(buf + o);
			o += h->total;
			n++;
			if (one_only)
				break;
		}
		PopActiveSnapshot();
		CommitTransactionCommand();
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(cxt);
		EmitErrorReport();
		FlushErrorState();
		AbortCurrentTransaction();
		ok = false;
	}
	PG_END_TRY();
	MemoryContextSwitchTo(cxt);
	return ok ? n : -1;
}

/* Advance the tail past `bytes` holding `nrec` records. */
static void
consume(Size bytes, int nrec, int ndropped)
{
	LWLockAcquire(queue_lock(), LW_EXCLUSIVE);
	queue->tail += bytes;
	queue->flushed += nrec - ndropped;
	queue->dropped += ndropped;
	LWLockRelease(queue_lock());
	ConditionVariableBroadcast(&queue->cv);
}

void
tc_events_flush_job(void)
{
	MemoryContext cxt,
				old;

	if (queue == NULL)
		return;
	cxt = AllocSetContextCreate(CurrentMemoryContext, "tracechain events flush", ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(cxt);
	for (;;)
	{
		uint64		tail,
					head;
		Size		len = 0,
					avail;
		char	   *buf;
		int			n;

		LWLockAcquire(queue_lock(), LW_SHARED);
		tail = queue->tail;
		head = queue->head;
		LWLockRelease(queue_lock());
		if (head == tail)
			break;
		/* Only the worker moves the tail, so [tail, head) is stable. */
		avail = (Size) (head - tail);
		buf = palloc(Min(avail, (Size) EV_BATCH_BYTES) + sizeof(ev_hdr) + EV_MAX_DETAILS + 6 * EV_MAX_STRING);
		while (len < avail)
		{
			ev_hdr		h;

			ring_read(tail + len, &h, sizeof(h));
			if (len > 0 && len + h.total > EV_BATCH_BYTES)
				break;
			ring_read(tail + len, buf + len, h.total);
			len += h.total;
		}
		pgstat_report_activity(STATE_RUNNING, "flushing tracechain security events");
		n = write_batch(buf, len, false);
		if (n >= 0)
			consume(len, n, 0);
		else
		{
			/* Find the record that fails: write one at a time, drop a failing one. */
			Size		o = 0;

			while (o < len)
			{
				Size		one = ((const ev_hdr *) (buf + o))->total;

				n = write_batch(buf + o, one, true);
				if (n < 0)
					ereport(LOG, (errmsg("tracechain dropped a security event that could not be written to audit_log")));
				consume(one, 1, n < 0 ? 1 : 0);
				o += one;
			}
		}
		pgstat_report_activity(STATE_IDLE, NULL);
		MemoryContextReset(cxt);
	}
	MemoryContextSwitchTo(old);
	MemoryContextDelete(cxt);
}

/* SQL: _record_event(type, action, resource, details, actor, ip); internal. */
PG_FUNCTION_INFO_V1(tc_record_event);
Datum
tc_record_event(PG_FUNCTION_ARGS)
{
	char	   *type,
			   *action;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("event type and action must not be null")));
	type = text_to_cstring(PG_GETARG_TEXT_PP(0));
	action = text_to_cstring(PG_GETARG_TEXT_PP(1));
	tc_event_record(type, action,
					PG_ARGISNULL(2) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(2)),
					PG_ARGISNULL(3) ? NULL : PG_GETARG_JSONB_P(3),
					PG_ARGISNULL(4) ? NULL : PG_GETARG_UUID_P(4),
					PG_ARGISNULL(5) ? NULL : DatumGetCString(DirectFunctionCall1(inet_out, PG_GETARG_DATUM(5))));
	PG_RETURN_VOID();
}

/*
 * SQL: events_flush_wait(timeout_ms) -> boolean.  Waits until every event
 * queued before the call has been written to audit_log; false on timeout.
 */
PG_FUNCTION_INFO_V1(tc_events_flush_wait);
Datum
tc_events_flush_wait(PG_FUNCTION_ARGS)
{
	int32		timeout_ms = PG_ARGISNULL(0) ? 5000 : PG_GETARG_INT32(0);
	uint64		target;
	TimestampTz deadline;
	bool		ok = false;

	if (timeout_ms < 0 || timeout_ms > 3600 * 1000)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("timeout must be between 0 and 3600000 milliseconds")));
	if (queue == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("tracechain was not loaded through shared_preload_libraries")));
	deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), timeout_ms);
	LWLockAcquire(queue_lock(), LW_SHARED);
	target = queue->enqueued;
	LWLockRelease(queue_lock());
	for (;;)
	{
		uint64		done;
		Latch	   *latch;

		LWLockAcquire(queue_lock(), LW_SHARED);
		done = queue->flushed + queue->dropped;
		latch = queue->worker_latch;
		LWLockRelease(queue_lock());
		if (done >= target)
		{
			ok = true;
			break;
		}
		if (GetCurrentTimestamp() >= deadline)
			break;
		if (latch)
			SetLatch(latch);
		ConditionVariableTimedSleep(&queue->cv, 50, PG_WAIT_EXTENSION);
	}
	ConditionVariableCancelSleep();
	PG_RETURN_BOOL(ok);
}

void
tc_events_stats(uint64 *enqueued, uint64 *flushed, uint64 *dropped, uint64 *pending_bytes)
{
	*enqueued = *flushed = *dropped = *pending_bytes = 0;
	if (queue == NULL)
		return;
	LWLockAcquire(queue_lock(), LW_SHARED);
	*enqueued = queue->enqueued;
	*flushed = queue->flushed;
	*dropped = queue->dropped;
	*pending_bytes = queue->head - queue->tail;
	LWLockRelease(queue_lock());
}

void
tc_events_init(void)
{
	DefineCustomIntVariable("tracechain.events_queue_size",
							"Size of the shared-memory queue of security events.",
							NULL, &queue_size_kb, 1024, 64, 1024 * 1024,
							PGC_POSTMASTER, GUC_UNIT_KB, NULL, NULL, NULL);
	DefineCustomIntVariable("tracechain.events_full_wait",
							"How long a backend waits for room in a full event queue before failing.",
							NULL, &full_wait_ms, 5000, 0, 600000,
							PGC_SUSET, GUC_UNIT_MS, NULL, NULL, NULL);
	queue_lock_index = tc_shmem_register("events", offsetof(ev_queue, data) + (Size) queue_size_kb * 1024,
										 1, queue_init, (void **) &queue);
}

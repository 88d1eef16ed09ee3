/*
 * totp_lockout.c: consecutive TOTP failures per principal, and the lockout
 * they start (see totp_lockout.h).
 *
 * The live table is in shared memory (keyed by principal, bounded by
 * tracechain.totp_lockout_slots, under one LWLock): a charge must survive
 * the caller's rollback and be seen by every backend at once, so it cannot
 * be a row written by the caller's transaction.  An attempt is charged
 * *before* any HMAC is computed and forgiven only on success, so concurrent
 * guesses cannot run past tracechain.totp_max_failures, and a backend that
 * dies mid-check leaves its charge in place.
 *
 * The durable copy is tracechain.totp_lockouts.  The worker's job "totp
 * lockouts" writes the entries that changed since its last run (failures and
 * the lock's end) and deletes the rows of entries that hold nothing any
 * more; an entry is marked written only after that transaction commits.  A
 * new entry (a principal's first attempt since the server started, or since
 * its entry was evicted from a full table) is seeded from its row, looked up
 * only while the table may hold rows: from server start until the job has
 * counted them, and while there are any.  So a restart, a failover to a
 * standby or an eviction forgets at most what changed within
 * tracechain.worker_naptime, never a lockout that was already written.
 */
#include "postgres.h"

#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/lmgr.h"
#include "storage/lwlock.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#include "direct.h"
#include "shmem.h"
#include "totp_lockout.h"
#include "worker.h"

#define LOCK_PROBES 16

/* GUCs */
static int	totp_max_failures = 5;
static int	totp_lockout_s = 900;
static int	totp_lockout_slots = 4096;

typedef struct lock_slot
{
	pg_uuid_t	principal;
	bool		used;
	bool		dirty;			/* changed since the job last wrote it */
	bool		persisted;		/* a row in totp_lockouts holds it (as far as the job knows) */
	uint32		version;		/* bumped on every change */
	int32		failures;		/* consecutive, charged before checking */
	TimestampTz locked_until;	/* 0 when not locked */
	TimestampTz last_at;
} lock_slot;

typedef struct lock_table
{
	int			nslots;
	int64		table_rows;		/* rows in totp_lockouts; -1 until the job has counted */
	uint64		evictions;		/* live entries pushed out by a full probe window */
	uint64		changes;		/* bumped on every change, so the job can skip a quiet table */
	lock_slot	slots[FLEXIBLE_ARRAY_MEMBER];
} lock_table;

/* What the job copies out of a slot. */
typedef struct lock_copy
{
	pg_uuid_t	principal;
	uint32		version;
	int32		failures;
	TimestampTz locked_until;
	enum
	{
		COPY_WRITE,				/* upsert its row */
		COPY_DELETE,			/* it holds nothing: delete its row */
		COPY_MARK_ONLY			/* it holds nothing and has no row: only the mark to clear */
	}			action;
} lock_copy;

static lock_table *locktab = NULL;
static int	locktab_lock_index = -1;

static LWLock *
locktab_lock(void)
{
	return &tc_shmem_lwlocks()[locktab_lock_index].lock;
}

static void
locktab_init(void *ptr, bool found)
{
	lock_table *t = (lock_table *) ptr;

	if (found)
		return;
	memset(t, 0, offsetof(lock_table, slots) + sizeof(lock_slot) * (Size) totp_lockout_slots);
	t->nslots = totp_lockout_slots;
	t->table_rows = -1;
}

static void
require_locktab(void)
{
	if (locktab == NULL || !tc_shmem_available())
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("tracechain must be loaded through shared_preload_libraries to verify TOTP codes"),
				 errhint("Add tracechain to shared_preload_libraries and restart the server.")));
}

static bool
lock_ended(const lock_slot *s, TimestampTz now)
{
	return s->locked_until != 0 && s->locked_until <= now;
}

/*
 * An entry that holds nothing worth keeping.  Not one whose row the job
 * still has to delete: reused first, it would leave the row behind, and a
 * later seed would bring back failures that a success had forgiven.
 */
static bool
slot_idle(const lock_slot *s, TimestampTz now)
{
	if (!s->used)
		return true;
	if (s->dirty && s->persisted && s->failures == 0)
		return false;
	return s->failures == 0 || lock_ended(s, now);
}

static void
slot_changed(lock_slot *s)
{
	s->dirty = true;
	s->version++;
	locktab->changes++;
}

/*
 * Find the principal's slot within its probe window; with `create`, take a
 * slot for it: an idle one, else the oldest unlocked entry, else the lock
 * that ends soonest (each such eviction is counted and warned about).
 * Caller holds the table's lock (exclusive when creating).
 */
static lock_slot *
slot_find(const pg_uuid_t *p, bool create, TimestampTz now, bool *evicted, bool *created)
{
	uint32		h = hash_bytes(p->data, UUID_LEN);
	int			n = locktab->nslots;
	lock_slot  *idle = NULL,
			   *oldest = NULL,
			   *soonest = NULL;
	lock_slot  *victim;

	*evicted = false;
	*created = false;
	for (int i = 0; i < LOCK_PROBES && i < n; i++)
	{
		lock_slot  *s = &locktab->slots[(h + (uint32) i) % (uint32) n];

		if (s->used && memcmp(s->principal.data, p->data, UUID_LEN) == 0)
			return s;
		if (!create)
			continue;
		if (slot_idle(s, now))
		{
			if (idle == NULL)
				idle = s;
		}
		else if (s->locked_until == 0)
		{
			if (oldest == NULL || s->last_at < oldest->last_at)
				oldest = s;
		}
		else if (soonest == NULL || s->locked_until < soonest->locked_until)
			soonest = s;
	}
	if (!create)
		return NULL;
	victim = idle ? idle : oldest ? oldest : soonest;
	Assert(victim != NULL);
	if (victim != idle)
	{
		locktab->evictions++;
		*evicted = true;
	}
	memset(victim, 0, sizeof(*victim));
	victim->principal = *p;
	victim->used = true;
	*created = true;
	return victim;
}

/* The principal's slot, or NULL (caller holds the table's lock). */
static lock_slot *
slot_lookup(const pg_uuid_t *p)
{
	bool		evicted,
				created;

	return slot_find(p, false, 0, &evicted, &created);
}

/* The principal's row in totp_lockouts, if any (under the active snapshot). */
static bool
seed_fetch(const pg_uuid_t *p, int32 *failures, TimestampTz *until)
{
	Relation	rel = tc_direct_open("totp_lockouts", AccessShareLock);
	TupleTableSlot *slot = table_slot_create(rel, NULL);
	bool		found;

	found = tc_direct_fetch(rel, tc_direct_attnum(rel, "principal", UUIDOID), F_UUID_EQ, UUIDPGetDatum(p), slot);
	if (found)
	{
		bool		isnull;
		Datum		d;

		*failures = DatumGetInt32(slot_getattr(slot, tc_direct_attnum(rel, "failures", INT4OID), &isnull));
		d = slot_getattr(slot, tc_direct_attnum(rel, "locked_until", TIMESTAMPTZOID), &isnull);
		*until = isnull ? 0 : DatumGetTimestampTz(d);
	}
	ExecDropSingleTupleTableSlot(slot);
	table_close(rel, NoLock);
	return found;
}

int32
tc_totp_attempt_charge(const pg_uuid_t *p)
{
	TimestampTz now;
	lock_slot  *s;
	bool		evicted,
				created,
				seeded = false,
				need_seed;
	int32		seed_failures = 0;
	TimestampTz seed_until = 0;
	int32		result;

	require_locktab();
	/* A new entry starts from the durable copy, read before taking the lock exclusively. */
	LWLockAcquire(locktab_lock(), LW_SHARED);
	need_seed = slot_lookup(p) == NULL && locktab->table_rows != 0;
	LWLockRelease(locktab_lock());
	if (need_seed)
		seeded = seed_fetch(p, &seed_failures, &seed_until);

	now = GetCurrentTimestamp();
	LWLockAcquire(locktab_lock(), LW_EXCLUSIVE);
	s = slot_find(p, true, now, &evicted, &created);
	if (created && seeded)
	{
		s->failures = Max(seed_failures, 0);
		s->locked_until = seed_until;
		s->persisted = true;
	}
	if (s->locked_until > now)
		result = -1;
	else
	{
		if (s->locked_until != 0)
		{
			/* A lockout that ended: start counting afresh. */
			s->locked_until = 0;
			s->failures = 0;
		}
		if (s->failures < INT32_MAX)
			s->failures++;
		s->last_at = now;
		if (s->failures >= totp_max_failures)
			s->locked_until = now + (TimestampTz) totp_lockout_s * USECS_PER_SEC;
		slot_changed(s);
		result = s->failures;
	}
	LWLockRelease(locktab_lock());
	if (evicted)
		ereport(WARNING,
				(errmsg("the TOTP lockout table is full; an entry with failed attempts was dropped"),
				 errhint("Raise tracechain.totp_lockout_slots.")));
	return result;
}

void
tc_totp_attempt_forgive(const pg_uuid_t *p)
{
	lock_slot  *s;

	require_locktab();
	LWLockAcquire(locktab_lock(), LW_EXCLUSIVE);
	s = slot_lookup(p);
	if (s && (s->failures != 0 || s->locked_until != 0))
	{
		s->failures = 0;
		s->locked_until = 0;
		slot_changed(s);
	}
	LWLockRelease(locktab_lock());
}

/* ---------------------------------------------------------------------- */
/* SQL                                                                     */
/* ---------------------------------------------------------------------- */

/*
 * _totp_attempt(principal) -> int: charge one attempt before any code is
 * checked.  Returns -1 when the factor is locked (the caller then fails
 * without checking), otherwise the consecutive failures counting this
 * attempt; reaching tracechain.totp_max_failures starts the lockout, which
 * a success of this very attempt lifts again.
 */
PG_FUNCTION_INFO_V1(tc_totp_attempt);
Datum
tc_totp_attempt(PG_FUNCTION_ARGS)
{
	if (PG_ARGISNULL(0))
		ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("principal must not be null")));
	PG_RETURN_INT32(tc_totp_attempt_charge(PG_GETARG_UUID_P(0)));
}

/* _totp_attempt_ok(principal): the charged attempt succeeded; forgive. */
PG_FUNCTION_INFO_V1(tc_totp_attempt_ok);
Datum
tc_totp_attempt_ok(PG_FUNCTION_ARGS)
{
	if (PG_ARGISNULL(0))
		ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("principal must not be null")));
	tc_totp_attempt_forgive(PG_GETARG_UUID_P(0));
	PG_RETURN_VOID();
}

/*
 * _totp_lock_clear(principal): drop the principal's entry (totp_disable,
 * which deletes its row in totp_lockouts in the same transaction).
 */
PG_FUNCTION_INFO_V1(tc_totp_lock_clear);
Datum
tc_totp_lock_clear(PG_FUNCTION_ARGS)
{
	pg_uuid_t  *p;
	lock_slot  *s;

	if (PG_ARGISNULL(0))
		ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("principal must not be null")));
	p = PG_GETARG_UUID_P(0);
	if (locktab == NULL || !tc_shmem_available())
		PG_RETURN_VOID();
	LWLockAcquire(locktab_lock(), LW_EXCLUSIVE);
	s = slot_lookup(p);
	if (s)
	{
		memset(s, 0, sizeof(*s));
		locktab->changes++;
	}
	LWLockRelease(locktab_lock());
	PG_RETURN_VOID();
}

/* _totp_lock_state(principal, OUT failures int, OUT locked_until timestamptz) */
PG_FUNCTION_INFO_V1(tc_totp_lock_state);
Datum
tc_totp_lock_state(PG_FUNCTION_ARGS)
{
	pg_uuid_t  *p;
	TimestampTz now = GetCurrentTimestamp();
	lock_slot  *s;
	bool		need_seed;
	int32		failures = 0;
	TimestampTz until = 0;
	TupleDesc	tupdesc;
	Datum		values[2];
	bool		nulls[2] = {false, false};

	if (PG_ARGISNULL(0))
		ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("principal must not be null")));
	p = PG_GETARG_UUID_P(0);
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "_totp_lock_state must return a record");
	require_locktab();
	LWLockAcquire(locktab_lock(), LW_SHARED);
	s = slot_lookup(p);
	if (s && !lock_ended(s, now))
	{
		failures = s->failures;
		until = s->locked_until;
	}
	need_seed = s == NULL && locktab->table_rows != 0;
	LWLockRelease(locktab_lock());
	/* No entry yet: what the next attempt would start from. */
	if (need_seed && seed_fetch(p, &failures, &until) && until != 0 && until <= now)
		failures = 0, until = 0;
	values[0] = Int32GetDatum(failures);
	values[1] = TimestampTzGetDatum(until);
	nulls[1] = until == 0;
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(tupdesc), values, nulls)));
}

/* ---------------------------------------------------------------------- */
/* The durable copy                                                        */
/* ---------------------------------------------------------------------- */

/*
 * Copy the changed entries (and the change counter) under the lock.  With
 * `all_rows`, an entry that holds nothing has its row deleted even when no
 * row is known to exist.
 */
static lock_copy *
copy_dirty(int *n, uint64 *changes, TimestampTz now, bool all_rows)
{
	lock_copy  *out;

	LWLockAcquire(locktab_lock(), LW_SHARED);
	*changes = locktab->changes;
	out = palloc(sizeof(lock_copy) * (Size) Max(locktab->nslots, 1));
	*n = 0;
	for (int i = 0; i < locktab->nslots; i++)
	{
		lock_slot  *s = &locktab->slots[i];
		lock_copy  *c;

		if (!s->used || !s->dirty)
			continue;
		c = &out[(*n)++];
		c->principal = s->principal;
		c->version = s->version;
		c->failures = s->failures;
		c->locked_until = s->locked_until;
		if (s->failures > 0 && !lock_ended(s, now))
			c->action = COPY_WRITE;
		else if (s->persisted || all_rows)
			c->action = COPY_DELETE;
		else
			c->action = COPY_MARK_ONLY;
	}
	LWLockRelease(locktab_lock());
	return out;
}

/*
 * Write the copied entries into totp_lockouts and purge rows that hold
 * nothing (ended locks, principals that are gone).  Returns the rows left.
 */
static int64
write_copies(lock_copy *c, int n)
{
	int64		rows;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	for (int i = 0; i < n; i++)
	{
		Datum		args[3];
		char		nulls[3] = {' ', ' ', ' '};
		int			rc;

		if (c[i].action == COPY_MARK_ONLY)
			continue;
		args[0] = UUIDPGetDatum(&c[i].principal);
		if (c[i].action == COPY_WRITE)
		{
			args[1] = Int32GetDatum(c[i].failures);
			args[2] = TimestampTzGetDatum(c[i].locked_until);
			nulls[2] = c[i].locked_until == 0 ? 'n' : ' ';
			rc = SPI_execute_with_args("INSERT INTO tracechain.totp_lockouts AS l (principal, failures, locked_until) "
									   "VALUES ($1, $2, $3) ON CONFLICT (principal) DO UPDATE "
									   "SET failures = EXCLUDED.failures, locked_until = EXCLUDED.locked_until, "
									   "updated_at = pg_catalog.now()",
									   3, (Oid[]) {UUIDOID, INT4OID, TIMESTAMPTZOID}, args, nulls, false, 0);
			if (rc != SPI_OK_INSERT)
				elog(ERROR, "could not write tracechain.totp_lockouts");
		}
		else
		{
			rc = SPI_execute_with_args("DELETE FROM tracechain.totp_lockouts l WHERE l.principal OPERATOR(pg_catalog.=) $1",
									   1, (Oid[]) {UUIDOID}, args, NULL, false, 0);
			if (rc != SPI_OK_DELETE)
				elog(ERROR, "could not write tracechain.totp_lockouts");
		}
	}
	if (SPI_execute("DELETE FROM tracechain.totp_lockouts l WHERE l.locked_until OPERATOR(pg_catalog.<=) pg_catalog.now() "
					"OR NOT EXISTS (SELECT FROM tracechain.principals p WHERE p.id OPERATOR(pg_catalog.=) l.principal)",
					false, 0) != SPI_OK_DELETE)
		elog(ERROR, "could not purge tracechain.totp_lockouts");
	if (SPI_execute("SELECT count(*) FROM tracechain.totp_lockouts", false, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not count tracechain.totp_lockouts");
	{
		bool		isnull;

		rows = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	}
	SPI_finish();
	return rows;
}

/*
 * After write_copies, under the lock.  Committed (the worker's own
 * transaction): clear the marks of entries that did not change meanwhile
 * and note the rows counted.  Not committed (_totp_lockout_sync, in the
 * caller's transaction): leave the marks, so the worker writes them again,
 * but count as having a row whatever was written, since it may commit; and
 * make every new entry look its row up until the worker counts again.
 */
static void
mark_copies(lock_copy *c, int n, bool committed, int64 rows)
{
	LWLockAcquire(locktab_lock(), LW_EXCLUSIVE);
	for (int i = 0; i < n; i++)
	{
		lock_slot  *s = slot_lookup(&c[i].principal);

		if (s == NULL)
			continue;
		if (!committed)
		{
			if (c[i].action == COPY_WRITE)
				s->persisted = true;
		}
		else if (s->version == c[i].version)
		{
			s->dirty = false;
			s->persisted = c[i].action == COPY_WRITE;
		}
	}
	locktab->table_rows = committed ? rows : -1;
	LWLockRelease(locktab_lock());
}

/*
 * Lock tracechain.totp_lockouts in SHARE ROW EXCLUSIVE mode (self-
 * conflicting) until the end of the transaction, before the entries are
 * copied: totp_disable takes the same lock before it drops the entry and the
 * row, so a copy taken before the drop is never written after it (it is
 * written first and deleted by totp_disable, or never taken).  Without
 * `wait`, false if another transaction holds it.
 */
static bool
lockouts_lock(bool wait)
{
	Oid			relid = get_relname_relid("totp_lockouts", get_namespace_oid("tracechain", false));

	if (!OidIsValid(relid))
		elog(ERROR, "tracechain.totp_lockouts does not exist");
	if (!wait)
		return ConditionalLockRelationOid(relid, ShareRowExclusiveLock);
	LockRelationOid(relid, ShareRowExclusiveLock);
	return true;
}

static void
tc_totp_lockout_job(void)
{
	static uint64 last_changes = 0;
	static bool counted = false;
	static TimestampTz last_run = 0;
	MemoryContext jobcxt = CurrentMemoryContext;
	TimestampTz now = GetCurrentTimestamp();
	lock_copy  *c;
	uint64		changes;
	int			n;
	int64		rows;

	if (locktab == NULL || RecoveryInProgress())
		return;
	/* Nothing changed since the last write and the rows were counted: purge ended locks once a minute. */
	LWLockAcquire(locktab_lock(), LW_SHARED);
	changes = locktab->changes;
	LWLockRelease(locktab_lock());
	if (counted && changes == last_changes && !TimestampDifferenceExceeds(last_run, now, 60 * 1000))
		return;
	last_run = now;
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	/* an open totp_disable holds it: the entries wait for the next run, the worker does not */
	if (!lockouts_lock(false))
	{
		CommitTransactionCommand();
		MemoryContextSwitchTo(jobcxt);
		return;
	}
	{
		MemoryContext xactcxt = MemoryContextSwitchTo(jobcxt);

		/* kept past the commit, for mark_copies */
		c = copy_dirty(&n, &changes, now, false);
		MemoryContextSwitchTo(xactcxt);
	}
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, "tracechain totp lockouts");
	rows = write_copies(c, n);
	PopActiveSnapshot();
	CommitTransactionCommand();
	MemoryContextSwitchTo(jobcxt);
	mark_copies(c, n, true, rows);
	last_changes = changes;
	counted = true;
	pgstat_report_activity(STATE_IDLE, NULL);
}

/*
 * _totp_lockout_sync(): the worker's job now, in the caller's transaction
 * (tests, administrators); see mark_copies for what it leaves marked.
 */
PG_FUNCTION_INFO_V1(tc_totp_lockout_sync);
Datum
tc_totp_lockout_sync(PG_FUNCTION_ARGS)
{
	uint64		changes;
	int			n;
	lock_copy  *c;
	int64		rows;

	require_locktab();
	lockouts_lock(true);
	c = copy_dirty(&n, &changes, GetCurrentTimestamp(), true);
	rows = write_copies(c, n);
	mark_copies(c, n, false, rows);
	PG_RETURN_INT64(rows);
}

void
tc_totp_lockout_init(void)
{
	DefineCustomIntVariable("tracechain.totp_max_failures",
							"Consecutive failed TOTP attempts after which a factor is locked.",
							NULL, &totp_max_failures, 5, 1, 1000,
							PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("tracechain.totp_lockout",
							"How long a TOTP factor stays locked after too many failures.",
							NULL, &totp_lockout_s, 900, 1, 7 * 86400,
							PGC_SUSET, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomIntVariable("tracechain.totp_lockout_slots",
							"Principals the shared-memory TOTP lockout table can track at once.",
							NULL, &totp_lockout_slots, 4096, LOCK_PROBES, 1024 * 1024,
							PGC_POSTMASTER, 0, NULL, NULL, NULL);
	locktab_lock_index = tc_shmem_register("totp lockout",
										   offsetof(lock_table, slots) + sizeof(lock_slot) * (Size) totp_lockout_slots,
										   1, locktab_init, (void **) &locktab);
	tc_worker_add_job("totp lockouts", tc_totp_lockout_job);
}

/*
 * audit_intake.c: high-volume audit rows, written without the chain lock.
 *
 * Writers (row-change capture triggers installed by audit_table(), and
 * tc_audit_enqueue()) insert into tracechain.audit_pending inside their own
 * transaction: a plain insert, so concurrent writers never wait for each
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
#include "executor/executor.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "tcop/tcopprot.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/fmgrprotos.h"
#include "utils/guc.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "audit.h"
#include "principal.h"
#include "worker.h"

#define STATEMENT_MAX 1024		/* bytes of the statement kept with captured rows */
#define SEAL_BATCH 5000

static bool sealing = false;
static int	seal_max_per_run = 100000;
static int	digest_interval_s = 60;

/*
 * Insert one row into audit_pending.  A direct heap insert: this runs for
 * every captured row of every audited table, and the executor machinery of
 * an SPI INSERT costs several times the insert itself.  audit_pending has no
 * index (the sealer reads it whole, in id order), no constraint that our own
 * values could break, and no insert trigger, so nothing is skipped; and it
 * needs no privilege of the writer, who has none on tracechain's tables.
 */
static int64
enqueue_direct(const tc_audit_row *row)
{
	static Oid	cached_relid = InvalidOid;
	static Oid	cached_seq = InvalidOid;
	Oid			relid = get_relname_relid("audit_pending", get_namespace_oid("tracechain", false));
	Relation	rel;
	Datum		v[9];
	bool		n[9] = {false};
	const char *db_user = row->db_user ? row->db_user : GetUserNameFromId(GetSessionUserId(), false);
	int64		id;

	if (!OidIsValid(relid))
		elog(ERROR, "tracechain.audit_pending does not exist");
	if (relid != cached_relid)
	{
		cached_seq = getIdentitySequence(relid, 1, false);
		cached_relid = relid;
	}
	rel = table_open(relid, RowExclusiveLock);
	if (RelationGetDescr(rel)->natts != 9 || RelationGetIndexList(rel) != NIL)
		elog(ERROR, "tracechain.audit_pending has an unexpected shape");
	id = nextval_internal(cached_seq, false);
	v[0] = Int64GetDatum(id);
	v[1] = TimestampTzGetDatum(row->at);
	v[2] = CStringGetTextDatum(row->type);
	v[3] = row->actor ? UUIDPGetDatum(row->actor) : (Datum) 0;
	n[3] = row->actor == NULL;
	v[4] = DirectFunctionCall1(namein, CStringGetDatum(db_user));
	v[5] = CStringGetTextDatum(row->action);
	v[6] = row->resource ? CStringGetTextDatum(row->resource) : (Datum) 0;
	n[6] = row->resource == NULL;
	v[7] = row->details ? JsonbPGetDatum(row->details) : DirectFunctionCall1(jsonb_in, CStringGetDatum("{}"));
	v[8] = row->ip ? DirectFunctionCall1(inet_in, CStringGetDatum(row->ip)) : (Datum) 0;
	n[8] = row->ip == NULL;
	simple_heap_insert(rel, heap_form_tuple(RelationGetDescr(rel), v, n));
	table_close(rel, NoLock);	/* the lock is held to the end of the transaction */
	return id;
}

int64
tc_audit_enqueue(const tc_audit_row *row)
{
	return enqueue_direct(row);
}

/* SQL: _audit_enqueue(type, action, resource, details, actor, ip) -> pending id; internal. */
PG_FUNCTION_INFO_V1(tc_audit_enqueue_sql);
Datum
tc_audit_enqueue_sql(PG_FUNCTION_ARGS)
{
	tc_audit_row row;

	tc_audit_row_from_args(fcinfo, &row);
	PG_RETURN_INT64(tc_audit_enqueue(&row));
}

/* ---- row-change capture ---- */

/* Binary equality of two non-null values of one column, detoasted. */
static bool
values_equal(Datum a, Datum b, Form_pg_attribute att)
{
	if (att->attlen == -1)
	{
		struct varlena *x = pg_detoast_datum_packed((struct varlena *) DatumGetPointer(a));
		struct varlena *y = pg_detoast_datum_packed((struct varlena *) DatumGetPointer(b));

		return VARSIZE_ANY_EXHDR(x) == VARSIZE_ANY_EXHDR(y) &&
			memcmp(VARDATA_ANY(x), VARDATA_ANY(y), VARSIZE_ANY_EXHDR(x)) == 0;
	}
	return datumIsEqual(a, b, att->attbyval, att->attlen);
}

/*
 * Append the JSON object of the columns `cols` (attribute numbers) of a slot,
 * as row_to_json prints them.
 */
static void
append_columns_json(StringInfo buf, TupleTableSlot *slot, TupleDesc desc, const AttrNumber *cols, int ncols)
{
	TupleDesc	sub = CreateTemplateTupleDesc(ncols);
	Datum	   *v = palloc(sizeof(Datum) * Max(ncols, 1));
	bool	   *n = palloc(sizeof(bool) * Max(ncols, 1));
	Datum		json;

	for (int i = 0; i < ncols; i++)
	{
		TupleDescCopyEntry(sub, i + 1, desc, cols[i]);
		v[i] = slot_getattr(slot, cols[i], &n[i]);
	}
	sub = BlessTupleDesc(sub);
	json = DirectFunctionCall1(row_to_json, HeapTupleGetDatum(heap_form_tuple(sub, v, n)));
	appendStringInfoString(buf, text_to_cstring(DatumGetTextPP(json)));
}

static void
append_row_json(StringInfo buf, TupleTableSlot *slot)
{
	Datum		json = DirectFunctionCall1(row_to_json, ExecFetchSlotHeapTupleDatum(slot));

	appendStringInfoString(buf, text_to_cstring(DatumGetTextPP(json)));
}

typedef struct capture_ctx
{
	Relation	rel;
	TupleDesc	desc;
	char	   *relname;
	AttrNumber *key;
	int			nkey;
	AttrNumber *all;
	int			nall;
	const char *statement;
	TransactionId xid;
	const pg_uuid_t *actor;
	const char *db_user;
	MemoryContext rowcxt;
} capture_ctx;

static void
capture_emit(capture_ctx *c, const char *op, TupleTableSlot *oldslot, TupleTableSlot *newslot)
{
	StringInfoData buf;
	tc_audit_row row;
	char		action[32];

	initStringInfo(&buf);
	appendStringInfo(&buf, "{\"op\": \"%s\"", op);
	if (c->nkey > 0 && (newslot || oldslot))
	{
		appendStringInfoString(&buf, ", \"key\": ");
		append_columns_json(&buf, newslot ? newslot : oldslot, c->desc, c->key, c->nkey);
	}
	if (oldslot && newslot)
	{
		AttrNumber *changed = palloc(sizeof(AttrNumber) * Max(c->nall, 1));
		int			nchanged = 0;

		for (int i = 0; i < c->nall; i++)
		{
			bool		on,
						nn;
			Datum		ov = slot_getattr(oldslot, c->all[i], &on);
			Datum		nv = slot_getattr(newslot, c->all[i], &nn);

			if (on != nn || (!on && !values_equal(ov, nv, TupleDescAttr(c->desc, c->all[i] - 1))))
				changed[nchanged++] = c->all[i];
		}
		appendStringInfoString(&buf, ", \"old\": ");
		append_columns_json(&buf, oldslot, c->desc, changed, nchanged);
		appendStringInfoString(&buf, ", \"new\": ");
		append_columns_json(&buf, newslot, c->desc, changed, nchanged);
	}
	else if (oldslot)
	{
		appendStringInfoString(&buf, ", \"old\": ");
		append_row_json(&buf, oldslot);
	}
	else if (newslot)
	{
		appendStringInfoString(&buf, ", \"new\": ");
		append_row_json(&buf, newslot);
	}
	appendStringInfo(&buf, ", \"xid\": %u, \"statement\": ", c->xid);
	if (c->statement)
		escape_json(&buf, c->statement);
	else
		appendStringInfoString(&buf, "null");
	appendStringInfoChar(&buf, '}');

	snprintf(action, sizeof(action), "row.%s", op);
	for (char *p = action; *p; p++)
		*p = pg_ascii_tolower((unsigned char) *p);
	row.at = GetCurrentTimestamp();
	row.type = "data";
	row.actor = c->actor;
	row.db_user = c->db_user;
	row.action = action;
	row.resource = c->relname;
	row.details = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(buf.data)));
	row.ip = NULL;
	enqueue_direct(&row);
}

/*
 * Whether captured rows carry the statement text: not when audit_table() was
 * told so (trigger argument 'nostatement'), and never for a table with a
 * protected column, whose plaintext would otherwise sit in the statement's
 * literals, in an append-only log, for ever.
 */
static bool
record_statement(TriggerData *td)
{
	TriggerDesc *trigdesc = td->tg_relation->trigdesc;

	if (td->tg_trigger->tgnargs > 0 && strcmp(td->tg_trigger->tgargs[0], "nostatement") == 0)
		return false;
	for (int i = 0; trigdesc && i < trigdesc->numtriggers; i++)
		if (strncmp(trigdesc->triggers[i].tgname, "tracechain_protect_", 19) == 0)
			return false;
	return true;
}

/*
 * AFTER ... FOR EACH STATEMENT trigger with transition tables (tc_old,
 * tc_new), and BEFORE TRUNCATE: one audit row per changed row, in bulk.
 * UPDATE rows pair the old and new transition tables by position (they are
 * filled in lockstep) and record only the changed columns plus the key.
 */
PG_FUNCTION_INFO_V1(tc_audit_capture);
Datum
tc_audit_capture(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	capture_ctx c;
	TupleTableSlot *oslot = NULL,
			   *nslot = NULL;
	Oid			pk;
	MemoryContext old;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_FOR_STATEMENT(td->tg_event))
		elog(ERROR, "tc_audit_capture: not called as a statement trigger");

	memset(&c, 0, sizeof(c));
	c.rel = td->tg_relation;
	c.desc = RelationGetDescr(c.rel);
	c.relname = quote_qualified_identifier(get_namespace_name(RelationGetNamespace(c.rel)),
										   RelationGetRelationName(c.rel));
	c.xid = GetTopTransactionId();
	c.actor = tc_current_principal();
	c.db_user = GetUserNameFromId(GetSessionUserId(), false);
	if (debug_query_string && record_statement(td))
		c.statement = pnstrdup(debug_query_string,
							   pg_mbcliplen(debug_query_string, strlen(debug_query_string), STATEMENT_MAX));
	c.all = palloc(sizeof(AttrNumber) * Max(c.desc->natts, 1));
	for (int i = 0; i < c.desc->natts; i++)
		if (!TupleDescAttr(c.desc, i)->attisdropped)
			c.all[c.nall++] = i + 1;
	pk = RelationGetPrimaryKeyIndex(c.rel);
	if (OidIsValid(pk))
	{
		Relation	idx = index_open(pk, AccessShareLock);

		c.nkey = idx->rd_index->indnkeyatts;
		c.key = palloc(sizeof(AttrNumber) * Max(c.nkey, 1));
		for (int i = 0; i < c.nkey; i++)
			c.key[i] = idx->rd_index->indkey.values[i];
		index_close(idx, AccessShareLock);
	}
	c.rowcxt = AllocSetContextCreate(CurrentMemoryContext, "tracechain capture", ALLOCSET_DEFAULT_SIZES);

	if (TRIGGER_FIRED_BY_TRUNCATE(td->tg_event))
	{
		old = MemoryContextSwitchTo(c.rowcxt);
		capture_emit(&c, "TRUNCATE", NULL, NULL);
		MemoryContextSwitchTo(old);
	}
	else
	{
		if (td->tg_oldtable)
			oslot = MakeSingleTupleTableSlot(c.desc, &TTSOpsMinimalTuple);
		if (td->tg_newtable)
			nslot = MakeSingleTupleTableSlot(c.desc, &TTSOpsMinimalTuple);
		if (oslot)
			tuplestore_rescan(td->tg_oldtable);
		if (nslot)
			tuplestore_rescan(td->tg_newtable);
		for (;;)
		{
			bool		have_old = oslot && tuplestore_gettupleslot(td->tg_oldtable, true, false, oslot);
			bool		have_new = nslot && tuplestore_gettupleslot(td->tg_newtable, true, false, nslot);
			const char *op;

			if (!have_old && !have_new)
				break;
			CHECK_FOR_INTERRUPTS();
			op = (have_old && have_new) ? "UPDATE" : have_new ? "INSERT" : "DELETE";
			old = MemoryContextSwitchTo(c.rowcxt);
			capture_emit(&c, op, have_old ? oslot : NULL, have_new ? nslot : NULL);
			MemoryContextSwitchTo(old);
			MemoryContextReset(c.rowcxt);
		}
		if (oslot)
			ExecDropSingleTupleTableSlot(oslot);
		if (nslot)
			ExecDropSingleTupleTableSlot(nslot);
	}
	MemoryContextDelete(c.rowcxt);
	return PointerGetDatum(NULL);
}

/* ---- the sealer ---- */

/*
 * Move up to `max_rows` committed pending rows into the chain, in one
 * transaction (the caller's).  Returns how many were sealed.
 */
static int64
seal_batch(int max_rows)
{
	tc_chain	chain;
	int			rc;
	volatile int64 n = 0;
	Datum	   *ids;
	ArrayType  *arr;
	Oid			argtypes[1] = {TIDARRAYOID};
	Datum		args[1];

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	/* Cheap test first: nothing pending, no lock. */
	rc = SPI_execute("SELECT 1 FROM tracechain.audit_pending LIMIT 1", true, 1);
	if (rc != SPI_OK_SELECT || SPI_processed == 0)
	{
		SPI_finish();
		return 0;
	}
	tc_chain_open(&chain);
	/*
	 * After the lock: this statement takes a fresh snapshot (read_only =
	 * false, READ COMMITTED), so it sees every row committed so far and none
	 * that another sealer already moved.
	 */
	rc = SPI_execute_with_args("SELECT ctid, at, type, actor, db_user, action, resource, details, ip "
							   "FROM tracechain.audit_pending ORDER BY id LIMIT $1",
							   1, (Oid[]) {INT4OID}, (Datum[]) {Int32GetDatum(max_rows)}, NULL, false, 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "could not read audit_pending");
	if (SPI_processed == 0)
	{
		SPI_finish();
		return 0;
	}
	{
		SPITupleTable *tt = SPI_tuptable;
		uint64		count = SPI_processed;

		tc_chain_begin_direct(&chain);
		ids = palloc(sizeof(Datum) * count);
		for (uint64 i = 0; i < count; i++)
		{
			HeapTuple	t = tt->vals[i];
			TupleDesc	d = tt->tupdesc;
			bool		isnull;
			tc_audit_row row;
			Datum		x;

			ids[i] = SPI_getbinval(t, d, 1, &isnull);
			row.at = DatumGetTimestampTz(SPI_getbinval(t, d, 2, &isnull));
			row.type = TextDatumGetCString(SPI_getbinval(t, d, 3, &isnull));
			x = SPI_getbinval(t, d, 4, &isnull);
			row.actor = isnull ? NULL : DatumGetUUIDP(x);
			row.db_user = NameStr(*DatumGetName(SPI_getbinval(t, d, 5, &isnull)));
			row.action = TextDatumGetCString(SPI_getbinval(t, d, 6, &isnull));
			x = SPI_getbinval(t, d, 7, &isnull);
			row.resource = isnull ? NULL : TextDatumGetCString(x);
			row.details = DatumGetJsonbP(SPI_getbinval(t, d, 8, &isnull));
			x = SPI_getbinval(t, d, 9, &isnull);
			row.ip = isnull ? NULL : DatumGetCString(DirectFunctionCall1(inet_out, x));
			tc_chain_append(&chain, &row);
			n++;
		}
		tc_chain_end_direct(&chain);
		arr = construct_array(ids, (int) count, TIDOID, sizeof(ItemPointerData), false, TYPALIGN_SHORT);
	}
	args[0] = PointerGetDatum(arr);
	sealing = true;
	PG_TRY();
	{
		rc = SPI_execute_with_args("DELETE FROM tracechain.audit_pending WHERE ctid = ANY ($1)",
								   1, argtypes, args, NULL, false, 0);
	}
	PG_FINALLY();
	{
		sealing = false;
	}
	PG_END_TRY();
	if (rc != SPI_OK_DELETE || SPI_processed != (uint64) n)
		elog(ERROR, "could not remove sealed rows from audit_pending (rc %d, %llu of %lld rows)", rc, (unsigned long long) SPI_processed, (long long) n);
	SPI_finish();
	return n;
}

/* SQL: audit_seal(max_rows) -> rows sealed, in the caller's transaction. */
PG_FUNCTION_INFO_V1(tc_audit_seal);
Datum
tc_audit_seal(PG_FUNCTION_ARGS)
{
	int32		max_rows = PG_ARGISNULL(0) ? 1000000 : PG_GETARG_INT32(0);
	int64		total = 0,
				n;

	if (max_rows < 1)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("max_rows must be at least 1")));
	/* The sealer must see rows committed after its transaction began. */
	if (IsolationUsesXactSnapshot())
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("audit_seal() must run in a READ COMMITTED transaction")));
	while (total < max_rows && (n = seal_batch(Min(SEAL_BATCH, max_rows - total))) > 0)
		total += n;
	PG_RETURN_INT64(total);
}

/* The worker job: seal in transactions of SEAL_BATCH rows. */
static void
tc_audit_seal_job(void)
{
	int64		total = 0;

	for (;;)
	{
		int64		n;

		SetCurrentStatementStartTimestamp();
		StartTransactionCommand();
		PushActiveSnapshot(GetTransactionSnapshot());
		pgstat_report_activity(STATE_RUNNING, "sealing tracechain audit rows");
		n = seal_batch(SEAL_BATCH);
		PopActiveSnapshot();
		CommitTransactionCommand();
		pgstat_report_activity(STATE_IDLE, NULL);
		total += n;
		if (n < SEAL_BATCH || total >= seal_max_per_run)
			break;
	}
}

/* BEFORE UPDATE/DELETE/TRUNCATE on audit_pending: only the sealer removes rows. */
PG_FUNCTION_INFO_V1(tc_audit_pending_guard);
Datum
tc_audit_pending_guard(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo))
		elog(ERROR, "tc_audit_pending_guard: not called as a trigger");
	if (sealing && TRIGGER_FIRED_BY_DELETE(td->tg_event))
		return PointerGetDatum(td->tg_trigtuple);
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

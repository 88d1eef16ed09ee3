/*
 * audit.c: append-only, hash-chained audit log.
 *
 * Writers: tc_audit_append() (in-transaction rows) and the events worker
 * (rows that must outlive the caller's rollback, see events.c).  Readers:
 * verify_audit_chain(), audit_digest(), verify_audit_digest().
 */
#include "postgres.h"

#include <openssl/evp.h>

#include "access/genam.h"
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/relscan.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "commands/trigger.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "storage/lmgr.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/inet.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "nodes/makefuncs.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "audit.h"
#include "audit_walk.h"
#include "audit_enc.h"
#include "encoding.h"

#define CHAIN_LOCK_SUBID 1		/* object-lock sub-id of the chain lock */
#define TC_CHAIN_BATCH 256		/* sealed rows per multi-insert */

static SPIPlanPtr insert_plan = NULL;
static bool inserting = false;	/* tc_audit_append's own INSERT is running */
static bool archiving = false;	/* audit_archive's own DELETE is running */
static EVP_MD_CTX *md_ctx = NULL;
static EVP_MD *md_sha256 = NULL;

/* Canonical field values of one row, as text. */
typedef struct row_text
{
	char		id[24];
	char		at[24];
	char		actor[36];
	tc_field	f[TC_AUDIT_NFIELDS];
} row_text;

static void
sha256(const uint8 *data, size_t len, uint8 out[TC_HASH_LEN])
{
	bool		ok;

	if (md_ctx == NULL)
	{
		md_sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
		md_ctx = EVP_MD_CTX_new();
		if (md_sha256 == NULL || md_ctx == NULL)
			ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR), errmsg("could not initialize SHA-256")));
	}
	ok = EVP_DigestInit_ex2(md_ctx, md_sha256, NULL) == 1 &&
		EVP_DigestUpdate(md_ctx, data, len) == 1 &&
		EVP_DigestFinal_ex(md_ctx, out, NULL) == 1;
	if (!ok)
		ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR), errmsg("could not compute SHA-256")));
}

static inline void
set_field(tc_field *f, const char *p, size_t len)
{
	f->ptr = p;
	f->len = len;
}

static inline void
set_text_field(tc_field *f, text *t)
{
	if (t == NULL)
		set_field(f, NULL, 0);
	else
		set_field(f, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
}

/*
 * Hash a row: SHA-256(prev || enc(fields)).  `buf` is scratch space reused
 * across calls; `details` and `ip` are the canonical texts (ip may be NULL).
 */
static void
hash_row(row_text *rt, const uint8 *prev, StringInfo buf, uint8 out[TC_HASH_LEN])
{
	size_t		need = tc_audit_encoded_len(rt->f, TC_AUDIT_NFIELDS);

	if (need == 0)
		ereport(ERROR, (errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED), errmsg("audit row too large to encode")));
	resetStringInfo(buf);
	enlargeStringInfo(buf, (int) (TC_HASH_LEN + need));
	memcpy(buf->data, prev, TC_HASH_LEN);
	tc_audit_encode(rt->f, TC_AUDIT_NFIELDS, (uint8 *) buf->data + TC_HASH_LEN, need);
	sha256((uint8 *) buf->data, TC_HASH_LEN + need, out);
}

/* Fill the id, at and actor fields, which need formatting. */
static void
format_fixed(row_text *rt, int64 id, TimestampTz at, const pg_uuid_t *actor)
{
	int64		unix_us = at + (int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * USECS_PER_DAY;
	int			n = pg_lltoa(id, rt->id);

	set_field(&rt->f[0], rt->id, n);
	set_field(&rt->f[1], rt->at, tc_audit_format_epoch_us(unix_us, rt->at));
	if (actor)
	{
		tc_audit_format_uuid(actor->data, rt->actor);
		set_field(&rt->f[3], rt->actor, 36);
	}
	else
		set_field(&rt->f[3], NULL, 0);
}

static char *
details_text(Jsonb *details, StringInfo out)
{
	tc_jsonb_text(details, out);
	return out->data;
}

static Oid
audit_log_relid(void)
{
	Oid			nsp = get_namespace_oid("tracechain", false);
	Oid			relid = get_relname_relid("audit_log", nsp);

	if (!OidIsValid(relid))
		ereport(ERROR, (errcode(ERRCODE_UNDEFINED_TABLE), errmsg("tracechain.audit_log does not exist")));
	return relid;
}

/* The chain lock: held until the end of the transaction. */
static void
lock_chain(Oid relid)
{
	LockDatabaseObject(RelationRelationId, relid, CHAIN_LOCK_SUBID, ExclusiveLock);
}

/*
 * Read the chain head.  Called with the chain lock held, so every earlier
 * appender has committed or aborted; SnapshotSelf sees exactly the committed
 * rows plus this transaction's own (and not those of aborted subtransactions),
 * whatever the isolation level.
 */
static void
read_head(Oid relid, int64 *id, uint8 hash[TC_HASH_LEN])
{
	Relation	rel = table_open(relid, AccessShareLock);
	Oid			idxid = RelationGetPrimaryKeyIndex(rel);
	Relation	idx;
	IndexScanDesc scan;
	TupleTableSlot *slot;

	if (!OidIsValid(idxid))
		elog(ERROR, "tracechain.audit_log has no primary key");
	idx = index_open(idxid, AccessShareLock);
	slot = table_slot_create(rel, NULL);
	scan = index_beginscan(rel, idx, SnapshotSelf, 0, 0);
	index_rescan(scan, NULL, 0, NULL, 0);
	*id = 0;
	memset(hash, 0, TC_HASH_LEN);
	if (index_getnext_slot(scan, BackwardScanDirection, slot))
	{
		bool		isnull;
		bytea	   *h;

		*id = DatumGetInt64(slot_getattr(slot, A_ID, &isnull));
		h = DatumGetByteaPP(slot_getattr(slot, A_HASH, &isnull));
		if (isnull || VARSIZE_ANY_EXHDR(h) != TC_HASH_LEN)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("the audit chain head (row %lld) has a malformed hash", (long long) *id)));
		memcpy(hash, VARDATA_ANY(h), TC_HASH_LEN);
	}
	index_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	index_close(idx, AccessShareLock);
	table_close(rel, AccessShareLock);
}

/*
 * Appends happen one at a time under the chain lock, but each backend inserts
 * into the page its relcache entry last used, so concurrent appenders would
 * interleave their pages and the heap order would jump at nearly every row
 * (which the verifier's runs then pay for).  Point this backend at the last
 * page before it appends: the heap then stays in id order.
 */
static void
target_last_page(Relation rel)
{
	BlockNumber n = RelationGetNumberOfBlocks(rel);

	if (n > 0)
		RelationSetTargetBlock(rel, n - 1);
}

static bytea *
make_bytea(const uint8 *p, size_t len)
{
	bytea	   *b = palloc(VARHDRSZ + len);

	SET_VARSIZE(b, VARHDRSZ + len);
	memcpy(VARDATA(b), p, len);
	return b;
}

void
tc_chain_open(tc_chain *chain)
{
	memset(chain, 0, sizeof(*chain));
	chain->relid = audit_log_relid();
	lock_chain(chain->relid);
	read_head(chain->relid, &chain->head_id, chain->head_hash);
}

/*
 * For the sealer, which appends thousands of rows in one transaction: insert
 * them with one executor state instead of an SPI INSERT each.  (The guard
 * trigger is not fired: these rows are built here, like those of
 * tc_audit_append.)
 */
void
tc_chain_begin_direct(tc_chain *chain)
{
	chain->rel = table_open(chain->relid, RowExclusiveLock);
	target_last_page(chain->rel);
	chain->estate = CreateExecutorState();
	chain->rri = makeNode(ResultRelInfo);
	InitResultRelInfo(chain->rri, chain->rel, 1, NULL, 0);
	ExecOpenIndices(chain->rri, false);
	/* slots made as rows come: most batches of a quiet log are a few rows */
	chain->slots = palloc0(sizeof(TupleTableSlot *) * TC_CHAIN_BATCH);
	chain->nheld = 0;
	chain->heldcxt = AllocSetContextCreate(CurrentMemoryContext, "tracechain chain rows", ALLOCSET_DEFAULT_SIZES);
	chain->direct = true;
}

/*
 * Insert the held rows: one multi-insert into the heap (a WAL record and a
 * page lock per page instead of per row), then each row into the indexes.
 */
static void
chain_write_held(tc_chain *chain)
{
	if (chain->nheld == 0)
		return;
	table_multi_insert(chain->rel, chain->slots, chain->nheld, GetCurrentCommandId(true), 0, NULL);
	for (int i = 0; i < chain->nheld; i++)
	{
		(void) ExecInsertIndexTuples(chain->rri, chain->slots[i], chain->estate, false, false, NULL, NIL);
		ResetPerTupleExprContext(chain->estate);
		ExecClearTuple(chain->slots[i]);
	}
	chain->nheld = 0;
	MemoryContextReset(chain->heldcxt);
}

void
tc_chain_end_direct(tc_chain *chain)
{
	if (!chain->direct)
		return;
	chain_write_held(chain);
	ExecCloseIndices(chain->rri);
	for (int i = 0; i < TC_CHAIN_BATCH && chain->slots[i] != NULL; i++)
		ExecDropSingleTupleTableSlot(chain->slots[i]);
	pfree(chain->slots);
	MemoryContextDelete(chain->heldcxt);
	FreeExecutorState(chain->estate);
	table_close(chain->rel, NoLock);
	chain->direct = false;
}

/*
 * The sealer: a formed row goes straight into the heap and the indexes, no
 * executor per row, TC_CHAIN_BATCH rows at a time.
 */
static void
chain_hold(tc_chain *chain, Datum *values, bool *isnull)
{
	MemoryContext old = MemoryContextSwitchTo(chain->heldcxt);
	HeapTuple	tup = heap_form_tuple(RelationGetDescr(chain->rel), values, isnull);

	MemoryContextSwitchTo(old);
	if (chain->slots[chain->nheld] == NULL)
	{
		/* in the executor state's context: the caller's is reset per row */
		old = MemoryContextSwitchTo(chain->estate->es_query_cxt);
		chain->slots[chain->nheld] = MakeSingleTupleTableSlot(RelationGetDescr(chain->rel),
															  &TTSOpsHeapTuple);
		MemoryContextSwitchTo(old);
	}
	ExecStoreHeapTuple(tup, chain->slots[chain->nheld++], true);
	if (chain->nheld == TC_CHAIN_BATCH)
		chain_write_held(chain);
}

int64
tc_audit_append(const tc_audit_row *row)
{
	tc_chain	chain;

	tc_chain_open(&chain);
	return tc_chain_append(&chain, row);
}

/*
 * Append one row through SPI (synchronous appends, audit_archive's own row);
 * the sealer's direct appends go through tc_chain_append_values.
 */
int64
tc_chain_append(tc_chain *chain, const tc_audit_row *row)
{
	Jsonb	   *details = row->details;
	const char *db_user = row->db_user;
	StringInfoData dbuf,
				hbuf;
	row_text	rt;
	int64		head_id = chain->head_id;
	const uint8 *prev = chain->head_hash;
	uint8		hash[TC_HASH_LEN];
	Datum		ip = (Datum) 0;
	Datum		values[A_NATTS];
	char		nulls[A_NATTS];
	int			rc;

	Assert(!chain->direct);
	if (details == NULL)
		details = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum("{}")));
	if (db_user == NULL)
		db_user = GetUserNameFromId(GetSessionUserId(), false);
	if (strlen(db_user) >= NAMEDATALEN)
		elog(ERROR, "audit db_user too long");

	initStringInfo(&dbuf);
	initStringInfo(&hbuf);
	format_fixed(&rt, head_id + 1, row->at, row->actor);
	set_field(&rt.f[2], row->type, strlen(row->type));
	set_field(&rt.f[4], db_user, strlen(db_user));
	set_field(&rt.f[5], row->action, strlen(row->action));
	if (row->resource)
		set_field(&rt.f[6], row->resource, strlen(row->resource));
	else
		set_field(&rt.f[6], NULL, 0);
	details_text(details, &dbuf);
	set_field(&rt.f[7], dbuf.data, dbuf.len);
	if (row->ip)
	{
		/* Canonical text: parse, then print as PostgreSQL prints inet. */
		char	   *canon;

		ip = DirectFunctionCall1(inet_in, CStringGetDatum(row->ip));
		canon = DatumGetCString(DirectFunctionCall1(inet_out, ip));
		set_field(&rt.f[8], canon, strlen(canon));
	}
	else
		set_field(&rt.f[8], NULL, 0);
	hash_row(&rt, prev, &hbuf, hash);

	memset(nulls, ' ', sizeof(nulls));
	values[A_ID - 1] = Int64GetDatum(head_id + 1);
	values[A_AT - 1] = TimestampTzGetDatum(row->at);
	values[A_TYPE - 1] = CStringGetTextDatum(row->type);
	values[A_ACTOR - 1] = row->actor ? UUIDPGetDatum(row->actor) : (Datum) 0;
	nulls[A_ACTOR - 1] = row->actor ? ' ' : 'n';
	values[A_DB_USER - 1] = DirectFunctionCall1(namein, CStringGetDatum(db_user));
	values[A_ACTION - 1] = CStringGetTextDatum(row->action);
	values[A_RESOURCE - 1] = row->resource ? CStringGetTextDatum(row->resource) : (Datum) 0;
	nulls[A_RESOURCE - 1] = row->resource ? ' ' : 'n';
	values[A_DETAILS - 1] = JsonbPGetDatum(details);
	values[A_IP - 1] = ip;
	nulls[A_IP - 1] = row->ip ? ' ' : 'n';
	values[A_PREV_HASH - 1] = PointerGetDatum(make_bytea(prev, TC_HASH_LEN));
	values[A_HASH - 1] = PointerGetDatum(make_bytea(hash, TC_HASH_LEN));

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (insert_plan == NULL)
	{
		Oid			types[A_NATTS] = {INT8OID, TIMESTAMPTZOID, TEXTOID, UUIDOID, NAMEOID,
		TEXTOID, TEXTOID, JSONBOID, INETOID, BYTEAOID, BYTEAOID};
		SPIPlanPtr	p = SPI_prepare("INSERT INTO tracechain.audit_log (id, at, type, actor, db_user, "
									"action, resource, details, ip, prev_hash, hash) "
									"VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
									A_NATTS, types);

		if (p == NULL || SPI_keepplan(p) != 0)
			elog(ERROR, "could not prepare the audit insert");
		insert_plan = p;
	}
	{
		/* the executor's insert below uses this same relcache entry */
		Relation	rel = table_open(chain->relid, RowExclusiveLock);

		target_last_page(rel);
		table_close(rel, NoLock);
	}
	inserting = true;
	PG_TRY();
	{
		rc = SPI_execute_plan(insert_plan, values, nulls, false, 0);
	}
	PG_FINALLY();
	{
		inserting = false;
	}
	PG_END_TRY();
	if (rc != SPI_OK_INSERT)
		elog(ERROR, "audit insert failed: %s", SPI_result_code_string(rc));
	SPI_finish();
	pfree(dbuf.data);
	pfree(hbuf.data);
	chain->head_id = head_id + 1;
	memcpy(chain->head_hash, hash, TC_HASH_LEN);
	return head_id + 1;
}

/* Canonical texts of a stored row (from a heap tuple's deformed values). */
static void
row_text_from_values(row_text *rt, Datum *v, bool *n, StringInfo dbuf)
{
	format_fixed(rt, DatumGetInt64(v[A_ID - 1]), DatumGetTimestampTz(v[A_AT - 1]),
				 n[A_ACTOR - 1] ? NULL : DatumGetUUIDP(v[A_ACTOR - 1]));
	set_text_field(&rt->f[2], n[A_TYPE - 1] ? NULL : DatumGetTextPP(v[A_TYPE - 1]));
	{
		const char *u = n[A_DB_USER - 1] ? NULL : NameStr(*DatumGetName(v[A_DB_USER - 1]));

		set_field(&rt->f[4], u, u ? strlen(u) : 0);
	}
	set_text_field(&rt->f[5], n[A_ACTION - 1] ? NULL : DatumGetTextPP(v[A_ACTION - 1]));
	set_text_field(&rt->f[6], n[A_RESOURCE - 1] ? NULL : DatumGetTextPP(v[A_RESOURCE - 1]));
	if (n[A_DETAILS - 1])
		set_field(&rt->f[7], NULL, 0);
	else
	{
		details_text(DatumGetJsonbP(v[A_DETAILS - 1]), dbuf);
		set_field(&rt->f[7], dbuf->data, dbuf->len);
	}
	if (n[A_IP - 1])
		set_field(&rt->f[8], NULL, 0);
	else
	{
		char	   *s = DatumGetCString(DirectFunctionCall1(inet_out, v[A_IP - 1]));

		set_field(&rt->f[8], s, strlen(s));
	}
}

/*
 * The sealer's append (tc_chain_begin_direct): `values` and `isnull` hold a
 * row's at .. ip as audit_log's columns 2 to 9 (audit_pending has the same
 * columns in the same order); this fills in id, prev_hash and hash and holds
 * the row for the next multi-insert.  The values are hashed as the verifier
 * reads them back (row_text_from_values), with no round trip through C
 * strings.  Returns the row's id.
 */
int64
tc_chain_append_values(tc_chain *chain, Datum *values, bool *isnull)
{
	row_text	rt;
	StringInfoData dbuf,
				hbuf;
	uint8		hash[TC_HASH_LEN];
	int64		id = chain->head_id + 1;

	Assert(chain->direct);
	if (isnull[A_AT - 1] || isnull[A_TYPE - 1] || isnull[A_DB_USER - 1] ||
		isnull[A_ACTION - 1] || isnull[A_DETAILS - 1])
		elog(ERROR, "a pending audit row has a null required column");
	/* in line: the row is hashed from these bytes and stored with them */
	for (int i = A_TYPE; i <= A_IP; i++)
		if (!isnull[i - 1] && TupleDescAttr(RelationGetDescr(chain->rel), i - 1)->attlen == -1)
			values[i - 1] = PointerGetDatum(PG_DETOAST_DATUM_PACKED(values[i - 1]));
	values[A_ID - 1] = Int64GetDatum(id);
	isnull[A_ID - 1] = false;
	initStringInfo(&dbuf);
	initStringInfo(&hbuf);
	row_text_from_values(&rt, values, isnull, &dbuf);
	hash_row(&rt, chain->head_hash, &hbuf, hash);
	values[A_PREV_HASH - 1] = PointerGetDatum(make_bytea(chain->head_hash, TC_HASH_LEN));
	values[A_HASH - 1] = PointerGetDatum(make_bytea(hash, TC_HASH_LEN));
	isnull[A_PREV_HASH - 1] = isnull[A_HASH - 1] = false;
	chain_hold(chain, values, isnull);
	pfree(dbuf.data);
	pfree(hbuf.data);
	chain->head_id = id;
	memcpy(chain->head_hash, hash, TC_HASH_LEN);
	return id;
}

static bool
bytea_is_hash(Datum d, bool isnull, const uint8 **p)
{
	bytea	   *b;

	if (isnull)
		return false;
	b = DatumGetByteaPP(d);
	if (VARSIZE_ANY_EXHDR(b) != TC_HASH_LEN)
		return false;
	*p = (const uint8 *) VARDATA_ANY(b);
	return true;
}

/*
 * BEFORE trigger on audit_log.  UPDATE, DELETE and TRUNCATE are refused for
 * everyone.  An INSERT that does not come from tc_audit_append (pg_restore,
 * logical replication, a superuser) is accepted only when the row extends
 * the chain exactly: next id, the head's hash as prev_hash, the right hash.
 */
PG_FUNCTION_INFO_V1(tc_audit_guard);
Datum
tc_audit_guard(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	HeapTuple	tup;
	TupleDesc	desc;
	Datum		v[A_NATTS];
	bool		n[A_NATTS];
	int64		head_id;
	uint8		prev[TC_HASH_LEN],
				hash[TC_HASH_LEN];
	const uint8 *row_prev,
			   *row_hash;
	row_text	rt;
	StringInfoData dbuf,
				hbuf;

	if (!CALLED_AS_TRIGGER(fcinfo))
		elog(ERROR, "tc_audit_guard: not called as a trigger");
	if (archiving && TRIGGER_FIRED_BY_DELETE(td->tg_event))
		return PointerGetDatum(td->tg_trigtuple);
	if (!TRIGGER_FIRED_BY_INSERT(td->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("tracechain.audit_log is append-only"),
				 errdetail("UPDATE, DELETE and TRUNCATE are refused for every role, its owner included.")));
	tup = td->tg_trigtuple;
	if (inserting)
		return PointerGetDatum(tup);

	desc = RelationGetDescr(td->tg_relation);
	if (desc->natts != A_NATTS)
		elog(ERROR, "tracechain.audit_log has an unexpected shape");
	heap_deform_tuple(tup, desc, v, n);
	lock_chain(RelationGetRelid(td->tg_relation));
	read_head(RelationGetRelid(td->tg_relation), &head_id, prev);
	/*
	 * Into an empty log (a restore of a log whose prefix was archived), the
	 * first row may start past 1: its link is then checked against the
	 * archive anchor by verify_audit_chain, not here.
	 */
	if (head_id == 0 && !n[A_ID - 1] && DatumGetInt64(v[A_ID - 1]) > 1 &&
		bytea_is_hash(v[A_PREV_HASH - 1], n[A_PREV_HASH - 1], &row_prev))
	{
		head_id = DatumGetInt64(v[A_ID - 1]) - 1;
		memcpy(prev, row_prev, TC_HASH_LEN);
	}
	if (n[A_ID - 1] || DatumGetInt64(v[A_ID - 1]) != head_id + 1 ||
		!bytea_is_hash(v[A_PREV_HASH - 1], n[A_PREV_HASH - 1], &row_prev) ||
		!bytea_is_hash(v[A_HASH - 1], n[A_HASH - 1], &row_hash) ||
		memcmp(row_prev, prev, TC_HASH_LEN) != 0 || n[A_AT - 1])
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("row does not extend the audit chain"),
				 errdetail("A row added to tracechain.audit_log other than through tracechain's functions must carry id %lld and the hash of row %lld as prev_hash.",
						   (long long) head_id + 1, (long long) head_id),
				 errhint("Write audit rows with tracechain.log_user_action(), log_system_event() or log_security_event().")));
	initStringInfo(&dbuf);
	initStringInfo(&hbuf);
	row_text_from_values(&rt, v, n, &dbuf);
	hash_row(&rt, prev, &hbuf, hash);
	if (memcmp(hash, row_hash, TC_HASH_LEN) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("row does not extend the audit chain"),
				 errdetail("Its hash does not match its contents.")));
	return PointerGetDatum(tup);
}

/*
 * Check one row against the walk.  Returns false when it breaks the chain
 * (res->first_bad and res->reason say how).
 */
bool
tc_walk_check_row(chain_walk *w, Datum *v, bool *n)
{
	chain_result *res = w->res;
	int64		id = DatumGetInt64(v[A_ID - 1]);
	const uint8 *row_prev,
			   *row_hash;
	uint8		hash[TC_HASH_LEN];
	row_text	rt;

	res->rows++;
	if (id != w->expect_id)
	{
		res->first_bad = id;
		snprintf(res->reason, sizeof(res->reason),
				 "row %lld is missing (ids jump from %lld to %lld)",
				 (long long) w->expect_id, (long long) w->expect_id - 1, (long long) id);
		return false;
	}
	if (!bytea_is_hash(v[A_PREV_HASH - 1], n[A_PREV_HASH - 1], &row_prev) ||
		!bytea_is_hash(v[A_HASH - 1], n[A_HASH - 1], &row_hash))
	{
		res->first_bad = id;
		snprintf(res->reason, sizeof(res->reason), "row %lld has a malformed hash", (long long) id);
		return false;
	}
	if (w->have_prev && memcmp(row_prev, w->expect_prev, TC_HASH_LEN) != 0)
	{
		res->first_bad = id;
		snprintf(res->reason, sizeof(res->reason),
				 "prev_hash of row %lld does not match the hash of row %lld",
				 (long long) id, (long long) id - 1);
		return false;
	}
	row_text_from_values(&rt, v, n, &w->dbuf);
	hash_row(&rt, row_prev, &w->hbuf, hash);
	if (memcmp(hash, row_hash, TC_HASH_LEN) != 0)
	{
		res->first_bad = id;
		snprintf(res->reason, sizeof(res->reason),
				 "hash of row %lld does not match its contents", (long long) id);
		return false;
	}
	if (id == w->want_id)
	{
		w->want_found = true;
		w->want_match = w->want_hash && memcmp(hash, w->want_hash, TC_HASH_LEN) == 0;
	}
	memcpy(w->expect_prev, hash, TC_HASH_LEN);
	w->have_prev = true;
	res->last_id = id;
	w->expect_id = id + 1;
	return true;
}

static void
walk_reset(chain_walk *w, chain_result *res, int64 from_id, int64 want_id, const uint8 *want_hash,
		   const uint8 *anchor)
{
	memset(res, 0, sizeof(*res));
	res->ok = true;
	w->res = res;
	w->expect_id = from_id;
	w->want_id = want_id;
	w->want_hash = want_hash;
	w->want_found = w->want_match = false;
	memset(w->expect_prev, 0, TC_HASH_LEN);
	w->have_prev = (from_id == 1);
	if (anchor)
	{
		memcpy(w->expect_prev, anchor, TC_HASH_LEN);
		w->have_prev = true;
	}
}

/*
 * A whole-log walk reads the heap, not the index: first as runs of
 * consecutive ids joined at the end, in parallel on a large log
 * (audit_parallel.c), which decides an intact chain in one pass whatever the
 * heap order.  When that finds a fault, walk again, in heap order if the heap
 * is in id order (the common case: the first bad row is then the first met),
 * and return false when a row turns up out of order (the caller then walks
 * the index instead).
 */
static bool
walk_heap(Relation rel, Snapshot snap, chain_walk *w, MemoryContext rowcxt)
{
	TableScanDesc scan;
	TupleDesc	desc = RelationGetDescr(rel);
	HeapTuple	tup;
	Datum		v[A_NATTS];
	bool		n[A_NATTS];
	bool		in_order = true;
	MemoryContext oldcxt;

	if (tc_walk_heap_runs(rel, snap, w))
		return true;
	/* No synchronized scan: it would start mid-table. */
	scan = table_beginscan_strat(rel, snap, 0, NULL, true, false);
	oldcxt = MemoryContextSwitchTo(rowcxt);

	while ((tup = heap_getnext(scan, ForwardScanDirection)) != NULL)
	{
		CHECK_FOR_INTERRUPTS();
		heap_deform_tuple(tup, desc, v, n);
		if (DatumGetInt64(v[A_ID - 1]) != w->expect_id)
		{
			in_order = false;
			break;
		}
		if (!tc_walk_check_row(w, v, n))
			break;
		MemoryContextReset(rowcxt);
	}
	MemoryContextSwitchTo(oldcxt);
	table_endscan(scan);
	/* A missing row also looks "out of order": let the index walk judge it. */
	return in_order;
}

static void
walk_index(Relation rel, Relation idx, Snapshot snap, int64 from_id, int64 to_id,
		   chain_walk *w, MemoryContext rowcxt)
{
	TupleTableSlot *slot = table_slot_create(rel, NULL);
	IndexScanDesc scan;
	ScanKeyData key[2];
	int			nkeys = 0;
	MemoryContext oldcxt;

	/* The predecessor of from_id, if any, anchors the walk. */
	if (from_id > 1 && !w->have_prev)
	{
		ScanKeyInit(&key[0], A_ID, BTEqualStrategyNumber, F_INT8EQ, Int64GetDatum(from_id - 1));
		scan = index_beginscan(rel, idx, snap, 1, 0);
		index_rescan(scan, key, 1, NULL, 0);
		if (index_getnext_slot(scan, ForwardScanDirection, slot))
		{
			bool		isnull;
			const uint8 *h;
			Datum		d = slot_getattr(slot, A_HASH, &isnull);

			if (bytea_is_hash(d, isnull, &h))
			{
				memcpy(w->expect_prev, h, TC_HASH_LEN);
				w->have_prev = true;
			}
		}
		index_endscan(scan);
		ExecClearTuple(slot);
	}

	ScanKeyInit(&key[nkeys++], A_ID, BTGreaterEqualStrategyNumber, F_INT8GE, Int64GetDatum(from_id));
	if (to_id > 0)
		ScanKeyInit(&key[nkeys++], A_ID, BTLessEqualStrategyNumber, F_INT8LE, Int64GetDatum(to_id));
	scan = index_beginscan(rel, idx, snap, nkeys, 0);
	index_rescan(scan, key, nkeys, NULL, 0);
	oldcxt = MemoryContextSwitchTo(rowcxt);
	while (index_getnext_slot(scan, ForwardScanDirection, slot))
	{
		CHECK_FOR_INTERRUPTS();
		slot_getallattrs(slot);
		if (!tc_walk_check_row(w, slot->tts_values, slot->tts_isnull))
			break;
		MemoryContextReset(rowcxt);
	}
	MemoryContextSwitchTo(oldcxt);
	index_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
}

/*
 * Walk rows from_id..to_id (to_id 0: to the end) in id order under the
 * transaction's snapshot, checking that ids are contiguous, that each
 * prev_hash is the previous row's hash and that each hash matches the row.
 * The first row's prev_hash is checked against row from_id - 1 when that row
 * exists, against zero when from_id is 1, and taken as given otherwise (an
 * archived prefix).
 */
/* The hash recorded when rows up to through_id were archived; false when none. */
static bool
anchor_hash(int64 through_id, uint8 out[TC_HASH_LEN])
{
	bool		found = false;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute_with_args("SELECT hash FROM tracechain.audit_anchors WHERE through_id = $1",
							  1, (Oid[]) {INT8OID}, (Datum[]) {Int64GetDatum(through_id)}, NULL, true, 1) == SPI_OK_SELECT &&
		SPI_processed == 1)
	{
		bool		isnull;
		Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
		const uint8 *h;

		if (bytea_is_hash(d, isnull, &h))
		{
			memcpy(out, h, TC_HASH_LEN);
			found = true;
		}
	}
	SPI_finish();
	return found;
}

static int64
first_id(const char *table)
{
	int64		id = 0;
	char		sql[128];

	snprintf(sql, sizeof(sql), "SELECT min(id) FROM tracechain.%s", table);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute(sql, true, 1) == SPI_OK_SELECT && SPI_processed == 1)
	{
		bool		isnull;
		Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);

		if (!isnull)
			id = DatumGetInt64(d);
	}
	SPI_finish();
	return id;
}

/*
 * Walk rows from_id..to_id (to_id 0: to the end) of audit_log, or of
 * audit_archive when `archive`, in id order under the transaction's snapshot,
 * checking that ids are contiguous, that each prev_hash is the previous
 * row's hash and that each hash matches the row.  The first row's prev_hash
 * is checked against row from_id - 1, or against zero for row 1, or, when
 * the rows before it were archived, against the anchor recorded then.
 */
static void
walk_chain_in(bool archive, int64 from_id, int64 to_id, int64 want_id, const uint8 *want_hash,
			  chain_result *res, bool *want_found, bool *want_match)
{
	const char *table = archive ? "audit_archive" : "audit_log";
	Oid			relid = get_relname_relid(table, get_namespace_oid("tracechain", false));
	Relation	rel;
	Relation	idx;
	Snapshot	snap = GetActiveSnapshot();
	MemoryContext rowcxt;
	chain_walk	w;
	bool		whole = (from_id == 1 && to_id == 0);
	uint8		anchor[TC_HASH_LEN];
	bool		have_anchor = false;

	if (!OidIsValid(relid))
		ereport(ERROR, (errcode(ERRCODE_UNDEFINED_TABLE), errmsg("tracechain.%s does not exist", table)));
	if (pg_class_aclcheck(relid, GetUserId(), ACL_SELECT) != ACLCHECK_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for table %s", table)));

	/* After archiving, the live chain starts past row 1, at an anchor. */
	if (whole)
	{
		int64		first = first_id(table);

		if (first > 1)
		{
			from_id = first;
			have_anchor = !archive && anchor_hash(first - 1, anchor);
			if (!have_anchor)
			{
				memset(res, 0, sizeof(*res));
				res->first_bad = first;
				snprintf(res->reason, sizeof(res->reason),
						 "rows 1 to %lld are missing and no archive anchor covers them", (long long) first - 1);
				*want_found = *want_match = false;
				return;
			}
		}
	}
	else if (from_id > 1 && !archive)
		have_anchor = anchor_hash(from_id - 1, anchor);

	rel = table_open(relid, AccessShareLock);
	idx = index_open(RelationGetPrimaryKeyIndex(rel), AccessShareLock);
	rowcxt = AllocSetContextCreate(CurrentMemoryContext, "tracechain chain walk", ALLOCSET_DEFAULT_SIZES);
	initStringInfo(&w.dbuf);
	initStringInfo(&w.hbuf);

	walk_reset(&w, res, from_id, want_id, want_hash, have_anchor ? anchor : NULL);
	if (!whole || !walk_heap(rel, snap, &w, rowcxt))
	{
		walk_reset(&w, res, from_id, want_id, want_hash, have_anchor ? anchor : NULL);
		walk_index(rel, idx, snap, from_id, to_id, &w, rowcxt);
	}
	if (res->first_bad != 0)
		res->ok = false;
	*want_found = w.want_found;
	*want_match = w.want_match;
	index_close(idx, AccessShareLock);
	table_close(rel, AccessShareLock);
	MemoryContextDelete(rowcxt);
}

static void
walk_chain(int64 from_id, int64 to_id, int64 want_id, const uint8 *want_hash,
		   chain_result *res, bool *want_found, bool *want_match)
{
	walk_chain_in(false, from_id, to_id, want_id, want_hash, res, want_found, want_match);
}

static Datum
chain_result_datum(FunctionCallInfo fcinfo, chain_result *r)
{
	TupleDesc	tupdesc;
	Datum		values[4];
	bool		nulls[4] = {false, false, r->ok, r->ok};

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	values[0] = BoolGetDatum(r->ok);
	values[1] = Int64GetDatum(r->rows);
	values[2] = Int64GetDatum(r->first_bad);
	values[3] = r->ok ? (Datum) 0 : CStringGetTextDatum(r->reason);
	return HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls));
}

PG_FUNCTION_INFO_V1(tc_verify_audit_chain);
Datum
tc_verify_audit_chain(PG_FUNCTION_ARGS)
{
	int64		from_id = PG_ARGISNULL(0) ? 1 : PG_GETARG_INT64(0);
	int64		to_id = PG_ARGISNULL(1) ? 0 : PG_GETARG_INT64(1);
	chain_result r;
	bool		f,
				m;

	if (from_id < 1 || (!PG_ARGISNULL(1) && to_id < from_id))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid audit id range"),
				 errhint("from_id must be at least 1 and to_id at least from_id.")));
	walk_chain(from_id, to_id, 0, NULL, &r, &f, &m);
	PG_RETURN_DATUM(chain_result_datum(fcinfo, &r));
}

/* audit_digest() -> (last_id, hash, at) of the chain head, verifying nothing. */
PG_FUNCTION_INFO_V1(tc_audit_digest);
Datum
tc_audit_digest(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	int			rc;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	rc = SPI_execute("SELECT id, encode(hash, 'hex'), at FROM tracechain.audit_log ORDER BY id DESC LIMIT 1",
					 true, 1);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "audit digest query failed");
	if (SPI_processed == 0)
	{
		SPI_finish();
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the audit log is empty")));
	}
	{
		Datum		values[3];
		bool		nulls[3];
		HeapTupleHeader result;

		for (int i = 0; i < 3; i++)
			values[i] = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, i + 1, &nulls[i]);
		/* SPI_returntuple copies the row into the caller's memory context. */
		result = SPI_returntuple(heap_form_tuple(tupdesc, values, nulls), tupdesc);
		SPI_finish();
		PG_RETURN_DATUM(PointerGetDatum(result));
	}
}

/*
 * verify_audit_digest(last_id, hash): true when row last_id carries that
 * hash and the chain from its first row through today's head verifies, that
 * is, today's log extends the digest that was published.
 */
PG_FUNCTION_INFO_V1(tc_verify_audit_digest);
Datum
tc_verify_audit_digest(PG_FUNCTION_ARGS)
{
	int64		last_id;
	text	   *hex;
	uint8		want[TC_HASH_LEN];
	chain_result r;
	bool		found,
				match;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("last_id and hash must not be null")));
	last_id = PG_GETARG_INT64(0);
	hex = PG_GETARG_TEXT_PP(1);
	if (last_id < 1)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("last_id must be at least 1")));
	if (VARSIZE_ANY_EXHDR(hex) != 2 * TC_HASH_LEN ||
		tc_hex_decode(VARDATA_ANY(hex), 2 * TC_HASH_LEN, want, TC_HASH_LEN) != TC_HASH_LEN)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("invalid audit digest hash"),
				 errhint("A digest hash is 64 hexadecimal digits, as audit_digest() returns it.")));
	walk_chain(1, 0, last_id, want, &r, &found, &match);
	PG_RETURN_BOOL(r.ok && found && match);
}

/* The row of _audit_append / _audit_enqueue(type, action, resource, details, actor, ip). */
void
tc_audit_row_from_args(FunctionCallInfo fcinfo, tc_audit_row *row)
{
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("audit type and action must not be null")));
	row->at = GetCurrentTimestamp();
	row->type = text_to_cstring(PG_GETARG_TEXT_PP(0));
	row->action = text_to_cstring(PG_GETARG_TEXT_PP(1));
	row->resource = PG_ARGISNULL(2) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(2));
	row->details = PG_ARGISNULL(3) ? NULL : PG_GETARG_JSONB_P(3);
	row->actor = PG_ARGISNULL(4) ? NULL : PG_GETARG_UUID_P(4);
	row->db_user = NULL;
	row->ip = PG_ARGISNULL(5) ? NULL : DatumGetCString(DirectFunctionCall1(inet_out, PG_GETARG_DATUM(5)));
}

/* SQL: _audit_append(type, action, resource, details, actor, ip) -> id; internal. */
PG_FUNCTION_INFO_V1(tc_audit_append_sql);
Datum
tc_audit_append_sql(PG_FUNCTION_ARGS)
{
	tc_audit_row row;

	tc_audit_row_from_args(fcinfo, &row);
	PG_RETURN_INT64(tc_audit_append(&row));
}

/*
 * SQL: audit_archive(before) -> rows archived.  Moves the oldest rows (the
 * longest prefix of the chain whose rows are all older than `before`, always
 * keeping the newest row) to audit_archive, after verifying them, and
 * records the hash of the last one in audit_anchors, from which the rest of
 * the chain keeps verifying.
 */
PG_FUNCTION_INFO_V1(tc_audit_archive);
Datum
tc_audit_archive(PG_FUNCTION_ARGS)
{
	TimestampTz before;
	tc_chain	chain;
	int64		first,
				through,
				nrows;
	chain_result r;
	bool		f,
				m;
	tc_audit_row row;
	StringInfoData det;
	volatile int rc = 0;

	if (PG_ARGISNULL(0))
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("before must not be null")));
	before = PG_GETARG_TIMESTAMPTZ(0);
	tc_chain_open(&chain);
	first = first_id("audit_log");
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute_with_args("SELECT coalesce((SELECT min(id) - 1 FROM tracechain.audit_log WHERE at >= $1), $2)",
							  2, (Oid[]) {TIMESTAMPTZOID, INT8OID},
							  (Datum[]) {TimestampTzGetDatum(before), Int64GetDatum(chain.head_id - 1)},
							  NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not find the rows to archive");
	{
		bool		isnull;

		through = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	}
	through = Min(through, chain.head_id - 1);	/* the head stays: appends chain onto it */
	if (first == 0 || through < first)
	{
		SPI_finish();
		PG_RETURN_INT64(0);
	}
	walk_chain_in(false, first, through, 0, NULL, &r, &f, &m);
	if (!r.ok)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the audit chain does not verify: %s", r.reason),
				 errhint("Nothing was archived.  Investigate with verify_audit_chain().")));
	nrows = through - first + 1;
	if (SPI_execute_with_args("INSERT INTO tracechain.audit_archive SELECT * FROM tracechain.audit_log "
							  "WHERE id BETWEEN $1 AND $2", 2, (Oid[]) {INT8OID, INT8OID},
							  (Datum[]) {Int64GetDatum(first), Int64GetDatum(through)}, NULL, false, 0) != SPI_OK_INSERT ||
		SPI_processed != (uint64) nrows)
		elog(ERROR, "could not copy rows to audit_archive");
	if (SPI_execute_with_args("INSERT INTO tracechain.audit_anchors (through_id, hash, rows) "
							  "SELECT id, hash, $2 FROM tracechain.audit_log WHERE id = $1", 2, (Oid[]) {INT8OID, INT8OID},
							  (Datum[]) {Int64GetDatum(through), Int64GetDatum(nrows)}, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not record the archive anchor");
	archiving = true;
	PG_TRY();
	{
		rc = SPI_execute_with_args("DELETE FROM tracechain.audit_log WHERE id BETWEEN $1 AND $2",
								   2, (Oid[]) {INT8OID, INT8OID},
								   (Datum[]) {Int64GetDatum(first), Int64GetDatum(through)}, NULL, false, 0);
	}
	PG_FINALLY();
	{
		archiving = false;
	}
	PG_END_TRY();
	if (rc != SPI_OK_DELETE || SPI_processed != (uint64) nrows)
		elog(ERROR, "could not remove archived rows from audit_log");
	SPI_finish();

	initStringInfo(&det);
	appendStringInfo(&det, "{\"first_id\": %lld, \"through_id\": %lld, \"rows\": %lld}",
					 (long long) first, (long long) through, (long long) nrows);
	row.at = GetCurrentTimestamp();
	row.type = "security";
	row.actor = NULL;
	row.db_user = NULL;
	row.action = "audit.archive";
	row.resource = "audit_log";
	row.details = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(det.data)));
	row.ip = NULL;
	tc_chain_append(&chain, &row);
	PG_RETURN_INT64(nrows);
}

/* SQL: verify_audit_archive() -> (ok, rows_checked, first_bad_id, reason). */
PG_FUNCTION_INFO_V1(tc_verify_audit_archive);
Datum
tc_verify_audit_archive(PG_FUNCTION_ARGS)
{
	chain_result r;
	bool		f,
				m;

	walk_chain_in(true, 1, 0, 0, NULL, &r, &f, &m);
	PG_RETURN_DATUM(chain_result_datum(fcinfo, &r));
}

/* BEFORE UPDATE/DELETE/TRUNCATE on audit_archive and audit_anchors. */
PG_FUNCTION_INFO_V1(tc_append_only_guard);
Datum
tc_append_only_guard(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo))
		elog(ERROR, "tc_append_only_guard: not called as a trigger");
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("%s is append-only", RelationGetRelationName(td->tg_relation))));
	PG_RETURN_NULL();
}

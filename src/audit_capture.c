/*
 * audit_capture.c: row-change capture for audit_table().
 *
 * AFTER ... FOR EACH STATEMENT triggers with transition tables (tc_old,
 * tc_new), and BEFORE TRUNCATE, write one audit_pending row per changed row
 * (audit_intake.c seals them into the chain):
 *   details = {"op", "key", "old", "new", "xid", "statement"}
 * where UPDATE rows carry only the changed columns (plus the key) and INSERT
 * and DELETE rows the whole row.  Column values are the JSON that to_jsonb()
 * gives them; the details are built as jsonb directly (no JSON text to parse)
 * and the pending table is opened once per statement, because this runs in
 * every audited transaction.
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/executor.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/fmgroids.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/rel.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

#include "audit.h"
#include "audit_walk.h"
#include "principal.h"

#define STATEMENT_MAX 1024		/* bytes of the statement kept with captured rows */

/* to_jsonb() for one column's type, set up on first use. */
typedef struct col_conv
{
	bool		ready;
	FmgrInfo	flinfo;
} col_conv;

typedef struct capture_ctx
{
	Relation	rel;
	TupleDesc	desc;
	AttrNumber *key;
	int			nkey;
	AttrNumber *all;
	int			nall;
	col_conv   *conv;			/* by attribute number - 1 */
	const char *statement;
	int			statement_len;
	Numeric		xid;
	/* audit_pending's values that are the same for all rows of the statement */
	Datum		type_d;
	Datum		actor_d;		/* (Datum) 0: none */
	Datum		db_user_d;
	Datum		resource_d;
	Datum		action_d[4];	/* by capture_op, made on first use */
	tc_pending	pending;
	MemoryContext cxt;			/* the trigger call's */
	MemoryContext rowcxt;
} capture_ctx;

/*
 * What a statement's capture needs of its table besides the tuples, kept
 * per backend: the quoted name and the primary key's columns.  Dropped by
 * any relcache invalidation of the table (rename, new key) and by any change
 * to a schema (a renamed schema renames its tables).
 */
typedef struct rel_info
{
	Oid			relid;			/* hash key */
	bool		valid;
	char	   *relname;
	int			nkey;
	AttrNumber *key;
	bool		protected;		/* has a tracechain_protect_ trigger (encrypted columns) */
} rel_info;

static HTAB *rel_infos = NULL;
static MemoryContext rel_info_cxt = NULL;
static uint64 rel_info_invals = 0;

static void
rel_info_inval_all(void)
{
	HASH_SEQ_STATUS st;
	rel_info   *e;

	rel_info_invals++;
	hash_seq_init(&st, rel_infos);
	while ((e = hash_seq_search(&st)) != NULL)
		e->valid = false;
}

static void
rel_info_relcache_cb(Datum arg, Oid relid)
{
	rel_info   *e;

	if (rel_infos == NULL)
		return;
	if (!OidIsValid(relid))
		rel_info_inval_all();
	else if ((e = hash_search(rel_infos, &relid, HASH_FIND, NULL)) != NULL)
	{
		e->valid = false;
		rel_info_invals++;
	}
}

static void
rel_info_namespace_cb(Datum arg, int cacheid, uint32 hashvalue)
{
	if (rel_infos != NULL)
		rel_info_inval_all();
}

static rel_info *
rel_info_get(Relation rel)
{
	Oid			relid = RelationGetRelid(rel);
	rel_info   *e;
	bool		found;
	Oid			pk;
	MemoryContext old;
	uint64		invals;

	if (rel_infos == NULL)
	{
		HASHCTL		ctl;

		rel_info_cxt = AllocSetContextCreate(CacheMemoryContext, "tracechain capture relations", ALLOCSET_SMALL_SIZES);
		ctl.keysize = sizeof(Oid);
		ctl.entrysize = sizeof(rel_info);
		ctl.hcxt = rel_info_cxt;
		rel_infos = hash_create("tracechain capture relations", 32, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
		CacheRegisterRelcacheCallback(rel_info_relcache_cb, (Datum) 0);
		CacheRegisterSyscacheCallback(NAMESPACEOID, rel_info_namespace_cb, (Datum) 0);
	}
	e = hash_search(rel_infos, &relid, HASH_ENTER, &found);
	if (found && e->valid)
		return e;
	if (found)
	{
		pfree(e->relname);
		if (e->key)
			pfree(e->key);
	}
	e->valid = false;
	e->relname = NULL;
	e->key = NULL;
	e->nkey = 0;
	invals = rel_info_invals;
	old = MemoryContextSwitchTo(rel_info_cxt);
	e->relname = quote_qualified_identifier(get_namespace_name(RelationGetNamespace(rel)),
											RelationGetRelationName(rel));
	pk = RelationGetPrimaryKeyIndex(rel);
	if (OidIsValid(pk))
	{
		Relation	idx = index_open(pk, AccessShareLock);

		e->nkey = idx->rd_index->indnkeyatts;
		e->key = palloc(sizeof(AttrNumber) * Max(e->nkey, 1));
		for (int i = 0; i < e->nkey; i++)
			e->key[i] = idx->rd_index->indkey.values[i];
		index_close(idx, AccessShareLock);
	}
	MemoryContextSwitchTo(old);
	e->protected = false;
	for (int i = 0; rel->trigdesc && i < rel->trigdesc->numtriggers; i++)
		if (strncmp(rel->trigdesc->triggers[i].tgname, "tracechain_protect_", 19) == 0)
			e->protected = true;
	/* an invalidation while building (index_open reads them) makes the next call rebuild */
	e->valid = invals == rel_info_invals;
	return e;
}

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

static void
push_string(JsonbParseState **ps, JsonbIteratorToken tok, const char *s, int len)
{
	JsonbValue	v;

	v.type = jbvString;
	v.val.string.val = (char *) s;
	v.val.string.len = len;
	pushJsonbValue(ps, tok, &v);
}

/*
 * The value of one column, as to_jsonb() makes it.  The common scalar types
 * are converted here (the same values to_jsonb gives them); the rest go
 * through to_jsonb itself.
 */
static void
push_value(capture_ctx *c, JsonbParseState **ps, AttrNumber attno, Datum d)
{
	Form_pg_attribute att = TupleDescAttr(c->desc, attno - 1);
	JsonbValue	v;

	switch (att->atttypid)
	{
		case TEXTOID:
		case VARCHAROID:
		case BPCHAROID:
			{
				text	   *t = DatumGetTextPP(d);

				push_string(ps, WJB_VALUE, VARDATA_ANY(t), (int) VARSIZE_ANY_EXHDR(t));
				return;
			}
		case INT2OID:
		case INT4OID:
		case INT8OID:
			v.type = jbvNumeric;
			v.val.numeric = int64_to_numeric(att->atttypid == INT2OID ? DatumGetInt16(d) :
											 att->atttypid == INT4OID ? DatumGetInt32(d) :
											 DatumGetInt64(d));
			break;
		case BOOLOID:
			v.type = jbvBool;
			v.val.boolean = DatumGetBool(d);
			break;
		default:
			{
				col_conv   *cv = &c->conv[attno - 1];
				Jsonb	   *j;

				if (!cv->ready)
				{
					MemoryContext old = MemoryContextSwitchTo(c->cxt);

					fmgr_info_cxt(F_TO_JSONB, &cv->flinfo, c->cxt);
					cv->flinfo.fn_expr = (Node *)
						makeFuncExpr(F_TO_JSONB, JSONBOID,
									 list_make1(makeNullConst(att->atttypid, att->atttypmod, att->attcollation)),
									 InvalidOid, att->attcollation, COERCE_EXPLICIT_CALL);
					MemoryContextSwitchTo(old);
					cv->ready = true;
				}
				j = DatumGetJsonbP(FunctionCall1Coll(&cv->flinfo, att->attcollation, d));
				if (JB_ROOT_IS_SCALAR(j))
				{
					if (!JsonbExtractScalar(&j->root, &v))
						elog(ERROR, "could not read a jsonb scalar");
				}
				else
				{
					v.type = jbvBinary;
					v.val.binary.data = &j->root;
					v.val.binary.len = VARSIZE(j) - VARHDRSZ;
				}
			}
	}
	pushJsonbValue(ps, WJB_VALUE, &v);
}

/* {"column": value, ...} of the columns `cols` of a slot, under key `name`. */
static void
push_columns(capture_ctx *c, JsonbParseState **ps, const char *name, TupleTableSlot *slot,
			 const AttrNumber *cols, int ncols)
{
	push_string(ps, WJB_KEY, name, (int) strlen(name));
	pushJsonbValue(ps, WJB_BEGIN_OBJECT, NULL);
	for (int i = 0; i < ncols; i++)
	{
		Form_pg_attribute att = TupleDescAttr(c->desc, cols[i] - 1);
		bool		isnull;
		Datum		d = slot_getattr(slot, cols[i], &isnull);

		push_string(ps, WJB_KEY, NameStr(att->attname), (int) strlen(NameStr(att->attname)));
		if (isnull)
		{
			JsonbValue	v;

			v.type = jbvNull;
			pushJsonbValue(ps, WJB_VALUE, &v);
		}
		else
			push_value(c, ps, cols[i], d);
	}
	pushJsonbValue(ps, WJB_END_OBJECT, NULL);
}

/* A captured row's operation: its "op" in the details, and its action. */
typedef enum capture_op
{
	OP_INSERT, OP_UPDATE, OP_DELETE, OP_TRUNCATE
} capture_op;

static const struct
{
	const char *op;
	const char *action;
}			capture_ops[] = {
	[OP_INSERT] = {"INSERT", "row.insert"},
	[OP_UPDATE] = {"UPDATE", "row.update"},
	[OP_DELETE] = {"DELETE", "row.delete"},
	[OP_TRUNCATE] = {"TRUNCATE", "row.truncate"},
};

static void
capture_emit(capture_ctx *c, capture_op op, TupleTableSlot *oldslot, TupleTableSlot *newslot)
{
	JsonbParseState *ps = NULL;
	JsonbValue *res;
	JsonbValue	v;
	Datum		values[A_IP];	/* audit_pending's columns: audit_log's A_ID .. A_IP */
	bool		nulls[A_IP] = {false};

	pushJsonbValue(&ps, WJB_BEGIN_OBJECT, NULL);
	push_string(&ps, WJB_KEY, "op", 2);
	push_string(&ps, WJB_VALUE, capture_ops[op].op, (int) strlen(capture_ops[op].op));
	if (c->nkey > 0 && (newslot || oldslot))
		push_columns(c, &ps, "key", newslot ? newslot : oldslot, c->key, c->nkey);
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
		push_columns(c, &ps, "old", oldslot, changed, nchanged);
		push_columns(c, &ps, "new", newslot, changed, nchanged);
	}
	else if (oldslot)
		push_columns(c, &ps, "old", oldslot, c->all, c->nall);
	else if (newslot)
		push_columns(c, &ps, "new", newslot, c->all, c->nall);
	push_string(&ps, WJB_KEY, "xid", 3);
	v.type = jbvNumeric;
	v.val.numeric = c->xid;
	pushJsonbValue(&ps, WJB_VALUE, &v);
	push_string(&ps, WJB_KEY, "statement", 9);
	if (c->statement)
		push_string(&ps, WJB_VALUE, c->statement, c->statement_len);
	else
	{
		v.type = jbvNull;
		pushJsonbValue(&ps, WJB_VALUE, &v);
	}
	res = pushJsonbValue(&ps, WJB_END_OBJECT, NULL);

	if (c->action_d[op] == (Datum) 0)
	{
		MemoryContext old = MemoryContextSwitchTo(c->cxt);

		c->action_d[op] = CStringGetTextDatum(capture_ops[op].action);
		MemoryContextSwitchTo(old);
	}
	/* as tc_pending_insert fills them, with the statement's values made once */
	values[A_ID - 1] = Int64GetDatum(0);	/* given out when it is written (audit_queue.c) */
	values[A_AT - 1] = TimestampTzGetDatum(GetCurrentTimestamp());
	values[A_TYPE - 1] = c->type_d;
	values[A_ACTOR - 1] = c->actor_d;
	nulls[A_ACTOR - 1] = c->actor_d == (Datum) 0;
	values[A_DB_USER - 1] = c->db_user_d;
	values[A_ACTION - 1] = c->action_d[op];
	values[A_RESOURCE - 1] = c->resource_d;
	values[A_DETAILS - 1] = JsonbPGetDatum(JsonbValueToJsonb(res));
	nulls[A_IP - 1] = true;
	tc_pending_queue_add(c->pending.rel, c->pending.seq, values, nulls);
}

/*
 * Whether captured rows carry the statement text: not when audit_table() was
 * told so (trigger argument 'nostatement'), and never for a table with a
 * protected column, whose plaintext would otherwise sit in the statement's
 * literals, in an append-only log, for ever.
 */
static bool
record_statement(TriggerData *td, const rel_info *info)
{
	if (td->tg_trigger->tgnargs > 0 && strcmp(td->tg_trigger->tgargs[0], "nostatement") == 0)
		return false;
	return !info->protected;
}

/* The statement text, clipped to STATEMENT_MAX bytes on a character boundary (*len of them). */
static const char *
statement_text(TriggerData *td, const rel_info *info, int *len)
{
	size_t		n;

	if (!debug_query_string || !record_statement(td, info))
		return NULL;
	n = strlen(debug_query_string);
	*len = n > STATEMENT_MAX ? pg_mbcliplen(debug_query_string, (int) n, STATEMENT_MAX) : (int) n;
	return pnstrdup(debug_query_string, *len);
}

/*
 * One audit row per changed row, in bulk.  UPDATE rows pair the old and new
 * transition tables by position (they are filled in lockstep) and record
 * only the changed columns plus the key.
 */
PG_FUNCTION_INFO_V1(tc_audit_capture);
Datum
tc_audit_capture(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	capture_ctx c;
	TupleTableSlot *oslot = NULL,
			   *nslot = NULL;
	rel_info   *info;
	MemoryContext old;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_FOR_STATEMENT(td->tg_event))
		elog(ERROR, "tc_audit_capture: not called as a statement trigger");

	memset(&c, 0, sizeof(c));
	c.rel = td->tg_relation;
	c.desc = RelationGetDescr(c.rel);
	c.xid = int64_to_numeric((int64) GetTopTransactionId());
	{
		const pg_uuid_t *actor = tc_current_principal();

		if (actor)
		{
			pg_uuid_t  *u = palloc(sizeof(pg_uuid_t));

			*u = *actor;
			c.actor_d = UUIDPGetDatum(u);
		}
	}
	c.type_d = CStringGetTextDatum("data");
	c.db_user_d = DirectFunctionCall1(namein, CStringGetDatum(GetUserNameFromId(GetSessionUserId(), false)));
	c.all = palloc(sizeof(AttrNumber) * Max(c.desc->natts, 1));
	for (int i = 0; i < c.desc->natts; i++)
		if (!TupleDescAttr(c.desc, i)->attisdropped)
			c.all[c.nall++] = i + 1;
	c.conv = palloc0(sizeof(col_conv) * Max(c.desc->natts, 1));
	/* copies: code run while capturing (a type's output function) could rebuild the entry */
	info = rel_info_get(c.rel);
	c.resource_d = CStringGetTextDatum(info->relname);
	c.nkey = info->nkey;
	c.statement = statement_text(td, info, &c.statement_len);
	c.key = palloc(sizeof(AttrNumber) * Max(c.nkey, 1));
	if (c.nkey > 0)
		memcpy(c.key, info->key, sizeof(AttrNumber) * c.nkey);
	c.cxt = CurrentMemoryContext;
	c.rowcxt = AllocSetContextCreate(CurrentMemoryContext, "tracechain capture", ALLOCSET_DEFAULT_SIZES);
	tc_pending_open(&c.pending);

	if (TRIGGER_FIRED_BY_TRUNCATE(td->tg_event))
	{
		old = MemoryContextSwitchTo(c.rowcxt);
		capture_emit(&c, OP_TRUNCATE, NULL, NULL);
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
			capture_op op;

			if (!have_old && !have_new)
				break;
			CHECK_FOR_INTERRUPTS();
			op = (have_old && have_new) ? OP_UPDATE : have_new ? OP_INSERT : OP_DELETE;
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
	tc_pending_close(&c.pending);
	MemoryContextDelete(c.rowcxt);
	return PointerGetDatum(NULL);
}

/*
 * direct.c: direct heap and index access for the hot paths (see direct.h).
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/relscan.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_am.h"
#include "catalog/pg_class.h"
#include "catalog/pg_index.h"
#include "catalog/pg_proc.h"
#include "commands/trigger.h"
#include "executor/executor.h"
#include "miscadmin.h"
#include "nodes/execnodes.h"
#include "storage/lmgr.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

#include "direct.h"

/* (table, column) -> its unique single-column btree index; reset on relcache invalidation. */
#define INDEX_CACHE 8
static struct
{
	Oid			relid;
	AttrNumber	att;
	Oid			indexoid;
}			index_cache[INDEX_CACHE];
static int	index_cache_n = 0;

/* tracechain.<name> -> its OID (InvalidOid: look it up again) */
#define REL_CACHE 8
static struct
{
	char		name[NAMEDATALEN];
	Oid			relid;
}			rel_cache[REL_CACHE];
static int	rel_cache_n = 0;

static bool callback_registered = false;

static void
cache_inval(Datum arg, Oid relid)
{
	int			n = 0;

	for (int i = 0; i < index_cache_n; i++)
		if (OidIsValid(relid) && index_cache[i].relid != relid && index_cache[i].indexoid != relid)
			index_cache[n++] = index_cache[i];
	index_cache_n = n;
	for (int i = 0; i < rel_cache_n; i++)
		if (!OidIsValid(relid) || rel_cache[i].relid == relid)
			rel_cache[i].relid = InvalidOid;
}

static void
register_callback(void)
{
	if (!callback_registered)
	{
		CacheRegisterRelcacheCallback(cache_inval, (Datum) 0);
		callback_registered = true;
	}
}

/*
 * tracechain.<relname>: the OID is remembered per backend (the name lookup
 * costs more than the open) until a relcache invalidation of that relation
 * (which its DROP sends), so a table dropped and recreated is found anew.
 */
Relation
tc_direct_open(const char *relname, LOCKMODE lockmode)
{
	int			slot = -1;
	Oid			relid;

	register_callback();
	for (int i = 0; i < rel_cache_n; i++)
		if (strcmp(rel_cache[i].name, relname) == 0)
		{
			slot = i;
			if (OidIsValid(rel_cache[i].relid))
			{
				Oid			cached = rel_cache[i].relid;
				Relation	rel = try_relation_open(cached, lockmode);

				/* taking the lock processed invalidations: is the entry still good? */
				if (rel != NULL && rel_cache[i].relid == cached && rel->rd_rel->relkind == RELKIND_RELATION)
					return rel;
				if (rel != NULL)
					relation_close(rel, lockmode);
			}
			break;
		}
	relid = get_relname_relid(relname, get_namespace_oid("tracechain", false));
	if (!OidIsValid(relid))
		elog(ERROR, "tracechain.%s does not exist", relname);
	if (slot < 0 && rel_cache_n < REL_CACHE && strlen(relname) < NAMEDATALEN)
	{
		slot = rel_cache_n++;
		strlcpy(rel_cache[slot].name, relname, NAMEDATALEN);
	}
	if (slot >= 0)
		rel_cache[slot].relid = relid;
	return table_open(relid, lockmode);
}

AttrNumber
tc_direct_attnum(Relation rel, const char *colname, Oid typid)
{
	TupleDesc	desc = RelationGetDescr(rel);

	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute a = TupleDescAttr(desc, i);

		if (!a->attisdropped && strcmp(NameStr(a->attname), colname) == 0)
		{
			if (a->atttypid != typid)
				break;
			return a->attnum;
		}
	}
	elog(ERROR, "tracechain.%s has no column %s of the expected type", RelationGetRelationName(rel), colname);
	return InvalidAttrNumber;	/* keep the compiler quiet */
}

bool
tc_direct_readable(Relation rel)
{
	return rel->rd_rel->relkind == RELKIND_RELATION && rel->rd_rel->relam == HEAP_TABLE_AM_OID &&
		!rel->rd_rel->relrowsecurity;
}

bool
tc_direct_plain(Relation rel)
{
	if (!tc_direct_readable(rel) || rel->rd_rules != NULL)
		return false;
	if (rel->trigdesc != NULL)
		for (int i = 0; i < rel->trigdesc->numtriggers; i++)
			if (!rel->trigdesc->triggers[i].tgisinternal)
				return false;
	return true;
}

static Oid
index_am(Oid indexoid)
{
	HeapTuple	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(indexoid));
	Oid			am = InvalidOid;

	if (HeapTupleIsValid(tup))
	{
		am = ((Form_pg_class) GETSTRUCT(tup))->relam;
		ReleaseSysCache(tup);
	}
	return am;
}

static Oid
unique_index_on(Relation rel, AttrNumber att)
{
	Oid			relid = RelationGetRelid(rel);
	Oid			found = InvalidOid;
	List	   *indexes;
	ListCell   *lc;

	for (int i = 0; i < index_cache_n; i++)
		if (index_cache[i].relid == relid && index_cache[i].att == att)
			return index_cache[i].indexoid;

	indexes = RelationGetIndexList(rel);
	foreach(lc, indexes)
	{
		Oid			indexoid = lfirst_oid(lc);
		HeapTuple	tup = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(indexoid));
		Form_pg_index ix;

		if (!HeapTupleIsValid(tup))
			continue;
		ix = (Form_pg_index) GETSTRUCT(tup);
		if (ix->indisunique && ix->indisvalid && ix->indisready && ix->indislive && ix->indimmediate &&
			ix->indnkeyatts == 1 && ix->indkey.values[0] == att &&
			heap_attisnull(tup, Anum_pg_index_indpred, NULL) &&
			heap_attisnull(tup, Anum_pg_index_indexprs, NULL) &&
			index_am(indexoid) == BTREE_AM_OID)
			found = indexoid;
		ReleaseSysCache(tup);
		if (OidIsValid(found))
			break;
	}
	list_free(indexes);
	if (!OidIsValid(found))
		elog(ERROR, "tracechain.%s has no unique index on column %d", RelationGetRelationName(rel), att);

	register_callback();
	if (index_cache_n < INDEX_CACHE)
	{
		index_cache[index_cache_n].relid = relid;
		index_cache[index_cache_n].att = att;
		index_cache[index_cache_n].indexoid = found;
		index_cache_n++;
	}
	return found;
}

bool
tc_direct_fetch(Relation rel, AttrNumber att, RegProcedure eqproc, Datum key, TupleTableSlot *slot)
{
	Relation	irel = index_open(unique_index_on(rel, att), AccessShareLock);
	IndexScanDesc scan;
	ScanKeyData skey;
	bool		found;

	ScanKeyInit(&skey, 1, BTEqualStrategyNumber, eqproc, key);
	scan = index_beginscan(rel, irel, GetActiveSnapshot(), 1, 0);
	index_rescan(scan, &skey, 1, NULL, 0);
	found = index_getnext_slot(scan, ForwardScanDirection, slot);
	index_endscan(scan);
	index_close(irel, NoLock);	/* held to the end of the transaction, as the executor does */
	return found;
}

/* New index entries for a tuple that an update could not keep heap-only. */
static void
insert_index_entries(Relation rel, HeapTuple tup)
{
	EState	   *estate = CreateExecutorState();
	ResultRelInfo *rri = makeNode(ResultRelInfo);
	TupleTableSlot *slot = MakeSingleTupleTableSlot(RelationGetDescr(rel), &TTSOpsHeapTuple);

	InitResultRelInfo(rri, rel, 0, NULL, 0);
	ExecOpenIndices(rri, false);
	ExecStoreHeapTuple(tup, slot, false);
	(void) ExecInsertIndexTuples(rri, slot, estate, true, false, NULL, NIL);
	ExecCloseIndices(rri);
	ExecDropSingleTupleTableSlot(slot);
	FreeExecutorState(estate);
}

bool
tc_direct_update(Relation rel, TupleTableSlot *slot, int ncols, const int *cols,
				 const Datum *values, const bool *nulls, tc_direct_recheck recheck, void *arg)
{
	CommandId	cid;
	ItemPointerData tid = slot->tts_tid;

	/* what the executor checks first: 25006 in a read-only transaction (and on a standby) */
	PreventCommandIfReadOnly("UPDATE");
	cid = GetCurrentCommandId(true);
	for (;;)
	{
		HeapTuple	oldtup = ExecFetchSlotHeapTuple(slot, false, NULL);
		HeapTuple	newtup = heap_modify_tuple_by_cols(oldtup, RelationGetDescr(rel), ncols, (int *) cols,
													   (Datum *) values, (bool *) nulls);
		TM_FailureData tmfd;
		LockTupleMode lockmode;
		TM_Result	res;

		CHECK_FOR_INTERRUPTS();
		res = heap_update(rel, &tid, newtup, cid, InvalidSnapshot, true, &tmfd, &lockmode);
		switch (res)
		{
			case TM_Ok:
				if (!HeapTupleIsHeapOnly(newtup))
					insert_index_entries(rel, newtup);
				heap_freetuple(newtup);
				return true;
			case TM_SelfModified:
				/* updated by this very command already: nothing more to do */
				heap_freetuple(newtup);
				return false;
			case TM_Updated:
				heap_freetuple(newtup);
				if (IsolationUsesXactSnapshot())
					ereport(ERROR,
							(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
							 errmsg("could not serialize access due to concurrent update")));
				/* READ COMMITTED: lock the newest version, then recheck it */
				res = table_tuple_lock(rel, &tid, GetActiveSnapshot(), slot, cid, lockmode, LockWaitBlock,
									   TUPLE_LOCK_FLAG_FIND_LAST_VERSION, &tmfd);
				if (res == TM_Deleted || res == TM_SelfModified)
					return false;
				if (res != TM_Ok)
					elog(ERROR, "unexpected table_tuple_lock status: %u", res);
				if (!recheck(slot, arg))
					return false;
				tid = slot->tts_tid;
				break;
			case TM_Deleted:
				heap_freetuple(newtup);
				if (IsolationUsesXactSnapshot())
					ereport(ERROR,
							(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
							 errmsg("could not serialize access due to concurrent delete")));
				return false;
			default:
				elog(ERROR, "unexpected heap_update status: %u", res);
		}
	}
}

void
tc_direct_begin(void)
{
	PushActiveSnapshot(GetTransactionSnapshot());
	CommandCounterIncrement();
	UpdateActiveSnapshotCommandId();
}

void
tc_direct_end(void)
{
	PopActiveSnapshot();
}

void
tc_as_owner_begin(FunctionCallInfo fcinfo, tc_as_owner *s)
{
	HeapTuple	tup;
	Oid			owner;

	if (fcinfo->flinfo == NULL)
		elog(ERROR, "tc_as_owner_begin: not called through SQL");
	tup = SearchSysCache1(PROCOID, ObjectIdGetDatum(fcinfo->flinfo->fn_oid));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for function %u", fcinfo->flinfo->fn_oid);
	owner = ((Form_pg_proc) GETSTRUCT(tup))->proowner;
	ReleaseSysCache(tup);
	GetUserIdAndSecContext(&s->save_userid, &s->save_sec_context);
	SetUserIdAndSecContext(owner, s->save_sec_context | SECURITY_LOCAL_USERID_CHANGE);
	s->guc_nest = NewGUCNestLevel();
	(void) set_config_option("search_path", "pg_catalog, tracechain, pg_temp", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
}

void
tc_as_owner_end(tc_as_owner *s)
{
	AtEOXact_GUC(true, s->guc_nest);
	SetUserIdAndSecContext(s->save_userid, s->save_sec_context);
}

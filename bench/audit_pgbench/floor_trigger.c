/*
 * floor_trigger.c: two statement-level trigger functions for the floors of
 * bench/audit_pgbench (built by run.sh, loaded by absolute path, never
 * installed):
 *   floor_noop: does nothing; what transition tables and an AFTER ... FOR
 *               EACH STATEMENT trigger cost by themselves;
 *   floor_sink: one 8-byte row per changed row into public.floor_sink, a
 *               plain heap insert: the least that a capture written durably
 *               inside the writing transaction can write.
 */
#include "postgres.h"

#include "access/heapam.h"
#include "access/table.h"
#include "catalog/namespace.h"
#include "commands/trigger.h"
#include "executor/tuptable.h"
#include "fmgr.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/tuplestore.h"

PG_MODULE_MAGIC;

PG_FUNCTION_INFO_V1(floor_noop);
Datum
floor_noop(PG_FUNCTION_ARGS)
{
	return PointerGetDatum(NULL);
}

PG_FUNCTION_INFO_V1(floor_sink);
Datum
floor_sink(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	Tuplestorestate *ts;
	Relation	sink;
	TupleTableSlot *slot;

	if (!CALLED_AS_TRIGGER(fcinfo))
		elog(ERROR, "floor_sink: not called as a trigger");
	ts = td->tg_newtable ? td->tg_newtable : td->tg_oldtable;
	if (ts == NULL)
		return PointerGetDatum(NULL);
	sink = table_open(get_relname_relid("floor_sink", get_namespace_oid("public", false)), RowExclusiveLock);
	slot = MakeSingleTupleTableSlot(RelationGetDescr(td->tg_relation), &TTSOpsMinimalTuple);
	tuplestore_rescan(ts);
	while (tuplestore_gettupleslot(ts, true, false, slot))
	{
		Datum		v = Int64GetDatum(1);
		bool		n = false;
		HeapTuple	t = heap_form_tuple(RelationGetDescr(sink), &v, &n);

		simple_heap_insert(sink, t);
		heap_freetuple(t);
	}
	ExecDropSingleTupleTableSlot(slot);
	table_close(sink, NoLock);
	return PointerGetDatum(NULL);
}

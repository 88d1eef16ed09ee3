/*
 * registry.c: what the registry needs from C: surviving pg_dump/pg_restore.
 *
 * pg_dump writes out the row-level-security policies of extension member
 * tables (checkExtensionMembership keeps DUMP_COMPONENT_POLICY) although
 * CREATE EXTENSION, run first by the restore, has already created them, so
 * the restore stops at "policy ... already exists".  The event trigger
 * tracechain_policy_restore (ddl_command_start, CREATE POLICY) handles
 * exactly that case: when the table owner creates a policy on a table that
 * belongs to this extension and a policy of that name already exists there,
 * the existing one is dropped first, so the dumped definition replaces the
 * script's.  Anything else (other tables, a non-owner, no such policy) is
 * left alone; a failing CREATE POLICY rolls the drop back with it.
 *
 * And the per-row test of the read and update policies, _has_stake(): the
 * policies run it on every row a scan meets, so it reads the stakeholder
 * array where it lies in the tuple instead of copying and deconstructing it.
 */
#include "postgres.h"

#include "catalog/dependency.h"
#include "catalog/namespace.h"
#include "catalog/objectaddress.h"
#include "catalog/pg_class.h"
#include "catalog/pg_policy.h"
#include "commands/event_trigger.h"
#include "commands/extension.h"
#include "commands/policy.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/lsyscache.h"
#include "utils/uuid.h"
#include "catalog/pg_type.h"

PG_FUNCTION_INFO_V1(tc_registry_policy_restore);
Datum
tc_registry_policy_restore(PG_FUNCTION_ARGS)
{
	EventTriggerData *trigdata;
	CreatePolicyStmt *stmt;
	Oid			relid,
				ext,
				polid;
	ObjectAddress obj;

	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("_registry_policy_restore() must be called as an event trigger")));
	trigdata = (EventTriggerData *) fcinfo->context;
	if (creating_extension || trigdata->parsetree == NULL || !IsA(trigdata->parsetree, CreatePolicyStmt))
		PG_RETURN_VOID();
	stmt = (CreatePolicyStmt *) trigdata->parsetree;
	relid = RangeVarGetRelid(stmt->table, NoLock, true);
	if (!OidIsValid(relid))
		PG_RETURN_VOID();
	ext = get_extension_oid("tracechain", true);
	if (!OidIsValid(ext) || getExtensionOfObject(RelationRelationId, relid) != ext)
		PG_RETURN_VOID();
	if (!pg_class_ownercheck(relid, GetUserId()))
		PG_RETURN_VOID();
	polid = get_relation_policy_oid(relid, stmt->policy_name, true);
	if (!OidIsValid(polid))
		PG_RETURN_VOID();
	ObjectAddressSet(obj, PolicyRelationId, polid);
	performDeletion(&obj, DROP_RESTRICT, PERFORM_DELETION_INTERNAL);
	ereport(DEBUG1,
			(errmsg("tracechain: policy \"%s\" on \"%s\" replaced by a restored definition",
					stmt->policy_name, get_rel_name(relid))));
	PG_RETURN_VOID();
}

/*
 * Whether `who` is in a uuid[] given as its stored bytes (a 1-byte or 4-byte
 * header, not compressed, not external).  -1 when the array is not the plain
 * one-dimensional, null-free uuid array this reads (the caller then
 * deconstructs it the ordinary way).
 */
static int
stake_in_place(const char *body, Size len, const pg_uuid_t *who)
{
	int32		ndim,
				dataoffset,
				nelems;
	Oid			elemtype;
	Size		off = ARR_OVERHEAD_NONULLS(1) - VARHDRSZ;

	if (len < 3 * sizeof(int32))
		return -1;
	memcpy(&ndim, body, sizeof(int32));
	memcpy(&dataoffset, body + sizeof(int32), sizeof(int32));
	memcpy(&elemtype, body + 2 * sizeof(int32), sizeof(Oid));
	if (ndim == 0)
		return 0;
	if (ndim != 1 || dataoffset != 0 || elemtype != UUIDOID || len < off)
		return -1;
	memcpy(&nelems, body + 3 * sizeof(int32), sizeof(int32));
	if (nelems < 0 || (Size) nelems > (len - off) / UUID_LEN)
		return -1;
	for (int32 i = 0; i < nelems; i++)
		if (memcmp(body + off + (Size) i * UUID_LEN, who->data, UUID_LEN) == 0)
			return 1;
	return 0;
}

/* _has_stake(manufacturer uuid, stakeholders uuid[], who uuid) -> boolean */
PG_FUNCTION_INFO_V1(tc_has_stake);
Datum
tc_has_stake(PG_FUNCTION_ARGS)
{
	pg_uuid_t  *manufacturer = PG_GETARG_UUID_P(0);
	struct varlena *raw = (struct varlena *) PG_GETARG_POINTER(1);
	pg_uuid_t  *who = PG_GETARG_UUID_P(2);
	int			r = -1;

	if (memcmp(manufacturer->data, who->data, UUID_LEN) == 0)
		PG_RETURN_BOOL(true);
	if (!VARATT_IS_EXTENDED(raw) || VARATT_IS_SHORT(raw))
		r = stake_in_place(VARDATA_ANY(raw), VARSIZE_ANY_EXHDR(raw), who);
	if (r < 0)
	{
		ArrayType  *a = PG_GETARG_ARRAYTYPE_P(1);
		Datum	   *elems;
		bool	   *nulls;
		int			n;

		if (ARR_ELEMTYPE(a) != UUIDOID)
			PG_RETURN_BOOL(false);
		deconstruct_array(a, UUIDOID, UUID_LEN, false, TYPALIGN_CHAR, &elems, &nulls, &n);
		r = 0;
		for (int i = 0; i < n && r == 0; i++)
			if (!nulls[i] && memcmp(DatumGetUUIDP(elems[i])->data, who->data, UUID_LEN) == 0)
				r = 1;
	}
	PG_RETURN_BOOL(r == 1);
}

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
#include "utils/lsyscache.h"

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

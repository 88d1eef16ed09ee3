/*
 * rbac.c: the permission check behind every row-level-security policy.
 *
 * has_permission(permission, principal) answers from a per-backend cache of
 * each principal's permission set (the union of its roles' permissions; empty
 * while the principal is suspended).  The cache is dropped whenever a
 * relcache invalidation arrives for one of the tables it was built from:
 * roles, role_permissions, principal_roles, login_principals, principals.
 * Plain DML sends no such invalidation, so a statement-level trigger on each
 * of those tables (_rbac_invalidate) calls CacheInvalidateRelcache().  That
 * message is transactional: it is applied locally at the next command
 * boundary (and again on abort, undoing anything cached from the aborted
 * change), and sent to every other backend at commit, which processes it
 * before its next transaction starts (AtStart_Cache) or its next lock.  So a
 * grant or revoke is never seen stale once it has committed.
 *
 * A reload reads the tables with a fresh snapshot (GetLatestSnapshot), not
 * the transaction's: a REPEATABLE READ transaction that processes the
 * invalidation must not refill the cache from its older snapshot.  In
 * parallel mode (where no new snapshot may be taken) the result is computed
 * from the active snapshot and not cached.
 *
 * The same cache holds the principal linked to the session's login role
 * (rbac_link_login); principal.c asks for it through its fallback hook when
 * authenticate() has set no principal.
 *
 * Permission grammar: "*", or dot-separated segments of [a-z0-9_] (starting
 * with a letter), optionally ending in ".*".  Matching (perm_match):
 *   "*"            grants everything;
 *   "x.*"          grants every permission starting with "x.", at any depth;
 *   "p"            grants "p" and "p.own" (the unrestricted form covers the
 *                  owner-restricted one);
 *   "p.own"        is its own permission: has_permission('p') is false; the
 *                  registry grants the action on resources the principal
 *                  holds a stake in (can_access_product).
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/relation.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/indexing.h"
#include "catalog/namespace.h"
#include "catalog/pg_collation.h"
#include "commands/extension.h"
#include "commands/trigger.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/inval.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/uuid.h"

#include "events.h"
#include "principal.h"
#include "rbac.h"

#define MAX_PERMISSION_LEN 100
#define CACHE_ENTRIES 64

/* One principal's permission set. */
typedef struct perm_set
{
	pg_uuid_t	principal;
	bool		star;			/* holds "*" */
	int			n;
	const char **perms;			/* NUL-terminated, in cache_cxt */
	int		   *lens;
} perm_set;

/* OIDs and attribute numbers of the tables, resolved once per cache life. */
typedef struct rbac_oids
{
	Oid			principals,
				principals_pkey,
				principal_roles,
				principal_roles_pkey,
				role_permissions,
				role_permissions_pkey,
				roles,
				login_principals,
				login_principals_pkey;
	AttrNumber	p_id,
				p_status,
				pr_principal,
				pr_role,
				rp_role,
				rp_permission,
				lp_login,
				lp_principal;
} rbac_oids;

static MemoryContext cache_cxt = NULL;
static bool oids_valid = false;
static rbac_oids oids;
static perm_set entries[CACHE_ENTRIES];
static int	nentries = 0;
static uint64 inval_count = 0;	/* bumped by every invalidation */
static bool callback_registered = false;

/* The login link of the session user. */
static bool login_valid = false;
static Oid	login_roleid = InvalidOid;
static bool login_linked = false;
static pg_uuid_t login_principal;

/* An uncached result (parallel mode, or invalidated while loading). */
static perm_set scratch;

static void
invalidate_all(void)
{
	inval_count++;
	nentries = 0;
	oids_valid = false;
	login_valid = false;
	if (cache_cxt)
		MemoryContextReset(cache_cxt);
}

static void
relcache_callback(Datum arg, Oid relid)
{
	if (!oids_valid)
	{
		/* Nothing that depends on table OIDs is cached; a reset still drops the rest. */
		if (nentries > 0 || login_valid)
			invalidate_all();
		return;
	}
	if (relid == InvalidOid || relid == oids.principals || relid == oids.principal_roles ||
		relid == oids.role_permissions || relid == oids.roles || relid == oids.login_principals)
		invalidate_all();
}

static Oid
rel_oid(Oid nsp, const char *name)
{
	Oid			r = get_relname_relid(name, nsp);

	if (!OidIsValid(r))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("tracechain relation \"%s\" is missing", name)));
	return r;
}

static AttrNumber
att(Oid rel, const char *name)
{
	AttrNumber	a = get_attnum(rel, name);

	if (a == InvalidAttrNumber)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("tracechain column \"%s\" is missing", name)));
	return a;
}

/* Resolve the tables; false when the extension is not installed in this database. */
static bool
ensure_oids(void)
{
	Oid			ext,
				nsp;

	if (oids_valid)
		return true;
	ext = get_extension_oid("tracechain", true);
	if (!OidIsValid(ext))
		return false;
	/* The extension is not relocatable: its schema is always "tracechain". */
	nsp = get_namespace_oid("tracechain", true);
	if (!OidIsValid(nsp) || !OidIsValid(get_relname_relid("login_principals", nsp)))
		return false;			/* e.g. in the middle of CREATE EXTENSION */
	oids.principals = rel_oid(nsp, "principals");
	oids.principals_pkey = rel_oid(nsp, "principals_pkey");
	oids.principal_roles = rel_oid(nsp, "principal_roles");
	oids.principal_roles_pkey = rel_oid(nsp, "principal_roles_pkey");
	oids.role_permissions = rel_oid(nsp, "role_permissions");
	oids.role_permissions_pkey = rel_oid(nsp, "role_permissions_pkey");
	oids.roles = rel_oid(nsp, "roles");
	oids.login_principals = rel_oid(nsp, "login_principals");
	oids.login_principals_pkey = rel_oid(nsp, "login_principals_pkey");
	oids.p_id = att(oids.principals, "id");
	oids.p_status = att(oids.principals, "status");
	oids.pr_principal = att(oids.principal_roles, "principal");
	oids.pr_role = att(oids.principal_roles, "role");
	oids.rp_role = att(oids.role_permissions, "role");
	oids.rp_permission = att(oids.role_permissions, "permission");
	oids.lp_login = att(oids.login_principals, "login");
	oids.lp_principal = att(oids.login_principals, "principal");
	oids_valid = true;
	return true;
}

static void
ensure_cache(void)
{
	if (!callback_registered)
	{
		CacheRegisterRelcacheCallback(relcache_callback, (Datum) 0);
		callback_registered = true;
	}
	if (cache_cxt == NULL)
		cache_cxt = AllocSetContextCreate(CacheMemoryContext, "tracechain rbac cache",
										  ALLOCSET_SMALL_SIZES);
}

/*
 * The snapshot to load with: the latest one, so that everything whose
 * invalidation we have processed is visible.  *cacheable is false when only
 * the active snapshot may be used (parallel mode).
 */
static Snapshot
load_snapshot(bool *cacheable)
{
	if (IsInParallelMode())
	{
		*cacheable = false;
		return RegisterSnapshot(GetActiveSnapshot());
	}
	*cacheable = true;
	return RegisterSnapshot(GetLatestSnapshot());
}

/* Is the principal present and active?  Caller holds locks on principals and its index. */
static bool
principal_active(Relation prel, Snapshot snap, const pg_uuid_t *principal)
{
	ScanKeyData k;
	SysScanDesc scan;
	HeapTuple	tup;
	bool		active = false;

	ScanKeyInit(&k, oids.p_id, BTEqualStrategyNumber, F_UUID_EQ, UUIDPGetDatum(principal));
	scan = systable_beginscan(prel, oids.principals_pkey, true, snap, 1, &k);
	tup = systable_getnext(scan);
	if (HeapTupleIsValid(tup))
	{
		bool		isnull;
		Datum		d = heap_getattr(tup, oids.p_status, RelationGetDescr(prel), &isnull);

		active = !isnull && strcmp(TextDatumGetCString(d), "active") == 0;
	}
	systable_endscan(scan);
	return active;
}

/* Fill *set with the permissions of principal, allocated in cxt. */
static void
load_set(perm_set *set, const pg_uuid_t *principal, MemoryContext cxt, Snapshot snap)
{
	Relation	prel,
				prrel,
				rprel,
				idx1,
				idx2,
				idx3;
	List	   *roles = NIL;
	List	   *perms = NIL;
	ListCell   *lc;
	MemoryContext old;
	int			i;

	prel = table_open(oids.principals, AccessShareLock);
	prrel = table_open(oids.principal_roles, AccessShareLock);
	rprel = table_open(oids.role_permissions, AccessShareLock);
	idx1 = index_open(oids.principals_pkey, AccessShareLock);
	idx2 = index_open(oids.principal_roles_pkey, AccessShareLock);
	idx3 = index_open(oids.role_permissions_pkey, AccessShareLock);

	memset(set, 0, sizeof(*set));
	set->principal = *principal;
	if (principal_active(prel, snap, principal))
	{
		ScanKeyData k;
		SysScanDesc scan;
		HeapTuple	tup;

		ScanKeyInit(&k, oids.pr_principal, BTEqualStrategyNumber, F_UUID_EQ, UUIDPGetDatum(principal));
		scan = systable_beginscan(prrel, oids.principal_roles_pkey, true, snap, 1, &k);
		while (HeapTupleIsValid(tup = systable_getnext(scan)))
		{
			bool		isnull;
			Datum		d = heap_getattr(tup, oids.pr_role, RelationGetDescr(prrel), &isnull);

			if (!isnull)
				roles = lappend(roles, TextDatumGetCString(d));
		}
		systable_endscan(scan);

		foreach(lc, roles)
		{
			/* role columns are COLLATE "C", as ScanKeyInit assumes */
			ScanKeyInit(&k, oids.rp_role, BTEqualStrategyNumber, F_TEXTEQ,
						CStringGetTextDatum((char *) lfirst(lc)));
			scan = systable_beginscan(rprel, oids.role_permissions_pkey, true, snap, 1, &k);
			while (HeapTupleIsValid(tup = systable_getnext(scan)))
			{
				bool		isnull;
				Datum		d = heap_getattr(tup, oids.rp_permission, RelationGetDescr(rprel), &isnull);

				if (!isnull)
					perms = lappend(perms, TextDatumGetCString(d));
			}
			systable_endscan(scan);
		}
	}

	old = MemoryContextSwitchTo(cxt);
	set->n = list_length(perms);
	set->perms = palloc(sizeof(char *) * Max(set->n, 1));
	set->lens = palloc(sizeof(int) * Max(set->n, 1));
	i = 0;
	foreach(lc, perms)
	{
		const char *p = (const char *) lfirst(lc);

		set->lens[i] = strlen(p);
		set->perms[i] = pstrdup(p);
		if (strcmp(p, "*") == 0)
			set->star = true;
		i++;
	}
	MemoryContextSwitchTo(old);

	index_close(idx3, NoLock);
	index_close(idx2, NoLock);
	index_close(idx1, NoLock);
	table_close(rprel, NoLock);
	table_close(prrel, NoLock);
	table_close(prel, NoLock);
}

/* The permission set of principal, from the cache or freshly loaded. */
static const perm_set *
lookup_set(const pg_uuid_t *principal)
{
	uint64		mark;
	bool		cacheable;
	Snapshot	snap;
	perm_set   *dst;

	for (int i = 0; i < nentries; i++)
		if (memcmp(entries[i].principal.data, principal->data, UUID_LEN) == 0)
			return &entries[i];

	ensure_cache();
	if (!ensure_oids())
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("extension \"tracechain\" is not installed in this database")));
	if (nentries >= CACHE_ENTRIES)
	{
		/* A pooled backend serving many principals: start over. */
		nentries = 0;
		MemoryContextReset(cache_cxt);
	}
	/* Take the locks first: acquiring them processes pending invalidations. */
	LockRelationOid(oids.principals, AccessShareLock);
	LockRelationOid(oids.principal_roles, AccessShareLock);
	LockRelationOid(oids.role_permissions, AccessShareLock);
	LockRelationOid(oids.principals_pkey, AccessShareLock);
	LockRelationOid(oids.principal_roles_pkey, AccessShareLock);
	LockRelationOid(oids.role_permissions_pkey, AccessShareLock);
	if (!oids_valid && !ensure_oids())
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("extension \"tracechain\" is not installed in this database")));
	mark = inval_count;
	snap = load_snapshot(&cacheable);
	if (cacheable)
	{
		dst = &entries[nentries];
		load_set(dst, principal, cache_cxt, snap);
		UnregisterSnapshot(snap);
		if (inval_count == mark)
		{
			nentries++;
			return dst;
		}
		/* Invalidated while loading: the answer is fine for now, keep nothing. */
		scratch = *dst;
		return &scratch;
	}
	load_set(&scratch, principal, CurTransactionContext, snap);
	UnregisterSnapshot(snap);
	return &scratch;
}

/* Does the grant entry e (length elen) cover permission p (length plen)? */
static inline bool
entry_covers(const char *e, int elen, const char *p, int plen)
{
	if (elen == plen && memcmp(e, p, plen) == 0)
		return true;
	/* "x.*": every permission starting with "x." */
	if (elen >= 3 && e[elen - 1] == '*' && e[elen - 2] == '.' &&
		plen > elen - 1 && memcmp(e, p, elen - 1) == 0)
		return true;
	return false;
}

static bool
perm_match(const perm_set *set, const char *p, int plen)
{
	if (set->star)
		return true;
	for (int i = 0; i < set->n; i++)
		if (entry_covers(set->perms[i], set->lens[i], p, plen))
			return true;
	/* "p" covers "p.own" */
	if (plen > 4 && memcmp(p + plen - 4, ".own", 4) == 0)
		return perm_match(set, p, plen - 4);
	return false;
}

/* Well-formed permission?  "*" or segments [a-z][a-z0-9_]* joined by ".", optional final ".*". */
static bool
perm_valid(const char *p, int len)
{
	bool		seg_start = true;

	if (len == 1 && p[0] == '*')
		return true;
	if (len < 1 || len > MAX_PERMISSION_LEN)
		return false;
	for (int i = 0; i < len; i++)
	{
		char		c = p[i];

		if (seg_start)
		{
			if (c == '*' && i == len - 1 && i > 0)
				return true;
			if (c < 'a' || c > 'z')
				return false;
			seg_start = false;
		}
		else if (c == '.')
			seg_start = true;
		else if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
			return false;
	}
	return !seg_start;
}

static void
check_perm_arg(text *t, const char **p, int *len)
{
	*p = VARDATA_ANY(t);
	*len = VARSIZE_ANY_EXHDR(t);
	if (!perm_valid(*p, *len))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid permission \"%s\"",
						*len > MAX_PERMISSION_LEN ? "(too long)" : text_to_cstring(t)),
				 errhint("A permission is \"*\" or dot-separated lower-case segments, optionally ending in \".*\".")));
}

bool
tc_has_permission(const pg_uuid_t *principal, const char *perm, int len)
{
	if (principal == NULL)
		return false;
	return perm_match(lookup_set(principal), perm, len);
}

/* SQL: has_permission(permission text, principal uuid = current_principal()) -> boolean */
PG_FUNCTION_INFO_V1(tc_has_permission_sql);
Datum
tc_has_permission_sql(PG_FUNCTION_ARGS)
{
	const char *p;
	int			len;

	if (PG_ARGISNULL(0))
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("permission must not be null")));
	check_perm_arg(PG_GETARG_TEXT_PP(0), &p, &len);
	if (PG_ARGISNULL(1))
		PG_RETURN_BOOL(false);
	PG_RETURN_BOOL(tc_has_permission(PG_GETARG_UUID_P(1), p, len));
}

/* SQL: require_permission(permission text) -> void; 42501 naming the permission. */
PG_FUNCTION_INFO_V1(tc_require_permission_sql);
Datum
tc_require_permission_sql(PG_FUNCTION_ARGS)
{
	const char *p;
	int			len;
	const pg_uuid_t *me;
	char	   *perm;
	Jsonb	   *details;

	if (PG_ARGISNULL(0))
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("permission must not be null")));
	check_perm_arg(PG_GETARG_TEXT_PP(0), &p, &len);
	me = tc_current_principal();
	if (me != NULL && tc_has_permission(me, p, len))
		PG_RETURN_VOID();
	/* The permission is [a-z0-9_.*] only: safe to put into JSON unescaped. */
	perm = pnstrdup(p, len);
	details = DatumGetJsonbP(DirectFunctionCall1(jsonb_in,
												 CStringGetDatum(psprintf("{\"permission\": \"%s\", \"principal\": %s}",
																		  perm, me ? "true" : "false"))));
	tc_event_record("security", "permission.denied", psprintf("permission:%s", perm), details, me, NULL);
	if (me == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission \"%s\" required, and no principal is authenticated", perm),
				 errhint("Call tracechain.authenticate(token) first, or link this login with rbac_link_login().")));
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("permission \"%s\" required", perm),
			 errhint("Grant the principal a role that holds it.")));
	PG_RETURN_VOID();
}

/* SQL: _permission_valid(text) -> boolean, for CHECK constraints. */
PG_FUNCTION_INFO_V1(tc_permission_valid_sql);
Datum
tc_permission_valid_sql(PG_FUNCTION_ARGS)
{
	text	   *t = PG_GETARG_TEXT_PP(0);

	PG_RETURN_BOOL(perm_valid(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t)));
}

/*
 * SQL: _rbac_covers(a uuid, b uuid) -> boolean: does a hold every permission
 * b holds (so linking a login to b, or granting b's roles, escalates nothing)?
 */
PG_FUNCTION_INFO_V1(tc_rbac_covers_sql);
Datum
tc_rbac_covers_sql(PG_FUNCTION_ARGS)
{
	const perm_set *src;
	perm_set	b;
	const perm_set *a;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		PG_RETURN_BOOL(false);
	/* Copy b's set: looking a up may reset the cache. */
	src = lookup_set(PG_GETARG_UUID_P(1));
	b = *src;
	b.perms = palloc(sizeof(char *) * Max(src->n, 1));
	b.lens = palloc(sizeof(int) * Max(src->n, 1));
	for (int i = 0; i < src->n; i++)
	{
		b.perms[i] = pstrdup(src->perms[i]);
		b.lens[i] = src->lens[i];
	}
	a = lookup_set(PG_GETARG_UUID_P(0));
	if (b.star && !a->star)
		PG_RETURN_BOOL(false);
	for (int i = 0; i < b.n; i++)
		if (!perm_match(a, b.perms[i], b.lens[i]))
			PG_RETURN_BOOL(false);
	PG_RETURN_BOOL(true);
}

/*
 * SQL: _caller_is_superuser() -> boolean: is the role that called into the
 * extension (the SET ROLE / session role, not the SECURITY DEFINER owner) a
 * superuser?  The bootstrap identity: a superuser with no current principal
 * may grant the first roles.
 */
PG_FUNCTION_INFO_V1(tc_caller_is_superuser);
Datum
tc_caller_is_superuser(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(superuser_arg(GetOuterUserId()));
}

/* Trigger: _rbac_invalidate(), statement level on the tables the cache reads. */
PG_FUNCTION_INFO_V1(tc_rbac_invalidate);
Datum
tc_rbac_invalidate(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("_rbac_invalidate() must be called as a trigger")));
	/* Every backend (this one at the next command, others at commit) drops its cache. */
	CacheInvalidateRelcache(td->tg_relation);
	invalidate_all();
	return PointerGetDatum(NULL);
}

/* The principal linked to the session's login role, or NULL (principal.c's fallback). */
static const pg_uuid_t *
login_fallback(void)
{
	Oid			roleid;
	char	   *rolname;
	uint64		mark;
	bool		cacheable;
	Snapshot	snap;
	bool		linked = false;
	pg_uuid_t	found;

	memset(&found, 0, sizeof(found));
	if (!IsTransactionState())
		return NULL;
	roleid = GetSessionUserId();
	if (login_valid && login_roleid == roleid)
		return login_linked ? &login_principal : NULL;

	ensure_cache();
	if (!ensure_oids())
		return NULL;
	memset(&found, 0, sizeof(found));
	rolname = GetUserNameFromId(roleid, true);
	if (rolname == NULL)
		return NULL;
	LockRelationOid(oids.login_principals, AccessShareLock);
	LockRelationOid(oids.login_principals_pkey, AccessShareLock);
	LockRelationOid(oids.principals, AccessShareLock);
	LockRelationOid(oids.principals_pkey, AccessShareLock);
	if (!oids_valid && !ensure_oids())
		return NULL;
	mark = inval_count;
	snap = load_snapshot(&cacheable);
	{
		Relation	lrel = table_open(oids.login_principals, AccessShareLock);
		Relation	prel = table_open(oids.principals, AccessShareLock);
		ScanKeyData k;
		SysScanDesc scan;
		HeapTuple	tup;

		ScanKeyInit(&k, oids.lp_login, BTEqualStrategyNumber, F_TEXTEQ, CStringGetTextDatum(rolname));
		scan = systable_beginscan(lrel, oids.login_principals_pkey, true, snap, 1, &k);
		tup = systable_getnext(scan);
		if (HeapTupleIsValid(tup))
		{
			bool		isnull;
			Datum		d = heap_getattr(tup, oids.lp_principal, RelationGetDescr(lrel), &isnull);

			if (!isnull)
			{
				found = *DatumGetUUIDP(d);
				linked = true;
			}
		}
		systable_endscan(scan);
		/* A suspended principal is nobody's fallback. */
		if (linked && !principal_active(prel, snap, &found))
			linked = false;
		table_close(prel, NoLock);
		table_close(lrel, NoLock);
	}
	UnregisterSnapshot(snap);
	if (cacheable && inval_count == mark)
	{
		login_valid = true;
		login_roleid = roleid;
		login_linked = linked;
		login_principal = found;
		return linked ? &login_principal : NULL;
	}
	if (!linked)
		return NULL;
	{
		pg_uuid_t  *u = MemoryContextAlloc(CurTransactionContext, sizeof(pg_uuid_t));

		*u = found;
		return u;
	}
}

void
tc_rbac_init(void)
{
	tc_principal_fallback_hook = login_fallback;
}

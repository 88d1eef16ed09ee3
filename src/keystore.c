/*
 * keystore.c: named, versioned data keys (see keystore.h).
 *
 * Layout of this file: names and kinds; running queries as the extension's
 * owner; the backend cache and its invalidation; the shared-memory
 * encryption counters and their flush job; material generation, sealing and
 * the key operations; the SQL entry points.
 */
#include "postgres.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "port/atomics.h"
#include "storage/lwlock.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#include "audit.h"
#include "keys.h"
#include "keystore.h"
#include "principal.h"
#include "shmem.h"
#include "worker.h"

#define SEAL_PURPOSE "keystore"
#define AEAD_KEY_LEN 32
#define HMAC_MIN_LEN 32
#define HMAC_MAX_LEN 256
#define EC_DER_MAX 512
#define COUNTER_SLOTS 1024

/* ---------------------------------------------------------------------
 * Names and kinds
 */

const char *
tc_key_kind_name(tc_key_kind kind)
{
	switch (kind)
	{
		case TC_KEY_AEAD:
			return "aead";
		case TC_KEY_HMAC:
			return "hmac";
		case TC_KEY_EC_P256:
			return "ec-p256";
	}
	return "?";
}

bool
tc_key_kind_parse(const char *s, tc_key_kind *out)
{
	if (strcmp(s, "aead") == 0)
		*out = TC_KEY_AEAD;
	else if (strcmp(s, "hmac") == 0)
		*out = TC_KEY_HMAC;
	else if (strcmp(s, "ec-p256") == 0)
		*out = TC_KEY_EC_P256;
	else
		return false;
	return true;
}

static bool
name_ok(const char *name)
{
	size_t		len = strlen(name);

	if (len < 1 || len > TC_KEY_NAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
	{
		char		c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
			  c == '.' || c == '_' || c == ':' || c == '-'))
			return false;
	}
	return true;
}

void
tc_keystore_check_name(const char *name)
{
	if (!name_ok(name))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid key name"),
				 errhint("A key name has 1 to %d characters out of A-Z, a-z, 0-9, \".\", \"_\", \":\" and \"-\".",
						 TC_KEY_NAME_MAX)));
}

/* ---------------------------------------------------------------------
 * Queries as the extension's owner, with search_path pinned
 *
 * The callers of the C API may be any role (tracechain_app encrypting, a
 * trigger on an application table); the keys table is readable by nobody
 * but the owner.  The switch is undone by transaction abort on error.
 */

typedef struct owner_ctx
{
	Oid			save_user;
	int			save_sec;
	int			guc_nest;
} owner_ctx;

static Oid
keys_relid(void)
{
	Oid			ns = get_namespace_oid("tracechain", true);
	Oid			rel = OidIsValid(ns) ? get_relname_relid("keys", ns) : InvalidOid;

	if (!OidIsValid(rel))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the tracechain extension is not installed in this database")));
	return rel;
}

static void
owner_enter(owner_ctx *c)
{
	Oid			rel = keys_relid();
	HeapTuple	tp = SearchSysCache1(RELOID, ObjectIdGetDatum(rel));
	Oid			owner;

	if (!HeapTupleIsValid(tp))
		elog(ERROR, "cache lookup failed for relation %u", rel);
	owner = ((Form_pg_class) GETSTRUCT(tp))->relowner;
	ReleaseSysCache(tp);

	GetUserIdAndSecContext(&c->save_user, &c->save_sec);
	SetUserIdAndSecContext(owner, c->save_sec | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
	c->guc_nest = NewGUCNestLevel();
	(void) set_config_option("search_path", "pg_catalog, pg_temp", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
}

static void
owner_leave(owner_ctx *c)
{
	SPI_finish();
	AtEOXact_GUC(true, c->guc_nest);
	SetUserIdAndSecContext(c->save_user, c->save_sec);
}

/* ---------------------------------------------------------------------
 * Shared memory: the cache generation and the encryption counters
 */

typedef struct counter_slot
{
	bool		used;
	Oid			db;
	Oid			rel;			/* keys table: a recreated extension is another key */
	int32		id;
	int32		version;
	uint64		base;			/* keys.encryptions as written */
	pg_atomic_uint64 pending;	/* counted, not yet written */
} counter_slot;

typedef struct ks_shared
{
	pg_atomic_uint64 generation;
	counter_slot slots[COUNTER_SLOTS];
} ks_shared;

static ks_shared *shared = NULL;
static int	lock_index = -1;
static int	encryptions_warn = 1073741824;	/* 2^30 */
static int	encryptions_max = 2147483647;	/* 2^31 - 1 */

static LWLock *
counters_lock(void)
{
	return &tc_shmem_lwlocks()[lock_index].lock;
}

static void
shared_init(void *ptr, bool found)
{
	ks_shared  *s = ptr;

	if (found)
		return;
	memset(s, 0, sizeof(*s));
	pg_atomic_init_u64(&s->generation, 1);
	for (int i = 0; i < COUNTER_SLOTS; i++)
		pg_atomic_init_u64(&s->slots[i].pending, 0);
}

static bool
have_shared(void)
{
	return shared != NULL && tc_shmem_available();
}

/* ---------------------------------------------------------------------
 * The backend cache
 */

typedef struct kver_key
{
	int32		id;
	int32		version;
} kver_key;

typedef struct kver
{
	kver_key	key;
	tc_key_kind kind;
	char		status;			/* c(urrent), r(etired), d(estroyed) */
	uint8	   *material;		/* NULL when destroyed */
	size_t		len;
	int64		encryptions;	/* keys.encryptions when loaded */
	int			slot;			/* counter slot, -1 until the first encryption */
	Oid			rel;			/* keys table the slot was taken for */
	bool		warned;
	EVP_CIPHER_CTX *ectx;
	EVP_CIPHER_CTX *dctx;
} kver;

typedef struct kname
{
	char		name[TC_KEY_NAME_MAX + 1];
	int32		id;
	int32		current;		/* 0: none */
	tc_key_kind kind;
} kname;

typedef struct kid
{
	int32		id;
	char		name[TC_KEY_NAME_MAX + 1];
} kid;

static MemoryContext cache_cxt = NULL;
static HTAB *by_name = NULL;
static HTAB *by_ver = NULL;
static HTAB *by_id = NULL;
static uint64 cache_gen = 0;
static bool reset_at_xact_end = false;	/* loaded under an old transaction snapshot */
static bool touched = false;	/* this transaction changed keys */
static EVP_CIPHER *gcm_cipher = NULL;

static void
cache_reset(void)
{
	if (by_ver != NULL)
	{
		HASH_SEQ_STATUS st;
		kver	   *v;

		hash_seq_init(&st, by_ver);
		while ((v = hash_seq_search(&st)) != NULL)
		{
			if (v->material)
				explicit_bzero(v->material, v->len);
			EVP_CIPHER_CTX_free(v->ectx);
			EVP_CIPHER_CTX_free(v->dctx);
			v->ectx = v->dctx = NULL;
		}
	}
	by_name = by_ver = by_id = NULL;
	if (cache_cxt != NULL)
		MemoryContextReset(cache_cxt);
}

static void
cache_ensure(void)
{
	HASHCTL		ctl;

	if (cache_cxt == NULL)
		cache_cxt = AllocSetContextCreate(TopMemoryContext, "tracechain key cache",
										  ALLOCSET_SMALL_SIZES);
	if (have_shared())
	{
		uint64		g = pg_atomic_read_u64(&shared->generation);

		if (g != cache_gen)
		{
			cache_reset();
			cache_gen = g;
		}
	}
	if (by_name != NULL)
		return;
	memset(&ctl, 0, sizeof(ctl));
	ctl.hcxt = cache_cxt;
	ctl.keysize = TC_KEY_NAME_MAX + 1;
	ctl.entrysize = sizeof(kname);
	by_name = hash_create("tracechain keys by name", 32, &ctl, HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
	ctl.keysize = sizeof(kver_key);
	ctl.entrysize = sizeof(kver);
	by_ver = hash_create("tracechain key versions", 64, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	ctl.keysize = sizeof(int32);
	ctl.entrysize = sizeof(kid);
	by_id = hash_create("tracechain keys by id", 32, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
}

static void
bump_generation(void)
{
	if (have_shared())
		pg_atomic_fetch_add_u64(&shared->generation, 1);
	cache_reset();
	cache_gen = 0;
}

/* A key operation in this transaction: invalidate now, and again at its end. */
static void
mark_touched(void)
{
	touched = true;
	bump_generation();
}

static void
ks_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_PRE_PREPARE:
			/* COMMIT PREPARED may run in another backend, which would not invalidate caches */
			if (touched)
				ereport(ERROR,
						(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						 errmsg("cannot PREPARE a transaction that changed tracechain keys")));
			break;
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
			if (touched)
				bump_generation();
			else if (reset_at_xact_end || !have_shared())
				cache_reset();
			touched = false;
			reset_at_xact_end = false;
			break;
		default:
			break;
	}
}

static void
ks_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
					SubTransactionId parentSubid, void *arg)
{
	if (event == SUBXACT_EVENT_ABORT_SUB && touched)
		cache_reset();
}

static void
seal_aad(char *buf, size_t cap, int32 id, const char *name, int32 version, tc_key_kind kind)
{
	snprintf(buf, cap, "tracechain data key:%d:%s:%d:%s", id, name, version, tc_key_kind_name(kind));
}

/* Fetch a text column of the current SPI row into a fixed buffer. */
static void
spi_text(int col, char *buf, size_t cap)
{
	char	   *s = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, col);

	if (s == NULL || strlen(s) >= cap)
		elog(ERROR, "unexpected keys row");
	strcpy(buf, s);
}

/*
 * Load every version of one key (by name or by id) into the cache, as the
 * owner.  Returns the name entry, or NULL when no such key exists.
 */
static kname *
cache_load(const char *name, int32 id)
{
	owner_ctx	oc;
	Datum		arg;
	Oid			argtype;
	int			rc;
	kname	   *kn = NULL;
	char		nbuf[TC_KEY_NAME_MAX + 1];
	MemoryContext callcxt = CurrentMemoryContext;

	if (IsolationUsesXactSnapshot())
		reset_at_xact_end = true;
	owner_enter(&oc);
	if (name != NULL)
	{
		arg = CStringGetTextDatum(name);
		argtype = TEXTOID;
		rc = SPI_execute_with_args("SELECT id, name, version, kind, status, material, encryptions "
								   "FROM tracechain.keys WHERE name OPERATOR(pg_catalog.=) $1",
								   1, &argtype, &arg, NULL, false, 0);
	}
	else
	{
		arg = Int32GetDatum(id);
		argtype = INT4OID;
		rc = SPI_execute_with_args("SELECT id, name, version, kind, status, material, encryptions "
								   "FROM tracechain.keys WHERE id OPERATOR(pg_catalog.=) $1",
								   1, &argtype, &arg, NULL, false, 0);
	}
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "could not read tracechain.keys: %s", SPI_result_code_string(rc));

	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	td = SPI_tuptable->tupdesc;
		bool		isnull;
		int32		rid = DatumGetInt32(SPI_getbinval(tup, td, 1, &isnull));
		int32		ver = DatumGetInt32(SPI_getbinval(tup, td, 3, &isnull));
		char	   *kindtxt = SPI_getvalue(tup, td, 4);
		char	   *status = SPI_getvalue(tup, td, 5);
		Datum		mat = SPI_getbinval(tup, td, 6, &isnull);
		int64		enc = DatumGetInt64(SPI_getbinval(tup, td, 7, &isnull));
		kver_key	vk = {rid, ver};
		kver	   *v;
		bool		found;
		tc_key_kind kind;

		if (i == 0)
			spi_text(2, nbuf, sizeof(nbuf));
		if (!tc_key_kind_parse(kindtxt, &kind))
			elog(ERROR, "unexpected key kind in tracechain.keys");
		if (kn == NULL)
		{
			kid		   *ki;

			kn = hash_search(by_name, nbuf, HASH_ENTER, &found);
			kn->id = rid;
			kn->current = 0;
			kn->kind = kind;
			ki = hash_search(by_id, &rid, HASH_ENTER, &found);
			strlcpy(ki->name, nbuf, sizeof(ki->name));
		}
		v = hash_search(by_ver, &vk, HASH_ENTER, &found);
		if (found)
			continue;
		v->kind = kind;
		v->status = status[0];
		v->material = NULL;
		v->len = 0;
		v->encryptions = enc;
		v->slot = -1;
		v->warned = false;
		v->ectx = v->dctx = NULL;
		if (v->status == 'c')
			kn->current = ver;
		if (!isnull && v->status != 'd')
		{
			char		aad[200];
			bytea	   *pt;

			seal_aad(aad, sizeof(aad), rid, nbuf, ver, kind);
			pt = tc_unseal(SEAL_PURPOSE, (const uint8 *) aad, strlen(aad), DatumGetByteaPP(mat));
			v->len = VARSIZE(pt) - VARHDRSZ;
			v->material = MemoryContextAlloc(cache_cxt, v->len + 1);
			memcpy(v->material, VARDATA(pt), v->len);
			explicit_bzero(VARDATA(pt), v->len);
			pfree(pt);
		}
		else
			v->status = 'd';
	}
	owner_leave(&oc);
	MemoryContextSwitchTo(callcxt);
	return kn;
}

static bool
fill_key(kver *v, tc_key *out)
{
	if (v == NULL || v->status == 'd' || v->material == NULL)
		return false;
	out->id = v->key.id;
	out->version = v->key.version;
	out->kind = v->kind;
	out->material = v->material;
	out->len = v->len;
	out->priv = v;
	return true;
}

bool
tc_keystore_get(const char *name, int32 version, tc_key_kind kind, tc_key *out)
{
	kname	   *kn;
	kver_key	vk;

	if (!name_ok(name) || version < 0)
		return false;
	cache_ensure();
	kn = hash_search(by_name, name, HASH_FIND, NULL);
	if (kn == NULL && (kn = cache_load(name, 0)) == NULL)
		return false;
	if (kn->kind != kind)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("key \"%s\" is not of kind %s", name, tc_key_kind_name(kind))));
	vk.id = kn->id;
	vk.version = version == TC_KEY_CURRENT ? kn->current : version;
	if (vk.version == 0)
		return false;
	return fill_key(hash_search(by_ver, &vk, HASH_FIND, NULL), out);
}

bool
tc_keystore_kind(const char *name, tc_key_kind *out)
{
	kname	   *kn;

	if (!name_ok(name))
		return false;
	cache_ensure();
	kn = hash_search(by_name, name, HASH_FIND, NULL);
	if (kn == NULL && (kn = cache_load(name, 0)) == NULL)
		return false;
	*out = kn->kind;
	return true;
}

bool
tc_keystore_get_by_id(int32 id, int32 version, tc_key *out)
{
	kver_key	vk = {id, version};
	kver	   *v;

	if (id <= 0 || version <= 0)
		return false;
	cache_ensure();
	v = hash_search(by_ver, &vk, HASH_FIND, NULL);
	if (v == NULL && hash_search(by_id, &id, HASH_FIND, NULL) == NULL)
	{
		cache_load(NULL, id);
		v = hash_search(by_ver, &vk, HASH_FIND, NULL);
	}
	return fill_key(v, out);
}

/* ---------------------------------------------------------------------
 * Encryption counters
 */

static int
slot_acquire(Oid rel, const kver *v)
{
	int			freeslot = -1,
				idle = -1;

	LWLockAcquire(counters_lock(), LW_EXCLUSIVE);
	for (int i = 0; i < COUNTER_SLOTS; i++)
	{
		counter_slot *s = &shared->slots[i];

		if (s->used && s->db == MyDatabaseId && s->rel == rel &&
			s->id == v->key.id && s->version == v->key.version)
		{
			LWLockRelease(counters_lock());
			return i;
		}
		if (!s->used && freeslot < 0)
			freeslot = i;
		if (s->used && idle < 0 && pg_atomic_read_u64(&s->pending) == 0)
			idle = i;
	}
	if (freeslot < 0)
		freeslot = idle;
	if (freeslot < 0)
	{
		LWLockRelease(counters_lock());
		ereport(ERROR,
				(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
				 errmsg("too many key versions in use for encryption"),
				 errhint("Retry once the tracechain worker has written the counters.")));
	}
	{
		counter_slot *s = &shared->slots[freeslot];
		bool		evicted = s->used;

		s->used = true;
		s->db = MyDatabaseId;
		s->rel = rel;
		s->id = v->key.id;
		s->version = v->key.version;
		s->base = (uint64) Max(v->encryptions, 0);
		pg_atomic_write_u64(&s->pending, 0);
		LWLockRelease(counters_lock());
		/* Whoever cached the evicted slot reloads (and rereads its count). */
		if (evicted)
			pg_atomic_fetch_add_u64(&shared->generation, 1);
	}
	return freeslot;
}

static const char *
name_of(int32 id)
{
	kid		   *ki = by_id ? hash_search(by_id, &id, HASH_FIND, NULL) : NULL;

	return ki ? ki->name : "?";
}

void
tc_keystore_count_encryption(const tc_key *key)
{
	kver	   *v = key->priv;
	counter_slot *s;
	uint64		total;

	if (!have_shared())
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("tracechain must be loaded with shared_preload_libraries to encrypt"),
				 errhint("Encryptions are counted per key version in shared memory.")));
	if (v == NULL || v->kind != TC_KEY_AEAD)
		elog(ERROR, "encryption counted for a key that is not an AEAD key");
	for (;;)
	{
		if (v->slot < 0)
		{
			v->rel = keys_relid();
			v->slot = slot_acquire(v->rel, v);
		}
		LWLockAcquire(counters_lock(), LW_SHARED);
		s = &shared->slots[v->slot];
		if (s->used && s->db == MyDatabaseId && s->rel == v->rel &&
			s->id == v->key.id && s->version == v->key.version)
			break;
		LWLockRelease(counters_lock());
		v->slot = -1;			/* evicted meanwhile */
	}
	total = s->base + pg_atomic_read_u64(&s->pending);
	if (total >= (uint64) encryptions_max)
	{
		LWLockRelease(counters_lock());
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("key \"%s\" version %d has reached its limit of %d encryptions",
						name_of(key->id), key->version, encryptions_max),
				 errhint("Rotate the key with tracechain.key_rotate(); older versions keep decrypting.")));
	}
	pg_atomic_fetch_add_u64(&s->pending, 1);
	LWLockRelease(counters_lock());
	if (total + 1 >= (uint64) encryptions_warn && !v->warned)
	{
		v->warned = true;
		ereport(WARNING,
				(errmsg("key \"%s\" version %d has been used for %llu encryptions",
						name_of(key->id), key->version, (unsigned long long) (total + 1)),
				 errdetail("Encryption under this version stops at %d.", encryptions_max),
				 errhint("Rotate the key with tracechain.key_rotate().")));
	}
}

/* Live count of a key version: written + pending in shared memory. */
static int64
live_count(int32 id, int32 version, int64 written)
{
	int64		extra = 0;
	Oid			rel;

	if (!have_shared())
		return written;
	rel = keys_relid();
	LWLockAcquire(counters_lock(), LW_SHARED);
	for (int i = 0; i < COUNTER_SLOTS; i++)
	{
		counter_slot *s = &shared->slots[i];

		if (s->used && s->db == MyDatabaseId && s->rel == rel && s->id == id && s->version == version)
		{
			/* base may be ahead of what this snapshot read; take the larger */
			extra = (int64) pg_atomic_read_u64(&s->pending);
			if ((int64) s->base > written)
				written = (int64) s->base;
			break;
		}
	}
	LWLockRelease(counters_lock());
	return written + extra;
}

#define FLUSH_EARLY 65536
static TimestampTz last_flush = 0;

typedef struct flush_item
{
	int			slot;
	int32		id;
	int32		version;
	uint64		n;
} flush_item;

/*
 * Worker job: write pending counts of this database's key versions to
 * keys.encryptions in a transaction of its own, then move them from pending
 * to base, at most once a second (earlier when a count passes FLUSH_EARLY).
 * A crash loses at most the counts since the last flush.  Nothing is
 * written on a standby.
 */
void
tc_keystore_flush_job(void)
{
	flush_item *items;
	int			n = 0;
	Oid			rel;

	if (!have_shared() || RecoveryInProgress())
		return;
	/* at most once a second, unless a count grows large: fewer dead tuples in keys */
	{
		TimestampTz now = GetCurrentTimestamp();
		bool		big = false;

		for (int i = 0; i < COUNTER_SLOTS && !big; i++)
			big = pg_atomic_read_u64(&shared->slots[i].pending) >= FLUSH_EARLY;
		if (!big && !TimestampDifferenceExceeds(last_flush, now, 1000))
			return;
		last_flush = now;
	}
	items = palloc(sizeof(flush_item) * COUNTER_SLOTS);
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	rel = InvalidOid;
	{
		Oid			ns = get_namespace_oid("tracechain", true);

		if (OidIsValid(ns))
			rel = get_relname_relid("keys", ns);
	}
	if (OidIsValid(rel))
	{
		LWLockAcquire(counters_lock(), LW_SHARED);
		for (int i = 0; i < COUNTER_SLOTS; i++)
		{
			counter_slot *s = &shared->slots[i];
			uint64		p = pg_atomic_read_u64(&s->pending);

			if (s->used && s->db == MyDatabaseId && s->rel == rel && p > 0)
			{
				items[n].slot = i;
				items[n].id = s->id;
				items[n].version = s->version;
				items[n].n = p;
				n++;
			}
		}
		LWLockRelease(counters_lock());
	}
	if (n > 0)
	{
		Oid			types[3] = {INT8OID, INT4OID, INT4OID};

		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		for (int i = 0; i < n; i++)
		{
			Datum		args[3] = {Int64GetDatum((int64) items[i].n), Int32GetDatum(items[i].id),
			Int32GetDatum(items[i].version)};

			if (SPI_execute_with_args("UPDATE tracechain.keys SET encryptions = encryptions OPERATOR(pg_catalog.+) $1 "
									  "WHERE id OPERATOR(pg_catalog.=) $2 AND version OPERATOR(pg_catalog.=) $3",
									  3, types, args, NULL, false, 0) != SPI_OK_UPDATE)
				elog(ERROR, "could not update key counters");
		}
		SPI_finish();
	}
	PopActiveSnapshot();
	CommitTransactionCommand();
	if (n > 0)
	{
		LWLockAcquire(counters_lock(), LW_EXCLUSIVE);
		for (int i = 0; i < n; i++)
		{
			counter_slot *s = &shared->slots[items[i].slot];

			if (s->used && s->db == MyDatabaseId && s->rel == rel &&
				s->id == items[i].id && s->version == items[i].version)
			{
				/* base first: a reader in between sees too much, never too little */
				s->base += items[i].n;
				pg_atomic_fetch_sub_u64(&s->pending, items[i].n);
			}
		}
		LWLockRelease(counters_lock());
	}
	pfree(items);
}

/* ---------------------------------------------------------------------
 * AES-256-GCM with a cached context
 */

bool
tc_keystore_aead(const tc_key *key, bool encrypt, const uint8 *nonce,
				 const uint8 *aad1, size_t aad1len, const uint8 *aad2, size_t aad2len,
				 const uint8 *in, size_t inlen, uint8 *out, uint8 *tag)
{
	kver	   *v = key ? key->priv : NULL;
	EVP_CIPHER_CTX **slot;
	EVP_CIPHER_CTX *ctx;
	int			outl = 0;

	if (v == NULL || v->kind != TC_KEY_AEAD || v->material == NULL || v->len != AEAD_KEY_LEN ||
		inlen > INT_MAX || aad1len > INT_MAX || aad2len > INT_MAX)
		return false;
	if (gcm_cipher == NULL && (gcm_cipher = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL)) == NULL)
		return false;
	slot = encrypt ? &v->ectx : &v->dctx;
	if (*slot == NULL)
	{
		ctx = EVP_CIPHER_CTX_new();
		if (ctx == NULL)
			return false;
		if (EVP_CipherInit_ex2(ctx, gcm_cipher, v->material, NULL, encrypt ? 1 : 0, NULL) != 1)
		{
			EVP_CIPHER_CTX_free(ctx);
			return false;
		}
		*slot = ctx;
	}
	ctx = *slot;
	if (EVP_CipherInit_ex2(ctx, NULL, NULL, nonce, encrypt ? 1 : 0, NULL) != 1)
		return false;
	if (aad1len > 0 && EVP_CipherUpdate(ctx, NULL, &outl, aad1, (int) aad1len) != 1)
		return false;
	if (aad2len > 0 && EVP_CipherUpdate(ctx, NULL, &outl, aad2, (int) aad2len) != 1)
		return false;
	if (inlen > 0 && EVP_CipherUpdate(ctx, out, &outl, in, (int) inlen) != 1)
		return false;
	if (!encrypt && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, 16, tag) != 1)
		return false;
	if (EVP_CipherFinal_ex(ctx, out + outl, &outl) != 1)
		return false;
	if (encrypt && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, 16, tag) != 1)
		return false;
	return true;
}

/* ---------------------------------------------------------------------
 * Material
 */

/* Fresh material for kind into buf (cap bytes); returns its length. */
static size_t
generate_material(tc_key_kind kind, uint8 *buf, size_t cap)
{
	EVP_PKEY   *pkey;
	unsigned char *p;
	int			len;

	if (kind != TC_KEY_EC_P256)
	{
		tc_random_bytes(buf, AEAD_KEY_LEN);
		return AEAD_KEY_LEN;
	}
	pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	len = pkey ? i2d_PrivateKey(pkey, NULL) : -1;
	if (len > 0 && (size_t) len <= cap)
	{
		p = buf;
		len = i2d_PrivateKey(pkey, &p);
	}
	else
		len = -1;
	EVP_PKEY_free(pkey);
	if (len <= 0)
		ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR), errmsg("could not generate a P-256 key")));
	return (size_t) len;
}

/* Check imported material and write its canonical form into buf; returns its length. */
static size_t
canonical_material(tc_key_kind kind, const uint8 *raw, size_t len, uint8 *buf, size_t cap)
{
	const unsigned char *in = raw;
	EVP_PKEY   *pkey;
	char		group[64];
	size_t		glen = 0;
	unsigned char *p;
	int			out = -1;
	bool		ok;

	if (kind == TC_KEY_AEAD || kind == TC_KEY_HMAC)
	{
		if ((kind == TC_KEY_AEAD && len != AEAD_KEY_LEN) ||
			(kind == TC_KEY_HMAC && (len < HMAC_MIN_LEN || len > HMAC_MAX_LEN)) || len > cap)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("key material of the wrong length for kind %s", tc_key_kind_name(kind)),
					 errhint("An aead key is 32 bytes, an hmac key 32 to 256 bytes.")));
		memcpy(buf, raw, len);
		return len;
	}
	if (len > EC_DER_MAX)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("invalid P-256 private key")));
	pkey = d2i_AutoPrivateKey(NULL, &in, (long) len);
	ok = pkey != NULL && in == raw + len && EVP_PKEY_is_a(pkey, "EC") &&
		EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group), &glen) == 1 &&
		strcmp(group, "prime256v1") == 0;
	if (ok)
	{
		out = i2d_PrivateKey(pkey, NULL);
		if (out > 0 && (size_t) out <= cap)
		{
			p = buf;
			out = i2d_PrivateKey(pkey, &p);
		}
		else
			out = -1;
	}
	EVP_PKEY_free(pkey);
	if (!ok || out <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid P-256 private key"),
				 errhint("Give the DER encoding (SEC1 or PKCS#8) of a private key on curve P-256.")));
	return (size_t) out;
}

/* extra_json: a JSON value (already encoded) for extra_key, or NULL. Version 0 is shown as null (all). */
static void
audit_key(const char *action, const char *name, int32 version, tc_key_kind kind, const char *extra_key,
		  const char *extra_json)
{
	tc_audit_row row;
	StringInfoData js;

	/* name is a validated key name: no character needs escaping */
	initStringInfo(&js);
	appendStringInfo(&js, "{\"name\": \"%s\", \"kind\": \"%s\", \"version\": ", name, tc_key_kind_name(kind));
	if (version > 0)
		appendStringInfo(&js, "%d", version);
	else
		appendStringInfoString(&js, "null");
	if (extra_key)
		appendStringInfo(&js, ", \"%s\": %s", extra_key, extra_json);
	appendStringInfoChar(&js, '}');
	memset(&row, 0, sizeof(row));
	row.at = GetCurrentTimestamp();
	row.type = "security";
	row.action = action;
	row.resource = psprintf("key:%s", name);
	row.details = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(js.data)));
	row.actor = tc_current_principal();
	(void) tc_audit_append(&row);
}

/*
 * Insert one version (as the owner, inside owner_enter): seal, then INSERT.
 * With on_conflict, an existing (name, version) is not an error: returns false.
 */
static bool
insert_version(int32 id, const char *name, int32 version, tc_key_kind kind, const char *status,
			   const char *origin, const pg_uuid_t *principal, const uint8 *mat, size_t matlen,
			   bool on_conflict)
{
	char		aad[200];
	bytea	   *sealed;
	Oid			types[7] = {INT4OID, TEXTOID, INT4OID, TEXTOID, TEXTOID, TEXTOID, UUIDOID};
	Datum		args[7];
	char		nulls[7] = {' ', ' ', ' ', ' ', ' ', ' ', ' '};
	int			rc;
	StringInfoData sql;

	seal_aad(aad, sizeof(aad), id, name, version, kind);
	sealed = tc_seal(SEAL_PURPOSE, (const uint8 *) aad, strlen(aad), mat, matlen);
	args[0] = Int32GetDatum(id);
	args[1] = CStringGetTextDatum(name);
	args[2] = Int32GetDatum(version);
	args[3] = CStringGetTextDatum(tc_key_kind_name(kind));
	args[4] = CStringGetTextDatum(status);
	args[5] = CStringGetTextDatum(origin);
	args[6] = principal ? UUIDPGetDatum(principal) : (Datum) 0;
	nulls[6] = principal ? ' ' : 'n';
	initStringInfo(&sql);
	appendStringInfoString(&sql,
						   "INSERT INTO tracechain.keys (id, name, version, kind, status, origin, principal, material) "
						   "VALUES ($1, $2, $3, $4, $5, $6, $7, $8)");
	if (on_conflict)
		appendStringInfoString(&sql, " ON CONFLICT DO NOTHING");
	{
		Oid			t8[8];
		Datum		a8[8];
		char		n8[8];

		memcpy(t8, types, sizeof(types));
		memcpy(a8, args, sizeof(args));
		memcpy(n8, nulls, sizeof(nulls));
		t8[7] = BYTEAOID;
		a8[7] = PointerGetDatum(sealed);
		n8[7] = ' ';
		rc = SPI_execute_with_args(sql.data, 8, t8, a8, n8, false, 0);
	}
	if (rc != SPI_OK_INSERT)
		elog(ERROR, "could not insert into tracechain.keys: %s", SPI_result_code_string(rc));
	return SPI_processed == 1;
}

static int32
next_key_id(void)
{
	bool		isnull;
	int			rc = SPI_execute("SELECT pg_catalog.nextval('tracechain.key_ids')::int4", false, 1);

	if (rc != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not allocate a key id");
	return DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
}

/* Lock every version of name; returns (id, kind, max version), or false when none. */
static bool
lock_key(const char *name, int32 *id, tc_key_kind *kind, int32 *maxver)
{
	Oid			type = TEXTOID;
	Datum		arg = CStringGetTextDatum(name);
	bool		isnull;
	int			rc;
	char	   *k;

	rc = SPI_execute_with_args("SELECT 1 FROM tracechain.keys WHERE name OPERATOR(pg_catalog.=) $1 FOR UPDATE",
							   1, &type, &arg, NULL, false, 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "could not lock the key");
	if (SPI_processed == 0)
		return false;
	/* A new statement, so a new snapshot: it sees what a concurrent rotation committed. */
	rc = SPI_execute_with_args("SELECT id, kind, max(version) FROM tracechain.keys "
							   "WHERE name OPERATOR(pg_catalog.=) $1 GROUP BY id, kind",
							   1, &type, &arg, NULL, false, 0);
	if (rc != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not read the key");
	*id = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	k = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
	if (!tc_key_kind_parse(k, kind))
		elog(ERROR, "unexpected key kind in tracechain.keys");
	*maxver = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &isnull));
	return true;
}

static void
retire_current(const char *name)
{
	Oid			type = TEXTOID;
	Datum		arg = CStringGetTextDatum(name);

	if (SPI_execute_with_args("UPDATE tracechain.keys SET status = 'retired', retired_at = pg_catalog.now() "
							  "WHERE name OPERATOR(pg_catalog.=) $1 AND status OPERATOR(pg_catalog.=) 'current'",
							  1, &type, &arg, NULL, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "could not retire the current key version");
}

/* ---------------------------------------------------------------------
 * Key operations
 */

static bool
create_internal(const char *name, tc_key_kind kind, const pg_uuid_t *principal, const char *origin,
				const uint8 *raw, size_t rawlen, bool if_absent)
{
	owner_ctx	oc;
	uint8		mat[EC_DER_MAX];
	size_t		matlen;
	int32		id;
	bool		inserted;

	tc_keystore_check_name(name);
	if (raw)
		matlen = canonical_material(kind, raw, rawlen, mat, sizeof(mat));
	else
		matlen = generate_material(kind, mat, sizeof(mat));
	owner_enter(&oc);
	id = next_key_id();
	inserted = insert_version(id, name, 1, kind, "current", origin, principal, mat, matlen, true);
	explicit_bzero(mat, sizeof(mat));
	if (!inserted && !if_absent)
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("key \"%s\" already exists", name),
				 errhint("Use key_rotate() for a new version.")));
	if (inserted)
		audit_key(raw ? "key.import" : "key.create", name, 1, kind, "origin", psprintf("\"%s\"", origin));
	owner_leave(&oc);
	if (inserted)
		mark_touched();
	return inserted;
}

int32
tc_keystore_create(const char *name, tc_key_kind kind)
{
	create_internal(name, kind, NULL, "generated", NULL, 0, false);
	return 1;
}

bool
tc_keystore_ensure(const char *name, tc_key_kind kind, const pg_uuid_t *principal)
{
	return create_internal(name, kind, principal, "generated", NULL, 0, true);
}

static int32
new_version(const char *name, const uint8 *raw, size_t rawlen, tc_key_kind want_kind, bool check_kind)
{
	owner_ctx	oc;
	uint8		mat[EC_DER_MAX];
	size_t		matlen = 0;
	int32		id,
				maxver;
	tc_key_kind kind;

	tc_keystore_check_name(name);
	owner_enter(&oc);
	if (!lock_key(name, &id, &kind, &maxver))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("key \"%s\" does not exist", name)));
	if (check_kind && kind != want_kind)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("key \"%s\" is of kind %s, not %s", name, tc_key_kind_name(kind),
						tc_key_kind_name(want_kind))));
	if (maxver >= INT32_MAX - 1)
		ereport(ERROR, (errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED), errmsg("too many versions of key \"%s\"", name)));
	if (raw)
		matlen = canonical_material(kind, raw, rawlen, mat, sizeof(mat));
	else
		matlen = generate_material(kind, mat, sizeof(mat));
	retire_current(name);
	(void) insert_version(id, name, maxver + 1, kind, "current", raw ? "imported" : "generated",
						  NULL, mat, matlen, false);
	explicit_bzero(mat, sizeof(mat));
	audit_key(raw ? "key.import" : "key.rotate", name, maxver + 1, kind, NULL, NULL);
	owner_leave(&oc);
	mark_touched();
	return maxver + 1;
}

int32
tc_keystore_rotate(const char *name)
{
	return new_version(name, NULL, 0, TC_KEY_AEAD, false);
}

int32
tc_keystore_import(const char *name, tc_key_kind kind, const uint8 *raw, size_t len)
{
	owner_ctx	oc;
	int32		id,
				maxver;
	tc_key_kind k;
	bool		exists;

	tc_keystore_check_name(name);
	owner_enter(&oc);
	exists = lock_key(name, &id, &k, &maxver);
	owner_leave(&oc);
	if (!exists)
	{
		uint8		mat[EC_DER_MAX];

		/* validated before anything is written */
		(void) canonical_material(kind, raw, len, mat, sizeof(mat));
		explicit_bzero(mat, sizeof(mat));
		create_internal(name, kind, NULL, "imported", raw, len, false);
		return 1;
	}
	return new_version(name, raw, len, kind, true);
}

int
tc_keystore_destroy(const char *name, int32 version)
{
	owner_ctx	oc;
	int32		id,
				maxver;
	tc_key_kind kind;
	Oid			types[2] = {TEXTOID, INT4OID};
	Datum		args[2];
	int			n;

	tc_keystore_check_name(name);
	owner_enter(&oc);
	if (!lock_key(name, &id, &kind, &maxver))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("key \"%s\" does not exist", name)));
	if (version != TC_KEY_CURRENT && (version < 1 || version > maxver))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("key \"%s\" has no version %d", name, version)));
	args[0] = CStringGetTextDatum(name);
	args[1] = Int32GetDatum(version);
	if (SPI_execute_with_args("UPDATE tracechain.keys SET material = NULL, status = 'destroyed', "
							  "destroyed_at = pg_catalog.now() "
							  "WHERE name OPERATOR(pg_catalog.=) $1 AND status OPERATOR(pg_catalog.<>) 'destroyed' "
							  "AND ($2 OPERATOR(pg_catalog.=) 0 OR version OPERATOR(pg_catalog.=) $2)",
							  2, types, args, NULL, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "could not destroy the key");
	n = (int) SPI_processed;
	audit_key("key.destroy", name, version, kind, "versions_destroyed", psprintf("%d", n));
	owner_leave(&oc);
	mark_touched();
	return n;
}

int
tc_keystore_rewrap_master(void)
{
	owner_ctx	oc;
	int			n = 0;
	uint64		rows;
	SPITupleTable *tt;

	if (!tc_master_rotation_configured())
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("no master key rotation is configured"),
				 errhint("Set tracechain.master_key_old_file to the previous key and tracechain.master_key_file to the new one, then reload.")));
	owner_enter(&oc);
	if (SPI_execute("SELECT id, name, version, kind, material FROM tracechain.keys "
					"WHERE material IS NOT NULL ORDER BY id, version FOR UPDATE", false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read tracechain.keys");
	rows = SPI_processed;
	tt = SPI_tuptable;
	for (uint64 i = 0; i < rows; i++)
	{
		HeapTuple	tup = tt->vals[i];
		bool		isnull;
		int32		id = DatumGetInt32(SPI_getbinval(tup, tt->tupdesc, 1, &isnull));
		char	   *name = SPI_getvalue(tup, tt->tupdesc, 2);
		int32		ver = DatumGetInt32(SPI_getbinval(tup, tt->tupdesc, 3, &isnull));
		char	   *kindtxt = SPI_getvalue(tup, tt->tupdesc, 4);
		bytea	   *sealed = DatumGetByteaPP(SPI_getbinval(tup, tt->tupdesc, 5, &isnull));
		tc_key_kind kind;
		char		aad[200];
		bytea	   *resealed;

		if (!tc_key_kind_parse(kindtxt, &kind) || strlen(name) > TC_KEY_NAME_MAX)
			elog(ERROR, "unexpected row in tracechain.keys");
		seal_aad(aad, sizeof(aad), id, name, ver, kind);
		resealed = tc_reseal(SEAL_PURPOSE, (const uint8 *) aad, strlen(aad), sealed);
		if (resealed != NULL)
		{
			Oid			types[3] = {BYTEAOID, INT4OID, INT4OID};
			Datum		args[3] = {PointerGetDatum(resealed), Int32GetDatum(id), Int32GetDatum(ver)};

			if (SPI_execute_with_args("UPDATE tracechain.keys SET material = $1 "
									  "WHERE id OPERATOR(pg_catalog.=) $2 AND version OPERATOR(pg_catalog.=) $3",
									  3, types, args, NULL, false, 0) != SPI_OK_UPDATE)
				elog(ERROR, "could not update tracechain.keys");
			n++;
		}
	}
	owner_leave(&oc);
	{
		tc_audit_row row;
		StringInfoData js;
		int			total = n;

		/* the secrets other modules seal themselves (registered with keys.c), as the owner */
		owner_enter(&oc);
		initStringInfo(&js);
		appendStringInfo(&js, "{\"keys_resealed\": %d", n);
		for (int i = 0; i < tc_keys_reseal_count(); i++)
		{
			int			m = tc_keys_reseal_run(i);

			/* module names are C string constants of the modules: no escaping needed */
			appendStringInfo(&js, ", \"%s_resealed\": %d", tc_keys_reseal_name(i), m);
			total += m;
		}
		appendStringInfoChar(&js, '}');
		memset(&row, 0, sizeof(row));
		row.at = GetCurrentTimestamp();
		row.type = "security";
		row.action = "master_key.rewrap";
		row.resource = "keys";
		row.details = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(js.data)));
		row.actor = tc_current_principal();
		(void) tc_audit_append(&row);
		owner_leave(&oc);
		n = total;
	}
	mark_touched();
	return n;
}

/* ---------------------------------------------------------------------
 * SQL entry points (EXECUTE granted to tracechain_admin only)
 */

static char *
arg_name(FunctionCallInfo fcinfo, int i)
{
	char	   *s;

	if (PG_ARGISNULL(i))
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("key name must not be null")));
	s = text_to_cstring(PG_GETARG_TEXT_PP(i));
	tc_keystore_check_name(s);
	return s;
}

static tc_key_kind
arg_kind(FunctionCallInfo fcinfo, int i)
{
	tc_key_kind k;

	if (PG_ARGISNULL(i) || !tc_key_kind_parse(text_to_cstring(PG_GETARG_TEXT_PP(i)), &k))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid key kind"),
				 errhint("Use aead, hmac or ec-p256.")));
	return k;
}

static void
refuse_principal_name(const char *name)
{
	if (strncmp(name, TC_PRINCIPAL_KEY_PREFIX, strlen(TC_PRINCIPAL_KEY_PREFIX)) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("key names starting with \"%s\" are reserved for per-principal keys",
						TC_PRINCIPAL_KEY_PREFIX),
				 errhint("Per-principal keys are made by encrypt_for() and destroyed by forget_principal().")));
}

PG_FUNCTION_INFO_V1(tc_key_create);
Datum
tc_key_create(PG_FUNCTION_ARGS)
{
	char	   *name = arg_name(fcinfo, 0);
	tc_key_kind kind = arg_kind(fcinfo, 1);

	refuse_principal_name(name);
	PG_RETURN_INT32(tc_keystore_create(name, kind));
}

PG_FUNCTION_INFO_V1(tc_key_rotate);
Datum
tc_key_rotate(PG_FUNCTION_ARGS)
{
	char	   *name = arg_name(fcinfo, 0);

	refuse_principal_name(name);	/* a forgotten principal's key stays forgotten */
	PG_RETURN_INT32(tc_keystore_rotate(name));
}

PG_FUNCTION_INFO_V1(tc_key_destroy);
Datum
tc_key_destroy(PG_FUNCTION_ARGS)
{
	char	   *name = arg_name(fcinfo, 0);

	refuse_principal_name(name);	/* forget_principal() is the way to destroy those */
	if (PG_ARGISNULL(1) || PG_GETARG_INT32(1) < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("key version must be a positive integer")));
	(void) tc_keystore_destroy(name, PG_GETARG_INT32(1));
	PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(tc_key_import);
Datum
tc_key_import(PG_FUNCTION_ARGS)
{
	char	   *name = arg_name(fcinfo, 0);
	bytea	   *raw;
	tc_key_kind kind = arg_kind(fcinfo, 2);
	int32		v;

	refuse_principal_name(name);
	if (PG_ARGISNULL(1))
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("key material must not be null")));
	raw = PG_GETARG_BYTEA_P_COPY(1);
	v = tc_keystore_import(name, kind, (const uint8 *) VARDATA(raw), VARSIZE(raw) - VARHDRSZ);
	explicit_bzero(VARDATA(raw), VARSIZE(raw) - VARHDRSZ);
	PG_RETURN_INT32(v);
}

PG_FUNCTION_INFO_V1(tc_master_key_rewrap);
Datum
tc_master_key_rewrap(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(tc_keystore_rewrap_master());
}

/* key_usage(name) -> setof (version, status, encryptions): live counts. */
PG_FUNCTION_INFO_V1(tc_key_usage);
Datum
tc_key_usage(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *name = arg_name(fcinfo, 0);
	owner_ctx	oc;
	Oid			type = TEXTOID;
	Datum		arg = CStringGetTextDatum(name);
	MemoryContext callcxt = CurrentMemoryContext;
	struct row
	{
		int32		id,
					version;
		char		status[16];
		int64		enc;
	}		   *rows;
	uint64		nrows;

	InitMaterializedSRF(fcinfo, 0);
	owner_enter(&oc);
	if (SPI_execute_with_args("SELECT id, version, status, encryptions FROM tracechain.keys "
							  "WHERE name OPERATOR(pg_catalog.=) $1 ORDER BY version",
							  1, &type, &arg, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read tracechain.keys");
	nrows = SPI_processed;
	rows = MemoryContextAlloc(callcxt, sizeof(struct row) * (nrows + 1));
	for (uint64 i = 0; i < nrows; i++)
	{
		bool		isnull;
		HeapTuple	t = SPI_tuptable->vals[i];

		rows[i].id = DatumGetInt32(SPI_getbinval(t, SPI_tuptable->tupdesc, 1, &isnull));
		rows[i].version = DatumGetInt32(SPI_getbinval(t, SPI_tuptable->tupdesc, 2, &isnull));
		strlcpy(rows[i].status, SPI_getvalue(t, SPI_tuptable->tupdesc, 3), sizeof(rows[i].status));
		rows[i].enc = DatumGetInt64(SPI_getbinval(t, SPI_tuptable->tupdesc, 4, &isnull));
	}
	owner_leave(&oc);
	MemoryContextSwitchTo(callcxt);
	for (uint64 i = 0; i < nrows; i++)
	{
		Datum		values[3];
		bool		nulls[3] = {false, false, false};

		values[0] = Int32GetDatum(rows[i].version);
		values[1] = CStringGetTextDatum(rows[i].status);
		values[2] = Int64GetDatum(live_count(rows[i].id, rows[i].version, rows[i].enc));
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

void
tc_keystore_init(void)
{
	lock_index = tc_shmem_register("keystore", sizeof(ks_shared), 1, shared_init, (void **) &shared);
	DefineCustomIntVariable("tracechain.key_encryptions_warn",
							"Encryptions under one key version after which a WARNING asks for a rotation.",
							NULL, &encryptions_warn, 1073741824, 1, INT_MAX,
							PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("tracechain.key_encryptions_max",
							"Encryptions under one key version after which encryption is refused.",
							"AES-GCM with random 96-bit nonces must stay far below 2^32 messages per key.",
							&encryptions_max, INT_MAX, 1, INT_MAX,
							PGC_SUSET, 0, NULL, NULL, NULL);
	RegisterXactCallback(ks_xact_callback, NULL);
	RegisterSubXactCallback(ks_subxact_callback, NULL);
	if (lock_index >= 0)
		tc_worker_add_job("flush key counters", tc_keystore_flush_job);
}

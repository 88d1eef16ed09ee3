/*
 * ratelimit.c: rate limiting and IP blocking in shared memory (ratelimit.sql;
 * docs/ratelimit.md).
 *
 * - Algorithm: GCRA (the generic cell rate algorithm, a token bucket written
 *   as one "theoretical arrival time" per window), kept exactly in integer
 *   arithmetic.  For a window of W microseconds and a limit of L requests,
 *   times are scaled by L (int128), so one request costs exactly W scaled
 *   units and the burst tolerance is W*(L-1): from cold, exactly L requests
 *   are admitted at once, and afterwards one more every W/L.  No interval of
 *   any length t ever admits more than L + t*L/W requests, so a window edge
 *   never admits a second burst (a fixed window admits 2L within a second
 *   across its edge).  Every endpoint has three windows (minute, hour, day);
 *   a request is admitted only when all three admit it, and then charged to
 *   all three.
 * - Memory: tracechain.ratelimit_slots entries, fixed at server start, split
 *   into RL_PARTS partitions, each under its own LWLock, each a chained hash
 *   table with an exact LRU list.  A new key in a full partition takes the
 *   least recently used entry: a check never fails for lack of space.  The
 *   key is (address family, address or IPv6 prefix, 64-bit hash of the
 *   endpoint).
 * - Exactness: the read-modify-write of an entry happens under its
 *   partition's exclusive lock, so N concurrent clients are admitted exactly
 *   as one client would be.
 * - Limits: per endpoint from tracechain.rate_limits (a '*' row overrides the
 *   defaults 60/1000/10000), cached per backend; a trigger on the table bumps
 *   a shared generation counter (at the statement and again at commit), and
 *   each check compares it with the cached generation (one atomic read).
 * - Blocks: the shared-memory list is authoritative for checks (is_blocked,
 *   rate_limit_check) and takes effect at once, even if the caller's
 *   transaction rolls back; the worker job "rate-limit blocks" copies new
 *   blocks into tracechain.ip_blocks (so they survive a restart), loads the
 *   table into shared memory after a restart, and purges expired rows.  An
 *   expired block stops applying at once (its end time is compared on every
 *   check).  Blocks are networks (family, prefix length, masked address).
 * - Login throttling: failed sign-ins (siwe_login) and TOTP codes count here
 *   per IP and per principal (_login_throttle_ok / _login_throttle_fail), in
 *   one window of tracechain.login_throttle_window.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "commands/trigger.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "port/atomics.h"
#include "storage/lwlock.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/inet.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "events.h"
#include "principal.h"
#include "ratelimit.h"
#include "shmem.h"
#include "worker.h"

#ifndef HAVE_INT128
#error "ratelimit.c needs a 128-bit integer type"
#endif

#define RL_PARTS 16
#define RL_NWIN 3
#define RL_MAX_ENDPOINT 200
#define RL_MAX_LIMIT 10000000
#define RL_REASON_LEN 96
#define RL_FAMILY_PRINCIPAL 255 /* throttle keys that are not addresses */

static const int64 rl_window_us[RL_NWIN] = {
	INT64CONST(60) * USECS_PER_SEC,
	INT64CONST(3600) * USECS_PER_SEC,
	INT64CONST(86400) * USECS_PER_SEC
};
static const char *const rl_window_name[RL_NWIN] = {"minute", "hour", "day"};

/* GUCs */
static int	rl_slots = 16384;
static int	rl_max_blocks = 4096;
static int	rl_ipv6_prefix = 64;
static int	login_window_s = 900;
static int	login_max_ip = 100;
static int	login_max_principal = 50;

/* ---------------------------------------------------------------------- */
/* Shared memory layout                                                    */
/* ---------------------------------------------------------------------- */

typedef struct rl_key
{
	uint8		family;			/* PGSQL_AF_INET, PGSQL_AF_INET6, RL_FAMILY_PRINCIPAL */
	uint8		pad[7];
	uint8		addr[16];
	uint64		ep;				/* hash of the endpoint */
} rl_key;

typedef struct rl_entry
{
	rl_key		key;
	uint32		hash;
	int32		next;			/* bucket chain, -1 ends */
	int32		lru_prev;		/* towards the most recent */
	int32		lru_next;		/* towards the least recent */
	int32		limit[RL_NWIN]; /* the L each tat is scaled by (0: unused) */
	int128		tat[RL_NWIN];	/* theoretical arrival time, microseconds * L */
} rl_entry;

typedef struct rl_part
{
	int32		lru_head;		/* most recently used */
	int32		lru_tail;		/* least recently used */
	int32		nused;
	int32		pad;
	uint64		evictions;
	/* int32 buckets[nbuckets]; rl_entry entries[part_entries]; follow */
} rl_part;

typedef struct rl_block
{
	uint8		family;
	uint8		bits;
	bool		persisted;		/* in ip_blocks (as far as the worker knows) */
	uint8		addr[16];
	TimestampTz until;
	char		reason[RL_REASON_LEN];
} rl_block;

typedef struct rl_shared
{
	pg_atomic_uint64 generation;	/* bumped when rate_limits changes */
	pg_atomic_uint32 nblocks;	/* hosts_used + nnets (read without the lock as a fast path) */
	bool		blocks_loaded;	/* ip_blocks copied in since server start */
	int			hosts_cap;		/* power of two, twice tracechain.ratelimit_max_blocks */
	int			hosts_used;		/* slots taken (live or expired, until the next rebuild) */
	int			nets_max;
	int			nnets;
	int			part_entries;
	int			nbuckets;
	Size		part_size;
	Size		parts_offset;
	Size		nets_offset;
	uint64		blocks_dropped; /* blocks not kept for lack of room (they stay in ip_blocks) */
	rl_block	hosts[FLEXIBLE_ARRAY_MEMBER];	/* open addressing; then nets[nets_max] */
} rl_shared;

static rl_shared *rl = NULL;
static int	rl_lock_base = -1;	/* RL_PARTS partition locks, then the blocks lock */

static inline rl_part *
part_at(int i)
{
	return (rl_part *) ((char *) rl + rl->parts_offset + rl->part_size * (Size) i);
}

static inline int32 *
part_buckets(rl_part *p)
{
	return (int32 *) ((char *) p + MAXALIGN(sizeof(rl_part)));
}

static inline rl_entry *
part_entries(rl_part *p)
{
	return (rl_entry *) ((char *) p + MAXALIGN(sizeof(rl_part)) +
						 MAXALIGN(sizeof(int32) * (Size) rl->nbuckets));
}

static inline LWLock *
part_lock(int i)
{
	return &tc_shmem_lwlocks()[rl_lock_base + i].lock;
}

static inline LWLock *
blocks_lock(void)
{
	return &tc_shmem_lwlocks()[rl_lock_base + RL_PARTS].lock;
}

static int
entries_per_part(void)
{
	return (rl_slots + RL_PARTS - 1) / RL_PARTS;
}

static int
buckets_per_part(void)
{
	int			n = 1;

	while (n < entries_per_part())
		n <<= 1;
	return n;
}

static Size
part_bytes(void)
{
	return MAXALIGN(sizeof(rl_part)) + MAXALIGN(sizeof(int32) * (Size) buckets_per_part()) +
		sizeof(rl_entry) * (Size) entries_per_part();
}

static int
hosts_capacity(void)
{
	int			n = 1;

	while (n < 2 * rl_max_blocks)
		n <<= 1;
	return n;
}

static Size
nets_offset(void)
{
	return offsetof(rl_shared, hosts) + sizeof(rl_block) * (Size) hosts_capacity();
}

static Size
header_bytes(void)
{
	return MAXALIGN(nets_offset() + sizeof(rl_block) * (Size) rl_max_blocks);
}

static void
rl_shmem_init(void *ptr, bool found)
{
	rl_shared  *s = (rl_shared *) ptr;

	if (found)
		return;
	memset(s, 0, header_bytes());
	pg_atomic_init_u64(&s->generation, 1);
	pg_atomic_init_u32(&s->nblocks, 0);
	s->hosts_cap = hosts_capacity();
	s->nets_max = rl_max_blocks;
	s->nets_offset = nets_offset();
	s->part_entries = entries_per_part();
	s->nbuckets = buckets_per_part();
	s->part_size = part_bytes();
	s->parts_offset = header_bytes();
	rl = s;
	for (int i = 0; i < RL_PARTS; i++)
	{
		rl_part    *p = part_at(i);
		int32	   *b = part_buckets(p);

		p->lru_head = p->lru_tail = -1;
		p->nused = 0;
		p->evictions = 0;
		for (int j = 0; j < s->nbuckets; j++)
			b[j] = -1;
	}
}

static void
require_shmem(void)
{
	if (rl == NULL || !tc_shmem_available())
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("tracechain must be loaded through shared_preload_libraries to rate-limit"),
				 errhint("Add tracechain to shared_preload_libraries and restart the server.")));
}

/* ---------------------------------------------------------------------- */
/* Keys                                                                    */
/* ---------------------------------------------------------------------- */

/* The key of an address: IPv6 counted per tracechain.ratelimit_ipv6_prefix. */
static void
key_from_inet(rl_key *k, inet *ip, uint64 ep)
{
	int			fam = ip_family(ip);
	int			n = fam == PGSQL_AF_INET ? 4 : 16;

	memset(k, 0, sizeof(*k));
	k->family = (uint8) fam;
	memcpy(k->addr, ip_addr(ip), n);
	if (fam == PGSQL_AF_INET6 && rl_ipv6_prefix < 128)
	{
		int			bits = rl_ipv6_prefix;

		for (int i = 0; i < 16; i++)
		{
			int			keep = bits >= 8 ? 8 : (bits > 0 ? bits : 0);

			k->addr[i] &= (uint8) (0xff << (8 - keep));
			bits -= 8;
		}
	}
	k->ep = ep;
}

static uint64
endpoint_hash(const char *p, int len)
{
	return hash_bytes_extended((const unsigned char *) p, len, UINT64CONST(0x7472616365636861));
}

static void
check_endpoint(text *ep)
{
	int			len = VARSIZE_ANY_EXHDR(ep);

	if (len < 1 || len > RL_MAX_ENDPOINT)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("endpoint must be between 1 and %d bytes", RL_MAX_ENDPOINT)));
}

/* ---------------------------------------------------------------------- */
/* Partition hash table with an exact LRU list                             */
/* ---------------------------------------------------------------------- */

static void
lru_unlink(rl_part *p, rl_entry *e, int32 idx)
{
	rl_entry   *ents = part_entries(p);

	if (e->lru_prev >= 0)
		ents[e->lru_prev].lru_next = e->lru_next;
	else
		p->lru_head = e->lru_next;
	if (e->lru_next >= 0)
		ents[e->lru_next].lru_prev = e->lru_prev;
	else
		p->lru_tail = e->lru_prev;
	e->lru_prev = e->lru_next = -1;
}

static void
lru_push_head(rl_part *p, rl_entry *e, int32 idx)
{
	rl_entry   *ents = part_entries(p);

	e->lru_prev = -1;
	e->lru_next = p->lru_head;
	if (p->lru_head >= 0)
		ents[p->lru_head].lru_prev = idx;
	p->lru_head = idx;
	if (p->lru_tail < 0)
		p->lru_tail = idx;
}

/*
 * Find the key's entry in partition p (caller holds its lock), or with
 * `create` make one (evicting the least recently used entry when full;
 * exclusive lock needed).  A found or created entry becomes the most recent
 * when `touch`.
 */
static rl_entry *
part_lookup(rl_part *p, const rl_key *k, uint32 hash, bool create, bool touch)
{
	int32	   *buckets = part_buckets(p);
	rl_entry   *ents = part_entries(p);
	int32		b = (int32) ((hash >> 4) & (uint32) (rl->nbuckets - 1));
	int32		idx;
	rl_entry   *e;

	for (idx = buckets[b]; idx >= 0; idx = ents[idx].next)
	{
		e = &ents[idx];
		if (e->hash == hash && memcmp(&e->key, k, sizeof(rl_key)) == 0)
		{
			if (touch && p->lru_head != idx)
			{
				lru_unlink(p, e, idx);
				lru_push_head(p, e, idx);
			}
			return e;
		}
	}
	if (!create)
		return NULL;
	if (p->nused < rl->part_entries)
		idx = p->nused++;
	else
	{
		/* Evict the least recently used entry: unlink it from its chain. */
		int32	   *pp;

		idx = p->lru_tail;
		e = &ents[idx];
		pp = &buckets[(e->hash >> 4) & (uint32) (rl->nbuckets - 1)];
		while (*pp != idx)
			pp = &ents[*pp].next;
		*pp = e->next;
		lru_unlink(p, e, idx);
		p->evictions++;
	}
	e = &ents[idx];
	memset(e, 0, sizeof(*e));
	e->key = *k;
	e->hash = hash;
	e->next = buckets[b];
	buckets[b] = idx;
	lru_push_head(p, e, idx);
	return e;
}

static inline uint32
key_hash(const rl_key *k)
{
	return hash_bytes((const unsigned char *) k, sizeof(rl_key));
}

/* ---------------------------------------------------------------------- */
/* GCRA                                                                    */
/* ---------------------------------------------------------------------- */

/* The entry's TAT for window w scaled to limit L (rescaled if L changed). */
static int128
tat_for(rl_entry *e, int w, int32 L)
{
	if (e->limit[w] == 0)
		return 0;
	if (e->limit[w] != L)
	{
		e->tat[w] = e->tat[w] / e->limit[w] * L;
		e->limit[w] = L;
	}
	return e->tat[w];
}

/* Requests currently counted in window w (0..L): ceil((tat - now) / W). */
static int32
gcra_used(int128 tat, int128 now_s, int64 W)
{
	int128		d = tat - now_s;

	if (d <= 0)
		return 0;
	return (int32) ((d + W - 1) / W);
}

/*
 * Check (and with `charge`, count) one request at `at` against the limits
 * (0 = window unused) with window lengths win[].  Returns -1 when admitted,
 * else the first window that refuses.  With force, charge even when refused
 * (login failures are counted whatever happens).
 */
static int
gcra_apply(rl_entry *e, const int32 *limit, const int64 *win, TimestampTz at, bool charge, bool force)
{
	int128		tat[RL_NWIN];
	int			refused = -1;

	for (int w = 0; w < RL_NWIN; w++)
	{
		int128		now_s;

		if (limit[w] == 0)
			continue;
		now_s = (int128) at * limit[w];
		tat[w] = tat_for(e, w, limit[w]);
		if (e->limit[w] == 0)
			e->limit[w] = limit[w];
		if (tat[w] < now_s)
			tat[w] = now_s;
		/* tolerance W*(L-1): the request fits iff tat - now <= W*(L-1) */
		if (refused < 0 && tat[w] - now_s > (int128) win[w] * (limit[w] - 1))
			refused = w;
	}
	if (charge && (refused < 0 || force))
		for (int w = 0; w < RL_NWIN; w++)
			if (limit[w] != 0)
				e->tat[w] = tat[w] + win[w];
	return refused;
}

/* ---------------------------------------------------------------------- */
/* Per-backend cache of endpoint limits                                    */
/* ---------------------------------------------------------------------- */

#define LC_SIZE 128				/* power of two */

typedef struct lc_entry
{
	uint64		h;
	bool		used;
	int			len;
	char	   *endpoint;		/* in CacheMemoryContext */
	int32		limit[RL_NWIN];
} lc_entry;

static lc_entry lcache[LC_SIZE];
static int	lcache_n = 0;
static uint64 lcache_gen = 0;
static SPIPlanPtr limits_plan = NULL;

static void
lcache_clear(void)
{
	for (int i = 0; i < LC_SIZE; i++)
	{
		if (lcache[i].used && lcache[i].endpoint)
			pfree(lcache[i].endpoint);
		lcache[i].used = false;
		lcache[i].endpoint = NULL;
	}
	lcache_n = 0;
}

/* The owner of a tracechain table (the extension's owner). */
static Oid
table_owner(const char *relname)
{
	Oid			relid = get_relname_relid(relname, get_namespace_oid("tracechain", false));
	HeapTuple	tup;
	Oid			owner;

	if (!OidIsValid(relid))
		elog(ERROR, "tracechain.%s does not exist", relname);
	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for relation %u", relid);
	owner = ((Form_pg_class) GETSTRUCT(tup))->relowner;
	ReleaseSysCache(tup);
	return owner;
}

/* Read the limits of `endpoint` (or of '*', or the defaults) from rate_limits. */
static void
limits_load(const char *p, int len, int32 *out)
{
	Oid			save_uid;
	int			save_ctx;
	Oid			owner = table_owner("rate_limits");
	volatile int rc = 0;
	Datum		arg[1];

	out[0] = 60;
	out[1] = 1000;
	out[2] = 10000;
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (limits_plan == NULL)
	{
		SPIPlanPtr	pl = SPI_prepare("SELECT per_minute, per_hour, per_day FROM tracechain.rate_limits "
									 "WHERE endpoint IN ($1, '*') ORDER BY endpoint = '*' LIMIT 1",
									 1, (Oid[]) {TEXTOID});

		if (pl == NULL || SPI_keepplan(pl) != 0)
			elog(ERROR, "could not prepare the rate limits query");
		limits_plan = pl;
	}
	arg[0] = PointerGetDatum(cstring_to_text_with_len(p, len));
	/* Read as the table's owner: the callers have no right on it. */
	GetUserIdAndSecContext(&save_uid, &save_ctx);
	SetUserIdAndSecContext(owner, save_ctx | SECURITY_LOCAL_USERID_CHANGE | SECURITY_RESTRICTED_OPERATION);
	PG_TRY();
	{
		rc = SPI_execute_plan(limits_plan, arg, NULL, true, 1);
	}
	PG_FINALLY();
	{
		SetUserIdAndSecContext(save_uid, save_ctx);
	}
	PG_END_TRY();
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "could not read tracechain.rate_limits");
	if (SPI_processed == 1)
		for (int i = 0; i < RL_NWIN; i++)
		{
			bool		isnull;
			Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, i + 1, &isnull);

			if (!isnull)
				out[i] = DatumGetInt32(d);
		}
	SPI_finish();
}

/* The limits of an endpoint, from the cache; nothing allocated on a hit. */
static const int32 *
limits_for(const char *p, int len, uint64 h)
{
	uint64		gen = pg_atomic_read_u64(&rl->generation);
	int			i;

	if (gen != lcache_gen)
	{
		lcache_clear();
		lcache_gen = gen;
	}
	for (int probe = 0; probe < LC_SIZE; probe++)
	{
		lc_entry   *c;

		i = (int) ((h + (uint64) probe) & (LC_SIZE - 1));
		c = &lcache[i];
		if (!c->used)
			break;
		if (c->h == h && c->len == len && memcmp(c->endpoint, p, len) == 0)
			return c->limit;
	}
	/* Miss: load, then insert (a full cache starts over). */
	{
		int32		lim[RL_NWIN];
		lc_entry   *c;

		limits_load(p, len, lim);
		if (lcache_n >= LC_SIZE / 2)
			lcache_clear();
		for (int probe = 0;; probe++)
		{
			i = (int) ((h + (uint64) probe) & (LC_SIZE - 1));
			if (!lcache[i].used)
				break;
		}
		c = &lcache[i];
		c->used = true;
		c->h = h;
		c->len = len;
		c->endpoint = MemoryContextAlloc(CacheMemoryContext, len);
		memcpy(c->endpoint, p, len);
		memcpy(c->limit, lim, sizeof(lim));
		lcache_n++;
		return c->limit;
	}
}

/* ---------------------------------------------------------------------- */
/* Blocks                                                                  */
/* ---------------------------------------------------------------------- */

/*
 * Two structures under one lock: blocks of exactly one counting unit (an
 * IPv4 address, an IPv6 network of tracechain.ratelimit_ipv6_prefix; every
 * automatic block is one) in an open-addressing hash table, looked up in
 * O(1); any other network in a short list scanned on each check.
 */

static inline rl_block *
nets_at(void)
{
	return (rl_block *) ((char *) rl + rl->nets_offset);
}

static inline int
unit_bits(int family)
{
	return family == PGSQL_AF_INET ? 32 : rl_ipv6_prefix;
}

static void
mask_addr(uint8 *addr, int family, int bits)
{
	int			n = family == PGSQL_AF_INET ? 4 : 16;

	for (int i = 0; i < n; i++)
	{
		int			keep = bits >= 8 ? 8 : (bits > 0 ? bits : 0);

		addr[i] &= (uint8) (0xff << (8 - keep));
		bits -= 8;
	}
}

static bool
block_covers(const rl_block *b, int family, const uint8 *addr)
{
	int			bits = b->bits;
	int			i;

	if (b->family != family)
		return false;
	for (i = 0; bits >= 8; i++, bits -= 8)
		if (b->addr[i] != addr[i])
			return false;
	if (bits > 0 && ((b->addr[i] ^ addr[i]) & (uint8) (0xff << (8 - bits))) != 0)
		return false;
	return true;
}

/* The hash slot of a unit (masked address), or the empty slot where it would go. */
static rl_block *
host_slot(int family, const uint8 *masked)
{
	uint8		k[17];
	uint32		h;

	k[0] = (uint8) family;
	memcpy(k + 1, masked, 16);
	h = hash_bytes(k, sizeof(k));
	for (int i = 0; i < rl->hosts_cap; i++)
	{
		rl_block   *b = &rl->hosts[(h + (uint32) i) & (uint32) (rl->hosts_cap - 1)];

		if (b->family == 0 || (b->family == family && memcmp(b->addr, masked, 16) == 0))
			return b;
	}
	return NULL;				/* not reached: the table is at most half full */
}

/* The latest end of a live block covering the address, or 0. */
static TimestampTz
blocked_until(int family, const uint8 *addr_in, TimestampTz at)
{
	TimestampTz until = 0;
	uint8		addr[16] = {0};
	rl_block   *b;

	if (pg_atomic_read_u32(&rl->nblocks) == 0)
		return 0;
	memcpy(addr, addr_in, family == PGSQL_AF_INET ? 4 : 16);
	LWLockAcquire(blocks_lock(), LW_SHARED);
	if (rl->hosts_used > 0)
	{
		uint8		m[16];

		memcpy(m, addr, 16);
		mask_addr(m, family, unit_bits(family));
		b = host_slot(family, m);
		if (b != NULL && b->family != 0 && b->until > at)
			until = b->until;
	}
	for (int i = 0; i < rl->nnets; i++)
	{
		b = &nets_at()[i];
		if (b->until > at && b->until > until && block_covers(b, family, addr))
			until = b->until;
	}
	LWLockRelease(blocks_lock());
	return until;
}

static void
nblocks_update(void)
{
	pg_atomic_write_u32(&rl->nblocks, (uint32) (rl->hosts_used + rl->nnets));
}

/* Rebuild the hash table with its live entries only (blocks lock held exclusively). */
static void
hosts_rebuild_locked(TimestampTz now)
{
	int			live = 0;
	rl_block   *keep = palloc(sizeof(rl_block) * (Size) Max(rl->hosts_used, 1));

	for (int i = 0; i < rl->hosts_cap && live < rl->hosts_used; i++)
		if (rl->hosts[i].family != 0 && rl->hosts[i].until > now)
			keep[live++] = rl->hosts[i];
	memset(rl->hosts, 0, sizeof(rl_block) * (Size) rl->hosts_cap);
	for (int i = 0; i < live; i++)
		*host_slot(keep[i].family, keep[i].addr) = keep[i];
	rl->hosts_used = live;
	pfree(keep);
	nblocks_update();
}

/*
 * Add or extend a block of a network in shared memory (caller holds the
 * blocks lock exclusively).  When there is no room even after dropping
 * expired entries, the block is counted in blocks_dropped (it still goes to
 * ip_blocks when it came from there or from block_ip).
 */
static void
block_put_locked(int family, int bits, const uint8 *addr_in, TimestampTz until,
				 const char *reason, bool persisted, TimestampTz now)
{
	uint8		addr[16] = {0};
	rl_block   *b = NULL;

	memcpy(addr, addr_in, family == PGSQL_AF_INET ? 4 : 16);
	mask_addr(addr, family, bits);
	if (bits == unit_bits(family))
	{
		b = host_slot(family, addr);
		if (b->family == 0)
		{
			if (rl->hosts_used >= rl->hosts_cap / 2)
			{
				hosts_rebuild_locked(now);
				b = host_slot(family, addr);
			}
			if (rl->hosts_used >= rl->hosts_cap / 2)
			{
				rl->blocks_dropped++;
				return;
			}
			rl->hosts_used++;
		}
	}
	else
	{
		for (int i = 0; i < rl->nnets && b == NULL; i++)
			if (nets_at()[i].family == family && nets_at()[i].bits == bits &&
				memcmp(nets_at()[i].addr, addr, 16) == 0)
				b = &nets_at()[i];
		if (b == NULL)
		{
			if (rl->nnets < rl->nets_max)
				b = &nets_at()[rl->nnets++];
			else
			{
				/* Full: take the one that ends soonest (expired ones first). */
				for (int i = 0; i < rl->nnets; i++)
					if (b == NULL || nets_at()[i].until < b->until)
						b = &nets_at()[i];
				if (b->until > now)
					rl->blocks_dropped++;
			}
		}
	}
	if (b->family == 0 || b->bits != bits || memcmp(b->addr, addr, 16) != 0)
	{
		memset(b, 0, sizeof(*b));
		b->family = (uint8) family;
		b->bits = (uint8) bits;
		memcpy(b->addr, addr, 16);
	}
	else if (b->until >= until && (persisted || !b->persisted))
		return;
	if (until > b->until)
		b->until = until;
	b->persisted = persisted && b->until == until;
	strlcpy(b->reason, reason ? reason : "", RL_REASON_LEN);
	nblocks_update();
}

/* Find the block of exactly this network (blocks lock held), or NULL. */
static rl_block *
block_find_locked(int family, int bits, const uint8 *masked)
{
	if (bits == unit_bits(family))
	{
		rl_block   *b = rl->hosts_used > 0 ? host_slot(family, masked) : NULL;

		return b != NULL && b->family != 0 ? b : NULL;
	}
	for (int i = 0; i < rl->nnets; i++)
		if (nets_at()[i].family == family && nets_at()[i].bits == bits &&
			memcmp(nets_at()[i].addr, masked, 16) == 0)
			return &nets_at()[i];
	return NULL;
}

/* Drop expired entries (caller holds the blocks lock exclusively). */
static void
blocks_compact_locked(TimestampTz now)
{
	int			j = 0;

	for (int i = 0; i < rl->nnets; i++)
		if (nets_at()[i].until > now)
		{
			if (i != j)
				nets_at()[j] = nets_at()[i];
			j++;
		}
	rl->nnets = j;
	hosts_rebuild_locked(now);
}

/* Copy every block (hosts, then nets) for the worker; caller holds the lock. */
static int
blocks_copy_locked(rl_block *out, bool only_unpersisted, TimestampTz now)
{
	int			n = 0;

	for (int i = 0; i < rl->hosts_cap; i++)
		if (rl->hosts[i].family != 0 && rl->hosts[i].until > now &&
			(!only_unpersisted || !rl->hosts[i].persisted))
			out[n++] = rl->hosts[i];
	for (int i = 0; i < rl->nnets; i++)
		if (nets_at()[i].until > now && (!only_unpersisted || !nets_at()[i].persisted))
			out[n++] = nets_at()[i];
	return n;
}

static char *
inet_text(inet *ip)
{
	return DatumGetCString(DirectFunctionCall1(inet_out, InetPGetDatum(ip)));
}

/* A security event for an automatic block. */
static void
record_block_event(inet *ip, const char *endpoint, int elen, int w, int32 limit, TimestampTz until)
{
	StringInfoData buf;
	char	   *ep = pnstrdup(endpoint, elen);
	char	   *ipt = inet_text(ip);

	initStringInfo(&buf);
	appendStringInfoString(&buf, "{\"endpoint\": ");
	escape_json(&buf, ep);
	appendStringInfo(&buf, ", \"window\": \"%s\", \"limit\": %d, \"until\": ", rl_window_name[w], limit);
	escape_json(&buf, timestamptz_to_str(until));
	appendStringInfoChar(&buf, '}');
	tc_event_record("security", "ratelimit.blocked", psprintf("ip:%s", ipt),
					DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(buf.data))),
					tc_current_principal(), ipt);
}

/* ---------------------------------------------------------------------- */
/* The check                                                               */
/* ---------------------------------------------------------------------- */

static bool
rate_limit_check_at(inet *ip, text *endpoint, TimestampTz at)
{
	const char *ep = VARDATA_ANY(endpoint);
	int			elen = VARSIZE_ANY_EXHDR(endpoint);
	uint64		h = endpoint_hash(ep, elen);
	const int32 *lim = limits_for(ep, elen, h);
	int32		limit[RL_NWIN];
	rl_key		k;
	uint32		kh;
	int			pi;
	rl_entry   *e;
	int			refused;
	TimestampTz until;

	if (blocked_until(ip_family(ip), ip_addr(ip), at) != 0)
		return false;
	memcpy(limit, lim, sizeof(limit));
	key_from_inet(&k, ip, h);
	kh = key_hash(&k);
	pi = (int) (kh % RL_PARTS);
	LWLockAcquire(part_lock(pi), LW_EXCLUSIVE);
	e = part_lookup(part_at(pi), &k, kh, true, true);
	refused = gcra_apply(e, limit, rl_window_us, at, true, false);
	LWLockRelease(part_lock(pi));
	if (refused < 0)
		return true;

	/* Over a limit: block the address for the window's length. */
	until = at + rl_window_us[refused];
	LWLockAcquire(blocks_lock(), LW_EXCLUSIVE);
	{
		char		reason[RL_REASON_LEN];

		snprintf(reason, sizeof(reason), "rate limit: %d per %s on %.*s",
				 limit[refused], rl_window_name[refused], Min(elen, 40), ep);
		block_put_locked(ip_family(ip), unit_bits(ip_family(ip)),
								ip_addr(ip), until, reason, false, at);
	}
	LWLockRelease(blocks_lock());
	record_block_event(ip, ep, elen, refused, limit[refused], until);
	return false;
}

static void
check_args(FunctionCallInfo fcinfo, int n)
{
	for (int i = 0; i < n; i++)
		if (PG_ARGISNULL(i))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("rate limit arguments must not be null")));
}

PG_FUNCTION_INFO_V1(tc_rate_limit_check);
Datum
tc_rate_limit_check(PG_FUNCTION_ARGS)
{
	check_args(fcinfo, 2);
	require_shmem();
	check_endpoint(PG_GETARG_TEXT_PP(1));
	PG_RETURN_BOOL(rate_limit_check_at(PG_GETARG_INET_PP(0), PG_GETARG_TEXT_PP(1), GetCurrentTimestamp()));
}

/* Test-only: the same check at a given time (granted to nobody). */
PG_FUNCTION_INFO_V1(tc_rate_limit_check_at);
Datum
tc_rate_limit_check_at(PG_FUNCTION_ARGS)
{
	TimestampTz at;

	check_args(fcinfo, 3);
	require_shmem();
	check_endpoint(PG_GETARG_TEXT_PP(1));
	at = PG_GETARG_TIMESTAMPTZ(2);
	if (TIMESTAMP_NOT_FINITE(at))
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("time must be finite")));
	PG_RETURN_BOOL(rate_limit_check_at(PG_GETARG_INET_PP(0), PG_GETARG_TEXT_PP(1), at));
}

/* _rate_limit_info(ip, endpoint, at) -> (minute, hour, day, per_minute, per_hour, per_day) */
PG_FUNCTION_INFO_V1(tc_rate_limit_info);
Datum
tc_rate_limit_info(PG_FUNCTION_ARGS)
{
	inet	   *ip;
	text	   *endpoint;
	TimestampTz at;
	const int32 *lim;
	uint64		h;
	rl_key		k;
	uint32		kh;
	int			pi;
	rl_entry   *e;
	TupleDesc	tupdesc;
	Datum		v[6];
	bool		n[6] = {false};

	check_args(fcinfo, 3);
	require_shmem();
	ip = PG_GETARG_INET_PP(0);
	endpoint = PG_GETARG_TEXT_PP(1);
	check_endpoint(endpoint);
	at = PG_GETARG_TIMESTAMPTZ(2);
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	h = endpoint_hash(VARDATA_ANY(endpoint), VARSIZE_ANY_EXHDR(endpoint));
	lim = limits_for(VARDATA_ANY(endpoint), VARSIZE_ANY_EXHDR(endpoint), h);
	key_from_inet(&k, ip, h);
	kh = key_hash(&k);
	pi = (int) (kh % RL_PARTS);
	LWLockAcquire(part_lock(pi), LW_EXCLUSIVE);	/* tat_for may rescale */
	e = part_lookup(part_at(pi), &k, kh, false, false);
	for (int w = 0; w < RL_NWIN; w++)
	{
		int32		used = 0;

		if (e != NULL && e->limit[w] != 0)
			used = gcra_used(tat_for(e, w, lim[w]), (int128) at * lim[w], rl_window_us[w]);
		v[w] = Int32GetDatum(used);
		v[3 + w] = Int32GetDatum(lim[w]);
	}
	LWLockRelease(part_lock(pi));
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, v, n)));
}

/* _rate_limit_blocked_until(ip, at) -> timestamptz or null */
PG_FUNCTION_INFO_V1(tc_rate_limit_blocked_until);
Datum
tc_rate_limit_blocked_until(PG_FUNCTION_ARGS)
{
	inet	   *ip;
	TimestampTz until;

	check_args(fcinfo, 2);
	require_shmem();
	ip = PG_GETARG_INET_PP(0);
	until = blocked_until(ip_family(ip), ip_addr(ip), PG_GETARG_TIMESTAMPTZ(1));
	if (until == 0)
		PG_RETURN_NULL();
	PG_RETURN_TIMESTAMPTZ(until);
}

/* is_blocked(ip) -> boolean: a live block covers the address (shared memory only). */
PG_FUNCTION_INFO_V1(tc_is_blocked);
Datum
tc_is_blocked(PG_FUNCTION_ARGS)
{
	inet	   *ip;

	check_args(fcinfo, 1);
	require_shmem();
	ip = PG_GETARG_INET_PP(0);
	PG_RETURN_BOOL(blocked_until(ip_family(ip), ip_addr(ip), GetCurrentTimestamp()) != 0);
}

/* _rate_limit_block(network, until, reason): into shared memory, for the worker to persist. */
PG_FUNCTION_INFO_V1(tc_rate_limit_block);
Datum
tc_rate_limit_block(PG_FUNCTION_ARGS)
{
	inet	   *ip;
	char	   *reason;

	check_args(fcinfo, 2);
	require_shmem();
	ip = PG_GETARG_INET_PP(0);
	reason = PG_ARGISNULL(2) ? "" : text_to_cstring(PG_GETARG_TEXT_PP(2));
	LWLockAcquire(blocks_lock(), LW_EXCLUSIVE);
	block_put_locked(ip_family(ip), ip_bits(ip), ip_addr(ip), PG_GETARG_TIMESTAMPTZ(1),
							reason, false, GetCurrentTimestamp());
	LWLockRelease(blocks_lock());
	PG_RETURN_VOID();
}

static bool
same_key_addr(const rl_key *k, int family, const uint8 *addr, int bits)
{
	rl_block	b;

	if (k->family != family)
		return false;
	memset(&b, 0, sizeof(b));
	b.family = (uint8) family;
	b.bits = (uint8) bits;
	memcpy(b.addr, addr, family == PGSQL_AF_INET ? 4 : 16);
	mask_addr(b.addr, family, bits);
	return block_covers(&b, family, k->addr);
}

/*
 * _rate_limit_unblock(network) -> int: drop the network's own block and
 * forget the counters of every address inside it (else the next request
 * would be refused again at once).  Returns how many blocks went away.
 */
PG_FUNCTION_INFO_V1(tc_rate_limit_unblock);
Datum
tc_rate_limit_unblock(PG_FUNCTION_ARGS)
{
	inet	   *ip;
	int			fam,
				bits;
	uint8		addr[16] = {0};
	int			removed = 0;

	check_args(fcinfo, 1);
	require_shmem();
	ip = PG_GETARG_INET_PP(0);
	fam = ip_family(ip);
	bits = ip_bits(ip);
	memcpy(addr, ip_addr(ip), fam == PGSQL_AF_INET ? 4 : 16);
	mask_addr(addr, fam, bits);
	LWLockAcquire(blocks_lock(), LW_EXCLUSIVE);
	{
		rl_block   *b = block_find_locked(fam, bits, addr);

		if (b != NULL && b->until > GetCurrentTimestamp())
			removed++;
		if (b != NULL)
			b->until = 0;
	}
	blocks_compact_locked(GetCurrentTimestamp());
	LWLockRelease(blocks_lock());
	for (int pi = 0; pi < RL_PARTS; pi++)
	{
		rl_part    *p = part_at(pi);
		rl_entry   *ents = part_entries(p);

		LWLockAcquire(part_lock(pi), LW_EXCLUSIVE);
		for (int i = 0; i < p->nused; i++)
			if (same_key_addr(&ents[i].key, fam, addr, bits))
				memset(ents[i].tat, 0, sizeof(ents[i].tat));
		LWLockRelease(part_lock(pi));
	}
	PG_RETURN_INT32(removed);
}

/* _rate_limit_stats() -> (slots, entries, evictions, blocks, blocks_dropped, loaded) */
PG_FUNCTION_INFO_V1(tc_rate_limit_stats);
Datum
tc_rate_limit_stats(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	Datum		v[6];
	bool		n[6] = {false};
	int64		entries = 0;
	uint64		ev = 0;

	require_shmem();
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	for (int pi = 0; pi < RL_PARTS; pi++)
	{
		LWLockAcquire(part_lock(pi), LW_SHARED);
		entries += part_at(pi)->nused;
		ev += part_at(pi)->evictions;
		LWLockRelease(part_lock(pi));
	}
	LWLockAcquire(blocks_lock(), LW_SHARED);
	v[3] = Int32GetDatum((int32) pg_atomic_read_u32(&rl->nblocks));
	v[4] = Int64GetDatum((int64) rl->blocks_dropped);
	v[5] = BoolGetDatum(rl->blocks_loaded);
	LWLockRelease(blocks_lock());
	v[0] = Int32GetDatum(rl->part_entries * RL_PARTS);
	v[1] = Int64GetDatum(entries);
	v[2] = Int64GetDatum((int64) ev);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, v, n)));
}

/* ---------------------------------------------------------------------- */
/* rate_limits changes: the shared generation                              */
/* ---------------------------------------------------------------------- */

static bool bump_at_commit = false;

static void
bump_xact_cb(XactEvent event, void *arg)
{
	if (!bump_at_commit)
		return;
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_PARALLEL_COMMIT ||
		event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT)
	{
		if (rl != NULL)
			pg_atomic_fetch_add_u64(&rl->generation, 1);
		bump_at_commit = false;
	}
}

/* Statement trigger on rate_limits: every backend reloads its cached limits. */
PG_FUNCTION_INFO_V1(tc_rate_limits_changed);
Datum
tc_rate_limits_changed(PG_FUNCTION_ARGS)
{
	static bool registered = false;

	if (!CALLED_AS_TRIGGER(fcinfo))
		elog(ERROR, "tc_rate_limits_changed: not called as a trigger");
	if (rl != NULL)
	{
		pg_atomic_fetch_add_u64(&rl->generation, 1);
		if (!registered)
		{
			RegisterXactCallback(bump_xact_cb, NULL);
			registered = true;
		}
		bump_at_commit = true;
	}
	return PointerGetDatum(NULL);
}

/* ---------------------------------------------------------------------- */
/* Login throttling                                                        */
/* ---------------------------------------------------------------------- */

/* The keys of a login kind: by IP (inet, may be null) and by principal (text, may be null). */
static int
throttle_keys(const char *kind, size_t kindlen, const inet *ip, const char *principal, size_t plen,
			  rl_key *keys, int32 *limits)
{
	int			nk = 0;
	char		buf[64];
	int			klen = (int) Min(kindlen, 40);

	if (ip != NULL && login_max_ip > 0)
	{
		snprintf(buf, sizeof(buf), "login-ip:%.*s", klen, kind);
		key_from_inet(&keys[nk], (inet *) ip, endpoint_hash(buf, strlen(buf)));
		limits[nk++] = login_max_ip;
	}
	if (principal != NULL && login_max_principal > 0)
	{
		uint64		h1,
					h2;

		snprintf(buf, sizeof(buf), "login-principal:%.*s", klen, kind);
		memset(&keys[nk], 0, sizeof(rl_key));
		keys[nk].family = RL_FAMILY_PRINCIPAL;
		h1 = hash_bytes_extended((const unsigned char *) principal, plen, 1);
		h2 = hash_bytes_extended((const unsigned char *) principal, plen, 2);
		memcpy(keys[nk].addr, &h1, 8);
		memcpy(keys[nk].addr + 8, &h2, 8);
		keys[nk].ep = endpoint_hash(buf, strlen(buf));
		limits[nk++] = login_max_principal;
	}
	return nk;
}

/*
 * Login throttling from C (ratelimit.h): whether another attempt of `kind`
 * may be made from ip and for principal (either may be NULL); with
 * `charge`, count one failed attempt (false once over the limit).
 */
bool
tc_login_throttle(const char *kind, const inet *ip, const char *principal, bool charge)
{
	rl_key		keys[2];
	int32		limits[2];
	int			nk;
	bool		ok = true;
	TimestampTz at = GetCurrentTimestamp();
	int64		win[RL_NWIN] = {(int64) login_window_s * USECS_PER_SEC, 0, 0};

	require_shmem();
	nk = throttle_keys(kind, strlen(kind), ip, principal, principal ? strlen(principal) : 0, keys, limits);
	for (int i = 0; i < nk; i++)
	{
		uint32		kh = key_hash(&keys[i]);
		int			pi = (int) (kh % RL_PARTS);
		int32		lim[RL_NWIN] = {limits[i], 0, 0};
		rl_entry   *e;

		LWLockAcquire(part_lock(pi), LW_EXCLUSIVE);
		e = part_lookup(part_at(pi), &keys[i], kh, charge, true);
		if (e != NULL && gcra_apply(e, lim, win, at, charge, true) >= 0)
			ok = false;
		LWLockRelease(part_lock(pi));
	}
	return ok;
}

static bool
throttle(FunctionCallInfo fcinfo, bool charge)
{
	inet	   *ip = PG_ARGISNULL(1) ? NULL : PG_GETARG_INET_PP(1);
	char	   *principal = PG_ARGISNULL(2) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(2));

	if (PG_ARGISNULL(0))
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("login kind must not be null")));
	return tc_login_throttle(text_to_cstring(PG_GETARG_TEXT_PP(0)), ip, principal, charge);
}

/* _login_throttle_ok(kind, ip, principal) -> whether another attempt may be made */
PG_FUNCTION_INFO_V1(tc_login_throttle_ok);
Datum
tc_login_throttle_ok(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(throttle(fcinfo, false));
}

/* _login_throttle_fail(kind, ip, principal) -> count one failed attempt; false once over */
PG_FUNCTION_INFO_V1(tc_login_throttle_fail);
Datum
tc_login_throttle_fail(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(throttle(fcinfo, true));
}

/* ---------------------------------------------------------------------- */
/* The worker job: load after a restart, persist new blocks, purge         */
/* ---------------------------------------------------------------------- */

/*
 * Load ip_blocks after a restart, write the blocks not yet in it, purge
 * expired rows.  Returns the blocks written (count in *nwritten), to be
 * marked persisted only once the transaction has committed.
 */
static rl_block *
blocks_job_body(int *nwritten, MemoryContext outcxt)
{
	TimestampTz now = GetCurrentTimestamp();
	int			n;
	rl_block   *copy;
	bool		loaded;

	LWLockAcquire(blocks_lock(), LW_SHARED);
	loaded = rl->blocks_loaded;
	LWLockRelease(blocks_lock());

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (!loaded)
	{
		int			rc = SPI_execute("SELECT network, blocked_until, reason FROM tracechain.ip_blocks "
									 "WHERE blocked_until > now()", true, 0);

		if (rc != SPI_OK_SELECT)
			elog(ERROR, "could not read tracechain.ip_blocks");
		LWLockAcquire(blocks_lock(), LW_EXCLUSIVE);
		for (uint64 i = 0; i < SPI_processed; i++)
		{
			bool		isnull;
			HeapTuple	t = SPI_tuptable->vals[i];
			TupleDesc	d = SPI_tuptable->tupdesc;
			inet	   *ip = DatumGetInetPP(SPI_getbinval(t, d, 1, &isnull));
			TimestampTz until = DatumGetTimestampTz(SPI_getbinval(t, d, 2, &isnull));
			Datum		r = SPI_getbinval(t, d, 3, &isnull);

			block_put_locked(ip_family(ip), ip_bits(ip), ip_addr(ip), until,
									isnull ? "" : TextDatumGetCString(r), true, now);
		}
		rl->blocks_loaded = true;
		LWLockRelease(blocks_lock());
	}

	/* Copy the blocks not yet in the table, then write them without the lock. */
	LWLockAcquire(blocks_lock(), LW_SHARED);
	copy = MemoryContextAlloc(outcxt, sizeof(rl_block) * (Size) (rl->hosts_used + rl->nnets + 1));
	n = blocks_copy_locked(copy, true, now);
	LWLockRelease(blocks_lock());
	for (int i = 0; i < n; i++)
	{
		inet	   *ip = palloc0(sizeof(inet));
		Datum		args[3];
		int			rc;

		ip_family(ip) = copy[i].family;
		ip_bits(ip) = copy[i].bits;
		memcpy(ip_addr(ip), copy[i].addr, copy[i].family == PGSQL_AF_INET ? 4 : 16);
		SET_INET_VARSIZE(ip);
		args[0] = InetPGetDatum(ip);
		args[1] = TimestampTzGetDatum(copy[i].until);
		args[2] = CStringGetTextDatum(copy[i].reason);
		rc = SPI_execute_with_args("INSERT INTO tracechain.ip_blocks AS b (network, blocked_until, reason) "
								   "VALUES ($1::cidr, $2, $3) ON CONFLICT (network) DO UPDATE "
								   "SET blocked_until = greatest(b.blocked_until, EXCLUDED.blocked_until), "
								   "reason = EXCLUDED.reason",
								   3, (Oid[]) {INETOID, TIMESTAMPTZOID, TEXTOID}, args, NULL, false, 0);
		if (rc != SPI_OK_INSERT)
			elog(ERROR, "could not write tracechain.ip_blocks");
	}
	if (SPI_execute("DELETE FROM tracechain.ip_blocks WHERE blocked_until <= now()", false, 0) != SPI_OK_DELETE)
		elog(ERROR, "could not purge tracechain.ip_blocks");
	SPI_finish();

	*nwritten = n;
	return copy;
}

/* After commit: mark what was written (unless it changed meanwhile), drop expired entries. */
static void
blocks_mark_persisted(rl_block *copy, int n)
{
	TimestampTz now = GetCurrentTimestamp();

	LWLockAcquire(blocks_lock(), LW_EXCLUSIVE);
	for (int i = 0; i < n; i++)
	{
		rl_block   *b = block_find_locked(copy[i].family, copy[i].bits, copy[i].addr);

		if (b != NULL && b->until == copy[i].until)
			b->persisted = true;
	}
	blocks_compact_locked(now);
	LWLockRelease(blocks_lock());
}

static void
tc_ratelimit_blocks_job(void)
{
	MemoryContext jobcxt = CurrentMemoryContext;
	int			n;
	rl_block   *written;

	if (rl == NULL || RecoveryInProgress())
		return;
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, "tracechain rate-limit blocks");
	written = blocks_job_body(&n, jobcxt);
	PopActiveSnapshot();
	CommitTransactionCommand();
	blocks_mark_persisted(written, n);
	pgstat_report_activity(STATE_IDLE, NULL);
}

/* _rate_limit_sync(): the worker's job, now, in the caller's transaction (tests, admin). */
PG_FUNCTION_INFO_V1(tc_rate_limit_sync);
Datum
tc_rate_limit_sync(PG_FUNCTION_ARGS)
{
	int			n;

	require_shmem();
	/* Marks nothing persisted: the worker writes the same rows again (idempotent) after its own commit. */
	(void) blocks_job_body(&n, CurrentMemoryContext);
	PG_RETURN_VOID();
}

void
tc_ratelimit_init(void)
{
	DefineCustomIntVariable("tracechain.ratelimit_slots",
							"Rate-limit counters kept in shared memory (one per address and endpoint); the least recently used is evicted when full.",
							NULL, &rl_slots, 16384, 256, 1 << 22,
							PGC_POSTMASTER, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("tracechain.ratelimit_max_blocks",
							"Blocked networks kept in shared memory.",
							NULL, &rl_max_blocks, 4096, 16, 1 << 20,
							PGC_POSTMASTER, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("tracechain.ratelimit_ipv6_prefix",
							"IPv6 addresses are counted per network of this prefix length.",
							NULL, &rl_ipv6_prefix, 64, 32, 128,
							PGC_POSTMASTER, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("tracechain.login_throttle_window",
							"Window in which failed sign-ins and TOTP codes are counted per IP and per principal.",
							NULL, &login_window_s, 900, 1, 86400,
							PGC_SUSET, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomIntVariable("tracechain.login_throttle_ip",
							"Failed sign-in attempts (siwe_login, totp_verify) per IP per window before further attempts are refused (0: off).",
							NULL, &login_max_ip, 100, 0, RL_MAX_LIMIT,
							PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("tracechain.login_throttle_principal",
							"Failed sign-in attempts per principal or wallet per window before further attempts are refused (0: off).",
							NULL, &login_max_principal, 50, 0, RL_MAX_LIMIT,
							PGC_SUSET, 0, NULL, NULL, NULL);
	rl_lock_base = tc_shmem_register("ratelimit", header_bytes() + part_bytes() * RL_PARTS,
									 RL_PARTS + 1, rl_shmem_init, (void **) &rl);
	tc_worker_add_job("rate-limit blocks", tc_ratelimit_blocks_job);
}

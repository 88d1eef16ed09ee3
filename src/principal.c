/*
 * principal.c: session tokens and the current principal (see principal.h).
 *
 * Tokens are "tcs_" followed by the base64url of 32 random bytes; only the
 * SHA-256 of the token text is stored.  The SQL half of this module
 * (principal.sql) looks sessions up by that hash.
 */
#include "postgres.h"

#include <openssl/evp.h>

#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "utils/memutils.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#include "direct.h"
#include "encoding.h"
#include "keys.h"
#include "principal.h"

#define TOKEN_PREFIX "tcs_"
#define TOKEN_PREFIX_LEN 4
#define TOKEN_RANDOM_BYTES 32
#define TOKEN_LEN (TOKEN_PREFIX_LEN + 43)

typedef struct current_state
{
	bool		set;
	pg_uuid_t	principal;
	int64		session_id;
	int			aal;
	ItemPointerData session_tid;	/* where authenticate() read the session; may be invalid */
} current_state;

static current_state cur;

/*
 * What cur was when a subtransaction first changed it, newest first, so that
 * ROLLBACK TO SAVEPOINT (or a PL/pgSQL exception block) also takes back an
 * authenticate() or an AAL raise made inside it, with the rows it wrote.
 * Lives in TopTransactionContext; the whole transaction's end clears cur.
 */
typedef struct saved_state
{
	SubTransactionId subid;
	current_state state;
	struct saved_state *next;
} saved_state;

static saved_state *saved = NULL;

tc_principal_fallback_hook_type tc_principal_fallback_hook = NULL;
static bool callback_registered = false;
static int	session_max_ttl_s = 30 * 86400;

static void
reset_current(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_PREPARE:
			memset(&cur, 0, sizeof(cur));
			saved = NULL;
			break;
		default:
			break;
	}
}

static void
subxact_state(SubXactEvent event, SubTransactionId mySubid, SubTransactionId parentSubid, void *arg)
{
	if (event == SUBXACT_EVENT_ABORT_SUB)
	{
		/* entries of this subtransaction and of its (ended) children */
		while (saved != NULL && saved->subid >= mySubid)
		{
			cur = saved->state;
			saved = saved->next;
		}
	}
	else if (event == SUBXACT_EVENT_COMMIT_SUB && saved != NULL && saved->subid == mySubid)
	{
		/* the parent inherits the restore point, unless it has its own */
		if (parentSubid == TopSubTransactionId ||
			(saved->next != NULL && saved->next->subid == parentSubid))
			saved = saved->next;
		else
			saved->subid = parentSubid;
	}
}

/* Call before changing cur. */
static void
remember_state(void)
{
	SubTransactionId sub = GetCurrentSubTransactionId();
	saved_state *s;

	if (!callback_registered)
	{
		RegisterXactCallback(reset_current, NULL);
		RegisterSubXactCallback(subxact_state, NULL);
		callback_registered = true;
	}
	if (sub == TopSubTransactionId || (saved != NULL && saved->subid == sub))
		return;
	s = MemoryContextAlloc(TopTransactionContext, sizeof(saved_state));
	s->subid = sub;
	s->state = cur;
	s->next = saved;
	saved = s;
}

const pg_uuid_t *
tc_current_principal(void)
{
	if (cur.set)
		return &cur.principal;
	return tc_principal_fallback_hook ? tc_principal_fallback_hook() : NULL;
}

int64
tc_current_session_id(void)
{
	return cur.set ? cur.session_id : 0;
}

int
tc_current_aal(void)
{
	return cur.set ? cur.aal : 0;
}

void
tc_set_current_aal(int aal)
{
	if (cur.set)
	{
		remember_state();
		cur.aal = aal;
	}
}

bool
tc_current_session_tid(ItemPointerData *tid)
{
	if (!cur.set || !ItemPointerIsValid(&cur.session_tid))
		return false;
	*tid = cur.session_tid;
	return true;
}

/* _token_new() -> text: a fresh session token. */
PG_FUNCTION_INFO_V1(tc_token_new);
Datum
tc_token_new(PG_FUNCTION_ARGS)
{
	uint8		rnd[TOKEN_RANDOM_BYTES];
	char		tok[TOKEN_LEN + 1];

	tc_random_bytes(rnd, sizeof(rnd));
	memcpy(tok, TOKEN_PREFIX, TOKEN_PREFIX_LEN);
	tc_b64url_encode(rnd, sizeof(rnd), tok + TOKEN_PREFIX_LEN);
	tok[TOKEN_LEN] = '\0';
	explicit_bzero(rnd, sizeof(rnd));
	PG_RETURN_TEXT_P(cstring_to_text_with_len(tok, TOKEN_LEN));
}

/* SHA-256 of a well-formed token into out; false when the text is not a token at all. */
static bool
token_hash(text *t, uint8 *out)
{
	const char *p = VARDATA_ANY(t);
	size_t		len = VARSIZE_ANY_EXHDR(t);
	uint8		raw[TOKEN_RANDOM_BYTES + 2];
	unsigned int outlen = 0;

	if (len != TOKEN_LEN || memcmp(p, TOKEN_PREFIX, TOKEN_PREFIX_LEN) != 0 ||
		tc_b64url_decode(p + TOKEN_PREFIX_LEN, len - TOKEN_PREFIX_LEN, raw, sizeof(raw)) != TOKEN_RANDOM_BYTES)
		return false;
	explicit_bzero(raw, sizeof(raw));
	if (EVP_Digest(p, len, out, &outlen, EVP_sha256(), NULL) != 1 || outlen != 32)
		ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR), errmsg("could not hash a session token")));
	return true;
}

/*
 * _token_hash(token) -> bytea: SHA-256 of a well-formed token, or NULL when
 * the text is not a token at all (so the caller can record the failure).
 */
PG_FUNCTION_INFO_V1(tc_token_hash);
Datum
tc_token_hash(PG_FUNCTION_ARGS)
{
	bytea	   *res = palloc(VARHDRSZ + 32);

	if (!token_hash(PG_GETARG_TEXT_PP(0), (uint8 *) VARDATA(res)))
		PG_RETURN_NULL();
	SET_VARSIZE(res, VARHDRSZ + 32);
	PG_RETURN_BYTEA_P(res);
}

static void
set_current(const pg_uuid_t *principal, int aal, int64 session_id)
{
	if (!IsTransactionState())
		elog(ERROR, "_set_principal called outside a transaction");
	remember_state();
	cur.principal = *principal;
	cur.aal = aal;
	cur.session_id = session_id;
	ItemPointerSetInvalid(&cur.session_tid);
	cur.set = true;
}

/* _set_principal(principal, aal, session_id): internal, owner only. */
PG_FUNCTION_INFO_V1(tc_set_principal);
Datum
tc_set_principal(PG_FUNCTION_ARGS)
{
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2))
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("principal, aal and session must not be null")));
	set_current(PG_GETARG_UUID_P(0), PG_GETARG_INT32(1), PG_GETARG_INT64(2));
	PG_RETURN_VOID();
}

/*
 * The fast path of authenticate(): a live session of an active principal,
 * read through the indexes without the executor.  False for anything else
 * (unknown, revoked, expired, suspended, or tables that need SQL), which
 * the caller hands to _session_check() to be recorded and refused.
 */
static bool
authenticate_direct(const uint8 *hash, pg_uuid_t *principal, int *aal, int64 *session_id,
					ItemPointerData *tid)
{
	Relation	srel,
				prel;
	TupleTableSlot *slot;
	bytea	   *key = palloc(VARHDRSZ + 32);
	bool		ok = false;

	SET_VARSIZE(key, VARHDRSZ + 32);
	memcpy(VARDATA(key), hash, 32);
	tc_direct_begin();
	srel = tc_direct_open("sessions", AccessShareLock);
	prel = tc_direct_open("principals", AccessShareLock);
	if (tc_direct_readable(srel) && tc_direct_readable(prel))
	{
		AttrNumber	a_id = tc_direct_attnum(srel, "id", INT8OID);
		AttrNumber	a_hash = tc_direct_attnum(srel, "token_hash", BYTEAOID);
		AttrNumber	a_principal = tc_direct_attnum(srel, "principal", UUIDOID);
		AttrNumber	a_aal = tc_direct_attnum(srel, "aal", INT4OID);
		AttrNumber	a_expires = tc_direct_attnum(srel, "expires_at", TIMESTAMPTZOID);
		AttrNumber	a_revoked = tc_direct_attnum(srel, "revoked_at", TIMESTAMPTZOID);
		AttrNumber	p_id = tc_direct_attnum(prel, "id", UUIDOID);
		AttrNumber	p_status = tc_direct_attnum(prel, "status", TEXTOID);
		bool		isnull;

		slot = table_slot_create(srel, NULL);
		if (tc_direct_fetch(srel, a_hash, F_BYTEAEQ, PointerGetDatum(key), slot))
		{
			Datum		id = slot_getattr(slot, a_id, &isnull);
			Datum		p = slot_getattr(slot, a_principal, &isnull);
			Datum		level = slot_getattr(slot, a_aal, &isnull);
			Datum		expires = slot_getattr(slot, a_expires, &isnull);

			(void) slot_getattr(slot, a_revoked, &isnull);
			if (isnull && DatumGetTimestampTz(expires) > GetCurrentTimestamp())
			{
				TupleTableSlot *pslot = table_slot_create(prel, NULL);

				*principal = *DatumGetUUIDP(p);
				*aal = DatumGetInt32(level);
				*session_id = DatumGetInt64(id);
				*tid = slot->tts_tid;
				if (tc_direct_fetch(prel, p_id, F_UUID_EQ, UUIDPGetDatum(principal), pslot))
				{
					text	   *status = DatumGetTextPP(slot_getattr(pslot, p_status, &isnull));

					ok = !isnull && VARSIZE_ANY_EXHDR(status) == 6 && memcmp(VARDATA_ANY(status), "active", 6) == 0;
				}
				ExecDropSingleTupleTableSlot(pslot);
			}
		}
		ExecDropSingleTupleTableSlot(slot);
	}
	table_close(prel, NoLock);
	table_close(srel, NoLock);
	tc_direct_end();
	pfree(key);
	return ok;
}

/*
 * authenticate(token) -> uuid: verify a session token and make its principal
 * the current principal until the end of the transaction.  The common case
 * (a live session) is read directly; everything else goes through
 * _session_check(), the one place a token is refused: it records the
 * failure as a security event and raises 22023, 22P02 or 28000.  Not
 * SECURITY DEFINER (the direct reads need no privilege): the slow path runs
 * as the owner (tc_as_owner_begin).
 */
PG_FUNCTION_INFO_V1(tc_authenticate);
Datum
tc_authenticate(PG_FUNCTION_ARGS)
{
	pg_uuid_t  *principal = palloc(sizeof(pg_uuid_t));
	int			aal;
	int64		session_id;
	ItemPointerData tid;
	uint8		hash[32];
	Datum		arg;
	bool		isnull;
	int			rc;
	tc_as_owner owner;

	if (!PG_ARGISNULL(0) && token_hash(PG_GETARG_TEXT_PP(0), hash) &&
		authenticate_direct(hash, principal, &aal, &session_id, &tid))
	{
		set_current(principal, aal, session_id);
		cur.session_tid = tid;
		PG_RETURN_UUID_P(principal);
	}

	arg = PG_ARGISNULL(0) ? (Datum) 0 : PG_GETARG_DATUM(0);
	tc_as_owner_begin(fcinfo, &owner);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	rc = SPI_execute_with_args("SELECT c.session_id, c.principal, c.aal FROM tracechain._session_check($1) c",
							   1, (Oid[]) {TEXTOID}, &arg, PG_ARGISNULL(0) ? "n" : " ", false, 1);
	if (rc != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "_session_check returned no row");
	session_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	*principal = *DatumGetUUIDP(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	aal = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &isnull));
	SPI_finish();
	tc_as_owner_end(&owner);
	set_current(principal, aal, session_id);
	PG_RETURN_UUID_P(principal);
}

PG_FUNCTION_INFO_V1(tc_current_principal_sql);
Datum
tc_current_principal_sql(PG_FUNCTION_ARGS)
{
	const pg_uuid_t *p = tc_current_principal();
	pg_uuid_t  *u;

	if (p == NULL)
		PG_RETURN_NULL();
	u = palloc(sizeof(pg_uuid_t));
	*u = *p;
	PG_RETURN_UUID_P(u);
}

PG_FUNCTION_INFO_V1(tc_current_aal_sql);
Datum
tc_current_aal_sql(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(tc_current_aal());
}

PG_FUNCTION_INFO_V1(tc_current_session_sql);
Datum
tc_current_session_sql(PG_FUNCTION_ARGS)
{
	if (!cur.set)
		PG_RETURN_NULL();
	PG_RETURN_INT64(cur.session_id);
}

void
tc_principal_init(void)
{
	DefineCustomIntVariable("tracechain.session_max_ttl",
							"Longest lifetime a session may be created with.",
							NULL, &session_max_ttl_s, 30 * 86400, 60, INT_MAX,
							PGC_SUSET, GUC_UNIT_S, NULL, NULL, NULL);
}

/*
 * principal.c: session tokens and the current principal (see principal.h).
 *
 * Tokens are "tcs_" followed by the base64url of 32 random bytes; only the
 * SHA-256 of the token text is stored.  The SQL half of this module
 * (principal.sql) looks sessions up by that hash.
 */
#include "postgres.h"

#include <openssl/evp.h>

#include "access/xact.h"
#include "utils/memutils.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/uuid.h"

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

/*
 * _token_hash(token) -> bytea: SHA-256 of a well-formed token, or NULL when
 * the text is not a token at all (so the caller can record the failure).
 */
PG_FUNCTION_INFO_V1(tc_token_hash);
Datum
tc_token_hash(PG_FUNCTION_ARGS)
{
	text	   *t = PG_GETARG_TEXT_PP(0);
	const char *p = VARDATA_ANY(t);
	size_t		len = VARSIZE_ANY_EXHDR(t);
	uint8		raw[TOKEN_RANDOM_BYTES + 2];
	bytea	   *res;
	unsigned int outlen = 0;

	if (len != TOKEN_LEN || memcmp(p, TOKEN_PREFIX, TOKEN_PREFIX_LEN) != 0 ||
		tc_b64url_decode(p + TOKEN_PREFIX_LEN, len - TOKEN_PREFIX_LEN, raw, sizeof(raw)) != TOKEN_RANDOM_BYTES)
		PG_RETURN_NULL();
	res = palloc(VARHDRSZ + 32);
	if (EVP_Digest(p, len, (unsigned char *) VARDATA(res), &outlen, EVP_sha256(), NULL) != 1 || outlen != 32)
		ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR), errmsg("could not hash a session token")));
	SET_VARSIZE(res, VARHDRSZ + 32);
	PG_RETURN_BYTEA_P(res);
}

/* _set_principal(principal, aal, session_id): internal, owner only. */
PG_FUNCTION_INFO_V1(tc_set_principal);
Datum
tc_set_principal(PG_FUNCTION_ARGS)
{
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2))
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("principal, aal and session must not be null")));
	if (!IsTransactionState())
		elog(ERROR, "_set_principal called outside a transaction");
	remember_state();
	cur.principal = *PG_GETARG_UUID_P(0);
	cur.aal = PG_GETARG_INT32(1);
	cur.session_id = PG_GETARG_INT64(2);
	cur.set = true;
	PG_RETURN_VOID();
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

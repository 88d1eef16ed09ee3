/*
 * audit.h: the only writer of tracechain.audit_log and of its hash chain.
 *
 * Each row's hash is SHA-256(prev_hash || canonical encoding of the row)
 * (src/core/audit_enc.h).  Appends take the chain lock, which is held until
 * the transaction ends, so concurrent writers can never fork the chain and a
 * row of an aborted transaction never becomes anybody's predecessor.
 */
#ifndef TC_AUDIT_H
#define TC_AUDIT_H

#include "postgres.h"
#include "fmgr.h"
#include "datatype/timestamp.h"
#include "utils/jsonb.h"
#include "utils/uuid.h"

typedef struct tc_audit_row
{
	TimestampTz at;
	const char *type;			/* user | system | security | data */
	const pg_uuid_t *actor;		/* NULL for none */
	const char *db_user;		/* NULL: the session user */
	const char *action;
	const char *resource;		/* NULL for none */
	Jsonb	   *details;		/* NULL: {} */
	const char *ip;				/* inet text, NULL for none */
} tc_audit_row;

/* Append one row in the current transaction; returns its id. */
extern int64 tc_audit_append(const tc_audit_row *row);

/* For appending many rows under one lock (the sealer): open, then append each. */
typedef struct tc_chain
{
	Oid			relid;
	int64		head_id;
	uint8		head_hash[32];
	/* direct inserts (tc_chain_begin_direct), for the sealer */
	bool		direct;
	struct RelationData *rel;
	struct EState *estate;
	struct ResultRelInfo *rri;
	/* rows formed but not yet inserted: written together, TC_CHAIN_BATCH at a time */
	struct TupleTableSlot **slots;
	int			nheld;
	MemoryContext heldcxt;
} tc_chain;

extern void tc_chain_open(tc_chain *chain);
extern int64 tc_chain_append(tc_chain *chain, const tc_audit_row *row);
extern int64 tc_chain_append_values(tc_chain *chain, Datum *values, bool *isnull);
extern void tc_chain_begin_direct(tc_chain *chain);
extern void tc_chain_end_direct(tc_chain *chain);


/*
 * Queue a row in audit_pending (in the current transaction, no chain lock);
 * the sealer chains it after commit.
 */
extern void tc_audit_enqueue(const tc_audit_row *row);

/*
 * The same for many rows (audit_capture.c): open audit_pending, queue each
 * row's values (audit_pending's columns, the id left 0) with
 * tc_pending_queue_add, close.
 */
typedef struct tc_pending
{
	struct RelationData *rel;
	Oid			seq;
	const char *session_user;
} tc_pending;

extern void tc_pending_open(tc_pending *p);
extern void tc_pending_close(tc_pending *p);

/*
 * audit_queue.c: rows of audit_pending are held in the backend and written
 * together just before the transaction commits (or sooner: _flush_all).
 */
extern void tc_pending_queue_add(struct RelationData *rel, Oid seq, Datum *values, bool *nulls);
extern bool tc_pending_queue_flush_all(void);

/* Fill a row from the SQL arguments (type, action, resource, details, actor, ip). */
extern void tc_audit_row_from_args(FunctionCallInfo fcinfo, tc_audit_row *row);
extern void tc_audit_intake_init(void);
extern void tc_audit_parallel_init(void);

#endif

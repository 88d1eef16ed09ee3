/*
 * events.h: the one way to record a security event.
 *
 * An event recorded here survives the caller's rollback: it goes into a
 * shared-memory queue that the background worker flushes into audit_log in
 * transactions of its own (normally within milliseconds).  What a crash of
 * the server can lose: the events still in the queue, at most those of the
 * last flush interval (tracechain.worker_naptime).  A clean shutdown flushes.
 */
#ifndef TC_EVENTS_H
#define TC_EVENTS_H

#include "postgres.h"
#include "storage/latch.h"
#include "utils/jsonb.h"
#include "utils/uuid.h"

/*
 * Queue an audit row of `type` (usually "security").  resource, details,
 * actor and ip may be NULL; ip is inet text.  Raises an error when the
 * library was not preloaded or the queue stays full, so that a failure to
 * record is never silent.  On a standby the event goes to the server log.
 */
extern void tc_event_record(const char *type, const char *action, const char *resource,
							Jsonb *details, const pg_uuid_t *actor, const char *ip);

extern void tc_events_init(void);

/* For the worker: attach its latch, and the flush job. */
extern void tc_events_attach_worker(Latch *latch);
extern void tc_events_flush_job(void);

/* Queue counters, for worker_status. */
extern void tc_events_stats(uint64 *enqueued, uint64 *flushed, uint64 *dropped,
							uint64 *pending_bytes);

#endif

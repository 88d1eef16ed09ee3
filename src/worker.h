/*
 * worker.h: the background worker loop.
 *
 * Modules register jobs from their *_init() while the library is preloaded;
 * the worker runs every job on each wake-up (its latch set, or
 * tracechain.worker_naptime passed) and knows nothing of what a job does.
 * A job manages its own transactions; an error in one is logged, recorded
 * in worker_status and retried on the next wake-up, never fatal to the loop.
 */
#ifndef TC_WORKER_H
#define TC_WORKER_H

#include "postgres.h"
#include "datatype/timestamp.h"

typedef void (*tc_job_fn) (void);

extern char *tc_database;		/* tracechain.database */

extern void tc_worker_add_job(const char *name, tc_job_fn fn);
extern void tc_worker_init(void);

/*
 * For jobs, while they run in the worker:
 * - tc_worker_wake_at(t): run the jobs again no later than t (the worker
 *   sleeps until the earliest time any job asked for, or the naptime,
 *   whichever is sooner; a time in the past means "right away": a job with
 *   a backlog asks for now).  The request holds for the next sleep only.
 * - tc_worker_count(n): add n to the running job's item count (shown per job
 *   in worker_status.jobs).
 * - tc_worker_naptime_ms(): tracechain.worker_naptime.
 */
extern void tc_worker_wake_at(TimestampTz at);
extern void tc_worker_count(int64 n);
extern int	tc_worker_naptime_ms(void);

#endif

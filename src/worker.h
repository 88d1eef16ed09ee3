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

typedef void (*tc_job_fn) (void);

extern char *tc_database;		/* tracechain.database */

extern void tc_worker_add_job(const char *name, tc_job_fn fn);
extern void tc_worker_init(void);

#endif

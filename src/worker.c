/*
 * worker.c: the tracechain background worker.
 *
 * Started by the postmaster when the library is preloaded, once recovery has
 * finished (so it does nothing on a standby until promotion), connected to
 * tracechain.database.  SIGTERM ends the loop after a last run of the jobs
 * (which flushes the event queue on a clean shutdown); SIGHUP reloads the
 * configuration.  It exits with status 1, so the postmaster restarts it
 * after bgw_restart_time whenever it dies.
 *
 * It sleeps tracechain.worker_naptime, or less when a job asked, during its
 * last run, to run again sooner (tc_worker_wake_at: the incident job asks for
 * the nearest escalation deadline, or for "now" when it has a backlog).
 * Each job's runs, items (tc_worker_count), errors, last run and last error
 * are kept in shared memory for worker_status.jobs.
 */
#include "postgres.h"

#include "access/xact.h"
#include "commands/extension.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "storage/spin.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "events.h"
#include "shmem.h"
#include "worker.h"

#define TC_MAX_JOBS 16

char	   *tc_database = NULL;
static int	naptime_ms = 1000;

typedef struct tc_job
{
	const char *name;
	tc_job_fn	fn;
} tc_job;

static tc_job jobs[TC_MAX_JOBS];
static int	njobs = 0;

/* Per-job counters, in shared memory for worker_status.jobs. */
typedef struct job_stat
{
	char		name[48];
	uint64		runs;
	uint64		errors;
	uint64		items;			/* what tc_worker_count() added */
	TimestampTz last_run_at;
	int64		last_us;		/* duration of the last run */
	char		last_error[160];
} job_stat;

typedef struct worker_state
{
	slock_t		mutex;
	pid_t		pid;
	TimestampTz started_at;
	TimestampTz last_run_at;
	uint64		runs;
	uint64		errors;
	TimestampTz last_error_at;
	char		last_error[256];
	int			njobs;
	job_stat	jobs[TC_MAX_JOBS];
} worker_state;

static worker_state *wstate = NULL;
static volatile sig_atomic_t got_sigterm = false;
static TimestampTz wake_at = 0;	/* earliest wake-up a job asked for; 0: none */
static int	running_job = -1;

PGDLLEXPORT void tc_worker_main(Datum arg);

void
tc_worker_add_job(const char *name, tc_job_fn fn)
{
	if (!process_shared_preload_libraries_in_progress)
		return;
	if (njobs >= TC_MAX_JOBS)
		elog(ERROR, "too many tracechain worker jobs");
	jobs[njobs].name = name;
	jobs[njobs].fn = fn;
	njobs++;
}

void
tc_worker_wake_at(TimestampTz at)
{
	if (wake_at == 0 || at < wake_at)
		wake_at = at;
}

void
tc_worker_count(int64 n)
{
	if (running_job < 0 || wstate == NULL)
		return;
	SpinLockAcquire(&wstate->mutex);
	wstate->jobs[running_job].items += n;
	SpinLockRelease(&wstate->mutex);
}

int
tc_worker_naptime_ms(void)
{
	return naptime_ms;
}

/* How long to sleep: the naptime, or less when a job asked for an earlier wake-up. */
static long
sleep_ms(void)
{
	long		ms = naptime_ms;

	if (wake_at != 0)
	{
		TimestampTz now = GetCurrentTimestamp();

		if (wake_at <= now)
			ms = 0;
		else
			ms = Min(ms, (long) ((wake_at - now + 999) / 1000));
		wake_at = 0;
	}
	return ms;
}

static void
wstate_init(void *ptr, bool found)
{
	worker_state *w = ptr;

	if (found)
		return;
	memset(w, 0, sizeof(*w));
	SpinLockInit(&w->mutex);
}

static void
worker_sigterm(SIGNAL_ARGS)
{
	int			save_errno = errno;

	got_sigterm = true;
	SetLatch(MyLatch);
	errno = save_errno;
}

static void
worker_detach(int code, Datum arg)
{
	tc_events_attach_worker(NULL);
	SpinLockAcquire(&wstate->mutex);
	wstate->pid = 0;
	SpinLockRelease(&wstate->mutex);
}

static bool
extension_installed(void)
{
	bool		found;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	found = OidIsValid(get_extension_oid("tracechain", true));
	CommitTransactionCommand();
	return found;
}

static void
run_jobs(MemoryContext jobcxt)
{
	if (!extension_installed())
		return;
	for (int i = 0; i < njobs; i++)
	{
		TimestampTz t0 = GetCurrentTimestamp();

		MemoryContextSwitchTo(jobcxt);
		running_job = i;
		PG_TRY();
		{
			jobs[i].fn();
		}
		PG_CATCH();
		{
			ErrorData  *e;

			MemoryContextSwitchTo(jobcxt);
			e = CopyErrorData();
			EmitErrorReport();
			FlushErrorState();
			if (IsTransactionState() || IsAbortedTransactionBlockState())
				AbortCurrentTransaction();
			LWLockReleaseAll();
			ConditionVariableCancelSleep();
			SpinLockAcquire(&wstate->mutex);
			wstate->errors++;
			wstate->last_error_at = GetCurrentTimestamp();
			snprintf(wstate->last_error, sizeof(wstate->last_error), "%s: %s", jobs[i].name, e->message);
			wstate->jobs[i].errors++;
			strlcpy(wstate->jobs[i].last_error, e->message, sizeof(wstate->jobs[i].last_error));
			SpinLockRelease(&wstate->mutex);
		}
		PG_END_TRY();
		running_job = -1;
		SpinLockAcquire(&wstate->mutex);
		wstate->jobs[i].runs++;
		wstate->jobs[i].last_run_at = GetCurrentTimestamp();
		wstate->jobs[i].last_us = wstate->jobs[i].last_run_at - t0;
		SpinLockRelease(&wstate->mutex);
		MemoryContextReset(jobcxt);
	}
	SpinLockAcquire(&wstate->mutex);
	wstate->runs++;
	wstate->last_run_at = GetCurrentTimestamp();
	SpinLockRelease(&wstate->mutex);
}

void
tc_worker_main(Datum arg)
{
	MemoryContext jobcxt;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, worker_sigterm);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnection(tc_database, NULL, 0);
	pgstat_report_appname("tracechain worker");

	SpinLockAcquire(&wstate->mutex);
	wstate->pid = MyProcPid;
	wstate->started_at = GetCurrentTimestamp();
	wstate->njobs = njobs;
	for (int i = 0; i < njobs; i++)
		strlcpy(wstate->jobs[i].name, jobs[i].name, sizeof(wstate->jobs[i].name));
	SpinLockRelease(&wstate->mutex);
	on_shmem_exit(worker_detach, (Datum) 0);
	tc_events_attach_worker(MyLatch);
	ereport(LOG, (errmsg("tracechain worker started in database \"%s\"", tc_database)));

	jobcxt = AllocSetContextCreate(TopMemoryContext, "tracechain worker jobs", ALLOCSET_DEFAULT_SIZES);
	while (!got_sigterm)
	{
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 sleep_ms(), PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		run_jobs(jobcxt);
	}
	/* A clean shutdown: one last run, which flushes the event queue. */
	run_jobs(jobcxt);
	ereport(LOG, (errmsg("tracechain worker shutting down")));
	proc_exit(1);
}

PG_FUNCTION_INFO_V1(tc_worker_status);
Datum
tc_worker_status(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	Datum		v[12];
	bool		n[12] = {0};
	StringInfoData js;
	worker_state w;
	uint64		enq,
				fl,
				dr,
				pend;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	if (wstate == NULL || !tc_shmem_available())
		memset(&w, 0, sizeof(w));
	else
	{
		SpinLockAcquire(&wstate->mutex);
		w = *wstate;
		SpinLockRelease(&wstate->mutex);
	}
	tc_events_stats(&enq, &fl, &dr, &pend);
	v[0] = BoolGetDatum(wstate != NULL);
	v[1] = Int32GetDatum(w.pid);
	n[1] = w.pid == 0;
	v[2] = TimestampTzGetDatum(w.started_at);
	n[2] = w.started_at == 0;
	v[3] = TimestampTzGetDatum(w.last_run_at);
	n[3] = w.last_run_at == 0;
	v[4] = Int64GetDatum((int64) w.runs);
	v[5] = Int64GetDatum((int64) enq);
	v[6] = Int64GetDatum((int64) fl);
	v[7] = Int64GetDatum((int64) dr);
	v[8] = Int64GetDatum((int64) pend);
	v[9] = Int64GetDatum((int64) w.errors);
	v[10] = CStringGetTextDatum(w.last_error);
	n[10] = w.last_error[0] == '\0';
	/* jobs: [{name, runs, items, errors, last_run_at, last_ms, last_error}] */
	initStringInfo(&js);
	appendStringInfoChar(&js, '[');
	for (int i = 0; i < w.njobs && i < TC_MAX_JOBS; i++)
	{
		job_stat   *j = &w.jobs[i];

		if (i > 0)
			appendStringInfoString(&js, ", ");
		appendStringInfoString(&js, "{\"name\": ");
		escape_json(&js, j->name);
		appendStringInfo(&js, ", \"runs\": " UINT64_FORMAT ", \"items\": " UINT64_FORMAT
						 ", \"errors\": " UINT64_FORMAT ", \"last_run_at\": ",
						 j->runs, j->items, j->errors);
		if (j->last_run_at == 0)
			appendStringInfoString(&js, "null");
		else
			escape_json(&js, timestamptz_to_str(j->last_run_at));
		appendStringInfo(&js, ", \"last_ms\": %.3f, \"last_error\": ", j->last_us / 1000.0);
		if (j->last_error[0] == '\0')
			appendStringInfoString(&js, "null");
		else
			escape_json(&js, j->last_error);
		appendStringInfoChar(&js, '}');
	}
	appendStringInfoChar(&js, ']');
	v[11] = DirectFunctionCall1(jsonb_in, CStringGetDatum(js.data));
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, v, n)));
}

void
tc_worker_init(void)
{
	BackgroundWorker bgw;

	DefineCustomStringVariable("tracechain.database",
							   "Database the tracechain background worker connects to.",
							   "Security events can be recorded only in this database.",
							   &tc_database, "postgres",
							   PGC_POSTMASTER, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("tracechain.worker_naptime",
							"Longest sleep of the tracechain background worker between runs.",
							NULL, &naptime_ms, 1000, 10, 60000,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
	if (!process_shared_preload_libraries_in_progress)
		return;
	tc_shmem_register("worker", sizeof(worker_state), 0, wstate_init, (void **) &wstate);

	memset(&bgw, 0, sizeof(bgw));
	bgw.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	bgw.bgw_start_time = BgWorkerStart_RecoveryFinished;
	bgw.bgw_restart_time = 5;
	snprintf(bgw.bgw_library_name, BGW_MAXLEN, "tracechain");
	snprintf(bgw.bgw_function_name, BGW_MAXLEN, "tc_worker_main");
	snprintf(bgw.bgw_name, BGW_MAXLEN, "tracechain worker");
	snprintf(bgw.bgw_type, BGW_MAXLEN, "tracechain worker");
	RegisterBackgroundWorker(&bgw);
}

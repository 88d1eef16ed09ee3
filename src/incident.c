/*
 * incident.c: the C half of the incident module (incident.sql).
 *
 * 1. The write permission behind the incidents guard trigger: the incident
 *    functions announce, with _incident_allow(id), the one change they are
 *    about to make; the trigger refuses every other UPDATE or DELETE.  The
 *    permission lives in backend memory, tagged with the local transaction
 *    id, so it cannot outlive the transaction and no client setting can
 *    forge it.
 * 2. The worker's jobs.  Each runs SQL from incident.sql in transactions of
 *    its own and tells the worker when it next has something to do
 *    (tc_worker_wake_at):
 *    - escalation: one transaction per due incident (the row locked FOR
 *      UPDATE SKIP LOCKED and its deadline re-checked inside), then the
 *      nearest deadline, so the worker wakes up exactly then;
 *    - watch: the audit rows written since the last scan (failed sign-ins
 *      per IP, rate-limit block storms), and every
 *      tracechain.audit_verify_interval the audit chain since the last
 *      verified row (a break is a DATA_TAMPERING incident);
 *    - maintenance: every tracechain.maintenance_interval, purge what has
 *      ended (sessions, nonces, challenges, IP blocks, closed incidents).
 *    A job that fails is logged by the worker and runs again at its next
 *    period; its schedule is advanced before it runs, so a persistent error
 *    cannot turn into a hot loop.
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/proc.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#include "incident.h"
#include "worker.h"

/* Longest a run of the escalation job goes on before letting the other jobs run. */
#define ESCALATE_BUDGET_MS 200
/* Retry delay when the most overdue incident is locked by another transaction. */
#define LOCKED_RETRY_MS 100

/* GUCs */
static int	failed_logins = 10;
static int	failed_login_window_s = 300;
static char *failed_login_actions = NULL;
static int	storm_blocks = 100;
static char *block_actions = NULL;
static int	block_duration_s = 3600;
static int	audit_verify_interval_s = 300;
static int	maintenance_interval_s = 60;
static int	session_retention_s = 7 * 86400;
static int	incident_retention_s = 365 * 86400;

/* The write permission (see above). */
static LocalTransactionId allow_lxid = InvalidLocalTransactionId;
static bool allow_any = false;
static pg_uuid_t allow_id;

/* Job schedules (worker only). */
static TimestampTz escalate_next = 0;
static TimestampTz watch_next = 0;
static TimestampTz verify_next = 0;
static TimestampTz maintenance_next = 0;

static bool
allow_current(void)
{
	return MyProc != NULL && allow_lxid == MyProc->lxid && allow_lxid != InvalidLocalTransactionId;
}

/* SQL: _incident_allow(id uuid): permit one UPDATE of incident id (null: deletes, for the purge). */
PG_FUNCTION_INFO_V1(tc_incident_allow);
Datum
tc_incident_allow(PG_FUNCTION_ARGS)
{
	allow_lxid = MyProc->lxid;
	allow_any = PG_ARGISNULL(0);
	if (!allow_any)
		allow_id = *PG_GETARG_UUID_P(0);
	PG_RETURN_VOID();
}

/* SQL: _incident_allowed(id uuid, consume boolean) -> boolean. */
PG_FUNCTION_INFO_V1(tc_incident_allowed);
Datum
tc_incident_allowed(PG_FUNCTION_ARGS)
{
	bool		ok;

	if (!allow_current())
		PG_RETURN_BOOL(false);
	if (PG_ARGISNULL(0))
		ok = allow_any;
	else
		ok = !allow_any && memcmp(&allow_id, PG_GETARG_UUID_P(0), sizeof(pg_uuid_t)) == 0;
	if (ok && !PG_ARGISNULL(1) && PG_GETARG_BOOL(1))
		allow_lxid = InvalidLocalTransactionId;
	PG_RETURN_BOOL(ok);
}

/*
 * Run one query in a transaction of its own and return the first row's
 * first nout columns, which must be of pass-by-value types (or only tested
 * for null).  Errors propagate to the worker, which aborts the transaction.
 */
static void
job_query(const char *sql, int nargs, Oid *argtypes, Datum *args, int nout, Datum *out, bool *outnull)
{
	int			ret;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, sql);
	ret = SPI_execute_with_args(sql, nargs, argtypes, args, NULL, false, 1);
	if (ret != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "tracechain job query failed: %s", SPI_result_code_string(ret));
	for (int i = 0; i < nout; i++)
		out[i] = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, i + 1, &outnull[i]);
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	pgstat_report_activity(STATE_IDLE, NULL);
}

static TimestampTz
after_ms(TimestampTz t, int64 ms)
{
	return t + ms * 1000;
}

/*
 * Escalation: one transaction per due incident until none is due (or the
 * budget is spent: then ask to run again right away), then sleep until the
 * nearest deadline, rechecking at least every naptime for new incidents.
 */
static void
incident_escalate_job(void)
{
	TimestampTz start = GetCurrentTimestamp();
	int			nap = tc_worker_naptime_ms();

	if (start < escalate_next)
	{
		tc_worker_wake_at(escalate_next);
		return;
	}
	/* If this run fails, it is retried one naptime later, not at every wake-up. */
	escalate_next = after_ms(start, nap);
	for (;;)
	{
		Datum		out[2];
		bool		isnull[2];
		TimestampTz now;

		CHECK_FOR_INTERRUPTS();
		job_query("SELECT escalated, next_due FROM tracechain._incident_escalate_next()",
				  0, NULL, NULL, 2, out, isnull);
		now = GetCurrentTimestamp();
		if (!isnull[0])
		{
			tc_worker_count(1);
			if (TimestampDifferenceExceeds(start, now, ESCALATE_BUDGET_MS))
			{
				escalate_next = 0;
				tc_worker_wake_at(now);
				return;
			}
			continue;
		}
		escalate_next = after_ms(now, nap);
		if (!isnull[1])
		{
			TimestampTz due = DatumGetTimestampTz(out[1]);

			/* Due but skipped: another transaction holds the row; retry soon. */
			if (due <= now)
				due = after_ms(now, Min(nap, LOCKED_RETRY_MS));
			escalate_next = Min(escalate_next, due);
		}
		tc_worker_wake_at(escalate_next);
		return;
	}
}

/* The watch over the audit tail, and the periodic chain verification. */
static void
incident_watch_job(void)
{
	TimestampTz now = GetCurrentTimestamp();

	if (now >= watch_next)
	{
		Oid			types[5] = {TEXTOID, INT4OID, INT4OID, TEXTOID, INT4OID};
		Datum		args[5];
		Datum		out[1];
		bool		isnull[1];

		watch_next = after_ms(now, tc_worker_naptime_ms());
		args[0] = CStringGetTextDatum(failed_login_actions ? failed_login_actions : "");
		args[1] = Int32GetDatum(failed_logins);
		args[2] = Int32GetDatum(failed_login_window_s);
		args[3] = CStringGetTextDatum(block_actions ? block_actions : "");
		args[4] = Int32GetDatum(storm_blocks);
		job_query("SELECT tracechain._incident_watch("
				  "string_to_array(replace($1, ' ', ''), ','), $2, make_interval(secs => $3), "
				  "string_to_array(replace($4, ' ', ''), ','), $5)",
				  5, types, args, 1, out, isnull);
		if (!isnull[0])
			tc_worker_count(DatumGetInt32(out[0]));
	}
	if (audit_verify_interval_s > 0)
	{
		/* The first verification one interval after the worker starts. */
		if (verify_next == 0)
			verify_next = after_ms(now, (int64) audit_verify_interval_s * 1000);
		else if (now >= verify_next)
		{
			Datum		out[1];
			bool		isnull[1];

			verify_next = after_ms(now, (int64) audit_verify_interval_s * 1000);
			job_query("SELECT tracechain._incident_verify_chain() IS NOT NULL", 0, NULL, NULL, 1, out, isnull);
		}
	}
}

static void
maintenance_job(void)
{
	TimestampTz now = GetCurrentTimestamp();
	Oid			types[4] = {INT4OID, INT4OID, INT4OID, INT4OID};
	Datum		args[4];
	Datum		out[1];
	bool		isnull[1];

	if (maintenance_interval_s <= 0)
		return;
	if (maintenance_next == 0)
		maintenance_next = after_ms(now, (int64) maintenance_interval_s * 1000);
	if (now < maintenance_next)
		return;
	maintenance_next = after_ms(now, (int64) maintenance_interval_s * 1000);
	args[0] = Int32GetDatum(session_retention_s);
	args[1] = Int32GetDatum(incident_retention_s);
	args[2] = Int32GetDatum(failed_login_window_s);
	args[3] = Int32GetDatum(10000);
	job_query("SELECT tracechain._maintenance_run(make_interval(secs => $1), make_interval(secs => $2), "
			  "make_interval(secs => $3), $4) <> '{}'",
			  4, types, args, 1, out, isnull);
	if (!isnull[0] && DatumGetBool(out[0]))
		tc_worker_count(1);
}

void
tc_incident_init(void)
{
	DefineCustomIntVariable("tracechain.incident_failed_logins",
							"Failed sign-ins from one IP within the window that raise an UNAUTHORIZED_ACCESS incident (0: off).",
							NULL, &failed_logins, 10, 0, INT_MAX,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("tracechain.incident_failed_login_window",
							"Window of the failed sign-in and block storm counts.",
							NULL, &failed_login_window_s, 300, 1, 86400,
							PGC_SIGHUP, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomStringVariable("tracechain.incident_failed_login_actions",
							   "Audit actions that count as failed sign-ins (comma-separated).",
							   "Only rows with an ip count; data rows (captured changes, the registry's rows) never do.",
							   &failed_login_actions,
							   "session.verify_failed,siwe.login_failed,totp.verify_failed,device.verify_failed,jwt.verify_failed",
							   PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("tracechain.incident_block_storm",
							"Rate-limit blocks within the window that raise a DDoS_ATTACK incident (0: off).",
							NULL, &storm_blocks, 100, 0, INT_MAX,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomStringVariable("tracechain.incident_block_actions",
							   "Audit actions that count as rate-limit blocks (comma-separated).",
							   "Data rows (captured changes, the registry's rows) never count.", &block_actions, "ratelimit.block,ratelimit.blocked",
							   PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("tracechain.incident_block_duration",
							"How long an automated incident response blocks an IP.",
							NULL, &block_duration_s, 3600, 1, INT_MAX,
							PGC_SUSET, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomIntVariable("tracechain.audit_verify_interval",
							"How often the worker verifies the audit chain written since its last verification (0: never).",
							"A break raises a DATA_TAMPERING incident.",
							&audit_verify_interval_s, 300, 0, 86400 * 7,
							PGC_SIGHUP, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomIntVariable("tracechain.maintenance_interval",
							"How often the worker purges ended sessions, nonces, challenges, IP blocks and old incidents (0: never).",
							NULL, &maintenance_interval_s, 60, 0, 86400,
							PGC_SIGHUP, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomIntVariable("tracechain.session_retention",
							"How long ended (expired or revoked) sessions are kept before maintenance deletes them.",
							NULL, &session_retention_s, 7 * 86400, 0, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomIntVariable("tracechain.incident_retention",
							"How long closed incidents and their events are kept (0: forever; the audit log keeps their record).",
							NULL, &incident_retention_s, 365 * 86400, 0, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_S, NULL, NULL, NULL);

	tc_worker_add_job("escalate incidents", incident_escalate_job);
	tc_worker_add_job("watch audit log", incident_watch_job);
	tc_worker_add_job("maintenance", maintenance_job);
}

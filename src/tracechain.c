/*
 * tracechain.c: module magic and _PG_init, which only initializes each
 * module and service.
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/guc.h"

#include "audit.h"
#include "device.h"
#include "events.h"
#include "incident.h"
#include "jwt_module.h"
#include "keys.h"
#include "keystore.h"
#include "principal.h"
#include "rbac.h"
#include "ratelimit.h"
#include "shmem.h"
#include "totp.h"
#include "siwe_login.h"
#include "worker.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

void
_PG_init(void)
{
	tc_shmem_init();
	tc_keys_init();
	tc_worker_init();			/* defines tracechain.database, used by events */
	tc_events_init();
	tc_principal_init();
	tc_keystore_init();
	tc_totp_init();
	tc_siwe_init();
	tc_rbac_init();
	tc_jwt_init();
	tc_ratelimit_init();
	tc_device_init();
	tc_worker_add_job("flush events", tc_events_flush_job);
	tc_audit_intake_init();
	tc_audit_parallel_init();
	tc_incident_init();			/* its jobs run after the flush */
	MarkGUCPrefixReserved("tracechain");
}

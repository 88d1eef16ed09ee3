/*
 * shmem.c: shared memory registry for all modules.
 */
#include "postgres.h"

#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"

#include "shmem.h"

#define TC_MAX_REGIONS 16

typedef struct tc_region
{
	const char *name;
	Size		size;
	int			first_lock;
	tc_shmem_init_fn init;
	void	  **ptr_out;
} tc_region;

static tc_region regions[TC_MAX_REGIONS];
static int	nregions = 0;
static int	nlocks_total = 0;
static bool shmem_ready = false;
static LWLockPadded *locks = NULL;

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

int
tc_shmem_register(const char *name, Size size, int nlwlocks,
				  tc_shmem_init_fn init, void **ptr_out)
{
	int			first = nlocks_total;

	if (!process_shared_preload_libraries_in_progress)
		return -1;
	if (nregions >= TC_MAX_REGIONS)
		elog(ERROR, "too many tracechain shared memory regions");
	regions[nregions].name = name;
	regions[nregions].size = size;
	regions[nregions].first_lock = nlocks_total;
	regions[nregions].init = init;
	regions[nregions].ptr_out = ptr_out;
	nregions++;
	nlocks_total += nlwlocks;
	return first;
}

static void
tc_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	for (int i = 0; i < nregions; i++)
		RequestAddinShmemSpace(MAXALIGN(regions[i].size));
	if (nlocks_total > 0)
		RequestNamedLWLockTranche("tracechain", nlocks_total);
}

static void
tc_shmem_startup(void)
{
	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	if (nlocks_total > 0)
		locks = GetNamedLWLockTranche("tracechain");
	for (int i = 0; i < nregions; i++)
	{
		bool		found;
		char		key[64];
		void	   *ptr;

		snprintf(key, sizeof(key), "tracechain %s", regions[i].name);
		ptr = ShmemInitStruct(key, regions[i].size, &found);
		*regions[i].ptr_out = ptr;
		if (regions[i].init)
			regions[i].init(ptr, found);
	}
	LWLockRelease(AddinShmemInitLock);
	shmem_ready = true;
}

LWLockPadded *
tc_shmem_lwlocks(void)
{
	return locks;
}

bool
tc_shmem_available(void)
{
	return shmem_ready;
}

void
tc_shmem_init(void)
{
	if (!process_shared_preload_libraries_in_progress)
		return;
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = tc_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = tc_shmem_startup;
}

/*
 * shmem.h: the one shmem_request_hook / shmem_startup_hook pair.
 *
 * Modules call tc_shmem_register() from their *_init() while the library is
 * being preloaded; the hooks then reserve and initialize every region.
 */
#ifndef TC_SHMEM_H
#define TC_SHMEM_H

#include "postgres.h"
#include "storage/lwlock.h"

typedef void (*tc_shmem_init_fn) (void *ptr, bool found);

/*
 * Reserve `size` bytes named `name` and `nlwlocks` LWLocks; *ptr_out is set
 * at shmem startup.  Returns the index of the region's first LWLock in
 * tc_shmem_lwlocks().
 */
extern int	tc_shmem_register(const char *name, Size size, int nlwlocks,
							  tc_shmem_init_fn init, void **ptr_out);

/* The LWLocks of the "tracechain" tranche, valid after startup. */
extern LWLockPadded *tc_shmem_lwlocks(void);

/* True when the library was preloaded and shared memory is available. */
extern bool tc_shmem_available(void);

extern void tc_shmem_init(void);

#endif

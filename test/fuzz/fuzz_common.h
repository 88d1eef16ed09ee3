/*
 * fuzz_common.h: shared by the libFuzzer harnesses of test/fuzz/.
 *
 * Each harness copies the input into an exact-size heap buffer (so ASan sees
 * any read one byte past the end) and aborts when an invariant of the parser
 * under test does not hold, which libFuzzer reports as a crash.
 */
#ifndef TC_FUZZ_COMMON_H
#define TC_FUZZ_COMMON_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static inline char *
fz_dup(const uint8_t *data, size_t size)
{
	char	   *p = malloc(size ? size : 1);

	if (size)
		memcpy(p, data, size);
	return p;
}

#define FZ_CHECK(cond) do { if (!(cond)) abort(); } while (0)

#endif

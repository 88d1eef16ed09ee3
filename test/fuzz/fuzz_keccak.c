/*
 * fuzz_keccak.c: Keccak-256 of src/core/keccak.c over arbitrary input, fed
 * in arbitrary chunks (the first byte picks the chunk size): the incremental
 * digest equals the one-shot digest.
 */
#include "fuzz_common.h"
#include "keccak.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t		a[TC_KECCAK256_LEN],
				b[TC_KECCAK256_LEN];
	tc_keccak_ctx ctx;
	size_t		step,
				off;
	char	   *in;

	if (size == 0)
		return 0;
	step = (size_t) data[0] + 1;
	in = fz_dup(data + 1, size - 1);
	size--;
	tc_keccak256((const uint8_t *) in, size, a);
	tc_keccak256_init(&ctx);
	for (off = 0; off < size; off += step)
		tc_keccak256_update(&ctx, (const uint8_t *) in + off, size - off < step ? size - off : step);
	tc_keccak256_final(&ctx, b);
	FZ_CHECK(memcmp(a, b, sizeof(a)) == 0);
	free(in);
	return 0;
}

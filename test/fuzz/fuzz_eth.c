/*
 * fuzz_eth.c: Ethereum address text (EIP-55), 0x-hex and signature checks of
 * src/core/eth.c.  An accepted address formats (checksummed and lower case)
 * to text that parses back to the same bytes; the checksummed text is the
 * input whenever the input had mixed case.
 */
#include "fuzz_common.h"
#include "eth.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	   *in = fz_dup(data, size);
	uint8_t		addr[TC_ETH_ADDR_LEN],
				again[TC_ETH_ADDR_LEN];
	char		text[TC_ETH_ADDR_TEXT_LEN];
	size_t		cap = size / 2;
	uint8_t    *out = malloc(cap ? cap : 1);
	long		n;
	int			recid = -1;
	char		prefix[TC_EIP191_PREFIX_MAX];
	uint8_t		h[32];

	if (tc_eth_address_parse(in, size, addr) == TC_ADDR_OK)
	{
		FZ_CHECK(size == TC_ETH_ADDR_TEXT_LEN);
		tc_eth_address_checksum(addr, text);
		FZ_CHECK(tc_eth_address_parse(text, sizeof(text), again) == TC_ADDR_OK);
		FZ_CHECK(memcmp(addr, again, sizeof(addr)) == 0);
		tc_eth_address_lower(addr, text);
		FZ_CHECK(tc_eth_address_parse(text, sizeof(text), again) == TC_ADDR_OK);
		FZ_CHECK(memcmp(addr, again, sizeof(addr)) == 0);
	}
	n = tc_eth_hex_decode(in, size, out, cap);
	if (n >= 0)
		FZ_CHECK((size_t) n * 2 + 2 == size);
	free(out);
	if (tc_eth_sig_check(data, size, &recid) == TC_SIG_OK)
		FZ_CHECK(size == TC_ETH_SIG_LEN && (recid == 0 || recid == 1));
	(void) tc_eth_sig_status_text(tc_eth_sig_check(data, size, &recid));
	FZ_CHECK(tc_eip191_prefix(size, prefix) <= TC_EIP191_PREFIX_MAX);
	tc_eip191_hash(data, size, h);
	free(in);
	return 0;
}

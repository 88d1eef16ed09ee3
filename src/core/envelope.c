/*
 * envelope.c: the encryption envelope format (see envelope.h).
 */
#include <string.h>

#include "envelope.h"

static uint32_t
get_be32(const uint8_t *p)
{
	return ((uint32_t) p[0] << 24) | ((uint32_t) p[1] << 16) | ((uint32_t) p[2] << 8) | (uint32_t) p[3];
}

static void
put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t) (v >> 24);
	p[1] = (uint8_t) (v >> 16);
	p[2] = (uint8_t) (v >> 8);
	p[3] = (uint8_t) v;
}

int
tc_envelope_parse(const uint8_t *in, size_t len, tc_envelope *out)
{
	if (in == NULL || out == NULL || len < TC_ENV_OVERHEAD)
		return -1;
	if (in[0] != TC_ENV_FORMAT_V1)
		return -1;
	out->format = in[0];
	out->key_id = get_be32(in + 1);
	out->version = get_be32(in + 5);
	if (out->key_id == 0 || out->version == 0)
		return -1;
	out->header = in;
	out->nonce = in + 9;
	out->ct = in + TC_ENV_HDR_LEN;
	out->ctlen = len - TC_ENV_OVERHEAD;
	out->tag = in + TC_ENV_HDR_LEN + out->ctlen;
	return 0;
}

int
tc_envelope_write_header(uint8_t *out, size_t cap, uint32_t key_id, uint32_t version,
						 const uint8_t *nonce)
{
	if (out == NULL || nonce == NULL || cap < TC_ENV_HDR_LEN || key_id == 0 || version == 0)
		return -1;
	out[0] = TC_ENV_FORMAT_V1;
	put_be32(out + 1, key_id);
	put_be32(out + 5, version);
	memcpy(out + 9, nonce, TC_ENV_NONCE_LEN);
	return TC_ENV_HDR_LEN;
}

size_t
tc_envelope_len(size_t ptlen)
{
	if (ptlen > (size_t) -1 - TC_ENV_OVERHEAD)
		return 0;
	return ptlen + TC_ENV_OVERHEAD;
}

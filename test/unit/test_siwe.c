/*
 * test_siwe.c: the EIP-4361 parser and builder and RFC 3339 times of
 * src/core/siwe.c (no server).  Prints TAP-style lines.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "siwe.h"

static int	n = 0,
			failed = 0;

static void
check(int cond, const char *what)
{
	n++;
	if (!cond)
		failed++;
	printf("%sok %d - %s\n", cond ? "" : "not ", n, what);
}

#define HDR "example.com wants you to sign in with your Ethereum account:\n"
#define ADDR "0x2c7536E3605D9C16a7a3D7b1898e529396a65c23"
#define TAIL "URI: https://example.com/login\nVersion: 1\nChain ID: 1\nNonce: 32891756abcDEF12\nIssued At: 2021-09-30T16:25:24Z"
#define GOOD HDR ADDR "\n\nI accept the Terms of Service: https://example.com/tos\n\n" TAIL

static tc_span res[64];
static tc_siwe_msg m;
static const char *err;

static int
parse(const char *s)
{
	return tc_siwe_parse(s, strlen(s), &m, res, 64, &err);
}

/* Parses fails and the error contains `want`. */
static void
refused(const char *s, const char *want, const char *what)
{
	int			rc = parse(s);

	check(rc == -1 && err != NULL && strstr(err, want) != NULL, what);
	if (rc != -1 || err == NULL || strstr(err, want) == NULL)
		printf("#   got rc %d, error \"%s\"\n", rc, err ? err : "(none)");
}

static int
span_is(tc_span s, const char *v)
{
	return s.len == strlen(v) && memcmp(s.p, v, s.len) == 0;
}

static void
test_good(void)
{
	const char *full = HDR ADDR "\n\nStatement.\n\n"
		"URI: https://example.com/login\nVersion: 1\nChain ID: 137\nNonce: 32891756abcDEF12\n"
		"Issued At: 2021-09-30T16:25:24.123456789+02:00\nExpiration Time: 2021-10-01T00:00:00Z\n"
		"Not Before: 2021-09-30T00:00:00.5z\nRequest ID: some-id_1:@%20\nResources:\n"
		"- ipfs://bafybeiemxf5abjwjbikoz4mc3a3dla6ual3jsgpdr4cjr3oz3evfyavhwq/\n"
		"- https://example.com/my-web2-claim.json";

	check(parse(GOOD) == 0, "EIP example message parses");
	check(span_is(m.domain, "example.com") && span_is(m.address, ADDR) && m.has_statement &&
		  span_is(m.statement, "I accept the Terms of Service: https://example.com/tos") &&
		  span_is(m.uri, "https://example.com/login") && m.chain_id == 1 &&
		  span_is(m.nonce, "32891756abcDEF12") && m.issued_at_us == 1633019124LL * 1000000 &&
		  !m.has_expiration_time && !m.has_not_before && !m.has_request_id && !m.has_resources,
		  "fields of the example");
	check(parse(full) == 0, "every field parses");
	check(m.chain_id == 137 && m.has_expiration_time && m.has_not_before && m.has_request_id &&
		  m.has_resources && m.n_resources == 2 &&
		  span_is(res[1], "https://example.com/my-web2-claim.json") &&
		  span_is(m.request_id, "some-id_1:@%20") &&
		  m.issued_at_us == (1633019124LL - 7200) * 1000000 + 123456 &&
		  m.expiration_time_us == 1633046400LL * 1000000 &&
		  m.not_before_us == 1632960000LL * 1000000 + 500000,
		  "every field's value, time offsets and fractions");
	check(parse(HDR ADDR "\n\n\n" TAIL) == 0 && !m.has_statement, "no statement (three line breaks)");
	check(parse(HDR ADDR "\n\n\n\n" TAIL) == 0 && m.has_statement && m.statement.len == 0, "empty statement");
	check(parse("https://example.com wants you to sign in with your Ethereum account:\n" ADDR "\n\n\n" TAIL) == 0 &&
		  m.has_scheme && span_is(m.scheme, "https") && span_is(m.domain, "example.com"), "optional scheme");
	check(parse("user:pw@localhost:3000 wants you to sign in with your Ethereum account:\n" ADDR "\n\n\n" TAIL) == 0 &&
		  span_is(m.domain, "user:pw@localhost:3000"), "domain with userinfo and port");
	check(parse("[::1]:8080 wants you to sign in with your Ethereum account:\n" ADDR "\n\n\n" TAIL) == 0, "IPv6 domain");
	check(parse(HDR "0x2c7536e3605d9c16a7a3d7b1898e529396a65c23\n\n\n" TAIL) == 0, "all lower-case address");
	check(parse(HDR ADDR "\n\n\n" TAIL "\nResources:") == 0 && m.has_resources && m.n_resources == 0, "empty Resources");
	check(parse(HDR ADDR "\n\n\n" TAIL "\nRequest ID: ") == 0 && m.has_request_id && m.request_id.len == 0, "empty Request ID");
}

static void
test_refused(void)
{
	char	   *big;

	refused("", "empty", "empty message");
	refused(HDR ADDR "\r\n\r\n\r\n" TAIL, "carriage return", "CR LF");
	refused(GOOD "\n", "ends with a line break", "trailing LF");
	refused(HDR ADDR "\n\nna\xc3\xafve\n\n" TAIL, "non-ASCII", "non-ASCII byte");
	refused(HDR ADDR "\n\ntab\there\n\n" TAIL, "control", "tab");
	{
		char		withnul[] = HDR ADDR "\n\n\n" TAIL;

		withnul[5] = '\0';
		check(tc_siwe_parse(withnul, sizeof(withnul) - 1, &m, res, 64, &err) == -1 && strstr(err, "control"), "NUL byte");
	}
	big = malloc(10 * 1024 * 1024);
	memset(big, 'a', 10 * 1024 * 1024);
	check(tc_siwe_parse(big, 10 * 1024 * 1024, &m, res, 64, &err) == -1 && strstr(err, "too long"), "10 MB message");
	free(big);
	refused("example.com wants you to sign in:\n" ADDR "\n\n\n" TAIL, "first line", "wrong header");
	refused(" wants you to sign in with your Ethereum account:\n" ADDR "\n\n\n" TAIL, "first line", "empty domain");
	refused("exa mple.com wants you to sign in with your Ethereum account:\n" ADDR "\n\n\n" TAIL, "domain", "space in domain");
	refused("example.com/path wants you to sign in with your Ethereum account:\n" ADDR "\n\n\n" TAIL, "domain", "path in domain");
	refused("1http://example.com wants you to sign in with your Ethereum account:\n" ADDR "\n\n\n" TAIL, "scheme", "bad scheme");
	refused("example.com:80a wants you to sign in with your Ethereum account:\n" ADDR "\n\n\n" TAIL, "domain", "bad port");
	refused(HDR "0x2c7536E3605D9C16a7a3D7b1898e529396a65C23\n\n\n" TAIL, "EIP-55", "bad checksum");
	refused(HDR "2c7536E3605D9C16a7a3D7b1898e529396a65c23\n\n\n" TAIL, "invalid address", "address without 0x");
	refused(HDR "0x2c7536E3605D9C16a7a3D7b1898e529396a65c2\n\n\n" TAIL, "invalid address", "short address");
	refused(HDR ADDR "\n" TAIL, "empty line after the address", "no blank line");
	refused(HDR ADDR "\nxx\n\n" TAIL, "empty line after the address", "statement right after address");
	refused(HDR ADDR "\n\n" TAIL, "empty line before the URI", "one blank line only");
	refused(HDR ADDR "\n\nStatement\n" TAIL, "empty line after the statement", "no blank line after statement");
	refused(HDR ADDR "\n\nbad \"quote\"\n\n" TAIL, "statement", "statement with a quote");
	refused(HDR ADDR "\n\n\nVersion: 1", "missing URI", "no URI field");
	refused(HDR ADDR, "empty line", "address is the last line");
	refused(HDR ADDR "\n\n\nVersion: 1\nURI: https://example.com\nChain ID: 1\nNonce: 32891756abcDEF12\nIssued At: 2021-09-30T16:25:24Z",
			"URI field out of order", "URI after Version");
	refused(HDR ADDR "\n\n\nURI: https://example.com\nVersion: 1\nNonce: 32891756abcDEF12\nChain ID: 1\nIssued At: 2021-09-30T16:25:24Z",
			"Chain ID field out of order", "Nonce before Chain ID");
	refused(HDR ADDR "\n\n\nURI: https://example.com\nVersion: 1\nChain ID: 1\nIssued At: 2021-09-30T16:25:24Z",
			"missing Nonce", "no Nonce");
	refused(HDR ADDR "\n\n\nURI: https://example.com\nVersion: 1\nChain ID: 1\nNonce: 32891756abcDEF12",
			"missing Issued At", "no Issued At");
	refused(HDR ADDR "\n\n\nURI: https://example.com\nVersion: 2\nChain ID: 1\nNonce: 32891756abcDEF12\nIssued At: 2021-09-30T16:25:24Z",
			"version", "version 2");
	refused(HDR ADDR "\n\n\nURI: https://exa mple.com\nVersion: 1\nChain ID: 1\nNonce: 32891756abcDEF12\nIssued At: 2021-09-30T16:25:24Z",
			"URI", "space in URI");
	refused(HDR ADDR "\n\n\nURI: example.com\nVersion: 1\nChain ID: 1\nNonce: 32891756abcDEF12\nIssued At: 2021-09-30T16:25:24Z",
			"URI", "URI without scheme");
	refused(HDR ADDR "\n\n\nURI: https://example.com/%zz\nVersion: 1\nChain ID: 1\nNonce: 32891756abcDEF12\nIssued At: 2021-09-30T16:25:24Z",
			"URI", "bad percent-encoding");
	refused(HDR ADDR "\n\n\nURI: https://example.com/%2\nVersion: 1\nChain ID: 1\nNonce: 32891756abcDEF12\nIssued At: 2021-09-30T16:25:24Z",
			"URI", "truncated percent-encoding");
	refused(HDR ADDR "\n\n\nURI: https://example.com\nVersion: 1\nChain ID: 01\nNonce: 32891756abcDEF12\nIssued At: 2021-09-30T16:25:24Z",
			"Chain ID", "Chain ID with a leading zero");
	refused(HDR ADDR "\n\n\nURI: https://example.com\nVersion: 1\nChain ID: 99999999999999999999\nNonce: 32891756abcDEF12\nIssued At: 2021-09-30T16:25:24Z",
			"Chain ID", "Chain ID too large");
	refused(HDR ADDR "\n\n\nURI: https://example.com\nVersion: 1\nChain ID: x\nNonce: 32891756abcDEF12\nIssued At: 2021-09-30T16:25:24Z",
			"Chain ID", "Chain ID not a number");
	refused(HDR ADDR "\n\n\nURI: https://example.com\nVersion: 1\nChain ID: 1\nNonce: short\nIssued At: 2021-09-30T16:25:24Z",
			"nonce", "nonce too short");
	refused(HDR ADDR "\n\n\nURI: https://example.com\nVersion: 1\nChain ID: 1\nNonce: 32891756-abc\nIssued At: 2021-09-30T16:25:24Z",
			"nonce", "nonce with a dash");
	refused(HDR ADDR "\n\n\n" TAIL "\nNot Before: 2021-09-30T16:25:24Z\nExpiration Time: 2021-09-30T16:25:24Z",
			"Expiration Time field out of order", "Expiration Time after Not Before");
	refused(HDR ADDR "\n\n\n" TAIL "\nRequest ID: a\nRequest ID: b", "Request ID field out of order or repeated", "repeated Request ID");
	refused(HDR ADDR "\n\n\n" TAIL "\nNonce: 32891756abcDEF12", "Nonce field out of order", "repeated Nonce");
	refused(HDR ADDR "\n\n\n" TAIL "\nResources:\n- https://a.example\nRequest ID: x", "Resources must come last", "field after Resources");
	refused(HDR ADDR "\n\n\n" TAIL "\nResources:\n-https://a.example", "resource line", "resource without space");
	refused(HDR ADDR "\n\n\n" TAIL "\nResources:\n- not a uri", "resource URI", "bad resource URI");
	refused(HDR ADDR "\n\n\n" TAIL "\nFoo: bar", "unexpected line", "unknown field");
	refused(HDR ADDR "\n\n\n" TAIL "\n\nExpiration Time: 2021-09-30T16:25:24Z", "unexpected empty line", "blank line in the tail");
	refused(HDR ADDR "\n\n\n" TAIL "\nRequest ID: a b", "Request ID", "space in Request ID");
	refused(HDR ADDR "\n\n\n" TAIL "\nExpiration Time: tomorrow", "Expiration Time", "bad Expiration Time");
	refused(HDR ADDR "\n\n\n" TAIL "\nNot Before: 2021-02-29T00:00:00Z", "Not Before", "Not Before on Feb 29 of 2021");
	{
		/* Resources over the caller's capacity. */
		const char *s = HDR ADDR "\n\n\n" TAIL "\nResources:\n- a:1\n- a:2\n- a:3";

		check(tc_siwe_parse(s, strlen(s), &m, res, 2, &err) == -1 && strstr(err, "too many"), "resources over capacity");
	}
}

static void
test_times(void)
{
	int64_t		us;
	char		out[TC_SIWE_TIME_TEXT_MAX];
	const char *bad[] = {
		"2021-09-30 16:25:24Z", "2021-09-30T16:25:24", "2021-13-01T00:00:00Z", "2021-00-01T00:00:00Z",
		"2021-04-31T00:00:00Z", "2021-09-30T24:00:00Z", "2021-09-30T23:60:00Z", "2021-09-30T23:59:61Z",
		"2021-09-30T16:25:24.Z", "2021-09-30T16:25:24.1234567890Z", "2021-09-30T16:25:24+0200",
		"2021-09-30T16:25:24+24:00", "2021-09-30T16:25:24+02:60", "21-09-30T16:25:24Z",
		"2021-09-30T16:25:24ZZ", "+2021-09-30T16:25:24Z", "2021-9-30T16:25:24Z",
	};
	int			ok = 1;

	check(tc_rfc3339_parse("1970-01-01T00:00:00Z", 20, &us) == 0 && us == 0, "RFC 3339: the epoch");
	check(tc_rfc3339_parse("2000-02-29T12:00:00.25-01:30", 28, &us) == 0 &&
		  us == (951825600LL + 5400) * 1000000 + 250000, "RFC 3339: leap day, fraction, negative offset");
	check(tc_rfc3339_parse("1969-12-31T23:59:59Z", 20, &us) == 0 && us == -1000000, "RFC 3339: before the epoch");
	check(tc_rfc3339_parse("2016-12-31T23:59:60Z", 20, &us) == 0, "RFC 3339: leap second");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
	{
		if (tc_rfc3339_parse(bad[i], strlen(bad[i]), &us) != -1)
		{
			printf("#   accepted %s\n", bad[i]);
			ok = 0;
		}
	}
	check(ok, "RFC 3339: malformed and out-of-range times refused");
	check(tc_rfc3339_format(1633019124123456LL, out) == 24 && memcmp(out, "2021-09-30T16:25:24.123Z", 24) == 0,
		  "RFC 3339: format like toISOString");
	check(tc_rfc3339_format(-1, out) == 24 && memcmp(out, "1969-12-31T23:59:59.999Z", 24) == 0, "RFC 3339: format before the epoch");
	check(tc_rfc3339_format(253402300800LL * 1000000, out) == 0, "RFC 3339: year 10000 not formatted");
}

static void
test_build(void)
{
	tc_siwe_fields f;
	char		buf[1024];
	size_t		len;
	const char *e;

	memset(&f, 0, sizeof(f));
	f.domain = (tc_span) {"example.com", 11};
	tc_eth_address_parse("0x2c7536e3605d9c16a7a3d7b1898e529396a65c23", 42, f.addr);
	f.uri = (tc_span) {"https://example.com/login", 25};
	f.chain_id = 1;
	f.nonce = (tc_span) {"32891756abcDEF12", 16};
	f.issued_at_us = 1633019124000000LL;
	f.has_expiration_time = 1;
	f.expiration_time_us = 1633019424000000LL;
	len = tc_siwe_build(&f, buf, sizeof(buf), &e);
	check(len > 0 && len < sizeof(buf) &&
		  len == strlen(HDR ADDR "\n\n\nURI: https://example.com/login\nVersion: 1\nChain ID: 1\nNonce: 32891756abcDEF12\n"
						"Issued At: 2021-09-30T16:25:24.000Z\nExpiration Time: 2021-09-30T16:30:24.000Z") &&
		  memcmp(buf, HDR ADDR "\n\n\nURI: https://example.com/login\nVersion: 1\nChain ID: 1\nNonce: 32891756abcDEF12\n"
				 "Issued At: 2021-09-30T16:25:24.000Z\nExpiration Time: 2021-09-30T16:30:24.000Z", len) == 0,
		  "build: without statement, checksummed address");
	check(tc_siwe_parse(buf, len, &m, res, 64, &err) == 0 && m.has_expiration_time && !m.has_statement, "build: output parses");
	f.statement = (tc_span) {"Sign in.", 8};
	len = tc_siwe_build(&f, buf, sizeof(buf), &e);
	check(tc_siwe_parse(buf, len, &m, res, 64, &err) == 0 && span_is(m.statement, "Sign in."), "build: with statement, parses");
	check(tc_siwe_build(&f, buf, 10, &e) == len, "build: a short buffer reports the full length");
	f.statement = (tc_span) {"two\nlines", 9};
	check(tc_siwe_build(&f, buf, sizeof(buf), &e) == 0 && e != NULL, "build: statement with LF refused");
	f.statement = (tc_span) {NULL, 0};
	f.domain = (tc_span) {"exa mple.com", 12};
	check(tc_siwe_build(&f, buf, sizeof(buf), &e) == 0 && e != NULL, "build: bad domain refused");
	f.domain = (tc_span) {"example.com", 11};
	f.uri = (tc_span) {"no uri", 6};
	check(tc_siwe_build(&f, buf, sizeof(buf), &e) == 0 && e != NULL, "build: bad URI refused");
}

int
main(void)
{
	test_good();
	test_refused();
	test_times();
	test_build();
	printf("# siwe: %d tests, %d failed\n", n, failed);
	return failed ? 1 : 0;
}

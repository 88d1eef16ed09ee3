/*
 * validate_loop.c: the reference for bench/totp/run.sh.  Makes N random
 * 160-bit secrets, writes "base32-secret code" lines for them (time step of
 * the given Unix time) to a file, then times liboath's oath_totp_validate
 * (window 1, the code of the current step) and oath_totp_generate over those
 * secrets in a single-threaded loop, printing checks per second.
 *
 *   validate_loop N UNIX_TIME OUT_FILE SECONDS
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <liboath/oath.h>

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int
main(int argc, char **argv)
{
	int			n;
	time_t		t;
	double		secs;
	FILE	   *out;
	char	   *keys;
	char	   *codes;
	FILE	   *rnd;
	long		done = 0;
	double		t0,
				el;
	volatile long sink = 0;

	if (argc != 5 || (n = atoi(argv[1])) <= 0 || n > 1000000)
	{
		fprintf(stderr, "usage: validate_loop N UNIX_TIME OUT_FILE SECONDS\n");
		return 2;
	}
	t = (time_t) atoll(argv[2]);
	secs = atof(argv[4]);
	if (oath_init() != OATH_OK)
		return 1;
	keys = malloc((size_t) n * 20);
	codes = malloc((size_t) n * 8);
	rnd = fopen("/dev/urandom", "rb");
	if (!keys || !codes || !rnd || fread(keys, 20, (size_t) n, rnd) != (size_t) n)
		return 1;
	fclose(rnd);
	out = fopen(argv[3], "w");
	if (!out)
		return 1;
	for (int i = 0; i < n; i++)
	{
		char	   *b32 = NULL;
		size_t		b32len = 0;

		if (oath_totp_generate(keys + 20 * i, 20, t, 30, 0, 6, codes + 8 * i) != OATH_OK ||
			oath_base32_encode(keys + 20 * i, 20, &b32, &b32len) != OATH_OK)
			return 1;
		fprintf(out, "%.*s\t%s\n", (int) b32len, b32, codes + 8 * i);
		free(b32);
	}
	fclose(out);

	t0 = now_s();
	do
	{
		for (int i = 0; i < n; i++)
			sink += oath_totp_validate(keys + 20 * i, 20, t, 30, 0, 1, codes + 8 * i) == 0;
		done += n;
		el = now_s() - t0;
	} while (el < secs);
	if (sink != done)
	{
		fprintf(stderr, "validate failed: %ld of %ld\n", (long) sink, done);
		return 1;
	}
	printf("validate %.0f\n", done / el);

	done = 0;
	t0 = now_s();
	do
	{
		char		otp[10];

		for (int i = 0; i < n; i++)
			sink += oath_totp_generate(keys + 20 * i, 20, t, 30, 0, 6, otp) == OATH_OK;
		done += n;
		el = now_s() - t0;
	} while (el < secs);
	printf("generate %.0f\n", done / el);
	return 0;
}

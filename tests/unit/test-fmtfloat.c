/*
 * test-fmtfloat.c - fs_fmt_f32 and fs_fmt_f64 (libcommon/fmtfloat.c)
 * print every value byte for byte as the printf loop they replaced did:
 * "%.*g" from 6 (15) digits up until strtof (strtod) reads back the value.
 * That loop is kept here, as it was, as the reference.
 *
 * Values: specials, the neighbours of powers of two and of ten (where the
 * layout switches to e-notation and where the rounding interval is
 * lopsided), subnormals, exact ties (odd * 2^-n), short decimals, whole
 * numbers, random bit patterns.  FS_FMT_SOAK=N runs N times as many random
 * values.
 *
 * libfs.a owns main(), so the test program is tool_main().
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <math.h>
#include <string.h>
#include <cmocka.h>

#include "fs.h"

static uint64_t rng_state = 0x2545f4914f6cdd1dULL;
static long soak = 1;
static long checked;

/* xorshift64*: a fixed sequence, so failures reproduce. */
static uint64_t rnd(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 2685821657736338717ULL;
}

/* The old fs-cat fmt_f32, as it was. */
static int old_f32(char *buf, float v)
{
	int n = 0;

	if (isnan(v)) {
		memcpy(buf, "nan", 4);
		return 3;
	}
	if (isinf(v)) {
		return snprintf(buf, FS_FMT_MAX, "%s", v < 0 ? "-inf" : "inf");
	}
	for (int prec = 6; prec <= 9; prec++) {
		n = snprintf(buf, FS_FMT_MAX, "%.*g", prec, (double)v);
		if (strtof(buf, NULL) == v)
			break;
	}
	return n;
}

/* The old fs_fmt_f64, as it was. */
static int old_f64(char *buf, double v)
{
	static const char *const fmts[] = {"%.15g", "%.16g", "%.17g"};
	int n = 0, i;

	if (isnan(v)) {
		memcpy(buf, "nan", 4);
		return 3;
	}
	if (isinf(v)) {
		return snprintf(buf, FS_FMT_MAX, "%s", v < 0 ? "-inf" : "inf");
	}
	if (fabs(v) < 9007199254740992.0 && v == (double)(int64_t)v &&
	    (v != 0 || !signbit(v)))
		return snprintf(buf, FS_FMT_MAX, "%lld", (long long)v);
	for (i = 0; i < 3; i++) {
		n = snprintf(buf, FS_FMT_MAX, fmts[i], v);
		if (i == 2 || strtod(buf, NULL) == v)
			break;
	}
	return n;
}

static void check_f32(float v)
{
	char want[FS_FMT_MAX], got[FS_FMT_MAX + 8];
	int nw = old_f32(want, v), ng;

	memset(got, 'x', sizeof(got));
	ng = fs_fmt_f32(got, v);
	if (ng != nw || memcmp(got, want, nw + 1) != 0)
		fail_msg("fs_fmt_f32(%a) = \"%.*s\" (%d), want \"%s\"",
			 (double)v, ng > 0 && ng < FS_FMT_MAX ? ng : 0, got,
			 ng, want);
	checked++;
}

static void check_f64(double v)
{
	char want[FS_FMT_MAX], got[FS_FMT_MAX + 8];
	int nw = old_f64(want, v), ng;

	memset(got, 'x', sizeof(got));
	ng = fs_fmt_f64(got, v);
	if (ng != nw || memcmp(got, want, nw + 1) != 0)
		fail_msg("fs_fmt_f64(%a) = \"%.*s\" (%d), want \"%s\"", v,
			 ng > 0 && ng < FS_FMT_MAX ? ng : 0, got, ng, want);
	checked++;
}

/* v and its n neighbours on each side, both signs. */
static void around_f32(float v, int n)
{
	float lo = v, hi = v;

	check_f32(v);
	check_f32(-v);
	for (int i = 0; i < n; i++) {
		lo = nextafterf(lo, -INFINITY);
		hi = nextafterf(hi, INFINITY);
		check_f32(lo);
		check_f32(-lo);
		check_f32(hi);
		check_f32(-hi);
	}
}

static void around_f64(double v, int n)
{
	double lo = v, hi = v;

	check_f64(v);
	check_f64(-v);
	for (int i = 0; i < n; i++) {
		lo = nextafter(lo, -INFINITY);
		hi = nextafter(hi, INFINITY);
		check_f64(lo);
		check_f64(-lo);
		check_f64(hi);
		check_f64(-hi);
	}
}

static void test_specials(void **st)
{
	static const double vals[] = {
		0.0, 1.0, 0.1, 0.5, 1.5, 100, 1e5, 1e6, 1e7, 123456, 1234567,
		0.0001, 0.00001, 1e-4, 1e-5, 1e15, 1e16, 1e17, 1e21, 1e22,
		1e-7, 2.5, 1048576.25, 3.4028234663852886e38, 1.17549435e-38,
		1.4e-45, 4.9e-324, 2.2250738585072014e-308,
		1.7976931348623157e308,
		9007199254740992.0, 9007199254740993.0, 0.875, 148.58,
	};
	char buf[FS_FMT_MAX];

	(void)st;
	for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
		check_f64(vals[i]);
		check_f64(-vals[i]);
		check_f32((float)vals[i]);
		check_f32(-(float)vals[i]);
	}
	check_f32(-0.0f);
	check_f64(-0.0);
	check_f32(NAN);
	check_f32(INFINITY);
	check_f32(-INFINITY);
	check_f64(NAN);
	check_f64(-INFINITY);
	/* A few written out, so the reference itself is pinned. */
	fs_fmt_f32(buf, 1e6f);
	assert_string_equal(buf, "1e+06");
	fs_fmt_f32(buf, 1234567.0f);
	assert_string_equal(buf, "1234567");
	fs_fmt_f32(buf, 0.1f);
	assert_string_equal(buf, "0.1");
	fs_fmt_f32(buf, 1e-5f);
	assert_string_equal(buf, "1e-05");
	fs_fmt_f32(buf, 1048576.25f);	/* a tie: printf rounds to even */
	assert_string_equal(buf, "1048576.2");
	fs_fmt_f32(buf, 1.4e-45f);
	assert_string_equal(buf, "1.4013e-45");
	fs_fmt_f32(buf, -0.0f);
	assert_string_equal(buf, "-0");
	fs_fmt_f64(buf, 1.4067478332435712e-05);
	assert_string_equal(buf, "1.4067478332435712e-05");
	fs_fmt_f64(buf, 1125899906842624.25);	/* a tie */
	assert_string_equal(buf, "1125899906842624.2");
}

/* Neighbours of every power of two and of ten in range. */
static void test_boundaries(void **st)
{
	(void)st;
	for (int e = -149; e <= 127; e++)
		around_f32(ldexpf(1.0f, e), 8);
	for (int e = -45; e <= 38; e++) {
		char s[32];

		snprintf(s, sizeof(s), "1e%d", e);
		around_f32(strtof(s, NULL), 8);
		snprintf(s, sizeof(s), "9.999995e%d", e);
		around_f32(strtof(s, NULL), 8);
		snprintf(s, sizeof(s), "5e%d", e);
		around_f32(strtof(s, NULL), 8);
	}
	for (int e = -1074; e <= 1023; e++)
		around_f64(ldexp(1.0, e), 4);
	for (int e = -324; e <= 308; e++) {
		char s[32];

		snprintf(s, sizeof(s), "1e%d", e);
		around_f64(strtod(s, NULL), 4);
		snprintf(s, sizeof(s), "9.9999999999999995e%d", e);
		around_f64(strtod(s, NULL), 4);
	}
	for (int i = 1; i < 100; i++) {	/* whole numbers near 2^53 */
		check_f64(9007199254740992.0 + 2.0 * i);
		check_f64(9007199254740992.0 - i);
	}
}

/* Exact binary fractions odd * 2^-n: the ties of both libraries. */
static void test_ties(void **st)
{
	(void)st;
	for (long i = 0; i < 400000 * soak; i++) {
		uint64_t m = rnd();
		int n = (int)(rnd() % 60) + 1;
		int bits32 = (int)(rnd() % 24) + 1;
		int bits64 = (int)(rnd() % 53) + 1;

		check_f32(ldexpf((float)((m >> (64 - bits32)) | 1), -n));
		check_f64(ldexp((double)((m >> (64 - bits64)) | 1), -n));
	}
}

/* Decimals of 1 to 9 (17) digits, as a parser reads them. */
static void test_decimals(void **st)
{
	char s[64];

	(void)st;
	for (long i = 0; i < 500000 * soak; i++) {
		int d32 = (int)(rnd() % 9) + 1, d64 = (int)(rnd() % 17) + 1;
		int e32 = (int)(rnd() % 90) - 50;
		int e64 = (int)(rnd() % 640) - 330;

		snprintf(s, sizeof(s), "%.*e", d32 - 1,
			 (double)(rnd() % 1000000000 + 1) / 1e9 * 10);
		snprintf(s + strlen(s) - 4, 16, "e%d", e32);
		check_f32(strtof(s, NULL));
		snprintf(s, sizeof(s), "%.*e", d64 - 1,
			 (double)(rnd() % 100000000000000000ULL + 1) / 1e17 *
			 10);
		snprintf(s + strlen(s) - 4, 16, "e%d", e64);
		check_f64(strtod(s, NULL));
		check_f32((float)(int64_t)(rnd() % 100000000) / 100);
		check_f64((double)(int64_t)(rnd() % 10000000000000LL) / 100);
	}
}

/* Random bit patterns: every sign, exponent and significand. */
static void test_random_bits(void **st)
{
	(void)st;
	for (long i = 0; i < 2000000 * soak; i++) {
		uint64_t b = rnd();
		uint32_t b32 = (uint32_t)(b >> 32);
		float f;
		double d;

		memcpy(&f, &b32, 4);
		memcpy(&d, &b, 8);
		check_f32(f);
		if (i % 2 == 0)
			check_f64(d);
		check_f64((double)f);
	}
}

int tool_main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_specials),
		cmocka_unit_test(test_boundaries),
		cmocka_unit_test(test_ties),
		cmocka_unit_test(test_decimals),
		cmocka_unit_test(test_random_bits),
	};
	const char *s = getenv("FS_FMT_SOAK");
	int rc;

	(void)argc;
	(void)argv;
	if (s && atol(s) > 0)
		soak = atol(s);
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	fprintf(stderr, "# %ld values checked\n", checked);
	return rc;
}
